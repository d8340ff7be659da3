/* norm_generic.c -- POST /v1/events: normalized events, lists of them, or any JSON with a title. */
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

const normalizer norm_generic = {"generic", SRC_GENERIC, normalize_generic};

/* Members that map onto event fields (the aliases summary, message and host only when used); everything else
 * is kept in raw. */
static const char *const known[] = {"title",	  "entity", "source",	  "source_id", "state", "severity",
				    "event_type", "tags",   "started_at", "url",       "raw"};
static const char *const title_keys[] = {"title", "summary", "message"};
static const char *const entity_keys[] = {"entity", "host"};

/* The first of keys holding a non-empty string; a key holding another type is an error. */
static rfx_err first_string(normalize_ctx *c, const cJSON *o, const char *const *keys, size_t n,
			    const char **key, const char **out)
{
	*key = *out = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *s;
		rfx_err rc = normalize_get_str(c, o, keys[i], NULL, false, &s);
		if (rc)
			return rc;
		if (s && *s) {
			*key = keys[i];
			*out = s;
			return RFX_OK;
		}
	}
	return RFX_OK;
}

static rfx_err get_source(normalize_ctx *c, const cJSON *o, event *e)
{
	const char *s;
	rfx_err rc = normalize_get_str(c, o, "source", NULL, false, &s);
	if (!rc && s && !event_source_parse(s, &e->source))
		rc = normalize_fail(
		    c, "source", "must be one of generic, alertmanager, dynatrace, opsgenie, icinga, nagios");
	return rc;
}

static rfx_err get_state(normalize_ctx *c, const cJSON *o, event *e)
{
	const char *s;
	rfx_err rc = normalize_get_str(c, o, "state", NULL, false, &s);
	if (rc || !s || strcmp(s, "open") == 0)
		return rc;
	if (strcmp(s, "resolved") == 0) {
		e->state = EV_RESOLVED;
		return RFX_OK;
	}
	return normalize_fail(c, "state", "must be open or resolved");
}

static rfx_err get_source_id(normalize_ctx *c, const cJSON *o, event *e)
{
	const cJSON *v;
	char buf[32];
	rfx_err rc = normalize_get(c, o, "source_id", NULL, cJSON_String | cJSON_Number, false, &v);
	if (!rc && v)
		event_set(&e->source_id, normalize_scalar(v, buf));
	return rc;
}

static rfx_err get_tags(normalize_ctx *c, const cJSON *o, event *e)
{
	const cJSON *tags, *t;
	rfx_err rc = normalize_get(c, o, "tags", NULL, cJSON_Object, false, &tags);
	cJSON_ArrayForEach(t, tags)
	{
		char buf[32];
		const char *s = normalize_scalar(t, buf);
		if (!s)
			return normalize_fail(c, "tags", "values must be strings, numbers or booleans");
		event_tag_set(e, t->string, s);
	}
	return rc;
}

static rfx_err get_strings(normalize_ctx *c, const cJSON *o, event *e)
{
	const char *sev, *type, *url;
	rfx_err rc = normalize_get_str(c, o, "severity", NULL, false, &sev);
	if (!rc)
		rc = normalize_get_str(c, o, "event_type", NULL, false, &type);
	if (!rc)
		rc = normalize_get_str(c, o, "url", NULL, false, &url);
	if (rc)
		return rc;
	event_set(&e->severity, sev);
	event_set(&e->event_type, type);
	if (url && *url)
		event_set(&e->url, url);
	return RFX_OK;
}

static bool is_consumed(const char *key, const char *title_key, const char *entity_key, bool id_used)
{
	if ((title_key && strcmp(key, title_key) == 0) || (entity_key && strcmp(key, entity_key) == 0))
		return true;
	if (id_used && strcmp(key, "id") == 0)
		return true;
	for (size_t i = 0; i < RFX_ARRAY_LEN(known); i++)
		if (strcmp(key, known[i]) == 0)
			return true;
	return false;
}

