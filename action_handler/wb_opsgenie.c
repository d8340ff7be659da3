/* wb_opsgenie.c -- write-back to OpsGenie's Alert API: add note, add team, close (Authorization: GenieKey).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "writeback.h"

typedef struct wb_opsgenie {
	const ah_config *cfg;
	char *base; /* without a trailing slash */
	char *auth_header;
} wb_opsgenie;

static rfx_err og_open(const ah_config *cfg, void **ctx, char *err, size_t errlen)
{
	*ctx = NULL;
	if (!cfg->opsgenie_url || !*cfg->opsgenie_url)
		return RFX_OK;
	if (!cfg->opsgenie_api_key_file) {
		snprintf(err, errlen, "opsgenie_url is set but opsgenie_api_key_file is not");
		return RFX_ERR_INVAL;
	}
	char *key = NULL, kerr[200];
	size_t klen;
	if (auth_read_secret(cfg->opsgenie_api_key_file, &key, &klen, kerr, sizeof(kerr))) {
		snprintf(err, errlen, "opsgenie_api_key_file: %s", kerr);
		return RFX_ERR_INVAL;
	}
	wb_opsgenie *o = rfx_calloc(1, sizeof(*o));
	o->cfg = cfg;
	o->base = rfx_strdup(cfg->opsgenie_url);
	size_t n = strlen(o->base);
	while (n && o->base[n - 1] == '/')
		o->base[--n] = '\0';
	o->auth_header = rfx_asprintf("Authorization: GenieKey %s", key);
	free(key);
	*ctx = o;
	return RFX_OK;
}

static size_t og_plan(void *ctx, const action *a, const char **ops, size_t max)
{
	wb_opsgenie *o = ctx;
	if (!a->source_id || !*a->source_id || !writeback_source_in(&o->cfg->opsgenie_sources, a->source))
		return 0;
	bool ok = a->state == ACTION_SUCCEEDED;
	const action_followup *f = ok ? &a->on_success : &a->on_failure;
	size_t n = 0;
	if (!f->set || max < 3)
		return 0;
	ops[n++] = "note";
	if (f->team && *f->team)
		ops[n++] = "team";
	if (ok && f->close)
		ops[n++] = "close";
	return n;
}

static char *og_body(const char *op, const cJSON *a)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "user", "Reflex");
	cJSON_AddStringToObject(b, "source", "reflex");
	if (!strcmp(op, "note")) {
		char *note = writeback_note(a);
		cJSON_AddStringToObject(b, "note", note);
		free(note);
	} else if (!strcmp(op, "team")) {
		cJSON *team = cJSON_AddObjectToObject(b, "team");
		cJSON_AddStringToObject(team, "name", writeback_str(writeback_followup(a), "team"));
	} else {
		char *note = rfx_asprintf("Closed by Reflex: rule %s succeeded (action %s).",
					  writeback_str(a, "rule"), writeback_str(a, "action_id"));
		cJSON_AddStringToObject(b, "note", note);
		free(note);
	}
	char *s = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return s;
}

static rfx_err og_send(void *ctx, const char *op, const cJSON *a, wb_attempt *att)
{
	wb_opsgenie *o = ctx;
	const char *source = writeback_str(a, "source"), *id = writeback_str(a, "source_id");
	const char *path = !strcmp(op, "note") ? "notes" : !strcmp(op, "team") ? "teams" : "close";
	char *enc = writeback_urlencode(id ? id : "");
	/* An alert that came from OpsGenie is addressed by its id; one from elsewhere by the alias it was
	 * given. */
	char *url = rfx_asprintf("%s/v2/alerts/%s/%s?identifierType=%s", o->base, enc, path,
				 source && !strcmp(source, "opsgenie") ? "id" : "alias");
	char *body = og_body(op, a);
	const char *headers[] = {o->auth_header, "Content-Type: application/json", NULL};
	rfx_err rc = writeback_http(o->cfg, url, headers, body, strrchr(o->auth_header, ' ') + 1, att);
	free(enc);
	free(url);
	free(body);
	return rc;
}

static void og_close(void *ctx)
{
	wb_opsgenie *o = ctx;
	free(o->base);
	if (o->auth_header) /* holds the key: clear it before it goes back to the allocator */
		memset(o->auth_header, 0, strlen(o->auth_header));
	free(o->auth_header);
	free(o);
}

const wb_sink_ops wb_opsgenie_ops = {
    .name = "opsgenie",
    .open = og_open,
    .plan = og_plan,
    .send = og_send,
    .close = og_close,
};
