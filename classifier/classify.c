/* classify.c -- one event through the classifier: de-duplication, topology, rules, actions, history, logs,
 * audit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "buf.h"
#include "classify.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "rulestore.h"
#include "timefmt.h"
#include "topology.h"

/* Members with literal names: the name is not copied (three allocations per string member become two). */
static void add_item(cJSON *o, const char *literal_key, cJSON *item)
{
	cJSON_AddItemToObjectCS(o, literal_key, item);
}

static void add_str(cJSON *o, const char *literal_key, const char *value)
{
	cJSON_AddItemToObjectCS(o, literal_key, cJSON_CreateString(value));
}

cJSON *classify_action_body(const rule *r, const eval_ctx *c, const char *action_id, char *err, size_t errlen)
{
	rule_rendered rr;
	if (rule_render(r, c, &rr, err, errlen))
		return NULL;
	cJSON *body = rule_action_json(r, &rr);
	rule_rendered_clear(&rr);
	const event *ev = c->ev;
	char created[32];
	timefmt_iso8601(rfx_now_ms(), created);
	add_str(body, "action_id", action_id);
	add_str(body, "event_id", ev->id);
	add_str(body, "source", event_source_name(ev->source));
	add_str(body, "source_id", ev->source_id);
	add_str(body, "entity", ev->entity);
	add_str(body, "event_type", ev->event_type);
	add_str(body, "title", ev->title);
	add_str(body, "created_at", created);
	return body;
}

/* Metric handles, registered once at start so the hot path never searches the registry. */
static const char *const decision_statuses[] = {"dispatched", "pending",     "refused",
						"failed",     "recorded",    "no-action",
						"error",      "investigate", "would-act"};
static metric *m_events[SRC__COUNT], *m_decisions[RFX_ARRAY_LEN(decision_statuses)], *m_duplicates,
    *m_seconds;

void classify_init_metrics(void)
{
	char labels[64];
	for (int s = 0; s < SRC__COUNT; s++) {
		snprintf(labels, sizeof(labels), "source=\"%s\"", event_source_name((event_source)s));
		m_events[s] =
		    metrics_counter("reflex_events_total", labels, "Events accepted for classification");
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(decision_statuses); i++) {
		snprintf(labels, sizeof(labels), "status=\"%s\"", decision_statuses[i]);
		m_decisions[i] =
		    metrics_counter("reflex_decisions_total", labels, "Decisions made, by status");
	}
	m_duplicates =
	    metrics_counter("reflex_events_duplicate_total", NULL, "Repeated notifications of a known state");
	m_seconds = metrics_histogram("reflex_classify_seconds", NULL, "Time to classify one event");
}

static void count_decision(const char *status)
{
	for (size_t i = 0; i < RFX_ARRAY_LEN(decision_statuses); i++)
		if (!strcmp(decision_statuses[i], status)) {
			metrics_inc(m_decisions[i]);
			return;
		}
}

/* An action rendered and waiting to be sent once its event is in the history. */
typedef struct pending_send {
	cJSON *decision; /* borrowed from the decisions array */
	char *body;
} pending_send;

/* Without an action handler the action is only recorded: its targets are all the decision needs, so the
 * action body is not built. */
static cJSON *record_rule(const rule *r, const eval_ctx *c, cJSON *d, char *err, size_t errlen)
{
	rule_rendered rr;
	if (rule_render(r, c, &rr, err, errlen)) {
		add_str(d, "status", "error");
		add_str(d, "reason", err);
		return d;
	}
	cJSON *targets = cJSON_CreateArray();
	add_item(d, "targets", targets);
	for (size_t i = 0; i < rr.ntargets; i++)
		cJSON_AddItemToArray(targets, cJSON_CreateString(rr.targets[i]));
	rule_rendered_clear(&rr);
	add_str(d, "status", "recorded");
	return d;
}

/* Renders the action of one fired rule and returns its decision object; with an action handler, the body to
 * send is left in *send (status "sending") so that it goes out after the event is stored. */
