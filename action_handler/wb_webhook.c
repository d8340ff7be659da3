/* wb_webhook.c -- write-back to a generic webhook: POST of every executed action's result JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "writeback.h"

typedef struct wb_webhook {
	const ah_config *cfg;
	char *auth_header; /* NULL without webhook_token_file */
} wb_webhook;

static rfx_err wh_open(const ah_config *cfg, void **ctx, char *err, size_t errlen)
{
	*ctx = NULL;
	if (!cfg->webhook_url || !*cfg->webhook_url)
		return RFX_OK;
	wb_webhook *w = rfx_calloc(1, sizeof(*w));
	w->cfg = cfg;
	if (cfg->webhook_token_file) {
		char *tok = NULL, terr[200];
		size_t tlen;
		if (auth_read_secret(cfg->webhook_token_file, &tok, &tlen, terr, sizeof(terr))) {
			snprintf(err, errlen, "webhook_token_file: %s", terr);
			free(w);
			return RFX_ERR_INVAL;
		}
		w->auth_header = rfx_asprintf("Authorization: Bearer %s", tok);
		free(tok);
	}
	*ctx = w;
	return RFX_OK;
}

static size_t wh_plan(void *ctx, const action *a, const char **ops, size_t max)
{
	(void)ctx;
	(void)a;
	if (max < 1)
		return 0;
	ops[0] = "post";
	return 1;
}

static rfx_err wh_send(void *ctx, const char *op, const cJSON *a, wb_attempt *att)
{
	(void)op;
	wb_webhook *w = ctx;
	/* The receiver gets the result as the API shows it, without the write-back bookkeeping. */
	cJSON *copy = cJSON_Duplicate(a, true);
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "writeback");
	char *body = cJSON_PrintUnformatted(copy);
	const char *headers[] = {"Content-Type: application/json", w->auth_header, NULL};
	rfx_err rc = writeback_http(w->cfg, w->cfg->webhook_url, headers, body,
				    w->auth_header ? strrchr(w->auth_header, ' ') + 1 : NULL, att);
	cJSON_Delete(copy);
	free(body);
	return rc;
}

static void wh_close(void *ctx)
{
	wb_webhook *w = ctx;
	if (w->auth_header)
		memset(w->auth_header, 0, strlen(w->auth_header));
	free(w->auth_header);
	free(w);
}

const wb_sink_ops wb_webhook_ops = {
    .name = "webhook",
    .open = wh_open,
    .plan = wh_plan,
    .send = wh_send,
    .close = wh_close,
};
