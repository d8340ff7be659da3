/* norm_dynatrace.c -- Dynatrace Problems API v2 objects and pages, and problem notifications, to events. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

const normalizer norm_dynatrace = {"dynatrace", SRC_DYNATRACE, norm_dynatrace_parse};

/* Problem status (OPEN|CLOSED) and notification State (OPEN|RESOLVED|MERGED): a problem merged into another
 * one is over for us, the other problem carries on. */
static rfx_err parse_state(normalize_ctx *c, const char *field, const char *v, event_state *st)
{
	if (strcmp(v, "OPEN") == 0) {
		*st = EV_OPEN;
		return RFX_OK;
	}
	if (strcmp(v, "CLOSED") == 0 || strcmp(v, "RESOLVED") == 0 || strcmp(v, "MERGED") == 0) {
		*st = EV_RESOLVED;
		return RFX_OK;
	}
	return normalize_fail(c, field, "must be OPEN, CLOSED, RESOLVED or MERGED");
}

/* `key` or `context:key` -> value; CONTEXTLESS tags use the bare key. */
static void set_tag(event *e, const char *context, const char *key, size_t keylen, const char *value)
{
	char *k;
	if (context && *context && strcmp(context, "CONTEXTLESS") != 0)
		k = rfx_asprintf("%s:%.*s", context, (int)keylen, key);
	else
		k = rfx_strndup(key, keylen);
	event_tag_set(e, k, value ? value : "");
	free(k);
}

/* entityTags (API v2) and tagsOfAffectedEntities (notification ProblemDetailsJSON) share {context, key,
 * value}. */
static rfx_err entity_tags(normalize_ctx *c, const cJSON *p, bool v1, event *e)
{
	const char *member = v1 ? "tagsOfAffectedEntities" : "entityTags";
	const char *f[] = {v1 ? "ProblemDetailsJSON.tagsOfAffectedEntities" : "entityTags",
			   v1 ? "ProblemDetailsJSON.tagsOfAffectedEntities.context" : "entityTags.context",
			   v1 ? "ProblemDetailsJSON.tagsOfAffectedEntities.key" : "entityTags.key",
			   v1 ? "ProblemDetailsJSON.tagsOfAffectedEntities.value" : "entityTags.value"};
	const cJSON *tags, *t;
	rfx_err rc = normalize_get(c, p, member, f[0], cJSON_Array, false, &tags);
	if (rc || !tags)
		return rc;
	cJSON_ArrayForEach(t, tags)
	{
		const char *ctx, *key, *value;
		if (!cJSON_IsObject(t))
			return normalize_fail(c, f[0], "items must be objects");
		rc = normalize_get_str(c, t, "context", f[1], false, &ctx);
		if (!rc)
			rc = normalize_get_str(c, t, "key", f[2], true, &key);
		if (!rc)
			rc = normalize_get_str(c, t, "value", f[3], false, &value);
		if (rc)
			return rc;
		set_tag(e, ctx, key, strlen(key), value);
	}
	return RFX_OK;
}

/* The name of an entity reference {entityId: {id, type}, name}; NULL when there is none. */
static rfx_err entity_name(normalize_ctx *c, const cJSON *ref, const char *field, const char **name)
{
	*name = NULL;
	if (!cJSON_IsObject(ref))
		return normalize_fail(c, field, "must be an object");
	return normalize_get_str(c, ref, "name", field, false, name);
}

/* rootCauseEntity, else the first impacted (then affected) entity with a name. */
static rfx_err problem_entity(normalize_ctx *c, const cJSON *p, event *e)
{
	static const char *const lists[] = {"impactedEntities", "affectedEntities"};
	const cJSON *rce, *l, *ref;
	const char *name = NULL;
	rfx_err rc = normalize_get(c, p, "rootCauseEntity", NULL, cJSON_Object, false, &rce);
	if (!rc && rce)
		rc = entity_name(c, rce, "rootCauseEntity", &name);
	for (size_t i = 0; !rc && !(name && *name) && i < RFX_ARRAY_LEN(lists); i++) {
		rc = normalize_get(c, p, lists[i], NULL, cJSON_Array, false, &l);
		cJSON_ArrayForEach(ref, l)
		{
			if (rc || (name && *name))
				break;
			rc = entity_name(c, ref, lists[i], &name);
		}
	}
	if (!rc && name)
		event_set(&e->entity, name);
	return rc;
}

