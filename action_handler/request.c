/* request.c -- validates the classifier's action request field by field; anything unexpected is a 400. */
#include "request.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "target.h"

static rfx_err request_fail(request_error *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static rfx_err request_fail(request_error *e, const char *field, const char *fmt, ...)
{
	va_list ap;
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return RFX_ERR_INVAL;
}

/* An optional string: absent or null leaves *out NULL. */
static rfx_err request_str(const cJSON *j, const char *name, size_t max, bool required, char **out,
			   request_error *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return request_fail(e, name, "%s is required", name);
		return RFX_OK;
	}
	if (!cJSON_IsString(v) || !v->valuestring)
		return request_fail(e, name, "%s must be a string", name);
	size_t n = strlen(v->valuestring);
	if (n > max)
		return request_fail(e, name, "%s is longer than %zu bytes", name, max);
	if (required && n == 0)
		return request_fail(e, name, "%s must not be empty", name);
	if (!rfx_utf8_valid(v->valuestring, n))
		return request_fail(e, name, "%s is not valid UTF-8", name);
	*out = rfx_strdup(v->valuestring);
	return RFX_OK;
}

static bool request_word_ok(const char *s, const char *extra)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

/* A user name as useradd accepts it, so it cannot smuggle anything into the SSH layer. */
static bool request_user_ok(const char *s)
{
	if (!*s || strlen(s) > 32 || *s == '-')
		return false;
	return request_word_ok(s, "._-");
}

static rfx_err request_ids(const cJSON *j, action *a, request_error *e)
{
	rfx_err rc;
	if ((rc = request_str(j, "action_id", 64, true, &a->id, e)))
		return rc;
	if (!request_word_ok(a->id, "._:-"))
		return request_fail(e, "action_id", "action_id may only hold letters, digits and . _ : -");
	if ((rc = request_str(j, "event_id", 64, false, &a->event_id, e)) ||
	    (rc = request_str(j, "source", 64, false, &a->source, e)) ||
	    (rc = request_str(j, "source_id", 512, false, &a->source_id, e)) ||
	    (rc = request_str(j, "entity", 255, false, &a->entity, e)) ||
	    (rc = request_str(j, "event_type", 255, false, &a->event_type, e)) ||
	    (rc = request_str(j, "title", 1024, false, &a->title, e)) ||
	    (rc = request_str(j, "rule", 128, true, &a->rule, e)) ||
	    (rc = request_str(j, "rule_version", 64, false, &a->rule_version, e)) ||
	    (rc = request_str(j, "created_at", 64, false, &a->created_at, e)))
		return rc;
	if (!request_word_ok(a->rule, "._-"))
		return request_fail(e, "rule", "rule may only hold letters, digits and . _ -");
	return RFX_OK;
}

static rfx_err request_command(const cJSON *j, action *a, request_error *e)
{
	rfx_err rc;
	if ((rc = request_str(j, "type", 32, true, &a->type, e)))
		return rc;
	if (!request_word_ok(a->type, "_-"))
		return request_fail(e, "type", "type may only hold letters, digits, _ and -");
	if ((rc = request_str(j, "command", REQUEST_MAX_COMMAND, true, &a->command, e)) ||
	    (rc = request_str(j, "verify", REQUEST_MAX_COMMAND, false, &a->verify, e)) ||
	    (rc = request_str(j, "user", 32, false, &a->user, e)))
		return rc;
	if (a->verify && !*a->verify)
		RFX_FREE(a->verify);
	if (a->user && !request_user_ok(a->user))
		return request_fail(e, "user", "user is not a valid user name");
	return RFX_OK;
}

/* A number of seconds (fractions allowed) into milliseconds. */
static rfx_err request_seconds(const cJSON *v, const char *field, int64_t min_ms, int64_t max_ms,
			       int64_t *out, request_error *e)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return request_fail(e, field, "%s must be a number of seconds", field);
	double ms = v->valuedouble * 1000.0;
	if (ms < (double)min_ms || ms > (double)max_ms)
		return request_fail(e, field, "%s must be between %.3f and %.0f seconds", field,
				    min_ms / 1000.0, max_ms / 1000.0);
	*out = (int64_t)llround(ms);
	return RFX_OK;
}

