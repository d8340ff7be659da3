/* sock.h -- one TCP socket as the agent sees it (from sock_diag or /proc/net), and a bounded list of them. */
#ifndef AGENT_SOCK_H
#define AGENT_SOCK_H

#include <netinet/in.h>
#include <string.h>
#include "rfx.h"

/* Kernel TCP state numbers (include/net/tcp_states.h). */
#define SOCK_TCP_ESTABLISHED 1
#define SOCK_TCP_LISTEN	     10

/* Addresses are kept as 16 bytes: IPv4 in the IPv4-mapped IPv6 form (::ffff:a.b.c.d), so both families
 * compare and sort the same way and a dual-stack socket's peer is recognised as the IPv4 host it is. */
typedef struct sock_entry {
	uint8_t laddr[16];
	uint8_t raddr[16];
	uint16_t lport, rport; /* host byte order */
	uint8_t state;	       /* SOCK_TCP_* */
	uint32_t uid;
	uint64_t inode; /* 0: no owning file (e.g. a connection not yet accepted) */
} sock_entry;

/* A growable list with a hard maximum: appends beyond max are dropped and counted in `dropped`. */
typedef struct sock_list {
	sock_entry *v;
	size_t n, cap, max;
	size_t dropped;
} sock_list;

#define SOCK_LIST_DEFAULT_MAX (1u << 20)

void sock_list_init(sock_list *l, size_t max);
void sock_list_free(sock_list *l);
void sock_list_reset(sock_list *l);
/* Appends e; false (and dropped++) when the list is full. */
bool sock_list_push(sock_list *l, const sock_entry *e);
/* Room for one more entry, which the caller fills in; NULL (and dropped++) when the list is full. */
sock_entry *sock_list_add(sock_list *l);

/* Stores an address of family AF_INET (4 bytes) or AF_INET6 (16 bytes) in the 16-byte form (inline: a dump
 * sets two for every socket). */
static inline void sock_addr_set(uint8_t out[16], int family, const void *addr)
{
	static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (family == AF_INET) {
		memcpy(out, v4_mapped, 12);
		memcpy(out + 12, addr, 4);
		return;
	}
	memcpy(out, addr, 16);
}
bool sock_addr_is_v4(const uint8_t a[16]);
bool sock_addr_is_loopback(const uint8_t a[16]);
bool sock_addr_is_any(const uint8_t a[16]); /* 0.0.0.0 or :: */
/* Formats the address: dotted quad for IPv4 (mapped or not), RFC 5952 text for IPv6. */
void sock_addr_format(const uint8_t a[16], char out[INET6_ADDRSTRLEN]);
/* Parses IPv4 or IPv6 text into the 16-byte form. */
bool sock_addr_parse(const char *s, uint8_t out[16]);

#endif
