/* feed.c -- the feed type table and what every feed type shares: authenticated GETs, URLs, pages of items. */
#include "feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

#define FEED_URL_MAX	    16384
#define FEED_JSON_MAX_DEPTH 64

/* Adding a feed type: a new feed_<type>.c and one line here. */
const feed_type *const feed_types[] = {&feed_alertmanager, &feed_dynatrace, &feed_opsgenie, &feed_icinga,
				       NULL};

#define CK(field) offsetof(feed_cfg, field)
const feed_key feed_common_keys[] = {
    {"name", FK_STRING, CK(name), NULL, 0, 0, "Unique feed name ([A-Za-z0-9._-], at most 63 characters)"},
    {"type", FK_STRING, CK(type), NULL, 0, 0, "Feed type: alertmanager, dynatrace, opsgenie or icinga"},
    {"url", FK_STRING, CK(url), NULL, 0, 0, "Base URL of the monitoring system's API"},
    {"token_file", FK_STRING, CK(token_file), NULL, 0, 0,
     "File holding the API token (or password with username)"},
    {"query", FK_STRING, CK(query), NULL, 0, 0, "The type's own filter (see docs/feeds.md)"},
    {"ca_file", FK_STRING, CK(ca_file), NULL, 0, 0, "CA bundle the API's TLS certificate is checked against"},
    {"interval", FK_DURATION, CK(interval_ms), "60s", 100, 86400000LL, "Time between polls"},
    {"timeout", FK_DURATION, CK(timeout_ms), "10s", 100, 600000, "Timeout of each request"},
    {"backoff_min", FK_DURATION, CK(backoff_min_ms), "1s", 10, 3600000, "First delay after a failed poll"},
    {"backoff_max", FK_DURATION, CK(backoff_max_ms), "5m", 10, 86400000LL,
     "Longest delay between failed polls"},
    {"max_problems", FK_INT, CK(max_problems), "50000", 1, 1000000, "Most open problems one poll may return"},
    {"max_response", FK_SIZE, CK(max_response), "16MiB", 1024, 256LL << 20, "Largest response body accepted"},
    {"enabled", FK_BOOL, CK(enabled), "true", 0, 0, "false: the feed is configured but not polled"},
    {0},
};

const feed_type *feed_type_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; feed_types[i]; i++)
		if (strcmp(feed_types[i]->name, name) == 0)
			return feed_types[i];
	return NULL;
}

void feed_page_init(feed_page *pg)
{
	memset(pg, 0, sizeof(*pg));
}

void feed_page_init_poll(feed_page *pg, feed_poll *p)
{
	feed_page_init(pg);
	pg->rev_owner = p->rev_owner;
	pg->rev_ud = p->ud;
}

void feed_item_clear(feed_item *it)
{
	event_free(it->ev);
	it->ev = NULL;
	RFX_FREE(it->source_id);
	RFX_FREE(it->rev);
}

void feed_page_reset(feed_page *pg)
{
	const char *(*owner)(void *, const char *) = pg->rev_owner;
	void *ud = pg->rev_ud;
	for (size_t i = 0; i < pg->n; i++)
		feed_item_clear(&pg->items[i]);
	free(pg->items);
	free(pg->next);
	feed_page_init(pg);
	pg->rev_owner = owner;
	pg->rev_ud = ud;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t hash_json(uint64_t h, const cJSON *j)
{
	for (; j; j = j->next) {
		unsigned char type = (unsigned char)(j->type & 0xff);
		h = hash_bytes(h, &type, 1);
		if (j->string)
			h = hash_bytes(h, j->string, strlen(j->string) + 1);
		if (cJSON_IsString(j) && j->valuestring)
			h = hash_bytes(h, j->valuestring, strlen(j->valuestring) + 1);
		else if (cJSON_IsNumber(j))
			h = hash_bytes(h, &j->valuedouble, sizeof(j->valuedouble));
		else if (j->child)
			h = hash_json(hash_bytes(h, "{", 1), j->child);
		h = hash_bytes(h, "}", 1);
	}
	return h;
}

void feed_content_rev(const cJSON *obj, char out[18])
{
	uint64_t h = 14695981039346656037ULL;
	if (obj) {
		unsigned char type = (unsigned char)(obj->type & 0xff);
		h = hash_bytes(h, &type, 1);
		if (cJSON_IsString(obj) && obj->valuestring)
			h = hash_bytes(h, obj->valuestring, strlen(obj->valuestring) + 1);
		else if (cJSON_IsNumber(obj))
			h = hash_bytes(h, &obj->valuedouble, sizeof(obj->valuedouble));
		else
			h = hash_json(h, obj->child);
	}
	/* FNV-1a's last bytes mix weakly into the high bits: finish with a murmur-style avalanche. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	snprintf(out, 18, "h%016llx", (unsigned long long)h);
}

feed_item *feed_page_add(feed_page *pg, const char *source_id)
{
	if (pg->n == pg->cap) {
		pg->cap = pg->cap ? pg->cap * 2 : 64;
		pg->items = rfx_realloc(pg->items, pg->cap * sizeof(*pg->items));
	}
	feed_item *it = &pg->items[pg->n++];
	memset(it, 0, sizeof(*it));
	it->source_id = rfx_strdup(source_id ? source_id : "");
	return it;
}

void feed_page_reject(feed_page *pg, const char *why)
{
	if (pg->rejected++ == 0)
		snprintf(pg->reject_reason, sizeof(pg->reject_reason), "%s", why);
}

rfx_err feed_normalize_item(feed_page *pg, const char *norm, const cJSON *obj, bool by_content)
{
	const normalizer *nz = normalizer_find(norm);
	event_list evs = {0};
	char err[FEED_ERR_MAX] = "", why[FEED_ERR_MAX], rev[18] = "";
	const char *field = NULL, *owner;

	if (!nz)
		return RFX_ERR_INTERNAL;
	if (by_content) {
		feed_content_rev(obj, rev);
		if (pg->rev_owner && (owner = pg->rev_owner(pg->rev_ud, rev))) {
			feed_page_add(pg, owner)->rev = rfx_strdup(rev);
			return RFX_OK;
		}
	}
	rfx_err rc = nz->parse(obj, &evs, err, sizeof(err), &field);
	if (rc || evs.n == 0) {
		snprintf(why, sizeof(why), "%s%s%s", rc ? err : "no problem in item", field ? " field=" : "",
			 field ? field : "");
		feed_page_reject(pg, why);
		event_list_free(&evs);
		return RFX_OK;
	}
	for (size_t i = 0; i < evs.n; i++) {
		feed_item *it = feed_page_add(pg, evs.v[i]->source_id);
		it->ev = evs.v[i];
		evs.v[i] = NULL;
		/* a content rev identifies one problem: only when the object was exactly one */
		if (rev[0] && evs.n == 1)
			it->rev = rfx_strdup(rev);
	}
	event_list_free(&evs);
	return RFX_OK;
}

