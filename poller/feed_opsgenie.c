/* feed_opsgenie.c -- OpsGenie Alert API: GET /v2/alerts with the feed's query, offset/limit paging, and each
 * new or updated alert's details from GET /v2/alerts/{id}; Authorization: GenieKey. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "log.h"

#define OG_MAX_OFFSET 20000 /* OpsGenie refuses offset + limit beyond this */

typedef struct og_opts {
	long long page_size;
	bool fetch_details;
} og_opts;

#define OO(field) offsetof(og_opts, field)
static const feed_key og_keys[] = {
    {"page_size", FK_INT, OO(page_size), "100", 1, 100, "Alerts per page (limit)"},
    {"fetch_details", FK_BOOL, OO(fetch_details), "true", 0, 0,
     "Fetch each new or updated alert's details (entity, details.host, details.event_type)"},
    {0},
};

static const char *str_member(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* One list answer: {"data": [alert, ...], "paging": {"next": ...}}. Each item's rev is the alert's updatedAt.
 */
static rfx_err og_parse(const feed_cfg *cfg, const char *body, size_t len, feed_page *pg, char *err,
			size_t errlen)
{
	cJSON *j = feed_parse_json(body, len, err, errlen);
	const cJSON *data, *a, *paging;

	if (!j)
		return RFX_ERR_PARSE;
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	if (!cJSON_IsArray(data)) {
		snprintf(err, errlen, "expected an object with a \"data\" list");
		cJSON_Delete(j);
		return RFX_ERR_PARSE;
	}
	cJSON_ArrayForEach(a, data)
	{
		size_t before = pg->n;
		pg->listed++;
		feed_normalize_item(pg, "opsgenie", a, false);
		const char *rev = str_member(a, "updatedAt");
		for (size_t i = before; i < pg->n; i++)
			pg->items[i].rev = rfx_strdup(rev);
	}
	paging = cJSON_GetObjectItemCaseSensitive(j, "paging");
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(paging, "next")))
		pg->next = rfx_strdup("more");
	cJSON_Delete(j);
	return RFX_OK;
}

/* A details answer: {"data": {alert with description, details, entity, ...}}. */
static rfx_err og_parse_detail(const char *body, size_t len, event **out, char *err, size_t errlen)
{
	feed_page one;
	cJSON *j = feed_parse_json(body, len, err, errlen);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
	rfx_err rc = RFX_OK;

	*out = NULL;
	feed_page_init(&one);
	if (!cJSON_IsObject(data)) {
		if (j)
			snprintf(err, errlen, "expected an object with a \"data\" alert");
		cJSON_Delete(j);
		return RFX_ERR_PARSE;
	}
	feed_normalize_item(&one, "opsgenie", data, false);
	if (one.n == 1) {
		*out = one.items[0].ev;
		one.items[0].ev = NULL;
	} else {
		snprintf(err, errlen, "alert details not understood: %s", one.reject_reason);
		rc = RFX_ERR_PARSE;
	}
	feed_page_reset(&one);
	cJSON_Delete(j);
	return rc;
}

static void remove_item(feed_page *pg, size_t i)
{
	feed_item_clear(&pg->items[i]);
	memmove(&pg->items[i], &pg->items[i + 1], (pg->n - i - 1) * sizeof(*pg->items));
	pg->n--;
}

/* Replaces a listed alert by its details. RFX_ERR_NOTFOUND: deleted meanwhile. */
static rfx_err fetch_detail(feed_poll *p, const char *const *headers, feed_item *it)
{
	feed_url u;
	httpc_resp resp = {0};
	event *ev = NULL;
	rfx_buf path;

	buf_init(&path, 4096);
	buf_puts(&path, "/v2/alerts/");
	feed_url_escape(&path, it->source_id);
	feed_url_init(&u, p->cfg->url, buf_cstr(&path));
	feed_url_param(&u, "identifierType", "id");
	rfx_err rc = feed_http_get(p, buf_cstr(&u.b), headers, NULL, &resp);
	if (rc && resp.status == 404)
		rc = RFX_ERR_NOTFOUND;
	if (!rc) {
		rc = og_parse_detail(resp.body.data ? resp.body.data : "", resp.body.len, &ev, p->err,
				     sizeof(p->err));
		if (rc)
			snprintf(p->err + strlen(p->err), sizeof(p->err) - strlen(p->err),
				 " from /v2/alerts/{id}");
	}
	if (!rc) {
		event_free(it->ev);
		it->ev = ev;
	}
	httpc_resp_free(&resp);
	feed_url_free(&u);
	buf_free(&path);
	return rc;
}

/* Leaves the rest of the poll to the next one (rate limited): what is known stays open, nothing is resolved.
 */
