/* shared__logfmt.c -- fuzzes the logfmt reader: any input either fails cleanly or decodes into pairs that,
 * written again with logfmt_append, decode to the same pairs (keys as the writer sanitises them, values up to
 * a NUL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"

/* The key as logfmt_append writes it. */
static char *written_key(const char *key)
{
	char *k = rfx_strdup(*key ? key : "_");
	for (unsigned char *p = (unsigned char *)k; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p >= 0x7f)
			*p = '_';
	return k;
}

static void check_round_trip(const logfmt_record *r)
{
	rfx_buf b;
	logfmt_record again;
	buf_init(&b, 1u << 22);
	for (size_t i = 0; i < r->n; i++)
		if (logfmt_append(&b, r->pairs[i].key, r->pairs[i].value))
			abort();
	if (logfmt_parse(buf_cstr(&b), b.len, &again))
		abort();
	if (again.n != r->n)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		char *k = written_key(r->pairs[i].key);
		if (strcmp(again.pairs[i].key, k) || strcmp(again.pairs[i].value, r->pairs[i].value))
			abort();
		if (logfmt_get(&again, k) == NULL)
			abort();
		free(k);
	}
	logfmt_record_free(&again);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	logfmt_record r;
	if (logfmt_parse((const char *)data, size, &r) == RFX_OK) {
		for (size_t i = 0; i < r.n; i++)
			if (!r.pairs[i].key || !r.pairs[i].value)
				abort();
		check_round_trip(&r);
	}
	logfmt_record_free(&r);
	return 0;
}
