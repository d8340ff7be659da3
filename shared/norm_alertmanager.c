/* norm_alertmanager.c -- Prometheus Alertmanager webhook (version 4) and API v2 alert lists to events. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

const normalizer norm_alertmanager = {"alertmanager", SRC_ALERTMANAGER, norm_alertmanager_parse};

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* The host part of an instance label: "web-01:9100" -> web-01, "[::1]:9100" -> ::1, "http://user@h:8080/x" ->
 * h (blackbox targets), a bare IPv6 address stays whole. Caller frees. */
static char *instance_host(const char *s)
{
	const char *p = strstr(s, "://");
	p = p ? p + 3 : s;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	while (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
		at = memchr(p, '@', n);
	}
	if (n > 0 && p[0] == '[') {
		const char *close = memchr(p, ']', n);
		if (close)
			return rfx_strndup(p + 1, (size_t)(close - p - 1));
	}
	const char *colon = memchr(p, ':', n);
	if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - p)) &&
	    all_digits(colon + 1, n - (size_t)(colon + 1 - p)))
		n = (size_t)(colon - p);
	return rfx_strndup(p, n);
}

static void set_entity(event *e, const cJSON *labels)
{
	static const char *const keys[] = {"instance", "host", "nodename"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++) {
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, keys[i]));
		char *h = v ? instance_host(v) : NULL;
		if (h && *h) {
			event_set(&e->entity, h);
			free(h);
			return;
		}
		free(h);
	}
}

static rfx_err check_labels(normalize_ctx *c, const cJSON *labels)
{
	const cJSON *l;
	cJSON_ArrayForEach(l, labels)
	{
		if (!cJSON_IsString(l) || !l->valuestring)
			return normalize_fail(c, "labels", "values must be strings");
	}
	return RFX_OK;
}

/* Webhook alerts carry "firing"/"resolved"; API v2 alerts an object {state: active|suppressed|unprocessed},
 * and the API lists only alerts that have not ended, so those are open. */
static rfx_err alert_state(normalize_ctx *c, const cJSON *a, const char *group_status, event_state *st)
{
	const cJSON *s;
	rfx_err rc = normalize_get(c, a, "status", NULL, cJSON_String | cJSON_Object, false, &s);
	if (rc)
		return rc;
	const char *v = s ? cJSON_GetStringValue(s) : group_status;
	if (s && cJSON_IsObject(s))
		v = NULL;
	if (!v || strcmp(v, "firing") == 0) {
		*st = EV_OPEN;
		return RFX_OK;
	}
	if (strcmp(v, "resolved") == 0) {
		*st = EV_RESOLVED;
		return RFX_OK;
	}
	return normalize_fail(c, "status", "must be firing or resolved");
}

static rfx_err alert_texts(normalize_ctx *c, const cJSON *a, event *e)
{
	const cJSON *ann;
	const char *summary = NULL, *url = NULL, *fp = NULL;
	rfx_err rc = normalize_get(c, a, "annotations", NULL, cJSON_Object, false, &ann);
	if (!rc && ann)
		rc = normalize_get_str(c, ann, "summary", "annotations.summary", false, &summary);
	if (!rc)
		rc = normalize_get_str(c, a, "generatorURL", NULL, false, &url);
	if (!rc)
		rc = normalize_get_str(c, a, "fingerprint", NULL, false, &fp);
	if (!rc)
		rc = normalize_get_time(c, a, "startsAt", NULL, 1, &e->started_at_ms);
	if (rc)
		return rc;
	event_set(&e->title, summary && *summary ? summary : e->event_type);
	if (url && *url)
		event_set(&e->url, url);
	if (fp && *fp)
		event_set(&e->source_id, fp);
	return RFX_OK;
}

static rfx_err alert_to_event(normalize_ctx *c, const cJSON *a, const char *group_status, event **out)
{
	if (!cJSON_IsObject(a))
		return normalize_fail(c, NULL, "an alert must be an object");
	const cJSON *labels;
	event_state st = EV_OPEN;
	rfx_err rc = normalize_get(c, a, "labels", NULL, cJSON_Object, true, &labels);
	if (!rc)
		rc = check_labels(c, labels);
	if (!rc)
		rc = alert_state(c, a, group_status, &st);
	if (rc)
		return rc;
	event *e = event_new(SRC_ALERTMANAGER);
	e->state = st;
	event_set(&e->event_type,
		  cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "alertname")));
	event_set(&e->severity, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "severity")));
	set_entity(e, labels);
	normalize_scalar_tags(e, labels);
	rc = alert_texts(c, a, e);
	if (rc) {
		event_free(e);
		return rc;
	}
	if (!*e->source_id) {
		char fp[17];
		normalize_label_fingerprint(labels, fp);
		event_set(&e->source_id, fp);
	}
	e->raw = normalize_raw(a);
	*out = e;
	return RFX_OK;
}

static rfx_err parse_alerts(normalize_ctx *c, const cJSON *alerts, const char *list, const char *group_status)
{
	size_t i = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, alerts)
	{
		event *e;
		normalize_where_item(c, list, i++);
		rfx_err rc = alert_to_event(c, a, group_status, &e);
		if (!rc)
			rc = normalize_push(c, e);
		if (rc)
			return rc;
	}
	c->where[0] = '\0';
	return RFX_OK;
}

static rfx_err parse_webhook(normalize_ctx *c, const cJSON *body)
{
	const char *version, *status;
	const cJSON *alerts;
	rfx_err rc = normalize_get_str(c, body, "version", NULL, false, &version);
	if (!rc && version && strcmp(version, "4") != 0)
		return normalize_fail(c, "version",
				      "must be \"4\" (the only webhook version Alertmanager sends)");
	if (!rc)
		rc = normalize_get_str(c, body, "status", NULL, false, &status);
	if (!rc && status && strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0)
		return normalize_fail(c, "status", "must be firing or resolved");
	if (!rc)
		rc = normalize_get(c, body, "alerts", NULL, cJSON_Array, true, &alerts);
	if (rc)
		return rc;
	return parse_alerts(c, alerts, "alerts", status);
}

static rfx_err parse_body(normalize_ctx *c, const cJSON *body)
{
	if (cJSON_IsArray(body))
		return parse_alerts(c, body, "alerts", NULL);
	if (!cJSON_IsObject(body))
		return normalize_fail(c, NULL, "body must be a webhook object or an array of alerts");
	if (cJSON_GetObjectItemCaseSensitive(body, "alerts"))
		return parse_webhook(c, body);
	if (cJSON_GetObjectItemCaseSensitive(body, "labels")) {
		event *e;
		rfx_err rc = alert_to_event(c, body, NULL, &e);
		return rc ? rc : normalize_push(c, e);
	}
	return normalize_fail(c, "alerts",
			      "is required (an Alertmanager webhook, an API v2 alert list or one alert)");
}

rfx_err norm_alertmanager_parse(const cJSON *body, event_list *out, char *err, size_t errlen,
				const char **field)
{
	return normalize_run(parse_body, body, out, err, errlen, field);
}
