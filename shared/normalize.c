/* normalize.c -- the table of source normalizers and the typed, error-naming JSON lookups they share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "normalize.h"

#include "arena.h"

const normalizer *const normalizers[] = {
    &norm_alertmanager, &norm_dynatrace, &norm_opsgenie, &norm_icinga, &norm_nagios, &norm_generic, NULL,
};

const normalizer *normalizer_find(const char *name)
{
	for (size_t i = 0; name && normalizers[i]; i++)
		if (strcmp(normalizers[i]->name, name) == 0)
			return normalizers[i];
	return NULL;
}

/* ---- ids ---- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t fnv1a_byte(uint64_t h, unsigned char b)
{
	return (h ^ b) * 1099511628211ULL;
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

void normalize_label_fingerprint(const cJSON *labels, char out[17])
{
	size_t n = 0;
	const cJSON *l;
	cJSON_ArrayForEach(l, labels) if (l->string && cJSON_IsString(l) && l->valuestring) n++;
	const cJSON **v = rfx_calloc(n ? n : 1, sizeof(*v));
	size_t i = 0;
	cJSON_ArrayForEach(l, labels) if (l->string && cJSON_IsString(l) && l->valuestring) v[i++] = l;
	qsort(v, n, sizeof(*v), cmp_label);
	uint64_t h = 14695981039346656037ULL;
	for (i = 0; i < n; i++) {
		h = fnv1a_byte(fnv1a(h, v[i]->string), 0xff);
		h = fnv1a_byte(fnv1a(h, v[i]->valuestring), 0xff);
	}
	free(v);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

void normalize_hash_id(const char *const *parts, size_t nparts, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < nparts; i++) {
		const char *p = parts[i] ? parts[i] : "";
		EVP_DigestUpdate(ctx, p,
				 strlen(p) + 1); /* the NUL separates parts: ("ab","c") != ("a","bc") */
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- parse state ---- */

rfx_err normalize_run(normalize_fn fn, const cJSON *body, event_list *out, char *err, size_t errlen,
		      const char **field)
{
	normalize_ctx c = {.err = err, .errlen = errlen, .field = field};
	if (err && errlen)
		err[0] = '\0';
	if (field)
		*field = NULL;
	rfx_err rc = body ? fn(&c, body) : normalize_fail(&c, NULL, "empty body");
	if (rc) {
		event_list_free(&c.out);
		return rc;
	}
	for (size_t i = 0; i < c.out.n; i++)
		event_list_push(out, c.out.v[i]);
	arena_free(c.out.v); /* event_list_push grows it in the arena when one is active */
	return RFX_OK;
}

static void vfail(normalize_ctx *c, const char *field, const char *fmt, va_list ap)
{
	if (c->field)
		*c->field = field;
	if (!c->err || !c->errlen)
		return;
	size_t n = 0;
	if (c->where[0])
		n = (size_t)snprintf(c->err, c->errlen, "%s: ", c->where);
	if (field && n < c->errlen)
		n += (size_t)snprintf(c->err + n, c->errlen - n, "%s ", field);
	if (n < c->errlen)
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
}

rfx_err normalize_fail(normalize_ctx *c, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, field, fmt, ap);
	va_end(ap);
	return RFX_ERR_INVAL;
}

void normalize_where(normalize_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->where, sizeof(c->where), fmt, ap);
	va_end(ap);
}

void normalize_where_item(normalize_ctx *c, const char *list, size_t i)
{
	char digits[24];
	size_t nd = 0;
	do
		digits[nd++] = (char)('0' + i % 10);
	while ((i /= 10) && nd < sizeof(digits));
	size_t n = strnlen(list, sizeof(c->where) - nd - 3);
	memcpy(c->where, list, n);
	c->where[n++] = '[';
	while (nd)
		c->where[n++] = digits[--nd];
	c->where[n++] = ']';
	c->where[n] = '\0';
}

rfx_err normalize_push(normalize_ctx *c, event *e)
{
	if (c->out.n >= NORMALIZE_MAX_EVENTS) {
		event_free(e);
		c->where[0] = '\0';
		normalize_fail(c, NULL, "more than %d problems in one payload", NORMALIZE_MAX_EVENTS);
		return RFX_ERR_LIMIT;
	}
	event_list_push(&c->out, e);
	return RFX_OK;
}

/* ---- typed lookups ---- */

static const char *type_name(int type)
{
	switch (type) {
	case cJSON_String:
		return "a string";
	case cJSON_Number:
		return "a number";
	case cJSON_Object:
		return "an object";
	case cJSON_Array:
		return "an array";
	case cJSON_True | cJSON_False:
		return "a boolean";
	default:
		return "of another type";
	}
}

rfx_err normalize_get(normalize_ctx *c, const cJSON *obj, const char *key, const char *field, int type,
		      bool required, const cJSON **out)
{
	const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return normalize_fail(c, field ? field : key, "is required");
		return RFX_OK;
	}
	if (!(v->type & 0xFF & type) || (type == cJSON_String && !v->valuestring))
		return normalize_fail(c, field ? field : key, "must be %s", type_name(type));
	*out = v;
	return RFX_OK;
}

