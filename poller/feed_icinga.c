/* feed_icinga.c -- Icinga 2 REST API: GET /v1/objects/services and /v1/objects/hosts filtered to problems,
 * basic auth, TLS checked against the API's CA (ca_file). Handled problems (acknowledged or in downtime) are
 * kept open without being forwarded, so acknowledging a problem is not mistaken for its recovery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

typedef struct ic_opts {
	char *username;
	feed_strlist objects;
	bool include_handled;
} ic_opts;

#define IO(field) offsetof(ic_opts, field)
static const feed_key ic_keys[] = {
    {"username", FK_STRING, IO(username), NULL, 0, 0, "API user (token_file holds its password)"},
    {"objects", FK_STRLIST, IO(objects), "services,hosts", 0, 0, "Which objects to poll: services, hosts"},
    {"include_handled", FK_BOOL, IO(include_handled), "false", 0, 0,
     "Forward acknowledged problems and problems in downtime too"},
    {0},
};

static const char *const ic_attrs[] = {
    "name", "host_name", "state",	    "state_type",     "last_check_result", "last_state_change",
    "vars", "handled",	 "acknowledgement", "downtime_depth", "display_name",	   NULL,
};

static bool handled(const cJSON *result)
{
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(result, "attrs");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(attrs, "handled");
	if (cJSON_IsBool(h))
		return cJSON_IsTrue(h);
	/* Before Icinga 2.11 there is no `handled`: acknowledged or in a downtime is what it means. */
	const cJSON *ack = cJSON_GetObjectItemCaseSensitive(attrs, "acknowledgement");
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(attrs, "downtime_depth");
	return (cJSON_IsNumber(ack) && ack->valuedouble != 0) || (cJSON_IsNumber(dt) && dt->valuedouble > 0);
}

static rfx_err ic_parse(const feed_cfg *cfg, const char *body, size_t len, feed_page *pg, char *err,
			size_t errlen)
{
	const ic_opts *o = cfg->opts;
	cJSON *j = feed_parse_json(body, len, err, errlen);
	const cJSON *results, *r;

	if (!j)
		return RFX_ERR_PARSE;
	results = cJSON_GetObjectItemCaseSensitive(j, "results");
	if (!cJSON_IsArray(results)) {
		snprintf(err, errlen, "expected an object with a \"results\" list");
		cJSON_Delete(j);
		return RFX_ERR_PARSE;
	}
	cJSON_ArrayForEach(r, results)
	{
		size_t before = pg->n;
		pg->listed++;
		feed_normalize_item(pg, "icinga", r, true);
		bool sup = !o->include_handled && handled(r);
		for (size_t i = before; i < pg->n; i++)
			pg->items[i].suppressed = sup;
	}
	cJSON_Delete(j);
	return RFX_OK;
}

static void build_url(const feed_cfg *cfg, const char *object, feed_url *u)
{
	const char *kind = strcmp(object, "hosts") == 0 ? "host" : "service";
	char *path = rfx_asprintf("/v1/objects/%s", object);
	char *filter = cfg->query && *cfg->query ? rfx_asprintf("%s.state != 0 && (%s)", kind, cfg->query)
						 : rfx_asprintf("%s.state != 0", kind);
	feed_url_init(u, cfg->url, path);
	feed_url_param(u, "filter", filter);
	for (size_t i = 0; ic_attrs[i]; i++)
		if (strcmp(kind, "host") || strcmp(ic_attrs[i], "host_name"))
			feed_url_param(u, "attrs", ic_attrs[i]);
	free(path);
	free(filter);
}

static rfx_err poll_objects(feed_poll *p, const char *object, feed_page *pg)
{
	const ic_opts *o = p->cfg->opts;
	const char *headers[] = {"Accept: application/json", NULL};
	feed_url u;
	httpc_resp resp = {0};

	build_url(p->cfg, object, &u);
	rfx_err rc = feed_http_get(p, buf_cstr(&u.b), headers, o->username, &resp);
	if (!rc) {
		rc = ic_parse(p->cfg, resp.body.data ? resp.body.data : "", resp.body.len, pg, p->err,
			      sizeof(p->err));
		if (rc)
			snprintf(p->err + strlen(p->err), sizeof(p->err) - strlen(p->err),
				 " from /v1/objects/%s", object);
	}
	if (!rc)
		rc = p->on_page(p, pg);
	feed_page_reset(pg);
	httpc_resp_free(&resp);
	feed_url_free(&u);
	return rc;
}

static rfx_err ic_poll(feed_poll *p)
{
	const ic_opts *o = p->cfg->opts;
	feed_page pg;
	rfx_err rc = RFX_OK;

	feed_page_init_poll(&pg, p);
	for (size_t i = 0; i < o->objects.n && !rc; i++)
		rc = poll_objects(p, o->objects.v[i], &pg);
	return rc;
}

static rfx_err ic_validate(feed_cfg *cfg, char *err, size_t errlen)
{
	const ic_opts *o = cfg->opts;
	if (!o->username || !cfg->token_file) {
		snprintf(err, errlen,
			 "%s: required for an icinga feed (an ApiUser and a file with its password)",
			 o->username ? "token_file" : "username");
		return RFX_ERR_INVAL;
	}
	if (o->objects.n == 0) {
		snprintf(err, errlen, "objects: list services, hosts or both");
		return RFX_ERR_INVAL;
	}
	for (size_t i = 0; i < o->objects.n; i++) {
		if (strcmp(o->objects.v[i], "services") && strcmp(o->objects.v[i], "hosts")) {
			snprintf(err, errlen, "objects: '%s' is neither services nor hosts", o->objects.v[i]);
			return RFX_ERR_INVAL;
		}
	}
	return RFX_OK;
}

const feed_type feed_icinga = {
    .name = "icinga",
    .default_query = NULL,
    .keys = ic_keys,
    .opts_size = sizeof(ic_opts),
    .validate = ic_validate,
    .poll = ic_poll,
    .parse = ic_parse,
};