cJSON *feed_parse_json(const char *body, size_t len, char *err, size_t errlen)
{
	/* cJSON recurses per nesting level; refuse deep documents before handing them over. */
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = body[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > FEED_JSON_MAX_DEPTH) {
				snprintf(err, errlen, "JSON nested deeper than %d levels",
					 FEED_JSON_MAX_DEPTH);
				return NULL;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	cJSON *j = cJSON_ParseWithLength(body, len);
	if (!j)
		snprintf(err, errlen, "malformed JSON in response (%zu bytes)", len);
	return j;
}

bool feed_stopping(const feed_poll *p)
{
	return p->stop && atomic_load(p->stop);
}

static rfx_err status_to_err(long status)
{
	if (status >= 200 && status < 300)
		return RFX_OK;
	if (status == 429)
		return RFX_ERR_LIMIT;
	if (status == 401 || status == 403)
		return RFX_ERR_AUTH;
	return RFX_ERR_UNAVAILABLE;
}

rfx_err feed_http_get(feed_poll *p, const char *url, const char *const *headers, const char *basic_user,
		      httpc_resp *resp)
{
	const feed_cfg *c = p->cfg;
	char where[512];
	httpc_req req = {
	    .method = "GET",
	    .url = url,
	    .headers = headers,
	    .timeout_ms = (long)c->timeout_ms,
	    .connect_timeout_ms = (long)(c->timeout_ms < 3000 ? c->timeout_ms : 3000),
	    .max_response = (size_t)c->max_response,
	    .ca_file = c->ca_file,
	    .basic_user = basic_user,
	    .basic_password = basic_user ? (p->secret ? p->secret : "") : NULL,
	};

	if (feed_stopping(p)) {
		snprintf(p->err, sizeof(p->err), "stopping");
		return RFX_ERR_UNAVAILABLE;
	}
	feed_url_redact(url, where, sizeof(where));
	p->requests++;
	rfx_err rc = httpc_do(&req, resp);
	if (rc) {
		snprintf(p->err, sizeof(p->err), "GET %.200s: %s%s%.200s", where, rfx_strerror(rc),
			 resp->error[0] ? ": " : "", resp->error);
		return rc;
	}
	rc = status_to_err(resp->status);
	if (rc == RFX_ERR_LIMIT && resp->retry_after_s >= 0)
		p->retry_after_ms = resp->retry_after_s * 1000;
	if (rc)
		snprintf(p->err, sizeof(p->err), "GET %.200s: HTTP %ld", where, resp->status);
	return rc;
}

void feed_url_init(feed_url *u, const char *base, const char *path)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	buf_init(&u->b, FEED_URL_MAX);
	buf_append(&u->b, base, n);
	buf_puts(&u->b, path);
	u->has_query = strchr(path, '?') != NULL;
}

void feed_url_escape(rfx_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p)) {
			buf_putc(b, (char)*p);
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			buf_append(b, enc, 3);
		}
	}
}

void feed_url_param(feed_url *u, const char *name, const char *value)
{
	buf_putc(&u->b, u->has_query ? '&' : '?');
	u->has_query = true;
	feed_url_escape(&u->b, name);
	buf_putc(&u->b, '=');
	feed_url_escape(&u->b, value ? value : "");
}

void feed_url_free(feed_url *u)
{
	buf_free(&u->b);
}

void feed_url_redact(const char *url, char *out, size_t outlen)
{
	const char *start = url, *scheme = strstr(url, "://");
	size_t n;

	if (scheme) {
		const char *host = scheme + 3, *at = strchr(host, '@'), *slash = strchr(host, '/');
		if (at && (!slash || at < slash)) {
			snprintf(out, outlen, "%.*s", (int)(host - url), url);
			n = strlen(out);
			start = at + 1;
			out += n;
			outlen -= n;
		}
	}
	n = strcspn(start, "?#");
	snprintf(out, outlen, "%.*s", (int)n, start);
}