/* The eventType of the first root-cause-relevant evidence. */
static rfx_err root_cause_type(normalize_ctx *c, const cJSON *p, const char **type)
{
	const cJSON *ev, *details, *d;
	*type = NULL;
	rfx_err rc = normalize_get(c, p, "evidenceDetails", NULL, cJSON_Object, false, &ev);
	if (!rc && ev)
		rc = normalize_get(c, ev, "details", "evidenceDetails.details", cJSON_Array, false, &details);
	if (rc || !ev)
		return rc;
	cJSON_ArrayForEach(d, details)
	{
		const cJSON *rel;
		const char *t;
		if (!cJSON_IsObject(d))
			return normalize_fail(c, "evidenceDetails.details", "items must be objects");
		rc = normalize_get(c, d, "rootCauseRelevant", "evidenceDetails.details.rootCauseRelevant",
				   cJSON_True | cJSON_False, false, &rel);
		if (!rc)
			rc = normalize_get_str(c, d, "eventType", "evidenceDetails.details.eventType", false,
					       &t);
		if (rc)
			return rc;
		if (cJSON_IsTrue(rel) && t && *t) {
			*type = t;
			return RFX_OK;
		}
	}
	return RFX_OK;
}

static rfx_err problem_fields(normalize_ctx *c, const cJSON *p, event *e)
{
	const char *id, *title, *sev, *status, *type;
	rfx_err rc = normalize_get_str(c, p, "problemId", NULL, true, &id);
	if (!rc && !*id)
		rc = normalize_fail(c, "problemId", "must not be empty");
	if (!rc)
		rc = normalize_get_str(c, p, "title", NULL, false, &title);
	if (!rc)
		rc = normalize_get_str(c, p, "severityLevel", NULL, false, &sev);
	if (!rc)
		rc = normalize_get_str(c, p, "status", NULL, false, &status);
	if (!rc && status)
		rc = parse_state(c, "status", status, &e->state);
	if (!rc)
		rc = normalize_get_time(c, p, "startTime", NULL, 1, &e->started_at_ms);
	if (!rc)
		rc = root_cause_type(c, p, &type);
	if (rc)
		return rc;
	event_set(&e->source_id, id);
	event_set(&e->title, title);
	event_set(&e->severity, sev);
	event_set(&e->event_type, type ? type : sev);
	return RFX_OK;
}

static rfx_err problem_to_event(normalize_ctx *c, const cJSON *p, event **out)
{
	if (!cJSON_IsObject(p))
		return normalize_fail(c, NULL, "a problem must be an object");
	event *e = event_new(SRC_DYNATRACE);
	rfx_err rc = problem_fields(c, p, e);
	if (!rc)
		rc = problem_entity(c, p, e);
	if (!rc)
		rc = entity_tags(c, p, false, e);
	if (rc) {
		event_free(e);
		return rc;
	}
	*out = e;
	return RFX_OK;
}

static rfx_err parse_list(normalize_ctx *c, const cJSON *problems)
{
	size_t i = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, problems)
	{
		event *e;
		normalize_where_item(c, "problems", i++);
		rfx_err rc = problem_to_event(c, p, &e);
		if (rc)
			return rc;
		e->raw = normalize_raw(p);
		rc = normalize_push(c, e);
		if (rc)
			return rc;
	}
	c->where[0] = '\0';
	return RFX_OK;
}

/* ---- problem notifications (custom integration webhook) ---- */

static rfx_err notification_url(normalize_ctx *c, const cJSON *n, event *e)
{
	const char *url;
	rfx_err rc = normalize_get_str(c, n, "ProblemURL", NULL, false, &url);
	if (!rc && !url)
		rc = normalize_get_str(c, n, "Problem URL", NULL, false, &url);
	if (!rc && url && *url)
		event_set(&e->url, url);
	return rc;
}

