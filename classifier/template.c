/* template.c -- compile and render `{{field}}` templates, with POSIX shell single-quoting and target checks.
 */
#include "template.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

typedef struct tpl_part {
	uint32_t off, len; /* literal text before the field, in src */
	bool has_field;	   /* false for the trailing literal */
	match_field field;
} tpl_part;

struct template
{
	char *src;
	tpl_part *parts;
	size_t n;
	size_t nfields;
};

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static rfx_err parse_field(const char *src, size_t open, size_t close, tpl_part *part, int *err_col,
			   char *err, size_t errlen)
{
	size_t a = open + 2, b = close;
	while (a < b && is_space(src[a]))
		a++;
	while (b > a && is_space(src[b - 1]))
		b--;
	if (a == b) {
		*err_col = (int)open + 1;
		snprintf(err, errlen, "empty {{}} in template");
		return RFX_ERR_PARSE;
	}
	if (match_field_parse(src + a, b - a, &part->field, err, errlen)) {
		*err_col = (int)a + 1;
		return RFX_ERR_INVAL;
	}
	part->has_field = true;
	return RFX_OK;
}

static tpl_part *push_part(template *t, size_t off, size_t len)
{
	t->parts = rfx_realloc(t->parts, (t->n + 1) * sizeof(*t->parts));
	tpl_part *p = &t->parts[t->n++];
	memset(p, 0, sizeof(*p));
	p->off = (uint32_t)off;
	p->len = (uint32_t)len;
	return p;
}

static rfx_err compile_parts(template *t, int *err_col, char *err, size_t errlen)
{
	const char *s = t->src;
	size_t lit = 0, i = 0;
	for (;;) {
		const char *open = strstr(s + i, "{{");
		if (!open) {
			push_part(t, lit, strlen(s + lit));
			return RFX_OK;
		}
		size_t o = (size_t)(open - s);
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			*err_col = (int)o + 1;
			snprintf(err, errlen, "unterminated {{ in template");
			return RFX_ERR_PARSE;
		}
		if (t->nfields == TEMPLATE_MAX_FIELDS) {
			*err_col = (int)o + 1;
			snprintf(err, errlen, "more than %d fields in a template", TEMPLATE_MAX_FIELDS);
			return RFX_ERR_INVAL;
		}
		tpl_part *part = push_part(t, lit, o - lit);
		rfx_err rc = parse_field(s, o, (size_t)(close - s), part, err_col, err, errlen);
		if (rc)
			return rc;
		t->nfields++;
		i = lit = (size_t)(close - s) + 2;
	}
}

rfx_err template_compile(const char *src, template **out, int *err_col, char *err, size_t errlen)
{
	*out = NULL;
	*err_col = 0;
	if (strlen(src) > TEMPLATE_MAX_LEN) {
		*err_col = TEMPLATE_MAX_LEN + 1;
		snprintf(err, errlen, "template longer than %d bytes", TEMPLATE_MAX_LEN);
		return RFX_ERR_INVAL;
	}
	template *t = rfx_calloc(1, sizeof(*t));
	t->src = rfx_strdup(src);
	rfx_err rc = compile_parts(t, err_col, err, errlen);
	if (rc) {
		template_free(t);
		return rc;
	}
	*out = t;
	return RFX_OK;
}

void template_free(template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		match_field_clear(&t->parts[i].field);
	free(t->parts);
	free(t->src);
	free(t);
}

const char *template_source(const template *t)
{
	return t->src;
}

size_t template_nfields(const template *t)
{
	return t->nfields;
}

rfx_err template_shell_quote(const char *s, rfx_buf *out)
{
	rfx_err rc = buf_putc(out, '\'');
	for (const char *p = s; !rc && *p; p++)
		rc = *p == '\'' ? buf_puts(out, "'\\''") : buf_putc(out, *p);
	return rc ? rc : buf_putc(out, '\'');
}

static rfx_err render_field(const tpl_part *part, const eval_ctx *c, bool shell_quote, rfx_buf *b, char *err,
			    size_t errlen)
{
	char tbuf[MATCH_TOPO_BUF], path[MATCH_FIELD_NAME_MAX + 16];
	bool present;
	const char *v = match_field_value(&part->field, c, tbuf, sizeof(tbuf), &present);
	if (!shell_quote)
		return buf_puts(b, v);
	if (!*v) {
		match_field_path(&part->field, path, sizeof(path));
		snprintf(err, errlen, "field %s is %s for this event; refusing to build the command", path,
			 present ? "empty" : "missing");
		return RFX_ERR_INVAL;
	}
	return template_shell_quote(v, b);
}

rfx_err template_render(const template *t, const eval_ctx *c, bool shell_quote, char **out, char *err,
			size_t errlen)
{
	rfx_buf b;
	rfx_err rc = RFX_OK;
	*out = NULL;
	buf_init(&b, TEMPLATE_MAX_OUT);
	for (size_t i = 0; !rc && i < t->n; i++) {
		rc = buf_append(&b, t->src + t->parts[i].off, t->parts[i].len);
		if (!rc && t->parts[i].has_field)
			rc = render_field(&t->parts[i], c, shell_quote, &b, err, errlen);
	}
	if (rc == RFX_ERR_LIMIT)
		snprintf(err, errlen, "rendered template longer than %d bytes", TEMPLATE_MAX_OUT);
	if (!rc) {
		buf_cstr(&b);
		*out = buf_steal(&b);
	}
	buf_free(&b);
	return rc;
}

/* ---- targets ---- */

static bool label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

static bool valid_hostname(const char *s, size_t len)
{
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!label_char(s[i]) || (label == 0 && s[i] == '-') || ++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

static bool valid_port(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5)
		return false;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static bool valid_ipv6(const char *s, size_t len)
{
	char tmp[64];
	struct in6_addr a;
	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

static bool check_target(const char *s)
{
	size_t len = strlen(s);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || !valid_ipv6(s + 1, (size_t)(close - s - 1)))
			return false;
		return close[1] == '\0' || (close[1] == ':' && valid_port(close + 2));
	}
	const char *colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':'))
		return valid_ipv6(s, len);
	if (colon)
		return valid_hostname(s, (size_t)(colon - s)) && valid_port(colon + 1);
	return valid_hostname(s, len);
}

bool template_valid_target(const char *s, char *err, size_t errlen)
{
	if (check_target(s))
		return true;
	if (!*s)
		snprintf(err, errlen, "target is empty");
	else
		snprintf(err, errlen, "target \"%.100s\" is not a valid host, host:port or IP address", s);
	return false;
}

rfx_err template_render_target(const template *t, const eval_ctx *c, char **out, char *err, size_t errlen)
{
	rfx_err rc = template_render(t, c, false, out, err, errlen);
	if (rc)
		return rc;
	if (template_valid_target(*out, err, errlen))
		return RFX_OK;
	RFX_FREE(*out);
	return RFX_ERR_INVAL;
}
