/* target.h -- SSH targets: parsing "host", "host:port", "[v6addr]:port", canonical keys and the allow-list.
 */
#ifndef AH_TARGET_H
#define AH_TARGET_H

#include "config.h"
#include "rfx.h"

#define TARGET_MAX     300 /* longest target string accepted */
#define TARGET_KEY_MAX 320

typedef struct target_addr {
	char host[256]; /* lowercased; an IPv6 address without its brackets */
	int port;	/* 0 when the target names none */
	bool ipv6;
} target_addr;

/* Accepts DNS names and IPv4 ([A-Za-z0-9._-], not starting with '-' or '.'), bracketed IPv6, optional :port.
 */
rfx_err target_parse(const char *s, target_addr *out);
/* "host:port" (IPv6: "[addr]:port") with default_port filled in: the identity of a target everywhere. */
void target_key(const target_addr *t, int default_port, char out[TARGET_KEY_MAX]);
/* True when a glob matches the host or the canonical host:port (case-insensitive). */
bool target_allowed(const cfg_strlist *globs, const target_addr *t, int default_port);

#endif