static rfx_err notification_state(normalize_ctx *c, const cJSON *n, event *e)
{
	const char *state;
	rfx_err rc = normalize_get_str(c, n, "State", NULL, false, &state);
	if (!rc && state)
		rc = parse_state(c, "State", state, &e->state);
	return rc;
}

/* {Tags}: "env:prod, frontend, [KUBERNETES]app:web" -- comma separated, `[context]key:value` or
 * `key[:value]`. */
static void tags_string(event *e, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, ",");
		const char *p = s, *end = s + n;
		s = *end ? end + 1 : end;
		while (p < end && isspace((unsigned char)*p))
			p++;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		char *ctx = NULL;
		const char *close = p < end && *p == '[' ? memchr(p, ']', (size_t)(end - p)) : NULL;
		if (close) {
			ctx = rfx_strndup(p + 1, (size_t)(close - p - 1));
			for (char *q = ctx; *q; q++)
				*q = (char)toupper((unsigned char)*q);
			p = close + 1;
		}
		const char *colon = memchr(p, ':', (size_t)(end - p));
		char *value = colon ? rfx_strndup(colon + 1, (size_t)(end - colon - 1)) : NULL;
		if (p < (colon ? colon : end))
			set_tag(e, ctx, p, (size_t)((colon ? colon : end) - p), value);
		free(ctx);
		free(value);
	}
}

/* The first name of a comma separated list of names. */
static void first_name(event *e, const char *names)
{
	size_t n = strcspn(names, ",");
	char *v = rfx_strndup(names, n);
	char *p = v, *end = v + strlen(v);
	while (isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	event_set(&e->entity, p);
	free(v);
}

static rfx_err notification_entity(normalize_ctx *c, const cJSON *n, event *e)
{
	const cJSON *list, *ent;
	const char *names = NULL;
	rfx_err rc = normalize_get(c, n, "ImpactedEntities", NULL, cJSON_Array, false, &list);
	cJSON_ArrayForEach(ent, list)
	{
		const char *name;
		if (rc || *e->entity)
			break;
		rc = entity_name(c, ent, "ImpactedEntities", &name);
		if (!rc && name)
			event_set(&e->entity, name);
	}
	if (!rc && !*e->entity)
		rc = normalize_get_str(c, n, "ImpactedEntityNames", NULL, false, &names);
	if (!rc && !*e->entity && names)
		first_name(e, names);
	return rc;
}

/* {ProblemDetailsJSON}: the v1 problem details; its root-cause event gives the event type and entity. */
static rfx_err details_v1(normalize_ctx *c, const cJSON *n, event *e)
{
	const cJSON *d, *ranked = NULL, *ev;
	rfx_err rc = normalize_get(c, n, "ProblemDetailsJSON", NULL, cJSON_Object, false, &d);
	if (!rc && d)
		rc = normalize_get(c, d, "rankedEvents", "ProblemDetailsJSON.rankedEvents", cJSON_Array,
				   false, &ranked);
	if (!rc && d)
		rc = normalize_get_time(c, d, "startTime", "ProblemDetailsJSON.startTime", 1,
					&e->started_at_ms);
	if (!rc && d)
		rc = entity_tags(c, d, true, e);
	if (rc || !d)
		return rc;
	cJSON_ArrayForEach(ev, ranked)
	{
		const char *type, *name;
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "isRootCause")))
			continue;
		rc = normalize_get_str(c, ev, "eventType", "ProblemDetailsJSON.rankedEvents.eventType", false,
				       &type);
		if (!rc)
			rc = normalize_get_str(c, ev, "entityName",
					       "ProblemDetailsJSON.rankedEvents.entityName", false, &name);
		if (rc)
			return rc;
		if (type && *type)
			event_set(&e->event_type, type);
		if (name && *name)
			event_set(&e->entity, name);
		break;
	}
	return RFX_OK;
}

/* PID (the internal id, what the API calls problemId) is the identity; ProblemID (display number) otherwise.
 */