static cJSON *decide_rule(classifier_app *app, const rule *r, const eval_ctx *c, bool act, char **send)
{
	cJSON *d = cJSON_CreateObject();
	add_str(d, "rule", r->name);
	add_str(d, "rule_version", r->version);
	add_str(d, "type", rules_action_type_name(r->action.type));
	if (r->action.type == RULE_ACTION_NONE) {
		add_item(d, "action_id", cJSON_CreateNull());
		add_item(d, "mode", cJSON_CreateNull());
		add_str(d, "status", "no-action");
		return d;
	}
	char action_id[27], err[400] = "";
	rfx_ulid(action_id);
	add_str(d, "action_id", action_id);
	add_str(d, "mode", rules_mode_name(r->action.mode));
	if (act && !app->disp)
		return record_rule(r, c, d, err, sizeof(err));
	cJSON *body = classify_action_body(r, c, action_id, err, sizeof(err));
	if (!body) {
		add_str(d, "status", "error");
		add_str(d, "reason", err);
		return d;
	}
	add_item(d, "targets", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(body, "targets"), 1));
	if (!act) {
		add_str(d, "status", "would-act");
		add_item(d, "action", body);
		return d;
	}
	if (app->disp) {
		add_str(d, "status", "sending");
		*send = jsonw_print(body);
	} else {
		add_str(d, "status", "recorded");
	}
	cJSON_Delete(body);
	return d;
}

/* Sends the rendered actions and records each outcome in the response and the history. A "pending" outcome is
 * only recorded when the outbox has not already settled the action meanwhile. */
static void send_actions(classifier_app *app, const event *ev, pending_send *sends, size_t n, bool stored)
{
	for (size_t i = 0; i < n; i++) {
		char reason[400] = "";
		const char *action_id =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sends[i].decision, "action_id"));
		const char *status =
		    dispatch_send(app->disp, ev->id, action_id, sends[i].body, reason, sizeof(reason));
		cJSON_DeleteItemFromObjectCaseSensitive(sends[i].decision, "status");
		add_str(sends[i].decision, "status", status);
		if (reason[0])
			add_str(sends[i].decision, "reason", reason);
		if (stored)
			history_update_decision(app->hist, ev->id, action_id, status,
						reason[0] ? reason : NULL,
						strcmp(status, "pending") ? NULL : "sending");
		free(sends[i].body);
	}
}

static void log_decisions(const event *ev, const cJSON *decisions, double ms)
{
	char dur[32] = "";
	if (LOG_LEVEL_INFO >= log_min_level)
		snprintf(dur, sizeof(dur), "%.2f", ms);
	const cJSON *d;
	cJSON_ArrayForEach(d, decisions)
	{
		const char *rule = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "rule"));
		const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "status"));
		count_decision(status);
		LOG_INFO("event classified", "event_id", ev->id, "source", event_source_name(ev->source),
			 "source_id", ev->source_id, "state", event_state_name(ev->state), "entity",
			 ev->entity, "event_type", ev->event_type, "rule", rule ? rule : NULL, "decision",
			 rule ? "act" : "investigate", "action_id",
			 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "action_id")), "mode",
			 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "mode")), "status", status,
			 "reason", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "reason")),
			 "duration_ms", dur);
	}
}

static cJSON *decide(classifier_app *app, const eval_ctx *c, bool act, pending_send *sends, size_t *nsends)
{
	cJSON *decisions = cJSON_CreateArray();
	const rule *fired[CLASSIFY_MAX_FIRED];
	ruleset *rs = rulestore_acquire(app->rules);
	size_t n = ruleset_match(rs, c, fired, CLASSIFY_MAX_FIRED);
	*nsends = 0;
	for (size_t i = 0; i < n; i++) {
		char *send = NULL;
		cJSON *d = decide_rule(app, fired[i], c, act, &send);
		cJSON_AddItemToArray(decisions, d);
		if (send)
			sends[(*nsends)++] = (pending_send){.decision = d, .body = send};
	}
	ruleset_release(rs);
	if (n == 0) {
		cJSON *d = cJSON_CreateObject();
		add_item(d, "rule", cJSON_CreateNull());
		add_item(d, "action_id", cJSON_CreateNull());
		add_item(d, "mode", cJSON_CreateNull());
		add_str(d, "status", "investigate");
		cJSON_AddItemToArray(decisions, d);
	}
	return decisions;
}

static cJSON *duplicate_entry(classifier_app *app, const event *ev, const char *dup_of)
{
	history_count_duplicate(app->hist, dup_of);
	cJSON *decisions = history_get_decisions(app->hist, dup_of);
	cJSON *entry = cJSON_CreateObject();
	add_str(entry, "id", dup_of);
	add_str(entry, "source_id", ev->source_id);
	add_item(entry, "duplicate", cJSON_CreateTrue());
	add_item(entry, "decisions", decisions ? decisions : cJSON_CreateArray());
	metrics_inc(m_duplicates);
	LOG_INFO("event duplicate", "event_id", dup_of, "source", event_source_name(ev->source), "source_id",
		 ev->source_id, "state", event_state_name(ev->state));
	return entry;
}

