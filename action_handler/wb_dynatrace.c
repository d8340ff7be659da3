/* wb_dynatrace.c -- write-back to Dynatrace: a comment on the problem through API v2 (Authorization:
 * Api-Token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "writeback.h"

typedef struct wb_dynatrace {
	const ah_config *cfg;
	char *base;
	char *auth_header;
} wb_dynatrace;

static rfx_err dt_open(const ah_config *cfg, void **ctx, char *err, size_t errlen)
{
	*ctx = NULL;
	if (!cfg->dynatrace_url || !*cfg->dynatrace_url)
		return RFX_OK;
	if (!cfg->dynatrace_token_file) {
		snprintf(err, errlen, "dynatrace_url is set but dynatrace_token_file is not");
		return RFX_ERR_INVAL;
	}
	char *tok = NULL, terr[200];
	size_t tlen;
	if (auth_read_secret(cfg->dynatrace_token_file, &tok, &tlen, terr, sizeof(terr))) {
		snprintf(err, errlen, "dynatrace_token_file: %s", terr);
		return RFX_ERR_INVAL;
	}
	wb_dynatrace *d = rfx_calloc(1, sizeof(*d));
	d->cfg = cfg;
	d->base = rfx_strdup(cfg->dynatrace_url);
	size_t n = strlen(d->base);
	while (n && d->base[n - 1] == '/')
		d->base[--n] = '\0';
	d->auth_header = rfx_asprintf("Authorization: Api-Token %s", tok);
	free(tok);
	*ctx = d;
	return RFX_OK;
}

static size_t dt_plan(void *ctx, const action *a, const char **ops, size_t max)
{
	wb_dynatrace *d = ctx;
	if (!a->source_id || !*a->source_id || !writeback_source_in(&d->cfg->dynatrace_sources, a->source))
		return 0;
	const action_followup *f = a->state == ACTION_SUCCEEDED ? &a->on_success : &a->on_failure;
	if (!f->set || max < 1)
		return 0;
	ops[0] = "comment";
	return 1;
}

static rfx_err dt_send(void *ctx, const char *op, const cJSON *a, wb_attempt *att)
{
	(void)op;
	wb_dynatrace *d = ctx;
	char *enc = writeback_urlencode(writeback_str(a, "source_id") ? writeback_str(a, "source_id") : "");
	char *url = rfx_asprintf("%s/api/v2/problems/%s/comments", d->base, enc);
	char *note = writeback_note(a);
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "message", note);
	cJSON_AddStringToObject(b, "context", "Reflex");
	char *body = cJSON_PrintUnformatted(b);
	const char *headers[] = {d->auth_header, "Content-Type: application/json", NULL};
	rfx_err rc = writeback_http(d->cfg, url, headers, body, strrchr(d->auth_header, ' ') + 1, att);
	cJSON_Delete(b);
	free(body);
	free(note);
	free(url);
	free(enc);
	return rc;
}

static void dt_close(void *ctx)
{
	wb_dynatrace *d = ctx;
	free(d->base);
	if (d->auth_header)
		memset(d->auth_header, 0, strlen(d->auth_header));
	free(d->auth_header);
	free(d);
}

const wb_sink_ops wb_dynatrace_ops = {
    .name = "dynatrace",
    .open = dt_open,
    .plan = dt_plan,
    .send = dt_send,
    .close = dt_close,
};
