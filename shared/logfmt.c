/* logfmt.c -- logfmt encoding and decoding of one line (the format of every Reflex log line). */
#include "logfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool logfmt_needs_quote(const char *value)
{
	if (!value || !*value)
		return true;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p == ' ' || *p == '=' || *p == '"' || is_ctl(*p) || *p >= 0x80)
			return true;
	return false;
}

/* Keys are never quoted: characters that would break the line become '_'. */
static rfx_err append_key(rfx_buf *b, const char *key)
{
	if (!*key)
		return buf_putc(b, '_');
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		char c = (*p <= ' ' || *p == '=' || *p == '"' || *p >= 0x7f) ? '_' : (char)*p;
		rfx_err rc = buf_putc(b, c);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static const char *escape_of(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

/* Valid UTF-8 stays readable inside quotes; control characters and stray bytes become \xHH. */
static rfx_err append_quoted(rfx_buf *b, const char *value)
{
	rfx_err rc = buf_putc(b, '"');
	size_t len = strlen(value);
	for (size_t i = 0; !rc && i < len;) {
		unsigned char c = (unsigned char)value[i];
		const char *esc = escape_of(c);
		size_t n = 1;
		if (esc) {
			rc = buf_puts(b, esc);
		} else if (is_ctl(c)) {
			rc = buf_printf(b, "\\x%02x", c);
		} else if (c < 0x80) {
			rc = buf_putc(b, (char)c);
		} else {
			/* Exactly one UTF-8 sequence, sized by its lead byte: a longer valid span would carry
			 * the quotes and backslashes after it out unescaped. */
			n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			if (n <= len - i && rfx_utf8_valid(value + i, n)) {
				rc = buf_append(b, value + i, n);
			} else {
				rc = buf_printf(b, "\\x%02x", c);
				n = 1;
			}
		}
		i += n;
	}
	if (!rc)
		rc = buf_putc(b, '"');
	return rc;
}

rfx_err logfmt_append(rfx_buf *b, const char *key, const char *value)
{
	size_t mark = b->len;
	rfx_err rc = RFX_OK;
	if (!value)
		value = "";
	if (b->len > 0)
		rc = buf_putc(b, ' ');
	if (!rc)
		rc = append_key(b, key ? key : "");
	if (!rc)
		rc = buf_putc(b, '=');
	if (!rc)
		rc = logfmt_needs_quote(value) ? append_quoted(b, value) : buf_puts(b, value);
	if (rc) {
		b->len = mark;
		if (b->data)
			b->data[mark] = '\0';
	}
	return rc;
}

/* ---- decoding ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one escape at s[*i] (just after the backslash) into *out; advances *i. */
static bool decode_escape(const char *s, size_t len, size_t *i, char *out)
{
	if (*i >= len)
		return false;
	char c = s[(*i)++];
	switch (c) {
	case '"':
	case '\\':
	case '/':
		*out = c;
		return true;
	case 'n':
		*out = '\n';
		return true;
	case 'r':
		*out = '\r';
		return true;
	case 't':
		*out = '\t';
		return true;
	case 'x': {
		if (*i + 2 > len)
			return false;
		int h = hexval(s[*i]), l = hexval(s[*i + 1]);
		if (h < 0 || l < 0)
			return false;
		*out = (char)(h * 16 + l);
		*i += 2;
		return true;
	}
	default:
		return false;
	}
}

typedef struct parser {
	const char *s;
	size_t len, i;
	char *st; /* write cursor in storage */
} parser;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char *parse_key(parser *p)
{
	char *start = p->st;
	while (p->i < p->len && !is_space(p->s[p->i]) && p->s[p->i] != '=') {
		if (p->s[p->i] == '"')
			return NULL;
		*p->st++ = p->s[p->i++];
	}
	if (p->st == start)
		return NULL;
	*p->st++ = '\0';
	return start;
}

static char *parse_quoted(parser *p)
{
	char *start = p->st;
	p->i++; /* opening quote */
	for (;;) {
		if (p->i >= p->len)
			return NULL;
		char c = p->s[p->i++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (!decode_escape(p->s, p->len, &p->i, &c))
				return NULL;
		}
		*p->st++ = c;
	}
	if (p->i < p->len && !is_space(p->s[p->i]))
		return NULL;
	*p->st++ = '\0';
	return start;
}

static char *parse_value(parser *p)
{
	if (p->i < p->len && p->s[p->i] == '"')
		return parse_quoted(p);
	char *start = p->st;
	while (p->i < p->len && !is_space(p->s[p->i])) {
		if (p->s[p->i] == '"')
			return NULL;
		*p->st++ = p->s[p->i++];
	}
	*p->st++ = '\0';
	return start;
}

static void push_pair(logfmt_record *r, size_t *cap, char *key, char *value)
{
	if (r->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		r->pairs = rfx_realloc(r->pairs, *cap * sizeof(*r->pairs));
	}
	r->pairs[r->n].key = key;
	r->pairs[r->n].value = value;
	r->n++;
}

rfx_err logfmt_parse(const char *line, size_t len, logfmt_record *out)
{
	rfx_err rc = RFX_OK;
	parser p = {.s = line, .len = len, .i = 0};
	size_t cap = 0;
	memset(out, 0, sizeof(*out));
	/* Decoded text is never longer than the input; each pair adds at most two NULs for at least two
	 * bytes. */
	out->storage = rfx_malloc(len * 2 + 2);
	p.st = out->storage;
	for (;;) {
		while (p.i < len && is_space(line[p.i]))
			p.i++;
		if (p.i >= len)
			break;
		char *key = parse_key(&p);
		if (!key) {
			rc = RFX_ERR_PARSE;
			goto out;
		}
		char *value = NULL;
		if (p.i < len && line[p.i] == '=') {
			p.i++;
			value = parse_value(&p);
			if (!value) {
				rc = RFX_ERR_PARSE;
				goto out;
			}
		} else {
			value = p.st;
			*p.st++ = '\0';
		}
		push_pair(out, &cap, key, value);
	}
	if (out->n == 0)
		rc = RFX_ERR_PARSE;
out:
	if (rc)
		logfmt_record_free(out);
	return rc;
}

const char *logfmt_get(const logfmt_record *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->pairs[i].key, key) == 0)
			return r->pairs[i].value;
	return NULL;
}

void logfmt_record_free(logfmt_record *r)
{
	RFX_FREE(r->pairs);
	RFX_FREE(r->storage);
	r->n = 0;
}