static rfx_err request_mode(const cJSON *j, action *a, request_error *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "timeout");
	if (v && !cJSON_IsNull(v)) {
		rfx_err rc = request_seconds(v, "timeout", 1, REQUEST_MAX_TIMEOUT_MS, &a->timeout_ms, e);
		if (rc)
			return rc;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "mode");
	if (!v || cJSON_IsNull(v))
		return RFX_OK;
	if (cJSON_IsString(v) && !strcmp(v->valuestring, "enforce"))
		a->dry_run = false;
	else if (cJSON_IsString(v) && !strcmp(v->valuestring, "dry-run"))
		a->dry_run = true;
	else
		return request_fail(e, "mode", "mode must be \"enforce\" or \"dry-run\"");
	return RFX_OK;
}

static rfx_err request_count(const cJSON *v, const char *field, long long *out, request_error *e)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < 0 || v->valuedouble > (double)REQUEST_MAX_COUNT)
		return request_fail(e, field, "%s must be a whole number from 0 to %lld", field,
				    REQUEST_MAX_COUNT);
	*out = (long long)v->valuedouble;
	return RFX_OK;
}

/* Unknown keys are refused: a misspelt limit must never silently mean "no limit". */
static rfx_err request_limits(const cJSON *j, action_limits *l, request_error *e)
{
	l->cooldown_ms = l->max_attempts = l->max_per_hour = l->max_targets = ACTION_NO_LIMIT;
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(j, "limits");
	if (!lim || cJSON_IsNull(lim))
		return RFX_OK;
	if (!cJSON_IsObject(lim))
		return request_fail(e, "limits", "limits must be an object");
	const cJSON *v;
	cJSON_ArrayForEach(v, lim)
	{
		rfx_err rc;
		if (cJSON_IsNull(v))
			continue;
		if (!strcmp(v->string, "cooldown"))
			rc = request_seconds(v, "limits.cooldown", 0, REQUEST_MAX_COOLDOWN_MS,
					     &l->cooldown_ms, e);
		else if (!strcmp(v->string, "max_attempts"))
			rc = request_count(v, "limits.max_attempts", &l->max_attempts, e);
		else if (!strcmp(v->string, "max_per_hour"))
			rc = request_count(v, "limits.max_per_hour", &l->max_per_hour, e);
		else if (!strcmp(v->string, "max_targets"))
			rc = request_count(v, "limits.max_targets", &l->max_targets, e);
		else
			rc = request_fail(e, "limits", "unknown limit \"%.40s\"", v->string);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static rfx_err request_followup(const cJSON *j, const char *name, action_followup *f, request_error *e)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, name);
	if (!o || cJSON_IsNull(o))
		return RFX_OK;
	if (!cJSON_IsObject(o))
		return request_fail(e, name, "%s must be an object", name);
	f->set = true;
	rfx_err rc;
	if ((rc = request_str(o, "note", 8192, false, &f->note, e)) ||
	    (rc = request_str(o, "team", 128, false, &f->team, e))) {
		char msg[sizeof(e->message)];
		snprintf(msg, sizeof(msg), "%s", e->message);
		return request_fail(e, name, "%s.%s", name, msg);
	}
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "close");
	if (c && !cJSON_IsNull(c) && !cJSON_IsBool(c))
		return request_fail(e, name, "%s.close must be true or false", name);
	f->close = cJSON_IsTrue(c);
	return RFX_OK;
}

static rfx_err request_targets(const cJSON *j, action *a, request_error *e)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "targets");
	if (!cJSON_IsArray(t))
		return request_fail(e, "targets", "targets must be a non-empty array of strings");
	int n = cJSON_GetArraySize(t);
	if (n < 1 || n > REQUEST_MAX_TARGETS)
		return request_fail(e, "targets", "targets must hold 1 to %d entries", REQUEST_MAX_TARGETS);
	a->runs = rfx_calloc((size_t)n, sizeof(*a->runs));
	const cJSON *v;
	cJSON_ArrayForEach(v, t)
	{
		char field[32];
		snprintf(field, sizeof(field), "targets[%zu]", a->nruns);
		target_addr addr;
		if (!cJSON_IsString(v) || target_parse(v->valuestring, &addr))
			return request_fail(e, field, "not a valid target (host, host:port or [ipv6]:port)");
		for (size_t i = 0; i < a->nruns; i++)
			if (!strcmp(a->runs[i].target, v->valuestring))
				return request_fail(e, field, "duplicate target");
		action_run *r = &a->runs[a->nruns++];
		r->target = rfx_strdup(v->valuestring);
		r->host = rfx_strdup(addr.host);
		r->port = addr.port;
		r->exit_status = r->verify_exit_status = -1;
	}
	return RFX_OK;
}

