/* norm_opsgenie.c -- OpsGenie alert API objects and lists, and webhook integration payloads, to events. */
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

const normalizer norm_opsgenie = {"opsgenie", SRC_OPSGENIE, norm_opsgenie_parse};

/* Names differ between the API object and the webhook's alert: id vs alertId. */
typedef struct og_shape {
	const char *id_key;
	bool webhook;
} og_shape;

/* "tag" -> tag:"" and "key:value" split at the first colon. */
static rfx_err tags(normalize_ctx *c, const cJSON *a, event *e)
{
	const cJSON *list, *t;
	rfx_err rc = normalize_get(c, a, "tags", NULL, cJSON_Array, false, &list);
	if (rc)
		return rc;
	cJSON_ArrayForEach(t, list)
	{
		if (!cJSON_IsString(t) || !t->valuestring)
			return normalize_fail(c, "tags", "items must be strings");
		const char *colon = strchr(t->valuestring, ':');
		if (!colon) {
			event_tag_set(e, t->valuestring, "");
			continue;
		}
		char *k = rfx_strndup(t->valuestring, (size_t)(colon - t->valuestring));
		event_tag_set(e, k, colon + 1);
		free(k);
	}
	return RFX_OK;
}

static rfx_err status(normalize_ctx *c, const cJSON *a, event *e)
{
	const char *s;
	rfx_err rc = normalize_get_str(c, a, "status", NULL, false, &s);
	if (rc || !s || strcmp(s, "open") == 0)
		return rc;
	if (strcmp(s, "closed") == 0 || strcmp(s, "resolved") == 0) {
		e->state = EV_RESOLVED;
		return RFX_OK;
	}
	return normalize_fail(c, "status", "must be open or closed");
}

/* event_type: details.event_type, else alias; entity: entity, else details.host. */
static rfx_err type_and_entity(normalize_ctx *c, const cJSON *a, event *e)
{
	const cJSON *details;
	const char *dtype = NULL, *dhost = NULL, *alias, *entity;
	rfx_err rc = normalize_get(c, a, "details", NULL, cJSON_Object, false, &details);
	if (!rc && details)
		rc = normalize_get_str(c, details, "event_type", "details.event_type", false, &dtype);
	if (!rc && details)
		rc = normalize_get_str(c, details, "host", "details.host", false, &dhost);
	if (!rc)
		rc = normalize_get_str(c, a, "alias", NULL, false, &alias);
	if (!rc)
		rc = normalize_get_str(c, a, "entity", NULL, false, &entity);
	if (rc)
		return rc;
	event_set(&e->event_type, dtype && *dtype ? dtype : alias);
	event_set(&e->entity, entity && *entity ? entity : dhost);
	return RFX_OK;
}

static rfx_err alert_fields(normalize_ctx *c, const cJSON *a, const og_shape *shape, event *e)
{
	const char *id, *message, *priority;
	rfx_err rc = normalize_get_str(c, a, shape->id_key, NULL, true, &id);
	if (!rc && !*id)
		rc = normalize_fail(c, shape->id_key, "must not be empty");
	if (!rc)
		rc = normalize_get_str(c, a, "message", NULL, false, &message);
	if (!rc)
		rc = normalize_get_str(c, a, "priority", NULL, false, &priority);
	if (!rc && !shape->webhook)
		rc = status(c, a, e);
	/* The API gives createdAt as RFC 3339, the webhook as epoch milliseconds. */
	if (!rc)
		rc = normalize_get_time(c, a, "createdAt", NULL, 1, &e->started_at_ms);
	if (!rc)
		rc = type_and_entity(c, a, e);
	if (!rc)
		rc = tags(c, a, e);
	if (rc)
		return rc;
	event_set(&e->source_id, id);
	event_set(&e->title, message);
	event_set(&e->severity, priority);
	return RFX_OK;
}

static rfx_err alert_to_event(normalize_ctx *c, const cJSON *a, const og_shape *shape, event **out)
{
	if (!cJSON_IsObject(a))
		return normalize_fail(c, NULL, "an alert must be an object");
	event *e = event_new(SRC_OPSGENIE);
	rfx_err rc = alert_fields(c, a, shape, e);
	if (rc) {
		event_free(e);
		return rc;
	}
	*out = e;
	return RFX_OK;
}

static rfx_err push_alert(normalize_ctx *c, const cJSON *a, const cJSON *raw)
{
	static const og_shape api = {"id", false};
	event *e;
	rfx_err rc = alert_to_event(c, a, &api, &e);
	if (rc)
		return rc;
	e->raw = normalize_raw(raw);
	return normalize_push(c, e);
}

static rfx_err parse_list(normalize_ctx *c, const cJSON *list)
{
	size_t i = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, list)
	{
		normalize_where_item(c, "data", i++);
		rfx_err rc = push_alert(c, a, a);
		if (rc)
			return rc;
	}
	c->where[0] = '\0';
	return RFX_OK;
}

/* Close and Delete end the alert; every other action (Create, Acknowledge, AddNote, ...) leaves it open. */
static rfx_err parse_webhook(normalize_ctx *c, const cJSON *body)
{
	static const og_shape hook = {"alertId", true};
	const char *action;
	const cJSON *alert;
	event *e;
	rfx_err rc = normalize_get_str(c, body, "action", NULL, true, &action);
	if (!rc)
		rc = normalize_get(c, body, "alert", NULL, cJSON_Object, true, &alert);
	if (rc)
		return rc;
	normalize_where(c, "alert");
	rc = alert_to_event(c, alert, &hook, &e);
	if (rc)
		return rc;
	c->where[0] = '\0';
	if (strcmp(action, "Close") == 0 || strcmp(action, "Delete") == 0)
		e->state = EV_RESOLVED;
	e->raw = normalize_raw(body);
	return normalize_push(c, e);
}

static rfx_err parse_body(normalize_ctx *c, const cJSON *body)
{
	if (cJSON_IsArray(body))
		return parse_list(c, body);
	if (!cJSON_IsObject(body))
		return normalize_fail(c, NULL, "body must be a JSON object");
	if (cJSON_GetObjectItemCaseSensitive(body, "alert") ||
	    cJSON_GetObjectItemCaseSensitive(body, "action"))
		return parse_webhook(c, body);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
	if (cJSON_IsArray(data))
		return parse_list(c, data);
	if (cJSON_IsObject(data)) {
		normalize_where(c, "data");
		rfx_err rc = push_alert(c, data, data);
		c->where[0] = '\0';
		return rc;
	}
	if (data)
		return normalize_fail(c, "data", "must be an alert object or a list of alerts");
	if (cJSON_GetObjectItemCaseSensitive(body, "id"))
		return push_alert(c, body, body);
	return normalize_fail(c, "data", "is required (an alert, an alert list or a webhook payload)");
}

rfx_err norm_opsgenie_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field)
{
	return normalize_run(parse_body, body, out, err, errlen, field);
}