#define AUDIT_EVENT_MAX	 (4u << 20) /* as an audit record: six event fields fit many times over */
#define AUDIT_EVENT_KEEP (16u << 10)

/* The members both of an event's records start with, built once per event in a scratch buffer of their own
 * (as JSON text, not a cJSON tree); NULL when auditing is off or they do not fit. */
static rfx_buf *audit_event_members(const event *ev)
{
	if (!audit_enabled())
		return NULL;
	rfx_buf *b = buf_scratch(BUF_SCRATCH_AUDIT_EVENT, AUDIT_EVENT_MAX);
	buf_trim(b, AUDIT_EVENT_KEEP);
	rfx_err rc = audit_put_member(b, "event_id", ev->id);
	if (!rc)
		rc = audit_put_member(b, "source", event_source_name(ev->source));
	if (!rc)
		rc = audit_put_member(b, "source_id", ev->source_id);
	if (!rc)
		rc = audit_put_member(b, "state", event_state_name(ev->state));
	if (!rc)
		rc = audit_put_member(b, "entity", ev->entity);
	if (!rc)
		rc = audit_put_member(b, "event_type", ev->event_type);
	return rc ? NULL : b;
}

/* An event's record: its members, then the decisions (as text when printed already) and the impact. */
static void audit_event(const char *type, const event *ev, const rfx_buf *members, const cJSON *decisions,
			const char *decisions_text, const cJSON *impact)
{
	if (!audit_enabled())
		return;
	rfx_buf *b = audit_fields_buf();
	rfx_err rc = members ? buf_append(b, members->data, members->len) : RFX_ERR_LIMIT;
	if (!rc)
		rc = decisions_text ? audit_put_text(b, "decisions", decisions_text, strlen(decisions_text))
				    : audit_put_json(b, "decisions", decisions);
	if (!rc)
		rc = audit_put_json(b, "impact", impact);
	audit_emit_raw(type, ev->source_id, rc ? NULL : buf_cstr(b), b->len);
}

cJSON *classify_event(classifier_app *app, event *ev, bool act)
{
	double t0 = rfx_mono_sec();
	char dup_of[27];
	if (act && history_seen(app->hist, ev, dup_of))
		return duplicate_entry(app, ev, dup_of);
	const rfx_buf *members = NULL;
	if (act) {
		metrics_inc(m_events[ev->source]);
		audit_hold(); /* event.received and event.classified go to the file in one write */
		members = audit_event_members(ev);
		audit_event("event.received", ev, members, NULL, NULL, NULL);
		if (app->topo) {
			if (ev->state == EV_OPEN)
				topology_problem_open(app->topo, ev);
			else
				topology_problem_resolved(app->topo, ev);
		}
	}
	eval_ctx c = {.ev = ev};
	if (app->topo) {
		c.topo_ud = app->topo;
		c.topo_field = topology_field;
		c.topo_match = topology_match;
	}
	pending_send sends[CLASSIFY_MAX_FIRED];
	size_t nsends;
	cJSON *decisions = decide(app, &c, act, sends, &nsends);
	cJSON *impact = app->topo ? topology_impact(app->topo, ev) : NULL;
	cJSON *entry = cJSON_CreateObject();
	add_str(entry, "id", ev->id);
	add_str(entry, "source_id", ev->source_id);
	if (act) {
		char received[32];
		timefmt_iso8601(rfx_now_ms(), received);
		/* Printed once for the history and the audit record; sending changes the statuses, so with
		 * actions to send the record prints the decisions again afterwards. */
		char *text = decisions ? jsonw_print(decisions) : NULL;
		history_add_event(app->hist, ev, received, decisions, text, impact);
		send_actions(app, ev, sends, nsends, true);
		double ms = (rfx_mono_sec() - t0) * 1000.0;
		log_decisions(ev, decisions, ms);
		audit_event("event.classified", ev, members, decisions, nsends ? NULL : text, impact);
		audit_release();
		free(text);
		metrics_observe(m_seconds, ms / 1000.0);
	}
	if (impact)
		add_item(entry, "impact", impact);
	add_item(entry, "decisions", decisions);
	return entry;
}
