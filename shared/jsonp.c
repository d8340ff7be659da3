/* jsonp.c -- cJSON_ParseWithLengthOpts's grammar and quirks (see jsonp.h), rewritten for the request path:
 * cJSON compares every value against "null", "false" and "true" with strncmp, and copies strings a byte at
 * a time; here the first byte decides, and a string without escapes is found with SSE2 and copied whole.
 * The quirks kept on purpose, because tests/fuzz/shared__jsonp.c compares with cJSON: any byte up to 0x20 is
 * whitespace; "\u" followed by non-hex digits gives a NUL; a number is strtod over the run of bytes 0-9 + - e
 * E . (so "+1" is not a number but "1.e5" and "01" are); control bytes are allowed in strings. The reference
 * is Debian's cJSON 1.7.15 with its security fixes (a backslash ending the input, numbers of any length). */
#include "jsonp.h"

#include <limits.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rfx.h"

typedef struct jp {
	const unsigned char *start, *p, *end;
	int depth, max_depth;
	bool too_deep;
} jp;

static bool parse_value(jp *j, cJSON *item);

static cJSON *new_item(void)
{
	cJSON *n = cJSON_malloc(sizeof(cJSON));
	if (n)
		memset(n, 0, sizeof(*n));
	return n;
}

static void skip_ws(jp *j)
{
	while (j->p < j->end && *j->p <= 32)
		j->p++;
}

/* Offset of the first '"' or '\\' in p[0..n), or n. */
static size_t quote_or_escape(const unsigned char *p, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	while (i < n && p[i] != '"' && p[i] != '\\')
		i++;
	return i;
}

static unsigned hex4(const unsigned char *s) /* cJSON's parse_hex4: 0 for anything not hex */
{
	unsigned h = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return 0;
		h = h << 4 | d;
	}
	return h;
}

/* One \u escape (or a surrogate pair) at in, before stop; the UTF-8 goes to *out. Bytes read, 0 on error. */
static size_t utf16_escape(const unsigned char *in, const unsigned char *stop, unsigned char **out)
{
	if (stop - in < 6)
		return 0;
	unsigned long cp = hex4(in + 2);
	size_t used = 6;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return 0;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		const unsigned char *lo = in + 6;
		if (stop - lo < 6 || lo[0] != '\\' || lo[1] != 'u')
			return 0;
		unsigned second = hex4(lo + 2);
		if (second < 0xDC00 || second > 0xDFFF)
			return 0;
		cp = 0x10000 + (((cp & 0x3FF) << 10) | (second & 0x3FF));
		used = 12;
	}
	unsigned char *o = *out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		*out = o + 1;
	} else if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		*out = o + 2;
	} else if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		*out = o + 3;
	} else {
		o[0] = (unsigned char)(0xF0 | cp >> 18);
		o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[3] = (unsigned char)(0x80 | (cp & 0x3F));
		*out = o + 4;
	}
	return used;
}

