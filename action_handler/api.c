/* api.c -- HTTP handlers: POST /v1/actions (HMAC-signed), GET /v1/actions[/{id}], pause/resume, status. */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include "action.h"
#include "engine.h"
#include "log.h"

#define API_LIST_DEFAULT 100
#define API_LIST_MAX	 1000

/* The route's user data is the engine. */
static void api_post_action(const http_req *req, http_resp *resp, void *ud)
{
	engine *e = ud;
	const char *sig = http_req_header(req, "X-Reflex-Signature");
	if (!engine_signature_ok(e, req->body, req->body_len, sig)) {
		LOG_WARN("action refused: bad signature", "remote", req->remote_addr, "reason",
			 sig ? "signature_mismatch" : "signature_missing");
		http_resp_error(resp, 401, "bad_signature",
				sig ? "X-Reflex-Signature does not match the body"
				    : "X-Reflex-Signature is missing (sha256=<hex HMAC-SHA256 of the body>)",
				NULL);
		return;
	}
	engine_reply r;
	engine_submit(e, req->body, req->body_len, &r);
	http_resp_json(resp, r.status, r.body);
}

static void api_get_action(const http_req *req, http_resp *resp, void *ud)
{
	cJSON *j = engine_get(ud, req->params[0]);
	if (!j) {
		http_resp_error(resp, 404, "not_found", "no such action", NULL);
		return;
	}
	http_resp_json(resp, 200, j);
}

static bool api_limit(const char *s, size_t *out)
{
	char *end;
	if (!s) {
		*out = API_LIST_DEFAULT;
		return true;
	}
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end || v < 1 || v > API_LIST_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

static void api_list_actions(const http_req *req, http_resp *resp, void *ud)
{
	engine_filter f = {
	    .state = http_req_query(req, "state"),
	    .rule = http_req_query(req, "rule"),
	    .target = http_req_query(req, "target"),
	};
	action_state st;
	if (f.state && !action_state_parse(f.state, &st)) {
		http_resp_error(
		    resp, 400, "invalid_query",
		    "state must be one of queued, running, succeeded, failed, timeout, refused, dry-run, "
		    "interrupted",
		    "state");
		return;
	}
	if (!api_limit(http_req_query(req, "limit"), &f.limit)) {
		http_resp_error(resp, 400, "invalid_query", "limit must be a whole number from 1 to 1000",
				"limit");
		return;
	}
	http_resp_json(resp, 200, engine_list(ud, &f));
}

static void api_set_paused(http_resp *resp, engine *e, bool paused)
{
	if (engine_set_paused(e, paused)) {
		http_resp_error(resp, 500, "journal_error",
				"the pause flag could not be written to spool_dir", NULL);
		return;
	}
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "paused", paused);
	http_resp_json(resp, 200, j);
}

static void api_pause(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	api_set_paused(resp, ud, true);
}

static void api_resume(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	api_set_paused(resp, ud, false);
}

static void api_status(const http_req *req, http_resp *resp, void *ud)
{
	(void)req;
	http_resp_json(resp, 200, engine_status(ud));
}

const http_route api_routes[] = {
    {"POST", "/v1/actions", HTTP_AUTH_CUSTOM, api_post_action},
    {"GET", "/v1/actions", HTTP_AUTH_TOKEN, api_list_actions},
    {"GET", "/v1/actions/{id}", HTTP_AUTH_TOKEN, api_get_action},
    {"POST", "/v1/pause", HTTP_AUTH_ADMIN, api_pause},
    {"POST", "/v1/resume", HTTP_AUTH_ADMIN, api_resume},
    {"GET", "/v1/status", HTTP_AUTH_TOKEN, api_status},
    {0},
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]) - 1;