/* raw: the given "raw" object plus every member that did not map onto a field. */
static rfx_err build_raw(normalize_ctx *c, const cJSON *o, const char *title_key, const char *entity_key,
			 bool id_used, event *e)
{
	const cJSON *given, *m;
	rfx_err rc = normalize_get(c, o, "raw", NULL, cJSON_Object, false, &given);
	if (rc)
		return rc;
	cJSON *raw = given ? cJSON_Duplicate(given, true) : cJSON_CreateObject();
	cJSON_ArrayForEach(m, o)
	{
		if (!m->string || is_consumed(m->string, title_key, entity_key, id_used) ||
		    cJSON_GetObjectItemCaseSensitive(raw, m->string))
			continue;
		cJSON_AddItemToObject(raw, m->string, cJSON_Duplicate(m, true));
	}
	if (given || raw->child)
		e->raw = normalize_raw(raw);
	cJSON_Delete(raw);
	return RFX_OK;
}

static rfx_err object_fields(normalize_ctx *c, const cJSON *o, event *e, const char **title_key,
			     const char **entity_key)
{
	const char *title, *entity;
	rfx_err rc = first_string(c, o, title_keys, RFX_ARRAY_LEN(title_keys), title_key, &title);
	if (!rc && !title)
		rc = normalize_fail(c, "title", "is required (or summary, or message)");
	if (!rc)
		rc = first_string(c, o, entity_keys, RFX_ARRAY_LEN(entity_keys), entity_key, &entity);
	if (!rc)
		rc = get_source(c, o, e);
	if (!rc)
		rc = get_state(c, o, e);
	if (!rc)
		rc = get_source_id(c, o, e);
	if (!rc)
		rc = get_strings(c, o, e);
	if (!rc)
		rc = get_tags(c, o, e);
	if (!rc)
		rc = normalize_get_time(c, o, "started_at", NULL, 1, &e->started_at_ms);
	if (rc)
		return rc;
	event_set(&e->title, title);
	event_set(&e->entity, entity);
	return RFX_OK;
}

/* An already-normalized event keeps its id (a ULID), so an event forwarded by the poller is traceable end to
 * end; any other "id" is the sender's own and stays in raw. */
static rfx_err object_to_event(normalize_ctx *c, const cJSON *o)
{
	const char *title_key, *entity_key;
	if (!cJSON_IsObject(o))
		return normalize_fail(c, NULL, "an event must be a JSON object");
	event *e = event_new(SRC_GENERIC);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
	bool id_used = event_id_valid(id);
	rfx_err rc = object_fields(c, o, e, &title_key, &entity_key);
	if (!rc)
		rc = build_raw(c, o, title_key, entity_key, id_used, e);
	if (rc) {
		event_free(e);
		return rc;
	}
	if (id_used)
		memcpy(e->id, id, sizeof(e->id));
	if (!*e->source_id) {
		const char *parts[] = {event_source_name(e->source), e->entity, e->event_type, e->title};
		char h[17];
		normalize_hash_id(parts, RFX_ARRAY_LEN(parts), h);
		event_set(&e->source_id, h);
	}
	return normalize_push(c, e);
}

static rfx_err parse_list(normalize_ctx *c, const cJSON *list, const char *name)
{
	size_t i = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, list)
	{
		normalize_where_item(c, name, i++);
		rfx_err rc = object_to_event(c, o);
		if (rc)
			return rc;
	}
	c->where[0] = '\0';
	return RFX_OK;
}

static rfx_err parse_body(normalize_ctx *c, const cJSON *body)
{
	if (cJSON_IsArray(body))
		return parse_list(c, body, "");
	if (!cJSON_IsObject(body))
		return normalize_fail(
		    c, NULL, "body must be an event object, {\"events\": [...]} or an array of events");
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(body, "events");
	if (events && !cJSON_IsArray(events))
		return normalize_fail(c, "events", "must be an array of events");
	return events ? parse_list(c, events, "events") : object_to_event(c, body);
}

rfx_err normalize_generic(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field)
{
	return normalize_run(parse_body, body, out, err, errlen, field);
}
