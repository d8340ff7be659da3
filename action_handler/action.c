/* action.c -- the action model's lifetime, state summary and JSON form (API answers and journal snapshots).
 */
#include "action.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "request.h"

static const char *const state_names[ACTION_STATE_COUNT] = {
    [ACTION_QUEUED] = "queued",	  [ACTION_RUNNING] = "running",		[ACTION_SUCCEEDED] = "succeeded",
    [ACTION_FAILED] = "failed",	  [ACTION_TIMEOUT] = "timeout",		[ACTION_REFUSED] = "refused",
    [ACTION_DRY_RUN] = "dry-run", [ACTION_INTERRUPTED] = "interrupted",
};

static const char *const wb_state_names[] = {
    [WB_PENDING] = "pending", [WB_DONE] = "done", [WB_FAILED] = "failed"};

const char *action_state_name(action_state s)
{
	return (unsigned)s < ACTION_STATE_COUNT ? state_names[s] : "unknown";
}

bool action_state_parse(const char *s, action_state *out)
{
	for (int i = 0; s && i < ACTION_STATE_COUNT; i++) {
		if (!strcmp(s, state_names[i])) {
			*out = (action_state)i;
			return true;
		}
	}
	return false;
}

bool action_state_final(action_state s)
{
	return s != ACTION_QUEUED && s != ACTION_RUNNING;
}

action *action_new(void)
{
	action *a = rfx_calloc(1, sizeof(*a));
	a->limits.cooldown_ms = a->limits.max_attempts = ACTION_NO_LIMIT;
	a->limits.max_per_hour = a->limits.max_targets = ACTION_NO_LIMIT;
	return a;
}

static void action_followup_free(action_followup *f)
{
	RFX_FREE(f->note);
	RFX_FREE(f->team);
}

static void action_run_free(action_run *r)
{
	RFX_FREE(r->target);
	RFX_FREE(r->key);
	RFX_FREE(r->host);
	RFX_FREE(r->reason);
	RFX_FREE(r->error);
	RFX_FREE(r->out.data);
	RFX_FREE(r->err.data);
	RFX_FREE(r->verify_out.data);
}

void action_free(action *a)
{
	if (!a)
		return;
	char **strs[] = {&a->id,	   &a->event_id,   &a->source,	&a->source_id,
			 &a->entity,	   &a->event_type, &a->title,	&a->rule,
			 &a->rule_version, &a->type,	   &a->command, &a->verify,
			 &a->user,	   &a->created_at, &a->reason,	&a->error};
	for (size_t i = 0; i < RFX_ARRAY_LEN(strs); i++)
		RFX_FREE(*strs[i]);
	action_followup_free(&a->on_success);
	action_followup_free(&a->on_failure);
	for (size_t i = 0; i < a->nruns; i++)
		action_run_free(&a->runs[i]);
	free(a->runs);
	for (size_t i = 0; i < a->nwb; i++) {
		free(a->wb[i].sink);
		free(a->wb[i].op);
		free(a->wb[i].error);
	}
	free(a->wb);
	free(a);
}

void action_set_str(char **field, const char *value)
{
	char *copy = rfx_strdup(value);
	free(*field);
	*field = copy;
}

void action_output_set(action_output *o, const char *data, size_t len, bool truncated)
{
	RFX_FREE(o->data);
	o->data = len ? rfx_utf8_sanitize(data, len) : NULL;
	o->truncated = truncated;
}

bool action_runs_final(const action *a)
{
	for (size_t i = 0; i < a->nruns; i++)
		if (!action_state_final(a->runs[i].state))
			return false;
	return true;
}

bool action_wb_pending(const action *a)
{
	for (size_t i = 0; i < a->nwb; i++)
		if (a->wb[i].state == WB_PENDING)
			return true;
	return false;
}

void action_summarise(action *a)
{
	a->state = ACTION_SUCCEEDED;
	RFX_FREE(a->reason);
	RFX_FREE(a->error);
	for (size_t i = 0; i < a->nruns; i++) {
		const action_run *r = &a->runs[i];
		if (r->state == ACTION_SUCCEEDED)
			continue;
		a->state = r->state;
		a->reason = rfx_strdup(r->reason);
		if (r->error)
			a->error = rfx_asprintf("%s: %s", r->target, r->error);
		return;
	}
}

