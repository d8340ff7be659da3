/* cli.c -- helpers shared by the reflex commands: service URLs, tokens, requests, error printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "cli.h"

const char *cli_service_url(const char *flag, const char *env, const char *def)
{
	if (flag)
		return flag;
	const char *e = env ? getenv(env) : NULL;
	return e && *e ? e : def;
}

char *cli_token(const char *token_file)
{
	const char *path = token_file ? token_file : getenv("REFLEX_TOKEN_FILE");
	if (!path || !*path)
		return NULL;
	char *tok = NULL, err[300];
	size_t len;
	if (auth_read_secret(path, &tok, &len, err, sizeof(err))) {
		fprintf(stderr, "reflex: token file: %s\n", err);
		return NULL;
	}
	return tok;
}

rfx_err cli_request(const char *method, const char *base, const char *path, const char *token,
		    const char *body, size_t body_len, httpc_resp *resp)
{
	char *url = rfx_asprintf("%s%s", base, path);
	char *auth = token ? rfx_asprintf("Authorization: Bearer %s", token) : NULL;
	const char *headers[3] = {"Content-Type: application/json", auth, NULL};
	httpc_req req = {.method = method,
			 .url = url,
			 .headers = headers,
			 .body = body,
			 .body_len = body_len,
			 .timeout_ms = 30000};
	rfx_err rc = httpc_do(&req, resp);
	if (rc)
		fprintf(stderr, "reflex: %s %s: %s\n", method, url,
			resp->error[0] ? resp->error : rfx_strerror(rc));
	if (auth) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	free(url);
	return rc;
}

void cli_print_http_error(const httpc_resp *resp)
{
	cJSON *j = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
	const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "field"));
	if (code && msg && field)
		fprintf(stderr, "reflex: %ld %s: %s (field %s)\n", resp->status, code, msg, field);
	else if (code && msg)
		fprintf(stderr, "reflex: %ld %s: %s\n", resp->status, code, msg);
	else
		fprintf(stderr, "reflex: HTTP %ld: %.*s\n", resp->status,
			(int)(resp->body.len > 500 ? 500 : resp->body.len),
			resp->body.data ? resp->body.data : "");
	cJSON_Delete(j);
}