rfx_err request_from_json(const cJSON *j, action *a, request_error *e)
{
	rfx_err rc;
	if (!cJSON_IsObject(j))
		return request_fail(e, "", "the body must be a JSON object");
	if ((rc = request_ids(j, a, e)) || (rc = request_command(j, a, e)) || (rc = request_mode(j, a, e)) ||
	    (rc = request_limits(j, &a->limits, e)) ||
	    (rc = request_followup(j, "on_success", &a->on_success, e)) ||
	    (rc = request_followup(j, "on_failure", &a->on_failure, e)) || (rc = request_targets(j, a, e)))
		return rc;
	return RFX_OK;
}

rfx_err request_parse(const char *body, size_t len, action **out, request_error *e)
{
	memset(e, 0, sizeof(*e));
	*out = NULL;
	cJSON *j = cJSON_ParseWithLength(body, len);
	if (!j) {
		request_fail(e, "", "the body is not valid JSON");
		return RFX_ERR_PARSE;
	}
	action *a = action_new();
	rfx_err rc = request_from_json(j, a, e);
	cJSON_Delete(j);
	if (rc) {
		action_free(a);
		return rc;
	}
	*out = a;
	return RFX_OK;
}

static void request_add_str(cJSON *j, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(j, name, v);
	else
		cJSON_AddNullToObject(j, name);
}

static void request_add_followup(cJSON *j, const char *name, const action_followup *f)
{
	if (!f->set) {
		cJSON_AddNullToObject(j, name);
		return;
	}
	cJSON *o = cJSON_AddObjectToObject(j, name);
	if (f->note)
		cJSON_AddStringToObject(o, "note", f->note);
	if (f->team)
		cJSON_AddStringToObject(o, "team", f->team);
	cJSON_AddBoolToObject(o, "close", f->close);
}

static void request_add_limits(cJSON *j, const action_limits *l)
{
	cJSON *o = cJSON_AddObjectToObject(j, "limits");
	if (l->cooldown_ms != ACTION_NO_LIMIT)
		cJSON_AddNumberToObject(o, "cooldown", l->cooldown_ms / 1000.0);
	if (l->max_attempts != ACTION_NO_LIMIT)
		cJSON_AddNumberToObject(o, "max_attempts", (double)l->max_attempts);
	if (l->max_per_hour != ACTION_NO_LIMIT)
		cJSON_AddNumberToObject(o, "max_per_hour", (double)l->max_per_hour);
	if (l->max_targets != ACTION_NO_LIMIT)
		cJSON_AddNumberToObject(o, "max_targets", (double)l->max_targets);
}

void request_to_json(const action *a, cJSON *j)
{
	request_add_str(j, "action_id", a->id);
	request_add_str(j, "event_id", a->event_id);
	request_add_str(j, "source", a->source);
	request_add_str(j, "source_id", a->source_id);
	request_add_str(j, "entity", a->entity);
	request_add_str(j, "event_type", a->event_type);
	request_add_str(j, "title", a->title);
	request_add_str(j, "rule", a->rule);
	request_add_str(j, "rule_version", a->rule_version);
	request_add_str(j, "type", a->type);
	cJSON *t = cJSON_AddArrayToObject(j, "targets");
	for (size_t i = 0; i < a->nruns; i++)
		cJSON_AddItemToArray(t, cJSON_CreateString(a->runs[i].target));
	request_add_str(j, "command", a->command);
	request_add_str(j, "verify", a->verify);
	request_add_str(j, "user", a->user);
	if (a->timeout_ms)
		cJSON_AddNumberToObject(j, "timeout", a->timeout_ms / 1000.0);
	else
		cJSON_AddNullToObject(j, "timeout");
	cJSON_AddStringToObject(j, "mode", a->dry_run ? "dry-run" : "enforce");
	request_add_limits(j, &a->limits);
	request_add_followup(j, "on_success", &a->on_success);
	request_add_followup(j, "on_failure", &a->on_failure);
	request_add_str(j, "created_at", a->created_at);
}