/* The string with escapes starting at s (after the quote): cJSON's two passes. */
static char *parse_escaped(jp *j, const unsigned char *s)
{
	const unsigned char *q = s;
	size_t skipped = 0;
	while (q < j->end && *q != '"') {
		if (*q == '\\') {
			if (q + 1 >= j->end)
				return NULL;
			skipped++;
			q++;
		}
		q++;
	}
	if (q >= j->end) {
		j->p = q;
		return NULL;
	}
	unsigned char *out = cJSON_malloc((size_t)(q - s) - skipped + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *in = s; in < q;) {
		if (*in != '\\') {
			*o++ = *in++;
			continue;
		}
		size_t used = 2;
		switch (in[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			*o++ = in[1];
			break;
		case 'u':
			used = utf16_escape(in, q, &o);
			break;
		default:
			used = 0;
		}
		if (!used) {
			cJSON_free(out);
			j->p = in;
			return NULL;
		}
		in += used;
	}
	*o = '\0';
	j->p = q + 1;
	return (char *)out;
}

/* The string at j->p (which is at its opening quote). */
static char *parse_string(jp *j)
{
	const unsigned char *s = j->p + 1;
	if (s > j->end)
		return NULL;
	size_t n = quote_or_escape(s, (size_t)(j->end - s));
	if (s + n >= j->end) {
		j->p = j->end;
		return NULL;
	}
	if (s[n] == '\\')
		return parse_escaped(j, s);
	char *out = cJSON_malloc(n + 1);
	if (!out)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	j->p = s + n + 1;
	return out;
}

static bool parse_number(jp *j, cJSON *item)
{
	size_t n = 0;
	while (j->p + n < j->end) {
		unsigned char c = j->p[n];
		if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.'))
			break;
		n++;
	}
	char small[64], *num = n < sizeof(small) ? small : rfx_malloc(n + 1);
	memcpy(num, j->p, n);
	num[n] = '\0';
	const struct lconv *lc = memchr(num, '.', n) ? localeconv() : NULL;
	for (size_t i = 0; lc && lc->decimal_point && lc->decimal_point[0] != '.' && i < n; i++)
		if (num[i] == '.')
			num[i] = lc->decimal_point[0]; /* strtod reads the locale's decimal point */
	char *after;
	double d = strtod(num, &after);
	size_t used = (size_t)(after - num);
	if (num != small)
		free(num);
	if (!used)
		return false;
	item->valuedouble = d;
	item->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	item->type = cJSON_Number;
	j->p += used;
	return true;
}

/* Appends a new item after *last (or as *head); NULL when out of memory. */
static cJSON *append(cJSON **head, cJSON **last)
{
	cJSON *n = new_item();
	if (!n)
		return NULL;
	if (*last) {
		(*last)->next = n;
		n->prev = *last;
	} else {
		*head = n;
	}
	*last = n;
	return n;
}

static bool enter(jp *j)
{
	if (j->depth >= j->max_depth) {
		j->too_deep = true;
		return false;
	}
	j->depth++;
	return true;
}

static bool finish(jp *j, cJSON *item, int type, cJSON *head, cJSON *last)
{
	j->depth--;
	if (head)
		head->prev = last; /* cJSON keeps the last child there, for appends */
	item->type = type;
	item->child = head;
	j->p++;
	return true;
}

static bool parse_array(jp *j, cJSON *item)
{
	cJSON *head = NULL, *last = NULL;
	if (!enter(j))
		return false;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == ']')
		return finish(j, item, cJSON_Array, NULL, NULL);
	for (;;) {
		cJSON *n = append(&head, &last);
		if (!n || (skip_ws(j), !parse_value(j, n)))
			goto fail;
		skip_ws(j);
		if (j->p >= j->end || *j->p != ',')
			break;
		j->p++;
	}
	if (j->p >= j->end || *j->p != ']')
		goto fail;
	return finish(j, item, cJSON_Array, head, last);
fail:
	cJSON_Delete(head);
	return false;
}

static bool parse_object(jp *j, cJSON *item)
{
	cJSON *head = NULL, *last = NULL;
	if (!enter(j))
		return false;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}')
		return finish(j, item, cJSON_Object, NULL, NULL);
	for (;;) {
		cJSON *n = append(&head, &last);
		if (!n)
			goto fail;
		skip_ws(j);
		if (j->p >= j->end || *j->p != '"' || !(n->string = parse_string(j)))
			goto fail;
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':')
			goto fail;
		j->p++;
		skip_ws(j);
		if (!parse_value(j, n))
			goto fail;
		skip_ws(j);
		if (j->p >= j->end || *j->p != ',')
			break;
		j->p++;
	}
	if (j->p >= j->end || *j->p != '}')
		goto fail;
	return finish(j, item, cJSON_Object, head, last);
fail:
	cJSON_Delete(head);
	return false;
}

static bool literal(jp *j, const char *word, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return false;
	j->p += n;
	return true;
}

static bool parse_value(jp *j, cJSON *item)
{
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case 'n':
		item->type = cJSON_NULL;
		return literal(j, "null", 4);
	case 'f':
		item->type = cJSON_False;
		return literal(j, "false", 5);
	case 't':
		item->type = cJSON_True;
		item->valueint = 1;
		return literal(j, "true", 4);
	case '"':
		item->type = cJSON_String;
		return (item->valuestring = parse_string(j)) != NULL;
	case '[':
		return parse_array(j, item);
	case '{':
		return parse_object(j, item);
	case '-':
	case '0' ... '9':
		return parse_number(j, item);
	default:
		return false;
	}
}

cJSON *jsonp_parse(const char *text, size_t len, int max_depth, size_t *end, bool *too_deep)
{
	jp j = {.start = (const unsigned char *)text,
		.p = (const unsigned char *)text,
		.end = (const unsigned char *)text + len,
		.max_depth = max_depth};
	cJSON *item = NULL;
	*too_deep = false;
	if (!text || !len)
		goto fail;
	if (len > 4 && !memcmp(text, "\xEF\xBB\xBF", 3))
		j.p += 3;
	skip_ws(&j);
	if (!(item = new_item()) || !parse_value(&j, item))
		goto fail;
	*end = (size_t)(j.p - j.start);
	return item;
fail:
	cJSON_Delete(item);
	*too_deep = j.too_deep;
	*end = j.p < j.end ? (size_t)(j.p - j.start) : len ? len - 1 : 0;
	return NULL;
}