/* ---- JSON out ---- */

static void action_add_str(cJSON *j, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(j, name, v);
	else
		cJSON_AddNullToObject(j, name);
}

static void action_add_time(cJSON *j, const char *name, int64_t ms)
{
	char ts[32];
	if (!ms) {
		cJSON_AddNullToObject(j, name);
		return;
	}
	rfx_iso8601(ms, ts);
	cJSON_AddStringToObject(j, name, ts);
}

static void action_add_status(cJSON *j, const char *name, int status)
{
	if (status < 0)
		cJSON_AddNullToObject(j, name);
	else
		cJSON_AddNumberToObject(j, name, status);
}

static void action_add_output(cJSON *j, const char *name, const action_output *o)
{
	char tname[48];
	action_add_str(j, name, o->data);
	snprintf(tname, sizeof(tname), "%s_truncated", name);
	cJSON_AddBoolToObject(j, tname, o->truncated);
}

static cJSON *action_run_json(const action_run *r, action_view view)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "target", r->target);
	action_add_str(o, "key", r->key);
	cJSON_AddStringToObject(o, "state", action_state_name(r->state));
	action_add_str(o, "reason", r->reason);
	action_add_str(o, "error", r->error);
	action_add_status(o, "exit_status", r->exit_status);
	action_add_status(o, "verify_exit_status", r->verify_exit_status);
	if (view == ACTION_VIEW_FULL) {
		action_add_output(o, "stdout", &r->out);
		action_add_output(o, "stderr", &r->err);
		action_add_output(o, "verify_output", &r->verify_out);
	}
	action_add_time(o, "started_at", r->started_ms);
	action_add_time(o, "finished_at", r->finished_ms);
	if (r->finished_ms && r->started_ms)
		cJSON_AddNumberToObject(o, "duration_ms", r->duration_ms);
	else
		cJSON_AddNullToObject(o, "duration_ms");
	return o;
}

static cJSON *action_wb_json(const action_wb *w)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "sink", w->sink);
	cJSON_AddStringToObject(o, "op", w->op);
	cJSON_AddStringToObject(o, "state", wb_state_names[w->state]);
	cJSON_AddNumberToObject(o, "attempts", w->attempts);
	if (w->status)
		cJSON_AddNumberToObject(o, "status", (double)w->status);
	else
		cJSON_AddNullToObject(o, "status");
	action_add_str(o, "error", w->error);
	action_add_time(o, "done_at", w->done_ms);
	return o;
}

cJSON *action_to_json(const action *a, action_view view)
{
	cJSON *j = cJSON_CreateObject();
	request_to_json(a, j);
	cJSON_AddStringToObject(j, "state", action_state_name(a->state));
	action_add_str(j, "reason", a->reason);
	action_add_str(j, "error", a->error);
	action_add_time(j, "received_at", a->received_ms);
	action_add_time(j, "started_at", a->started_ms);
	action_add_time(j, "finished_at", a->finished_ms);
	if (a->started_ms && a->finished_ms)
		cJSON_AddNumberToObject(j, "duration_ms", (double)(a->finished_ms - a->started_ms));
	else
		cJSON_AddNullToObject(j, "duration_ms");
	cJSON *res = cJSON_AddArrayToObject(j, "results");
	for (size_t i = 0; i < a->nruns; i++)
		cJSON_AddItemToArray(res, action_run_json(&a->runs[i], view));
	cJSON *wb = cJSON_AddArrayToObject(j, "writeback");
	for (size_t i = 0; i < a->nwb; i++)
		cJSON_AddItemToArray(wb, action_wb_json(&a->wb[i]));
	return j;
}

/* ---- JSON in (journal snapshots) ---- */