rfx_err normalize_get_str(normalize_ctx *c, const cJSON *obj, const char *key, const char *field,
			  bool required, const char **out)
{
	const cJSON *v;
	rfx_err rc = normalize_get(c, obj, key, field, cJSON_String, required, &v);
	*out = v ? v->valuestring : NULL;
	return rc;
}

/* Year 9999 in ms: later (or absurd) numbers are rejected rather than overflowing. */
#define TIME_MAX_MS 253402300799999.0

rfx_err normalize_get_time(normalize_ctx *c, const cJSON *obj, const char *key, const char *field,
			   double unit_ms, int64_t *ms)
{
	const cJSON *v;
	rfx_err rc = normalize_get(c, obj, key, field, cJSON_String | cJSON_Number, false, &v);
	if (rc || !v)
		return rc;
	int64_t t = 0;
	if (cJSON_IsString(v)) {
		if (rfx_parse_time(v->valuestring, &t))
			return normalize_fail(c, field ? field : key, "is not an RFC 3339 time");
	} else {
		double d = v->valuedouble * unit_ms;
		if (!isfinite(d) || d > TIME_MAX_MS)
			return normalize_fail(c, field ? field : key, "is out of range");
		t = d > 0 ? (int64_t)d : 0;
	}
	if (t > (int64_t)TIME_MAX_MS)
		return normalize_fail(c, field ? field : key, "is out of range");
	*ms = t > 0 ? t : 0;
	return RFX_OK;
}

const char *normalize_scalar(const cJSON *v, char buf[32])
{
	if (cJSON_IsString(v))
		return v->valuestring ? v->valuestring : "";
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 9007199254740992.0)
			snprintf(buf, 32, "%lld", (long long)d);
		else
			snprintf(buf, 32, "%.15g", d);
		return buf;
	}
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNull(v))
		return "";
	return NULL;
}

void normalize_scalar_tags(event *e, const cJSON *obj)
{
	const cJSON *v;
	char buf[32];
	cJSON_ArrayForEach(v, obj)
	{
		const char *s = v->string ? normalize_scalar(v, buf) : NULL;
		if (s)
			event_tag_set(e, v->string, s);
	}
}

/* Valid UTF-8, checking plain ASCII (nearly every payload) without the decoder. */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p && *p < 0x80)
		p++;
	return !*p || rfx_utf8_valid((const char *)p, strlen((const char *)p));
}

static void sanitize_tree(cJSON *v)
{
	for (; v; v = v->next) {
		if (v->string && !(v->type & cJSON_StringIsConst) && !utf8_ok(v->string)) {
			char *k = rfx_utf8_sanitize(v->string, strlen(v->string));
			char *copy = cJSON_malloc(strlen(k) + 1);
			if (!copy)
				abort();
			strcpy(copy, k);
			free(k);
			cJSON_free(v->string);
			v->string = copy;
		}
		if (cJSON_IsString(v) && v->valuestring && !utf8_ok(v->valuestring)) {
			char *s = rfx_utf8_sanitize(v->valuestring, strlen(v->valuestring));
			cJSON_SetValuestring(v, s);
			free(s);
		}
		sanitize_tree(v->child);
	}
}

/* The body being parsed by normalize_parse_owned on this thread, NULL otherwise. */
static __thread cJSON *owned_body;
static __thread bool owned_utf8; /* owned_body's strings are known to be valid UTF-8 */

rfx_err normalize_parse_owned(const normalizer *n, cJSON *body, bool utf8_valid, event_list *out, char *err,
			      size_t errlen, const char **field)
{
	owned_body = body;
	owned_utf8 = utf8_valid;
	rfx_err rc = n->parse(body, out, err, errlen, field);
	owned_body = NULL;
	owned_utf8 = false;
	return rc;
}

/* Moves v's members into a new node and leaves v as a reference to them: no copy, and deleting the body no
 * longer frees what the event now owns. */
static cJSON *raw_take(cJSON *v)
{
	cJSON *n = cJSON_CreateNull();
	if (!n)
		abort();
	n->type = v->type & 0xFF;
	n->child = v->child;
	v->type |= cJSON_IsReference;
	return n;
}

cJSON *normalize_raw(const cJSON *v)
{
	cJSON *copy = NULL;
	if (v && owned_body && (cJSON_IsObject(v) || cJSON_IsArray(v)) && !(v->type & cJSON_IsReference))
		copy = raw_take((cJSON *)v);
	else if (v)
		copy = cJSON_Duplicate(v, true);
	if (v && !copy)
		abort();
	if (copy && !(owned_body && owned_utf8)) {
		cJSON *next = copy->next;
		copy->next = NULL; /* a duplicate has no siblings, but be sure the walk stays inside it */
		sanitize_tree(copy);
		copy->next = next;
	}
	return copy;
}
