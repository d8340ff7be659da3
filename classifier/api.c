/* api.c -- the classifier's HTTP API (DESIGN.md "HTTP APIs"; docs/api/classifier.yaml). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "classify.h"
#include "arena.h"
#include "log.h"
#include "metrics.h"
#include "normalize.h"
#include "rulestore.h"
#include "topology.h"

static void count_rejected(const char *reason)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	metrics_inc(metrics_counter("reflex_events_rejected_total", labels,
				    "Requests with events that were refused"));
}

/* Normalizes the body with the named normalizer; on failure fills resp and returns false. */
static bool normalize_body(const http_req *req, http_resp *resp, const normalizer *norm, event_list *out)
{
	cJSON *body = http_req_json(req, resp);
	if (!body) {
		count_rejected("invalid_json");
		return false;
	}
	char err[300] = "";
	const char *field = NULL;
	/* JSON text of ASCII bytes holds only valid UTF-8 strings: escapes decode to valid sequences or fail
	 */
	bool ascii = rfx_ascii(req->body, req->body_len);
	rfx_err rc = normalize_parse_owned(norm, body, ascii, out, err, sizeof(err), &field);
	arena_json_delete(body);
	if (rc) {
		count_rejected("invalid_event");
		LOG_WARN("event rejected", "source", norm->name, "error", err, "field", field);
		if (rc == RFX_ERR_LIMIT)
			http_resp_error(resp, 413, "too_many_events", err[0] ? err : rfx_strerror(rc), field);
		else
			http_resp_error(resp, 400, "invalid_event", err[0] ? err : rfx_strerror(rc), field);
		return false;
	}
	if (out->n == 0) {
		http_resp_error(resp, 400, "invalid_event", "the payload holds no events", NULL);
		return false;
	}
	return true;
}

static void classify_all(const http_req *req, http_resp *resp, classifier_app *app, const normalizer *norm,
			 bool act)
{
	/* The request's cJSON trees (body, raw payloads, decisions, response) and its events live in this
	 * thread's arena; none outlives the request: the history, the outbox and the audit keep text. */
	arena_begin();
	event_list evs = {0};
	if (!normalize_body(req, resp, norm, &evs))
		goto out;
	if (evs.n > (size_t)app->cfg.max_events_per_request) {
		char msg[128];
		snprintf(msg, sizeof(msg), "at most %lld events per request",
			 app->cfg.max_events_per_request);
		http_resp_error(resp, 413, "too_many_events", msg, NULL);
		goto out;
	}
	cJSON *out = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	cJSON_AddItemToObjectCS(out, "events", arr);
	for (size_t i = 0; i < evs.n; i++)
		cJSON_AddItemToArray(arr, classify_event(app, evs.v[i], act));
	http_resp_json(resp, act ? 202 : 200, out);
out:
	event_list_free(&evs);
	arena_reset();
}

static void h_events_post(const http_req *req, http_resp *resp, void *ud)
{
	classify_all(req, resp, ud, normalizer_find("generic"), true);
}

static void h_events_post_source(const http_req *req, http_resp *resp, void *ud)
{
	const normalizer *norm = normalizer_find(req->params[0]);
	if (!norm || !strcmp(req->params[0], "generic")) {
		http_resp_error(resp, 404, "unknown_source",
				"unknown source: use alertmanager, dynatrace, opsgenie, icinga or nagios",
				"source");
		return;
	}
	classify_all(req, resp, ud, norm, true);
}

static void h_event_get(const http_req *req, http_resp *resp, void *ud)
{
	classifier_app *app = ud;
	cJSON *e = history_get(app->hist, req->params[0]);
	if (!e) {
		http_resp_error(resp, 404, "not_found", "no such event in the recent history", "id");
		return;
	}
	http_resp_json(resp, 200, e);
}

static void h_events_list(const http_req *req, http_resp *resp, void *ud)
{
	classifier_app *app = ud;
	const char *lim = http_req_query(req, "limit");
	long limit = 100;
	if (lim) {
		char *end;
		limit = strtol(lim, &end, 10);
		if (*end || limit < 1 || limit > 10000) {
			http_resp_error(resp, 400, "invalid_parameter", "limit must be between 1 and 10000",
					"limit");
			return;
		}
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "events",
			      history_list(app->hist, http_req_query(req, "source_id"), (size_t)limit));
	http_resp_json(resp, 200, out);
}

static void h_rules_get(const http_req *req, http_resp *resp, void *ud)
{
	classifier_app *app = ud;
	http_resp_json(resp, 200, rulestore_to_json(app->rules));
}

static void h_rules_reload(const http_req *req, http_resp *resp, void *ud)
{
	http_resp_json(resp, 200, classifier_reload_rules(ud, "api"));
}

static void h_rules_test(const http_req *req, http_resp *resp, void *ud)
{
	const char *src = http_req_query(req, "source");
	const normalizer *norm = normalizer_find(src ? src : "generic");
	if (!norm) {
		http_resp_error(resp, 400, "unknown_source", "unknown source", "source");
		return;
	}
	classify_all(req, resp, ud, norm, false);
}

const http_route classifier_routes[] = {
    {"POST", "/v1/events", HTTP_AUTH_TOKEN, h_events_post},
    {"GET", "/v1/events", HTTP_AUTH_TOKEN, h_events_list},
    {"POST", "/v1/events/{source}", HTTP_AUTH_TOKEN, h_events_post_source},
    {"GET", "/v1/events/{id}", HTTP_AUTH_TOKEN, h_event_get},
    {"GET", "/v1/rules", HTTP_AUTH_TOKEN, h_rules_get},
    {"POST", "/v1/rules/reload", HTTP_AUTH_ADMIN, h_rules_reload},
    {"POST", "/v1/rules/test", HTTP_AUTH_TOKEN, h_rules_test},
    {"POST", "/v1/topology/{node}", HTTP_AUTH_TOKEN, topology_api_report},
    {"GET", "/v1/topology", HTTP_AUTH_TOKEN, topology_api_graph},
    {"GET", "/map", HTTP_AUTH_NONE, topology_api_map},
    {"GET", "/map/*", HTTP_AUTH_NONE, topology_api_map},
    {0},
};
const size_t classifier_nroutes = RFX_ARRAY_LEN(classifier_routes) - 1;
