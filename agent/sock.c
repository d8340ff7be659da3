/* sock.c -- the agent's socket record, its bounded list and address helpers. */
#include "sock.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void sock_list_init(sock_list *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max ? max : SOCK_LIST_DEFAULT_MAX;
}

void sock_list_free(sock_list *l)
{
	RFX_FREE(l->v);
	l->n = l->cap = l->dropped = 0;
}

void sock_list_reset(sock_list *l)
{
	l->n = 0;
	l->dropped = 0;
}

sock_entry *sock_list_add(sock_list *l)
{
	if (l->n >= l->max) {
		l->dropped++;
		return NULL;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		if (cap > l->max)
			cap = l->max;
		l->v = rfx_realloc(l->v, cap * sizeof(*l->v));
		l->cap = cap;
	}
	return &l->v[l->n++];
}

bool sock_list_push(sock_list *l, const sock_entry *e)
{
	sock_entry *slot = sock_list_add(l);
	if (slot)
		*slot = *e;
	return slot != NULL;
}

bool sock_addr_is_v4(const uint8_t a[16])
{
	return memcmp(a, v4_mapped_prefix, 12) == 0;
}

bool sock_addr_is_loopback(const uint8_t a[16])
{
	static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	if (sock_addr_is_v4(a))
		return a[12] == 127;
	return memcmp(a, v6_loopback, 16) == 0;
}

bool sock_addr_is_any(const uint8_t a[16])
{
	static const uint8_t zero[16];
	if (sock_addr_is_v4(a))
		return memcmp(a + 12, zero, 4) == 0;
	return memcmp(a, zero, 16) == 0;
}

void sock_addr_format(const uint8_t a[16], char out[INET6_ADDRSTRLEN])
{
	if (sock_addr_is_v4(a))
		inet_ntop(AF_INET, a + 12, out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
}

bool sock_addr_parse(const char *s, uint8_t out[16])
{
	uint8_t tmp[16];
	if (inet_pton(AF_INET, s, tmp) == 1) {
		sock_addr_set(out, AF_INET, tmp);
		return true;
	}
	if (inet_pton(AF_INET6, s, tmp) == 1) {
		memcpy(out, tmp, 16);
		return true;
	}
	return false;
}
