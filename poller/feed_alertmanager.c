/* feed_alertmanager.c -- Prometheus Alertmanager: GET /api/v2/alerts, one answer holding every active alert.
 * Silenced and inhibited alerts are asked for too, so that an alert being silenced is not mistaken for one
 * that was resolved: they are kept open without being forwarded (unless include_silenced /
 * include_inhibited). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

typedef struct am_opts {
	bool include_silenced;
	bool include_inhibited;
	char *receiver;
	char *username;
} am_opts;

#define AO(field) offsetof(am_opts, field)
static const feed_key am_keys[] = {
    {"include_silenced", FK_BOOL, AO(include_silenced), "false", 0, 0, "Forward silenced alerts too"},
    {"include_inhibited", FK_BOOL, AO(include_inhibited), "false", 0, 0, "Forward inhibited alerts too"},
    {"receiver", FK_STRING, AO(receiver), NULL, 0, 0, "Only alerts routed to receivers matching this regex"},
    {"username", FK_STRING, AO(username), NULL, 0, 0, "Basic auth user (token_file holds the password)"},
    {0},
};

static bool nonempty_array(const cJSON *status, const char *key)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(status, key)) > 0;
}

static bool suppressed(const am_opts *o, const cJSON *alert)
{
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(alert, "status");
	if (!cJSON_IsObject(status))
		return false;
	bool silenced = nonempty_array(status, "silencedBy");
	bool inhibited = nonempty_array(status, "inhibitedBy") || nonempty_array(status, "mutedBy");
	return (silenced && !o->include_silenced) || (inhibited && !o->include_inhibited);
}

static rfx_err am_parse(const feed_cfg *cfg, const char *body, size_t len, feed_page *pg, char *err,
			size_t errlen)
{
	const am_opts *o = cfg->opts;
	cJSON *j = feed_parse_json(body, len, err, errlen);
	const cJSON *a;

	if (!j)
		return RFX_ERR_PARSE;
	if (!cJSON_IsArray(j)) {
		snprintf(err, errlen, "expected a JSON array of alerts");
		cJSON_Delete(j);
		return RFX_ERR_PARSE;
	}
	cJSON_ArrayForEach(a, j)
	{
		size_t before = pg->n;
		feed_normalize_item(pg, "alertmanager", a, true);
		bool sup = suppressed(o, a);
		for (size_t i = before; i < pg->n; i++)
			pg->items[i].suppressed = sup;
	}
	cJSON_Delete(j);
	return RFX_OK;
}

/* `{severity="critical", team=~"db|web"}` -> one filter parameter per matcher (commas inside quotes kept). */
static void add_matchers(feed_url *u, const char *q)
{
	rfx_buf m;
	bool quoted = false;

	buf_init(&m, 4096);
	while (*q == ' ' || *q == '{')
		q++;
	for (const char *p = q;; p++) {
		bool end = !*p || (!quoted && (*p == ',' || *p == '}'));
		if (end) {
			const char *s = buf_cstr(&m);
			size_t n = strlen(s);
			while (n > 0 && s[n - 1] == ' ')
				m.data[--n] = 0;
			while (*s == ' ')
				s++;
			if (*s)
				feed_url_param(u, "filter", s);
			buf_reset(&m);
			if (!*p || *p == '}')
				break;
			continue;
		}
		if (*p == '"' && (p == q || p[-1] != '\\'))
			quoted = !quoted;
		buf_putc(&m, *p);
	}
	buf_free(&m);
}

static rfx_err am_poll(feed_poll *p)
{
	const am_opts *o = p->cfg->opts;
	feed_url u;
	httpc_resp resp = {0};
	feed_page pg;
	char auth[4200] = "";
	const char *headers[3] = {"Accept: application/json", NULL, NULL};
	rfx_err rc;

	feed_url_init(&u, p->cfg->url, "/api/v2/alerts");
	feed_url_param(&u, "active", "true");
	feed_url_param(&u, "silenced", "true");
	feed_url_param(&u, "inhibited", "true");
	feed_url_param(&u, "unprocessed", "true");
	if (p->cfg->query && *p->cfg->query)
		add_matchers(&u, p->cfg->query);
	if (o->receiver)
		feed_url_param(&u, "receiver", o->receiver);
	if (p->secret && !o->username) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", p->secret);
		headers[1] = auth;
	}
	feed_page_init_poll(&pg, p);
	rc = feed_http_get(p, buf_cstr(&u.b), headers, o->username, &resp);
	if (!rc) {
		rc = am_parse(p->cfg, resp.body.data ? resp.body.data : "", resp.body.len, &pg, p->err,
			      sizeof(p->err));
		if (rc)
			snprintf(p->err + strlen(p->err), sizeof(p->err) - strlen(p->err), " from %s",
				 "/api/v2/alerts");
	}
	if (!rc)
		rc = p->on_page(p, &pg);
	feed_page_reset(&pg);
	httpc_resp_free(&resp);
	feed_url_free(&u);
	explicit_bzero(auth, sizeof(auth));
	return rc;
}

const feed_type feed_alertmanager = {
    .name = "alertmanager",
    .default_query = NULL,
    .keys = am_keys,
    .opts_size = sizeof(am_opts),
    .validate = NULL,
    .poll = am_poll,
    .parse = am_parse,
};
