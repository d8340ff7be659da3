/* norm_icinga.c -- Icinga 2 state-change events and /v1/objects hosts and services (and Nagios) to events. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

const normalizer norm_icinga = {"icinga", SRC_ICINGA, norm_icinga_parse};
const normalizer norm_nagios = {"nagios", SRC_NAGIOS, norm_nagios_parse};

/* One check's state, whichever shape it came in. */
typedef struct ic_check {
	const char *host;
	const char *service; /* NULL for a host check */
	int state;	     /* 0..3 */
	const char *output;
	const cJSON *vars; /* scalar members become tags */
	const cJSON *vars2;
	int64_t since_ms;
} ic_check;

static const char *const service_states[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
static const char *const service_severity[] = {"ok", "warning", "critical", "unknown"};

/* A state number (Icinga sends 2.0) or, from Nagios-style senders, its name. */
static rfx_err get_state(normalize_ctx *c, const cJSON *obj, const char *key, const char *field, int *out)
{
	static const char *const names[] = {"OK", "WARNING", "CRITICAL",   "UNKNOWN",
					    "UP", "DOWN",    "UNREACHABLE"};
	static const int values[] = {0, 1, 2, 3, 0, 1, 2};
	const cJSON *v;
	rfx_err rc = normalize_get(c, obj, key, field, cJSON_Number | cJSON_String, true, &v);
	if (rc)
		return rc;
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d != floor(d) || d < 0 || d > 3)
			return normalize_fail(c, field ? field : key, "must be 0, 1, 2 or 3");
		*out = (int)d;
		return RFX_OK;
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(names); i++) {
		if (strcmp(v->valuestring, names[i]) == 0) {
			*out = values[i];
			return RFX_OK;
		}
	}
	return normalize_fail(c, field ? field : key, "must be a state number (0-3) or name");
}

static void set_title(event *e, const ic_check *k)
{
	const char *out = k->output ? k->output : "";
	size_t n = strcspn(out, "\n");
	if (n > 0 && out[n - 1] == '\r')
		n--;
	if (n > 0) {
		char *line = rfx_strndup(out, n < EVENT_MAX_FIELD + 4 ? n : EVENT_MAX_FIELD + 4);
		event_set(&e->title, line);
		free(line);
		return;
	}
	char *t = k->service ? rfx_asprintf("%s on %s is %s", k->service, k->host, service_states[k->state])
			     : rfx_asprintf("%s is %s", k->host, k->state ? "DOWN" : "UP");
	event_set(&e->title, t);
	free(t);
}

/* Service states 0-3 are OK/WARNING/CRITICAL/UNKNOWN; a host is UP (0) or DOWN (anything else). */
static event *check_to_event(const ic_check *k, event_source src)
{
	event *e = event_new(src);
	e->state = k->state == 0 ? EV_RESOLVED : EV_OPEN;
	char *id = k->service ? rfx_asprintf("%s!%s", k->host, k->service) : rfx_strdup(k->host);
	event_set(&e->source_id, id);
	free(id);
	event_set(&e->entity, k->host);
	event_set(&e->event_type, k->service ? k->service : "host");
	event_set(&e->severity, k->service ? service_severity[k->state] : (k->state ? "critical" : "ok"));
	set_title(e, k);
	e->started_at_ms = k->since_ms;
	normalize_scalar_tags(e, k->vars);
	normalize_scalar_tags(e, k->vars2);
	return e;
}

static rfx_err push_check(normalize_ctx *c, const ic_check *k, event_source src, const cJSON *raw)
{
	if (!*k->host)
		return normalize_fail(c, "host", "must not be empty");
	event *e = check_to_event(k, src);
	e->raw = normalize_raw(raw);
	return normalize_push(c, e);
}

/* ---- event stream: {"type": "StateChange", "host", "service", "state", "check_result": {...}, "timestamp"}
 * ---- */

static rfx_err stream_type(normalize_ctx *c, const cJSON *ev)
{
	const char *type;
	rfx_err rc = normalize_get_str(c, ev, "type", NULL, false, &type);
	if (rc || !type || strcmp(type, "StateChange") == 0 || strcmp(type, "CheckResult") == 0)
		return rc;
	return normalize_fail(c, "type", "must be StateChange or CheckResult");
}

static rfx_err stream_check_result(normalize_ctx *c, const cJSON *ev, ic_check *k)
{
	const cJSON *cr;
	rfx_err rc = normalize_get(c, ev, "check_result", NULL, cJSON_Object, false, &cr);
	if (!rc && cr)
		rc = normalize_get_str(c, cr, "output", "check_result.output", false, &k->output);
	if (!rc && cr)
		rc = normalize_get(c, cr, "vars_after", "check_result.vars_after", cJSON_Object, false,
				   &k->vars);
	if (!rc && !k->output)
		rc = normalize_get_str(c, ev, "output", NULL, false, &k->output);
	if (!rc)
		rc = normalize_get(c, ev, "vars", NULL, cJSON_Object, false, &k->vars2);
	/* A CheckResult event has no top-level state; its check result carries one. */
	if (!rc && !cJSON_GetObjectItemCaseSensitive(ev, "state") && cr)
		return get_state(c, cr, "state", "check_result.state", &k->state);
	if (!rc)
		rc = get_state(c, ev, "state", NULL, &k->state);
	return rc;
}

static rfx_err parse_stream_event(normalize_ctx *c, const cJSON *ev, event_source src)
{
	ic_check k = {0};
	rfx_err rc = stream_type(c, ev);
	if (!rc)
		rc = normalize_get_str(c, ev, "host", NULL, true, &k.host);
	if (!rc)
		rc = normalize_get_str(c, ev, "service", NULL, false, &k.service);
	if (!rc && k.service && !*k.service)
		k.service = NULL;
	if (!rc)
		rc = stream_check_result(c, ev, &k);
	if (!rc)
		rc = normalize_get_time(c, ev, "timestamp", NULL, 1000, &k.since_ms);
	return rc ? rc : push_check(c, &k, src, ev);
}

