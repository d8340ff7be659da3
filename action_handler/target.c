/* target.c -- target syntax, canonical keys and the targets_allowed check. */
#include "target.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool target_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != '_')
			return false;
	}
	return true;
}

static bool target_v6_ok(const char *s, size_t n)
{
	if (n < 2 || n > 45)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isxdigit(c) && c != ':' && c != '.')
			return false;
	}
	return true;
}

static rfx_err target_port(const char *s, int *out)
{
	long v = 0;
	if (!*s || strlen(s) > 5)
		return RFX_ERR_INVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return RFX_ERR_INVAL;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 65535)
		return RFX_ERR_INVAL;
	*out = (int)v;
	return RFX_OK;
}

static void target_lower(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[n] = '\0';
}

rfx_err target_parse(const char *s, target_addr *out)
{
	memset(out, 0, sizeof(*out));
	size_t len = strlen(s);
	if (len == 0 || len > TARGET_MAX)
		return RFX_ERR_INVAL;
	const char *host = s, *port = NULL;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return RFX_ERR_INVAL;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return RFX_ERR_INVAL;
		if (!target_v6_ok(host, hlen))
			return RFX_ERR_INVAL;
		out->ipv6 = true;
	} else {
		const char *colon = strchr(s, ':');
		hlen = colon ? (size_t)(colon - s) : len;
		if (colon)
			port = colon + 1;
		if (!target_name_ok(host, hlen))
			return RFX_ERR_INVAL;
	}
	if (port && target_port(port, &out->port))
		return RFX_ERR_INVAL;
	target_lower(out->host, host, hlen);
	return RFX_OK;
}

void target_key(const target_addr *t, int default_port, char out[TARGET_KEY_MAX])
{
	int port = t->port ? t->port : default_port;
	if (t->ipv6)
		snprintf(out, TARGET_KEY_MAX, "[%s]:%d", t->host, port);
	else
		snprintf(out, TARGET_KEY_MAX, "%s:%d", t->host, port);
}

bool target_allowed(const cfg_strlist *globs, const target_addr *t, int default_port)
{
	char key[TARGET_KEY_MAX], glob[TARGET_KEY_MAX];
	target_key(t, default_port, key);
	for (size_t i = 0; i < globs->n; i++) {
		size_t n = strlen(globs->v[i]);
		if (n >= sizeof(glob))
			continue;
		target_lower(glob, globs->v[i], n);
		if (rfx_glob(glob, t->host) || rfx_glob(glob, key))
			return true;
	}
	return false;
}
