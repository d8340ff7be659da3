/* timefmt.c -- rfx_iso8601 with a per-thread cache of the last formatted second. */
#include "timefmt.h"

#include <string.h>

typedef struct timefmt_cache {
	int64_t sec; /* the second of prefix; valid when len > 0 */
	char prefix[32];
	size_t len; /* of prefix, up to and without the '.' */
} timefmt_cache;

/* Two seconds: "now" and an event's own time alternate on the hot path. */
static __thread timefmt_cache cache[2];
static __thread unsigned cache_next;

static timefmt_cache *lookup(int64_t sec)
{
	for (int i = 0; i < 2; i++)
		if (cache[i].len && cache[i].sec == sec)
			return &cache[i];
	timefmt_cache *c = &cache[cache_next++ & 1];
	rfx_iso8601(sec * 1000, c->prefix);
	char *dot = strrchr(c->prefix, '.');
	c->len = dot ? (size_t)(dot - c->prefix) : 0;
	c->sec = sec;
	return c->len ? c : NULL;
}

void timefmt_iso8601(int64_t ms, char out[32])
{
	int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	unsigned frac = (unsigned)(ms - sec * 1000) % 1000u;
	timefmt_cache *c = lookup(sec);
	if (!c) { /* not the expected shape: leave it all to rfx_iso8601 */
		rfx_iso8601(ms, out);
		return;
	}
	memcpy(out, c->prefix, c->len);
	char *p = out + c->len;
	p[0] = '.';
	p[1] = (char)('0' + frac / 100);
	p[2] = (char)('0' + frac / 10 % 10);
	p[3] = (char)('0' + frac % 10);
	p[4] = 'Z';
	p[5] = '\0';
}
