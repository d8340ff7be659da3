/* jsonw.c -- compact JSON writer for cJSON trees: the hot paths print events, decisions, responses and audit
 * records with it, in one pass over each string. */
#include "jsonw.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define JSONW_SCRATCH_KEEP (64 * 1024) /* a scratch buffer grown past this is given back after use */

/* 0: byte is copied as is; otherwise the character after the backslash ('u' for \u00XX). */
static const char escape_of[256] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['"'] = '"',	['\\'] = '\\',
    [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u', [0x06] = 'u', [0x07] = 'u',
    [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
    [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u',
    [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u',
};

/* Index of the first byte of the NUL-terminated p that ends a plain run: one to escape, or the terminator. */
#if defined(__SSE2__)
static inline unsigned stop_mask(__m128i v)
{
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
	__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
				   _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
	return (unsigned)_mm_movemask_epi8(hit);
}

/* Sixteen bytes at a time, with aligned loads: one pass finds the end and the escapes (no strlen), and an
 * aligned load never reaches into the next page. The block holding the terminator is read past it, which is
 * harmless but what AddressSanitizer would report, so this one function is not instrumented. */
__attribute__((no_sanitize_address)) static size_t plain_run(const unsigned char *p)
{
	size_t off = (uintptr_t)p & 15;
	unsigned mask = stop_mask(_mm_load_si128((const __m128i *)(const void *)(p - off))) >> off;
	if (mask)
		return (size_t)__builtin_ctz(mask);
	for (size_t i = 16 - off;; i += 16) {
		mask = stop_mask(_mm_load_si128((const __m128i *)(const void *)(p + i)));
		if (mask)
			return i + (size_t)__builtin_ctz(mask);
	}
}
#else
static size_t plain_run(const unsigned char *p)
{
	size_t i = 0;
	while (p[i] && !escape_of[p[i]])
		i++;
	return i;
}
#endif

rfx_err jsonw_string(rfx_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	rfx_err rc = buf_putc(b, '"');
	if (rc || !s)
		return rc ? rc : buf_putc(b, '"');
	const unsigned char *p = (const unsigned char *)s;
	for (;;) {
		size_t run = plain_run(p);
		if (run && (rc = buf_append(b, p, run)))
			return rc;
		p += run;
		if (!*p)
			break;
		char esc[6] = {'\\', escape_of[*p]};
		size_t n = 2;
		if (esc[1] == 'u') {
			memcpy(esc + 2, "00", 2);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		}
		if ((rc = buf_append(b, esc, n)))
			return rc;
		p++;
	}
	return buf_putc(b, '"');
}

/* cJSON's number format: 15 significant digits unless that loses the value, then 17. */
static rfx_err write_number(rfx_buf *b, const cJSON *v)
{
	double d = v->valuedouble;
	char num[32];
	int n;
	if (isnan(d) || isinf(d)) {
		n = snprintf(num, sizeof(num), "null");
	} else {
		double back = 0;
		n = snprintf(num, sizeof(num), "%1.15g", d);
		if (sscanf(num, "%lg", &back) != 1 ||
		    fabs(back - d) > fmax(fabs(back), fabs(d)) * DBL_EPSILON)
			n = snprintf(num, sizeof(num), "%1.17g", d);
		const struct lconv *lc = localeconv();
		char point = lc && lc->decimal_point ? lc->decimal_point[0] : '.';
		for (int i = 0; point != '.' && i < n; i++)
			if (num[i] == point)
				num[i] = '.';
	}
	if (n < 0 || (size_t)n >= sizeof(num))
		return RFX_ERR_INVAL;
	return buf_append(b, num, (size_t)n);
}

static rfx_err write_value(rfx_buf *b, const cJSON *v, int depth);

static rfx_err write_children(rfx_buf *b, const cJSON *v, bool object, int depth)
{
	rfx_err rc = buf_putc(b, object ? '{' : '[');
	for (const cJSON *c = v->child; c && !rc; c = c->next) {
		if (c != v->child)
			rc = buf_putc(b, ',');
		if (!rc && object) {
			rc = jsonw_string(b, c->string);
			if (!rc)
				rc = buf_putc(b, ':');
		}
		if (!rc)
			rc = write_value(b, c, depth + 1);
	}
	return rc ? rc : buf_putc(b, object ? '}' : ']');
}

static rfx_err write_value(rfx_buf *b, const cJSON *v, int depth)
{
	if (!v)
		return buf_append(b, "null", 4);
	if (depth > CJSON_NESTING_LIMIT)
		return RFX_ERR_LIMIT;
	switch (v->type & 0xff) {
	case cJSON_NULL:
		return buf_append(b, "null", 4);
	case cJSON_False:
		return buf_append(b, "false", 5);
	case cJSON_True:
		return buf_append(b, "true", 4);
	case cJSON_Number:
		return write_number(b, v);
	case cJSON_Raw:
		return v->valuestring ? buf_puts(b, v->valuestring) : RFX_ERR_INVAL;
	case cJSON_String:
		return jsonw_string(b, v->valuestring);
	case cJSON_Array:
		return write_children(b, v, false, depth);
	case cJSON_Object:
		return write_children(b, v, true, depth);
	default:
		return RFX_ERR_INVAL;
	}
}

rfx_err jsonw_value(rfx_buf *b, const cJSON *v)
{
	return write_value(b, v, 0);
}

/* Printed in the thread's scratch buffer, then copied once at its exact size: no chain of reallocs, and no
 * slack kept by callers that hold the text (the history keeps thousands). */
char *jsonw_print(const cJSON *v)
{
	rfx_buf *b = buf_scratch(BUF_SCRATCH_JSONW, SIZE_MAX / 2);
	buf_reset(b);
	char *s;
	if (write_value(b, v, 0)) {
		char *c = cJSON_PrintUnformatted(v);
		if (!c)
			abort();
		s = rfx_strdup(c); /* c may be in a request arena (arena.h); the caller frees s with free() */
		cJSON_free(c);
	} else {
		s = rfx_strndup(b->data, b->len);
	}
	buf_trim(b, JSONW_SCRATCH_KEEP);
	return s;
}