static rfx_err notification_id(normalize_ctx *c, const cJSON *n, event *e)
{
	static const char *const keys[] = {"PID", "ProblemID"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++) {
		const cJSON *v;
		char buf[32];
		rfx_err rc = normalize_get(c, n, keys[i], NULL, cJSON_String | cJSON_Number, false, &v);
		if (rc)
			return rc;
		const char *s = v ? normalize_scalar(v, buf) : NULL;
		if (s && *s) {
			event_set(&e->source_id, s);
			return RFX_OK;
		}
	}
	return normalize_fail(c, "PID", "is required (or ProblemID)");
}

static rfx_err notification_fields(normalize_ctx *c, const cJSON *n, event *e)
{
	const char *title, *sev, *tags;
	rfx_err rc = notification_id(c, n, e);
	if (!rc)
		rc = normalize_get_str(c, n, "ProblemTitle", NULL, false, &title);
	if (!rc)
		rc = normalize_get_str(c, n, "ProblemSeverity", NULL, false, &sev);
	if (!rc)
		rc = normalize_get_str(c, n, "Tags", NULL, false, &tags);
	if (!rc)
		rc = notification_state(c, n, e);
	if (!rc)
		rc = notification_url(c, n, e);
	if (!rc)
		rc = details_v1(c, n, e);
	if (!rc && !*e->entity)
		rc = notification_entity(c, n, e);
	if (rc)
		return rc;
	event_set(&e->title, title);
	event_set(&e->severity, sev);
	if (!*e->event_type)
		event_set(&e->event_type, sev);
	if (tags)
		tags_string(e, tags);
	return RFX_OK;
}

/* A notification whose payload embeds the v2 problem ("problem": {ProblemDetailsJSONv2}); State and
 * ProblemURL from the notification still apply (the notification knows about RESOLVED before the object says
 * CLOSED). */
static rfx_err parse_embedded(normalize_ctx *c, const cJSON *body, const cJSON *problem)
{
	event *e;
	rfx_err rc = problem_to_event(c, problem, &e);
	if (rc)
		return rc;
	rc = notification_state(c, body, e);
	if (!rc)
		rc = notification_url(c, body, e);
	if (rc) {
		event_free(e);
		return rc;
	}
	e->raw = normalize_raw(body);
	return normalize_push(c, e);
}

static rfx_err parse_notification(normalize_ctx *c, const cJSON *body)
{
	event *e = event_new(SRC_DYNATRACE);
	rfx_err rc = notification_fields(c, body, e);
	if (rc) {
		event_free(e);
		return rc;
	}
	e->raw = normalize_raw(body);
	return normalize_push(c, e);
}

static const cJSON *embedded_problem(const cJSON *body)
{
	static const char *const keys[] = {"problem", "ProblemDetailsJSONv2"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
		if (cJSON_IsObject(p))
			return p;
	}
	return NULL;
}

static bool is_notification(const cJSON *body)
{
	static const char *const keys[] = {"PID", "ProblemID", "ProblemTitle", "State"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++)
		if (cJSON_GetObjectItemCaseSensitive(body, keys[i]))
			return true;
	return false;
}

static rfx_err parse_body(normalize_ctx *c, const cJSON *body)
{
	const cJSON *problems, *embedded;
	if (!cJSON_IsObject(body))
		return normalize_fail(c, NULL, "body must be a JSON object");
	if (cJSON_GetObjectItemCaseSensitive(body, "problems")) {
		rfx_err rc = normalize_get(c, body, "problems", NULL, cJSON_Array, true, &problems);
		return rc ? rc : parse_list(c, problems);
	}
	if (cJSON_GetObjectItemCaseSensitive(body, "problemId")) {
		event *e;
		rfx_err rc = problem_to_event(c, body, &e);
		if (rc)
			return rc;
		e->raw = normalize_raw(body);
		return normalize_push(c, e);
	}
	if ((embedded = embedded_problem(body)))
		return parse_embedded(c, body, embedded);
	if (is_notification(body))
		return parse_notification(c, body);
	return normalize_fail(c, "problemId",
			      "is required (a problem, a problem list or a problem notification)");
}

rfx_err norm_dynatrace_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field)
{
	return normalize_run(parse_body, body, out, err, errlen, field);
}
