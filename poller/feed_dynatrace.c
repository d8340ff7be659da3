/* feed_dynatrace.c -- Dynatrace Problems API v2: GET /api/v2/problems with problemSelector, from and
 * pageSize, following nextPageKey; Authorization: Api-Token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

#define DT_MAX_PAGES 10000

typedef struct dt_opts {
	char *from;
	long long page_size;
	char *fields;
	char *entity_selector;
} dt_opts;

#define DO(field) offsetof(dt_opts, field)
static const feed_key dt_keys[] = {
    {"from", FK_STRING, DO(from), "now-30d", 0, 0,
     "Start of the timeframe (problems open or closed within it are listed)"},
    {"page_size", FK_INT, DO(page_size), "500", 1, 500, "Problems per page (pageSize)"},
    {"fields", FK_STRING, DO(fields), "evidenceDetails", 0, 0,
     "Extra problem properties (evidenceDetails gives the root cause's event type)"},
    {"entity_selector", FK_STRING, DO(entity_selector), NULL, 0, 0, "entitySelector, e.g. type(\"HOST\")"},
    {0},
};

static rfx_err dt_parse(const feed_cfg *cfg, const char *body, size_t len, feed_page *pg, char *err,
			size_t errlen)
{
	cJSON *j = feed_parse_json(body, len, err, errlen);
	const cJSON *problems, *next, *p;

	if (!j)
		return RFX_ERR_PARSE;
	problems = cJSON_GetObjectItemCaseSensitive(j, "problems");
	if (!cJSON_IsArray(problems)) {
		snprintf(err, errlen, "expected an object with a \"problems\" list");
		cJSON_Delete(j);
		return RFX_ERR_PARSE;
	}
	cJSON_ArrayForEach(p, problems) feed_normalize_item(pg, "dynatrace", p, true);
	next = cJSON_GetObjectItemCaseSensitive(j, "nextPageKey");
	if (cJSON_IsString(next) && next->valuestring[0])
		pg->next = rfx_strdup(next->valuestring);
	cJSON_Delete(j);
	return RFX_OK;
}

static void build_url(const feed_cfg *cfg, const char *next, feed_url *u)
{
	const dt_opts *o = cfg->opts;
	feed_url_init(u, cfg->url, "/api/v2/problems");
	/* With a page key Dynatrace takes no other parameter than fields, which must be repeated on every
	 * page. */
	if (next) {
		feed_url_param(u, "nextPageKey", next);
	} else {
		if (cfg->query && *cfg->query)
			feed_url_param(u, "problemSelector", cfg->query);
		if (o->entity_selector)
			feed_url_param(u, "entitySelector", o->entity_selector);
		if (o->from && *o->from)
			feed_url_param(u, "from", o->from);
		char ps[24];
		snprintf(ps, sizeof(ps), "%lld", o->page_size);
		feed_url_param(u, "pageSize", ps);
	}
	if (o->fields && *o->fields)
		feed_url_param(u, "fields", o->fields);
}

static rfx_err fetch_page(feed_poll *p, const char *next, const char *const *headers, feed_page *pg)
{
	feed_url u;
	httpc_resp resp = {0};

	build_url(p->cfg, next, &u);
	rfx_err rc = feed_http_get(p, buf_cstr(&u.b), headers, NULL, &resp);
	if (!rc) {
		rc = dt_parse(p->cfg, resp.body.data ? resp.body.data : "", resp.body.len, pg, p->err,
			      sizeof(p->err));
		if (rc)
			snprintf(p->err + strlen(p->err), sizeof(p->err) - strlen(p->err),
				 " from /api/v2/problems");
	}
	httpc_resp_free(&resp);
	feed_url_free(&u);
	return rc;
}

static rfx_err dt_poll(feed_poll *p)
{
	char auth[4200] = "";
	const char *headers[3] = {"Accept: application/json", NULL, NULL};
	char *next = NULL;
	feed_page pg;
	rfx_err rc = RFX_OK;

	if (p->secret) {
		snprintf(auth, sizeof(auth), "Authorization: Api-Token %s", p->secret);
		headers[1] = auth;
	}
	feed_page_init_poll(&pg, p);
	for (int page = 0; !rc; page++) {
		if (page >= DT_MAX_PAGES) {
			snprintf(p->err, sizeof(p->err), "more than %d pages", DT_MAX_PAGES);
			rc = RFX_ERR_LIMIT;
			break;
		}
		rc = fetch_page(p, next, headers, &pg);
		free(next);
		next = pg.next;
		pg.next = NULL;
		if (!rc)
			rc = p->on_page(p, &pg);
		feed_page_reset(&pg);
		if (!next)
			break;
	}
	free(next);
	explicit_bzero(auth, sizeof(auth));
	return rc;
}

static rfx_err dt_validate(feed_cfg *cfg, char *err, size_t errlen)
{
	if (!cfg->token_file) {
		snprintf(err, errlen,
			 "token_file: required for a dynatrace feed (an API token with problems.read)");
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}

const feed_type feed_dynatrace = {
    .name = "dynatrace",
    .default_query = "status(\"open\")",
    .keys = dt_keys,
    .opts_size = sizeof(dt_opts),
    .validate = dt_validate,
    .poll = dt_poll,
    .parse = dt_parse,
};
