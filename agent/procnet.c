/* procnet.c -- parser for the kernel's /proc/net/tcp{,6} tables: hex addresses in host word order, one line a
 * socket. */
#include "procnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct cursor {
	const char *p, *end;
} cursor;

static void skip_spaces(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Exactly n hex digits (n <= 8). */
static bool take_hex(cursor *c, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	if ((size_t)(c->end - c->p) < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = hex_value(c->p[i]);
		if (d < 0)
			return false;
		v = (v << 4) | (uint32_t)d;
	}
	c->p += n;
	*out = v;
	return true;
}

static bool take_char(cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return false;
	c->p++;
	return true;
}

static bool take_decimal(cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*c->p - '0');
		c->p++;
	}
	*out = v;
	return c->p > start;
}

static void skip_field(cursor *c)
{
	skip_spaces(c);
	while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
		c->p++;
}

/* "0100007F:1F90": each 32-bit word is printed as the host sees it, so storing it back in host order gives
 * the address bytes in network order. */
static bool take_endpoint(cursor *c, int family, uint8_t addr[16], uint16_t *port)
{
	uint8_t raw[16];
	size_t words = family == AF_INET ? 1 : 4;
	uint32_t w, p;
	skip_spaces(c);
	for (size_t i = 0; i < words; i++) {
		if (!take_hex(c, 8, &w))
			return false;
		memcpy(raw + 4 * i, &w, 4);
	}
	if (!take_char(c, ':') || !take_hex(c, 4, &p))
		return false;
	sock_addr_set(addr, family, raw);
	*port = (uint16_t)p;
	return true;
}

static bool parse_line(cursor *c, int family, sock_entry *e)
{
	uint32_t st;
	uint64_t uid, inode;
	skip_field(c); /* "sl:" */
	if (!take_endpoint(c, family, e->laddr, &e->lport) || !take_endpoint(c, family, e->raddr, &e->rport))
		return false;
	skip_spaces(c);
	if (!take_hex(c, 2, &st))
		return false;
	skip_field(c); /* tx_queue:rx_queue */
	skip_field(c); /* tr:tm->when */
	skip_field(c); /* retrnsmt */
	skip_spaces(c);
	if (!take_decimal(c, &uid) || uid > UINT32_MAX)
		return false;
	skip_field(c); /* timeout */
	skip_spaces(c);
	if (!take_decimal(c, &inode))
		return false;
	e->state = (uint8_t)st;
	e->uid = (uint32_t)uid;
	e->inode = inode;
	return true;
}

void procnet_parse(const char *text, size_t len, int family, sock_list *out, size_t *bad)
{
	const char *p = text, *end = text + len;
	bool header = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		cursor c = {p, eol};
		sock_entry e = {0};
		if (header) {
			header = false;
		} else if (eol > p && !parse_line(&c, family, &e)) {
			if (bad)
				(*bad)++;
		} else if (eol > p && (e.state == SOCK_TCP_LISTEN || e.state == SOCK_TCP_ESTABLISHED)) {
			sock_list_push(out, &e);
		}
		p = nl ? nl + 1 : end;
	}
}

static rfx_err procnet_read(const char *path, int family, bool optional, sock_list *out, char *err,
			    size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	rfx_err rc = rfx_read_file(path, PROCNET_MAX_FILE, &text, &len);
	if (rc == RFX_ERR_NOTFOUND && optional)
		return RFX_OK;
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, rfx_strerror(rc));
		return rc;
	}
	procnet_parse(text, len, family, out, NULL);
	RFX_FREE(text);
	return RFX_OK;
}

rfx_err procnet_scan(const char *proc_root, sock_list *out, char *err, size_t errlen)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/net/tcp", proc_root);
	rfx_err rc = procnet_read(path, AF_INET, false, out, err, errlen);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/net/tcp6", proc_root);
	return procnet_read(path, AF_INET6, true, out, err, errlen);
}