static void defer_items(feed_poll *p, feed_page *pg, size_t from)
{
	for (size_t i = from; i < pg->n; i++) {
		event_free(pg->items[i].ev);
		pg->items[i].ev = NULL;
		RFX_FREE(pg->items[i].rev);
	}
	p->incomplete = true;
}

static rfx_err fetch_details(feed_poll *p, const char *const *headers, feed_page *pg, bool *throttled)
{
	for (size_t i = 0; i < pg->n;) {
		feed_item *it = &pg->items[i];
		const char *known = p->known_rev(p, it->source_id);
		if (known && it->rev && strcmp(known, it->rev) == 0) {
			event_free(it->ev); /* unchanged since the last poll: no need to ask again */
			it->ev = NULL;
			i++;
			continue;
		}
		rfx_err rc = fetch_detail(p, headers, it);
		if (rc == RFX_ERR_NOTFOUND) {
			remove_item(pg, i);
			continue;
		}
		if (rc == RFX_ERR_LIMIT) {
			defer_items(p, pg, i);
			*throttled = true;
			return RFX_OK;
		}
		if (rc)
			return rc;
		i++;
	}
	return RFX_OK;
}

static void build_list_url(const feed_cfg *cfg, long long offset, feed_url *u)
{
	const og_opts *o = cfg->opts;
	char off[24], lim[24];
	snprintf(off, sizeof(off), "%lld", offset);
	snprintf(lim, sizeof(lim), "%lld", o->page_size);
	feed_url_init(u, cfg->url, "/v2/alerts");
	if (cfg->query && *cfg->query)
		feed_url_param(u, "query", cfg->query);
	feed_url_param(u, "offset", off);
	feed_url_param(u, "limit", lim);
	/* Oldest first, so alerts created while paging land on later pages instead of shifting earlier ones.
	 */
	feed_url_param(u, "sort", "createdAt");
	feed_url_param(u, "order", "asc");
}

static rfx_err list_page(feed_poll *p, long long offset, const char *const *headers, feed_page *pg)
{
	feed_url u;
	httpc_resp resp = {0};

	build_list_url(p->cfg, offset, &u);
	rfx_err rc = feed_http_get(p, buf_cstr(&u.b), headers, NULL, &resp);
	if (!rc) {
		rc = og_parse(p->cfg, resp.body.data ? resp.body.data : "", resp.body.len, pg, p->err,
			      sizeof(p->err));
		if (rc)
			snprintf(p->err + strlen(p->err), sizeof(p->err) - strlen(p->err),
				 " from /v2/alerts");
	}
	httpc_resp_free(&resp);
	feed_url_free(&u);
	return rc;
}

static rfx_err og_poll(feed_poll *p)
{
	const og_opts *o = p->cfg->opts;
	char auth[4200] = "";
	const char *headers[3] = {"Accept: application/json", NULL, NULL};
	long long offset = 0;
	bool throttled = false;
	feed_page pg;
	rfx_err rc = RFX_OK;

	if (p->secret) {
		snprintf(auth, sizeof(auth), "Authorization: GenieKey %s", p->secret);
		headers[1] = auth;
	}
	feed_page_init_poll(&pg, p);
	while (!rc && !throttled) {
		if (offset + o->page_size > OG_MAX_OFFSET) {
			snprintf(p->err, sizeof(p->err), "more than %d alerts match the query",
				 OG_MAX_OFFSET);
			rc = RFX_ERR_LIMIT;
			break;
		}
		rc = list_page(p, offset, headers, &pg);
		if (!rc && o->fetch_details)
			rc = fetch_details(p, headers, &pg, &throttled);
		bool more = pg.next && pg.listed >= (size_t)o->page_size;
		offset += (long long)pg.listed;
		if (!rc)
			rc = p->on_page(p, &pg);
		feed_page_reset(&pg);
		if (!more)
			break;
	}
	if (throttled)
		LOG_WARN("alert details rate limited, the rest waits for the next poll", "feed", p->cfg->name,
			 "error", p->err);
	explicit_bzero(auth, sizeof(auth));
	return rc;
}

static rfx_err og_validate(feed_cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->token_file) {
		snprintf(err, errlen, "token_file: required for an opsgenie feed (an API integration key)");
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}

const feed_type feed_opsgenie = {
    .name = "opsgenie",
    .default_query = "status:open",
    .keys = og_keys,
    .opts_size = sizeof(og_opts),
    .validate = og_validate,
    .poll = og_poll,
    .parse = og_parse,
};

rfx_err feed_opsgenie_parse_detail(const char *body, size_t len, event **out, char *err, size_t errlen)
{
	return og_parse_detail(body, len, out, err, errlen);
}