static const char *action_json_str(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t action_json_time(const cJSON *j, const char *name)
{
	int64_t ms = 0;
	const char *s = action_json_str(j, name);
	if (s && rfx_parse_time(s, &ms))
		ms = 0;
	return ms;
}

static int action_json_status(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static void action_json_output(const cJSON *j, const char *name, action_output *o)
{
	char tname[48];
	const char *s = action_json_str(j, name);
	snprintf(tname, sizeof(tname), "%s_truncated", name);
	o->data = rfx_strdup(s);
	o->truncated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, tname));
}

static rfx_err action_run_from_json(const cJSON *j, action_run *r)
{
	if (!cJSON_IsObject(j) || !action_state_parse(action_json_str(j, "state"), &r->state))
		return RFX_ERR_INVAL;
	r->key = rfx_strdup(action_json_str(j, "key"));
	r->reason = rfx_strdup(action_json_str(j, "reason"));
	r->error = rfx_strdup(action_json_str(j, "error"));
	r->exit_status = action_json_status(j, "exit_status");
	r->verify_exit_status = action_json_status(j, "verify_exit_status");
	action_json_output(j, "stdout", &r->out);
	action_json_output(j, "stderr", &r->err);
	action_json_output(j, "verify_output", &r->verify_out);
	r->started_ms = action_json_time(j, "started_at");
	r->finished_ms = action_json_time(j, "finished_at");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "duration_ms");
	r->duration_ms = cJSON_IsNumber(d) ? d->valuedouble : 0;
	return RFX_OK;
}

static rfx_err action_wb_from_json(const cJSON *arr, action *a)
{
	int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
	if (n == 0)
		return RFX_OK;
	a->wb = rfx_calloc((size_t)n, sizeof(*a->wb));
	const cJSON *o;
	cJSON_ArrayForEach(o, arr)
	{
		const char *sink = action_json_str(o, "sink"), *op = action_json_str(o, "op");
		const char *st = action_json_str(o, "state");
		if (!sink || !op || !st)
			return RFX_ERR_INVAL;
		action_wb *w = &a->wb[a->nwb++];
		w->sink = rfx_strdup(sink);
		w->op = rfx_strdup(op);
		w->state = !strcmp(st, "done") ? WB_DONE : !strcmp(st, "failed") ? WB_FAILED : WB_PENDING;
		w->attempts = action_json_status(o, "attempts") < 0 ? 0 : action_json_status(o, "attempts");
		w->status = action_json_status(o, "status") < 0 ? 0 : action_json_status(o, "status");
		w->error = rfx_strdup(action_json_str(o, "error"));
		w->done_ms = action_json_time(o, "done_at");
	}
	return RFX_OK;
}

static rfx_err action_outcome_from_json(const cJSON *j, action *a)
{
	if (!action_state_parse(action_json_str(j, "state"), &a->state))
		return RFX_ERR_INVAL;
	a->reason = rfx_strdup(action_json_str(j, "reason"));
	a->error = rfx_strdup(action_json_str(j, "error"));
	a->received_ms = action_json_time(j, "received_at");
	a->started_ms = action_json_time(j, "started_at");
	a->finished_ms = action_json_time(j, "finished_at");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results");
	if (!cJSON_IsArray(res) || (size_t)cJSON_GetArraySize(res) != a->nruns)
		return RFX_ERR_INVAL;
	size_t i = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, res)
	{
		if (action_run_from_json(o, &a->runs[i++]))
			return RFX_ERR_INVAL;
	}
	return action_wb_from_json(cJSON_GetObjectItemCaseSensitive(j, "writeback"), a);
}

rfx_err action_from_json(const cJSON *j, action **out, char *err, size_t errlen)
{
	request_error e = {0};
	action *a = action_new();
	rfx_err rc = request_from_json(j, a, &e);
	if (rc) {
		snprintf(err, errlen, "%s: %s", e.field, e.message);
		goto out;
	}
	rc = action_outcome_from_json(j, a);
	if (rc)
		snprintf(err, errlen, "bad state, results or writeback");
out:
	if (rc) {
		action_free(a);
		a = NULL;
	}
	*out = a;
	return rc;
}