/* ---- objects API: {"results": [{"attrs": {...}, "name": "host!service", "type": "Service"|"Host"}]} ---- */

/* attrs.host_name and attrs.name, else the object name "host!service". */
static rfx_err object_names(normalize_ctx *c, const cJSON *r, const cJSON *attrs, bool service, ic_check *k,
			    char **owned)
{
	const char *name;
	rfx_err rc = normalize_get_str(c, r, "name", NULL, false, &name);
	if (!rc)
		rc = normalize_get_str(c, attrs, service ? "host_name" : "name",
				       service ? "attrs.host_name" : "attrs.name", false, &k->host);
	if (!rc && service)
		rc = normalize_get_str(c, attrs, "name", "attrs.name", false, &k->service);
	if (rc)
		return rc;
	const char *bang = name ? strchr(name, '!') : NULL;
	if (!service && !k->host)
		k->host = name;
	if (service && !k->host && bang)
		k->host = *owned = rfx_strndup(name, (size_t)(bang - name));
	if (service && !k->service && bang)
		k->service = bang + 1;
	if (!k->host)
		return normalize_fail(c, service ? "attrs.host_name" : "attrs.name", "is required");
	if (service && (!k->service || !*k->service))
		return normalize_fail(c, "attrs.name", "is required");
	return RFX_OK;
}

static rfx_err object_attrs(normalize_ctx *c, const cJSON *attrs, ic_check *k)
{
	const cJSON *lcr;
	rfx_err rc = get_state(c, attrs, "state", "attrs.state", &k->state);
	if (!rc)
		rc = normalize_get(c, attrs, "last_check_result", "attrs.last_check_result", cJSON_Object,
				   false, &lcr);
	if (!rc && lcr)
		rc = normalize_get_str(c, lcr, "output", "attrs.last_check_result.output", false, &k->output);
	if (!rc)
		rc = normalize_get(c, attrs, "vars", "attrs.vars", cJSON_Object, false, &k->vars);
	if (!rc)
		rc = normalize_get_time(c, attrs, "last_state_change", "attrs.last_state_change", 1000,
					&k->since_ms);
	return rc;
}

static rfx_err parse_object(normalize_ctx *c, const cJSON *r, event_source src)
{
	const char *type;
	const cJSON *attrs;
	char *owned = NULL;
	ic_check k = {0};
	if (!cJSON_IsObject(r))
		return normalize_fail(c, NULL, "a result must be an object");
	rfx_err rc = normalize_get_str(c, r, "type", NULL, true, &type);
	if (!rc && strcmp(type, "Service") != 0 && strcmp(type, "Host") != 0)
		rc = normalize_fail(c, "type", "must be Service or Host");
	if (!rc)
		rc = normalize_get(c, r, "attrs", NULL, cJSON_Object, true, &attrs);
	if (!rc)
		rc = object_names(c, r, attrs, strcmp(type, "Service") == 0, &k, &owned);
	if (!rc)
		rc = object_attrs(c, attrs, &k);
	if (!rc)
		rc = push_check(c, &k, src, r);
	free(owned);
	return rc;
}

static rfx_err parse_results(normalize_ctx *c, const cJSON *results, event_source src)
{
	size_t i = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, results)
	{
		normalize_where_item(c, "results", i++);
		rfx_err rc = parse_object(c, r, src);
		if (rc)
			return rc;
	}
	c->where[0] = '\0';
	return RFX_OK;
}

/* A top-level "source": "nagios" marks a Nagios sender using the same shapes. */
static rfx_err body_source(normalize_ctx *c, const cJSON *body, event_source *src)
{
	const char *s;
	rfx_err rc = normalize_get_str(c, body, "source", NULL, false, &s);
	if (rc || !s)
		return rc;
	if (strcmp(s, "nagios") == 0)
		*src = SRC_NAGIOS;
	else if (strcmp(s, "icinga") == 0)
		*src = SRC_ICINGA;
	else
		return normalize_fail(c, "source", "must be icinga or nagios");
	return RFX_OK;
}

static rfx_err parse_with(normalize_ctx *c, const cJSON *body, event_source src)
{
	const cJSON *results;
	if (!cJSON_IsObject(body))
		return normalize_fail(c, NULL, "body must be a JSON object");
	rfx_err rc = body_source(c, body, &src);
	if (rc)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(body, "results")) {
		rc = normalize_get(c, body, "results", NULL, cJSON_Array, true, &results);
		return rc ? rc : parse_results(c, results, src);
	}
	if (cJSON_GetObjectItemCaseSensitive(body, "attrs"))
		return parse_object(c, body, src);
	if (cJSON_GetObjectItemCaseSensitive(body, "host"))
		return parse_stream_event(c, body, src);
	return normalize_fail(c, "host", "is required (a StateChange event, or objects under \"results\")");
}

static rfx_err parse_icinga(normalize_ctx *c, const cJSON *body)
{
	return parse_with(c, body, SRC_ICINGA);
}

static rfx_err parse_nagios(normalize_ctx *c, const cJSON *body)
{
	return parse_with(c, body, SRC_NAGIOS);
}

rfx_err norm_icinga_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field)
{
	return normalize_run(parse_icinga, body, out, err, errlen, field);
}

rfx_err norm_nagios_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field)
{
	return normalize_run(parse_nagios, body, out, err, errlen, field);
}
