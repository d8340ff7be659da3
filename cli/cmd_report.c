/* cmd_report.c -- `reflex report`: what Reflex has been doing, from logfmt logs, audit JSON lines or the
 * Kafka audit topic: remediations by rule, success rate, duration percentiles, refusals by reason, and how
 * many times a rule acted on an entity. docs/reporting.md lists exactly which records and fields are read. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "audit_kafka.h"
#include "cli.h"
#include "logfmt.h"

#define REPORT_MAX_LINE		  (64u * 1024) /* longer lines are skipped and counted */
#define REPORT_MAX_ITEMS	  2000000u     /* distinct actions, and distinct events, kept in memory */
#define REPORT_MAX_PROPS	  64
#define REPORT_DEFAULT_TIMEOUT_MS 60000

typedef enum { OUT_TABLE, OUT_JSON, OUT_CSV } report_format;

typedef struct raction {
	char *id, *rule, *state, *reason, *event_id, *targets; /* targets: comma-separated */
	double duration_ms;				       /* NAN when absent */
	int64_t ts;
} raction;

typedef struct revent {
	char *id, *entity;
	bool acted, investigated;
	int64_t ts;
} revent;

/* Open addressing from an id to an index in an array. */
typedef struct idmap {
	char **keys;
	size_t *vals;
	size_t cap, n;
} idmap;

typedef struct report_opts {
	int64_t since, until; /* ms; 0: unbounded */
	const char *rule, *entity;
	report_format format;
	const char *brokers, *topic;
	cfg_strmap props;
	int timeout_ms;
} report_opts;

typedef struct report {
	raction *acts;
	size_t nacts, capacts;
	idmap act_idx;
	revent *evs;
	size_t nevs, capevs;
	idmap ev_idx;
	uint64_t records, unreadable, too_long, over_limit;
} report;

typedef struct rstats {
	uint64_t actions, succeeded, failed, timeout, refused, dry_run, interrupted, other;
	double *durs;
	size_t ndurs, capdurs;
} rstats;

typedef struct rrule {
	char *rule;
	rstats s;
} rrule;

typedef struct rcount {
	char *name;
	uint64_t n;
} rcount;

typedef struct summary {
	rrule *rules;
	size_t nrules;
	rstats total;
	rcount *refusals;
	size_t nrefusals;
	uint64_t events, events_acted, events_investigated;
} summary;

void cmd_report_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: reflex report [options] [FILE...|-]\n"
	    "       reflex report --kafka BROKERS [options]\n\n"
	    "What Reflex has been doing: remediations by rule, success rate, duration percentiles and\n"
	    "refusals by reason, from the services' logfmt logs (files, or stdin, e.g. `docker service "
	    "logs`),\n"
	    "from audit JSON lines (audit_file), or from the Kafka audit topic.\n\n"
	    "  --since WHEN        only records at or after WHEN: a duration back from now (24h, 7d, 90m)\n"
	    "                      or a time (2026-11-22T00:00:00Z)\n"
	    "  --until WHEN        only records before WHEN\n"
	    "  --rule NAME         only this rule's actions\n"
	    "  --entity HOST       only actions on this host (a target, or the event's entity)\n"
	    "  --json | --csv      machine-readable output (default: tables)\n"
	    "  --kafka BROKERS     read the audit topic instead of files\n"
	    "  --topic NAME        audit topic (default reflex.audit)\n"
	    "  --kafka-property K=V  librdkafka property for the consumer (TLS, SASL); repeatable;\n"
	    "                      K_file=PATH reads the value of K from a file\n"
	    "  --timeout DURATION  give up reading the topic after this long (default 60s)\n"
	    "exit status: 0 report printed, 1 input could not be read, 2 usage\n");
}

/* ---- ids ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void idmap_grow(idmap *m)
{
	idmap n = {rfx_calloc(m->cap ? m->cap * 2 : 1024, sizeof(char *)),
		   rfx_calloc(m->cap ? m->cap * 2 : 1024, sizeof(size_t)), m->cap ? m->cap * 2 : 1024, 0};
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = hash_str(m->keys[i]) & (n.cap - 1);
		while (n.keys[j])
			j = (j + 1) & (n.cap - 1);
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.n++;
	}
	free(m->keys);
	free(m->vals);
	*m = n;
}

/* The index stored for key, or -1. */
static ssize_t idmap_find(const idmap *m, const char *key)
{
	if (!m->cap)
		return -1;
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->keys[j] && strcmp(m->keys[j], key))
		j = (j + 1) & (m->cap - 1);
	return m->keys[j] ? (ssize_t)m->vals[j] : -1;
}

/* Returns the slot of key (keys[slot] NULL when absent). The key strings are owned by the records. */
static size_t idmap_slot(idmap *m, const char *key)
{
	if ((m->n + 1) * 2 > m->cap)
		idmap_grow(m);
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->keys[j] && strcmp(m->keys[j], key))
		j = (j + 1) & (m->cap - 1);
	return j;
}

static void set_str(char **dst, const char *v)
{
	if (!v || !*v)
		return;
	free(*dst);
	*dst = rfx_strdup(v);
}

/* The record for id, created when new; NULL past REPORT_MAX_ITEMS. */
static raction *action_for(report *r, const char *id)
{
	size_t slot = idmap_slot(&r->act_idx, id);
	if (r->act_idx.keys[slot])
		return &r->acts[r->act_idx.vals[slot]];
	if (r->nacts >= REPORT_MAX_ITEMS) {
		r->over_limit++;
		return NULL;
	}
	if (r->nacts == r->capacts) {
		r->capacts = r->capacts ? r->capacts * 2 : 256;
		r->acts = rfx_realloc(r->acts, r->capacts * sizeof(raction));
	}
	raction *a = &r->acts[r->nacts];
	memset(a, 0, sizeof(*a));
	a->id = rfx_strdup(id);
	a->duration_ms = NAN;
	r->act_idx.keys[slot] = a->id;
	r->act_idx.vals[slot] = r->nacts++;
	r->act_idx.n++;
	return a;
}

static revent *event_for(report *r, const char *id)
{
	size_t slot = idmap_slot(&r->ev_idx, id);
	if (r->ev_idx.keys[slot])
		return &r->evs[r->ev_idx.vals[slot]];
	if (r->nevs >= REPORT_MAX_ITEMS) {
		r->over_limit++;
		return NULL;
	}
	if (r->nevs == r->capevs) {
		r->capevs = r->capevs ? r->capevs * 2 : 256;
		r->evs = rfx_realloc(r->evs, r->capevs * sizeof(revent));
	}
	revent *e = &r->evs[r->nevs];
	memset(e, 0, sizeof(*e));
	e->id = rfx_strdup(id);
	r->ev_idx.keys[slot] = e->id;
	r->ev_idx.vals[slot] = r->nevs++;
	r->ev_idx.n++;
	return e;
}

static void report_free(report *r)
{
	for (size_t i = 0; i < r->nacts; i++) {
		raction *a = &r->acts[i];
		free(a->id);
		free(a->rule);
		free(a->state);
		free(a->reason);
		free(a->event_id);
		free(a->targets);
	}
	for (size_t i = 0; i < r->nevs; i++) {
		free(r->evs[i].id);
		free(r->evs[i].entity);
	}
	free(r->acts);
	free(r->evs);
	free(r->act_idx.keys);
	free(r->act_idx.vals);
	free(r->ev_idx.keys);
	free(r->ev_idx.vals);
}

/* ---- reading records ---- */

static int64_t parse_ts(const char *s)
{
	int64_t ms = 0;
	return s && !rfx_parse_time(s, &ms) ? ms : 0;
}

/* One action's outcome. A later record for the same action_id replaces the earlier one (duplicates across
 * files or an at-least-once replay count once). */
static void add_action(report *r, const char *id, const char *rule, const char *state, const char *reason,
		       const char *event_id, const char *targets, double duration_ms, int64_t ts)
{
	if (!id || !*id)
		return;
	raction *a = action_for(r, id);
	if (!a)
		return;
	set_str(&a->rule, rule);
	set_str(&a->state, state);
	free(a->reason);
	a->reason = reason && *reason ? rfx_strdup(reason) : NULL;
	set_str(&a->event_id, event_id);
	set_str(&a->targets, targets);
	if (!isnan(duration_ms))
		a->duration_ms = duration_ms;
	a->ts = ts;
}

static void add_event(report *r, const char *id, const char *entity, const char *decision, int64_t ts)
{
	if (!id || !*id)
		return;
	revent *e = event_for(r, id);
	if (!e)
		return;
	set_str(&e->entity, entity);
	if (decision && !strcmp(decision, "act"))
		e->acted = true;
	else if (decision && !strcmp(decision, "investigate"))
		e->investigated = true;
	if (!e->ts || ts < e->ts)
		e->ts = ts;
}

static double parse_double(const char *s)
{
	char *end;
	if (!s || !*s)
		return NAN;
	double v = strtod(s, &end);
	return *end ? NAN : v;
}

static void ingest_logfmt(report *r, const char *line, size_t len)
{
	logfmt_record rec = {0};
	if (logfmt_parse(line, len, &rec)) {
		r->unreadable++;
		return;
	}
	const char *msg = logfmt_get(&rec, "msg");
	int64_t ts = parse_ts(logfmt_get(&rec, "ts"));
	if (msg && !strcmp(msg, "action finished")) {
		r->records++;
		add_action(r, logfmt_get(&rec, "action_id"), logfmt_get(&rec, "rule"),
			   logfmt_get(&rec, "state"), logfmt_get(&rec, "reason"),
			   logfmt_get(&rec, "event_id"), logfmt_get(&rec, "targets"),
			   parse_double(logfmt_get(&rec, "duration_ms")), ts);
	} else if (msg && !strcmp(msg, "event classified")) {
		r->records++;
		add_event(r, logfmt_get(&rec, "event_id"), logfmt_get(&rec, "entity"),
			  logfmt_get(&rec, "decision"), ts);
	}
	logfmt_record_free(&rec);
}

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static char *targets_of(const cJSON *results)
{
	rfx_buf b;
	const cJSON *it;
	buf_init(&b, 64 * 1024);
	cJSON_ArrayForEach(it, results)
	{
		const char *t = jstr(it, "target");
		if (t && buf_printf(&b, "%s%s", b.len ? "," : "", t))
			break;
	}
	return b.len ? buf_steal(&b) : (buf_free(&b), NULL);
}

static void ingest_audit_classified(report *r, const cJSON *o, int64_t ts)
{
	const cJSON *d, *decisions = cJSON_GetObjectItemCaseSensitive(o, "decisions");
	bool acted = false;
	cJSON_ArrayForEach(d, decisions)
	{
		if (jstr(d, "rule"))
			acted = true;
	}
	add_event(r, jstr(o, "event_id"), jstr(o, "entity"), acted ? "act" : "investigate", ts);
}

static void ingest_audit(report *r, const char *json, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const char *type = jstr(o, "type");
	if (!o || !type) {
		r->unreadable++;
		cJSON_Delete(o);
		return;
	}
	int64_t ts = parse_ts(jstr(o, "ts"));
	if (!strcmp(type, "action.finished")) {
		const cJSON *dur = cJSON_GetObjectItemCaseSensitive(o, "duration_ms");
		char *targets = targets_of(cJSON_GetObjectItemCaseSensitive(o, "results"));
		r->records++;
		add_action(r, jstr(o, "action_id"), jstr(o, "rule"), jstr(o, "state"), jstr(o, "reason"),
			   jstr(o, "event_id"), targets, cJSON_IsNumber(dur) ? dur->valuedouble : NAN, ts);
		free(targets);
	} else if (!strcmp(type, "event.classified")) {
		r->records++;
		ingest_audit_classified(r, o, ts);
	}
	cJSON_Delete(o);
}

/* A line is audit JSON when it starts with '{'; otherwise logfmt, from its "ts=" on, so prefixes added by
 * `docker service logs` ("svc.1.xyz@node | ") or timestamps from journald are skipped. */
static void ingest_line(report *r, const char *line, size_t len)
{
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len && line[i] == '{') {
		ingest_audit(r, line + i, len - i);
		return;
	}
	const char *p = len >= 3 && !memcmp(line, "ts=", 3) ? line : memmem(line, len, " ts=", 4);
	if (!p)
		return;
	if (p != line)
		p++;
	ingest_logfmt(r, p, len - (size_t)(p - line));
}

static rfx_err ingest_stream(report *r, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if ((size_t)n > REPORT_MAX_LINE) {
			r->too_long++;
			continue;
		}
		ingest_line(r, line, (size_t)n);
	}
	bool failed = ferror(f);
	free(line);
	return failed ? RFX_ERR_IO : RFX_OK;
}

static rfx_err ingest_file(report *r, const char *path)
{
	if (!strcmp(path, "-"))
		return ingest_stream(r, stdin);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "reflex report: cannot open %s: %s\n", path, strerror(errno));
		return RFX_ERR_IO;
	}
	rfx_err rc = ingest_stream(r, f);
	if (rc)
		fprintf(stderr, "reflex report: cannot read %s\n", path);
	fclose(f);
	return rc;
}

static int on_kafka_record(void *arg, const char *key, size_t key_len, const char *value, size_t len,
			   int32_t partition, int64_t offset)
{
	ingest_audit(arg, value, len);
	return 0;
}

static rfx_err ingest_kafka(report *r, const report_opts *o)
{
	char err[512] = "";
	rfx_err rc = audit_kafka_read(o->brokers, o->topic, &o->props, o->timeout_ms, on_kafka_record, r, err,
				      sizeof(err));
	if (rc == RFX_ERR_NOTFOUND) {
		fprintf(stderr, "reflex report: %s (nothing has been audited to it yet)\n", err);
		return RFX_OK;
	}
	if (rc)
		fprintf(stderr, "reflex report: %s\n", err);
	return rc;
}

/* ---- summarising ---- */

static bool host_equal(const char *target, size_t len, const char *host)
{
	const char *t = target;
	if (len && t[0] == '[') { /* [v6]:port */
		const char *close = memchr(t, ']', len);
		if (close) {
			t++;
			len = (size_t)(close - t);
		}
	} else {
		const char *colon = memchr(t, ':', len);
		if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - t)))
			len = (size_t)(colon - t);
	}
	return strlen(host) == len && !strncmp(t, host, len);
}

static bool acted_on(const report *r, const raction *a, const char *entity)
{
	for (const char *p = a->targets; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (host_equal(p, len, entity))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	if (!a->event_id)
		return false;
	ssize_t i = idmap_find(&r->ev_idx, a->event_id);
	return i >= 0 && r->evs[i].entity && !strcmp(r->evs[i].entity, entity);
}

static bool in_window(const report_opts *o, int64_t ts)
{
	if (o->since && ts < o->since)
		return false;
	return !(o->until && ts >= o->until);
}

static bool selected(const report *r, const report_opts *o, const raction *a)
{
	if (!in_window(o, a->ts))
		return false;
	if (o->rule && (!a->rule || strcmp(a->rule, o->rule)))
		return false;
	return !o->entity || acted_on(r, a, o->entity);
}

static void stats_add(rstats *s, const raction *a)
{
	const char *st = a->state ? a->state : "";
	s->actions++;
	bool ran = true;
	if (!strcmp(st, "succeeded"))
		s->succeeded++;
	else if (!strcmp(st, "failed"))
		s->failed++;
	else if (!strcmp(st, "timeout"))
		s->timeout++;
	else if (!strcmp(st, "interrupted"))
		s->interrupted++;
	else {
		ran = false;
		if (!strcmp(st, "refused"))
			s->refused++;
		else if (!strcmp(st, "dry-run"))
			s->dry_run++;
		else
			s->other++;
	}
	if (!ran || isnan(a->duration_ms))
		return;
	if (s->ndurs == s->capdurs) {
		s->capdurs = s->capdurs ? s->capdurs * 2 : 64;
		s->durs = rfx_realloc(s->durs, s->capdurs * sizeof(double));
	}
	s->durs[s->ndurs++] = a->duration_ms;
}

static uint64_t stats_ran(const rstats *s)
{
	return s->succeeded + s->failed + s->timeout + s->interrupted;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted durations; NAN when there are none. */
static double percentile(const rstats *s, double q)
{
	if (!s->ndurs)
		return NAN;
	size_t rank = (size_t)ceil(q / 100.0 * (double)s->ndurs);
	return s->durs[rank ? rank - 1 : 0];
}

static rstats *rule_stats(summary *sm, const char *rule)
{
	for (size_t i = 0; i < sm->nrules; i++)
		if (!strcmp(sm->rules[i].rule, rule))
			return &sm->rules[i].s;
	sm->rules = rfx_realloc(sm->rules, (sm->nrules + 1) * sizeof(rrule));
	sm->rules[sm->nrules] = (rrule){rfx_strdup(rule), {0}};
	return &sm->rules[sm->nrules++].s;
}

static void count_refusal(summary *sm, const char *reason)
{
	reason = reason ? reason : "unknown";
	for (size_t i = 0; i < sm->nrefusals; i++)
		if (!strcmp(sm->refusals[i].name, reason)) {
			sm->refusals[i].n++;
			return;
		}
	sm->refusals = rfx_realloc(sm->refusals, (sm->nrefusals + 1) * sizeof(rcount));
	sm->refusals[sm->nrefusals++] = (rcount){rfx_strdup(reason), 1};
}

static int rule_cmp(const void *a, const void *b)
{
	const rrule *x = a, *y = b;
	if (x->s.actions != y->s.actions)
		return x->s.actions > y->s.actions ? -1 : 1;
	return strcmp(x->rule, y->rule);
}

static int count_cmp(const void *a, const void *b)
{
	const rcount *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* qsort without the undefined behaviour of a NULL base for an empty array. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static void summarise_events(const report *r, const report_opts *o, summary *sm)
{
	for (size_t i = 0; i < r->nevs; i++) {
		const revent *e = &r->evs[i];
		if (!in_window(o, e->ts) || (o->entity && (!e->entity || strcmp(e->entity, o->entity))))
			continue;
		sm->events++;
		sm->events_acted += e->acted;
		sm->events_investigated += !e->acted && e->investigated;
	}
}

static void summarise(const report *r, const report_opts *o, summary *sm)
{
	memset(sm, 0, sizeof(*sm));
	for (size_t i = 0; i < r->nacts; i++) {
		const raction *a = &r->acts[i];
		if (!selected(r, o, a))
			continue;
		stats_add(rule_stats(sm, a->rule ? a->rule : "(none)"), a);
		stats_add(&sm->total, a);
		if (a->state && !strcmp(a->state, "refused"))
			count_refusal(sm, a->reason);
	}
	for (size_t i = 0; i < sm->nrules; i++)
		sort(sm->rules[i].s.durs, sm->rules[i].s.ndurs, sizeof(double), dbl_cmp);
	sort(sm->total.durs, sm->total.ndurs, sizeof(double), dbl_cmp);
	sort(sm->rules, sm->nrules, sizeof(rrule), rule_cmp);
	sort(sm->refusals, sm->nrefusals, sizeof(rcount), count_cmp);
	summarise_events(r, o, sm);
}

static void summary_free(summary *sm)
{
	for (size_t i = 0; i < sm->nrules; i++) {
		free(sm->rules[i].rule);
		free(sm->rules[i].s.durs);
	}
	for (size_t i = 0; i < sm->nrefusals; i++)
		free(sm->refusals[i].name);
	free(sm->rules);
	free(sm->refusals);
	free(sm->total.durs);
}

/* ---- output ---- */

static void add_num_or_null(cJSON *o, const char *key, double v)
{
	if (isnan(v))
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, v);
}

static cJSON *stats_json(const rstats *s)
{
	cJSON *o = cJSON_CreateObject();
	const char *names[] = {"actions",     "ran",	 "succeeded", "failed", "timeout",
			       "interrupted", "refused", "dry_run",   "other"};
	uint64_t vals[] = {s->actions,	   stats_ran(s), s->succeeded, s->failed, s->timeout,
			   s->interrupted, s->refused,	 s->dry_run,   s->other};
	for (size_t i = 0; i < RFX_ARRAY_LEN(names); i++)
		cJSON_AddNumberToObject(o, names[i], (double)vals[i]);
	add_num_or_null(o, "success_rate", stats_ran(s) ? (double)s->succeeded / (double)stats_ran(s) : NAN);
	cJSON *d = cJSON_AddObjectToObject(o, "duration_ms");
	add_num_or_null(d, "p50", percentile(s, 50));
	add_num_or_null(d, "p90", percentile(s, 90));
	add_num_or_null(d, "p99", percentile(s, 99));
	add_num_or_null(d, "max", s->ndurs ? s->durs[s->ndurs - 1] : NAN);
	return o;
}

static void add_time_or_null(cJSON *o, const char *key, int64_t ms)
{
	char ts[32];
	if (!ms) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	rfx_iso8601(ms, ts);
	cJSON_AddStringToObject(o, key, ts);
}

static void print_json(const report_opts *o, const summary *sm, const report *r)
{
	cJSON *j = cJSON_CreateObject();
	add_time_or_null(j, "since", o->since);
	add_time_or_null(j, "until", o->until);
	cJSON_AddStringToObject(j, "rule", o->rule ? o->rule : "");
	cJSON_AddStringToObject(j, "entity", o->entity ? o->entity : "");
	cJSON *ev = cJSON_AddObjectToObject(j, "events");
	cJSON_AddNumberToObject(ev, "classified", (double)sm->events);
	cJSON_AddNumberToObject(ev, "acted", (double)sm->events_acted);
	cJSON_AddNumberToObject(ev, "investigate", (double)sm->events_investigated);
	cJSON_AddItemToObject(j, "total", stats_json(&sm->total));
	cJSON *rules = cJSON_AddArrayToObject(j, "rules");
	for (size_t i = 0; i < sm->nrules; i++) {
		cJSON *x = stats_json(&sm->rules[i].s);
		cJSON_AddItemToObject(x, "rule", cJSON_CreateString(sm->rules[i].rule));
		cJSON_AddItemToArray(rules, x);
	}
	cJSON *ref = cJSON_AddArrayToObject(j, "refusals");
	for (size_t i = 0; i < sm->nrefusals; i++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "reason", sm->refusals[i].name);
		cJSON_AddNumberToObject(x, "count", (double)sm->refusals[i].n);
		cJSON_AddItemToArray(ref, x);
	}
	cJSON *in = cJSON_AddObjectToObject(j, "input");
	cJSON_AddNumberToObject(in, "records", (double)r->records);
	cJSON_AddNumberToObject(in, "unreadable", (double)(r->unreadable + r->too_long));
	char *s = cJSON_Print(j);
	puts(s);
	free(s);
	cJSON_Delete(j);
}

static void csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void csv_num(double v, const char *fmt)
{
	putchar(',');
	if (!isnan(v))
		printf(fmt, v);
}

static void csv_row(const char *kind, const char *rule, const char *reason, const rstats *s, uint64_t count)
{
	csv_field(kind);
	putchar(',');
	csv_field(rule);
	putchar(',');
	csv_field(reason);
	if (!s) {
		printf(",%llu,,,,,,,,,,,\n", (unsigned long long)count);
		return;
	}
	printf(",%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu", (unsigned long long)s->actions,
	       (unsigned long long)s->succeeded, (unsigned long long)s->failed,
	       (unsigned long long)s->timeout, (unsigned long long)s->interrupted,
	       (unsigned long long)s->refused, (unsigned long long)s->dry_run, (unsigned long long)s->other);
	csv_num(stats_ran(s) ? (double)s->succeeded / (double)stats_ran(s) : NAN, "%.4f");
	csv_num(percentile(s, 50), "%.1f");
	csv_num(percentile(s, 90), "%.1f");
	csv_num(percentile(s, 99), "%.1f");
	putchar('\n');
}

static void print_csv(const summary *sm)
{
	puts("kind,rule,reason,actions,succeeded,failed,timeout,interrupted,refused,dry_run,other,success_"
	     "rate,"
	     "p50_ms,p90_ms,p99_ms");
	for (size_t i = 0; i < sm->nrules; i++)
		csv_row("rule", sm->rules[i].rule, "", &sm->rules[i].s, 0);
	csv_row("total", "", "", &sm->total, 0);
	for (size_t i = 0; i < sm->nrefusals; i++)
		csv_row("refusal", "", sm->refusals[i].name, NULL, sm->refusals[i].n);
}

static void fmt_num(char *out, size_t len, double v, const char *fmt)
{
	if (isnan(v))
		snprintf(out, len, "-");
	else
		snprintf(out, len, fmt, v);
}

static void table_row(const char *name, const rstats *s)
{
	char rate[16], p50[24], p90[24], p99[24];
	fmt_num(rate, sizeof(rate), stats_ran(s) ? 100.0 * (double)s->succeeded / (double)stats_ran(s) : NAN,
		"%.1f%%");
	fmt_num(p50, sizeof(p50), percentile(s, 50), "%.0f");
	fmt_num(p90, sizeof(p90), percentile(s, 90), "%.0f");
	fmt_num(p99, sizeof(p99), percentile(s, 99), "%.0f");
	printf("%-32s %7llu %9llu %6llu %7llu %11llu %7llu %7llu %7s %8s %8s %8s\n", name,
	       (unsigned long long)s->actions, (unsigned long long)s->succeeded,
	       (unsigned long long)s->failed, (unsigned long long)s->timeout,
	       (unsigned long long)s->interrupted, (unsigned long long)s->refused,
	       (unsigned long long)s->dry_run, rate, p50, p90, p99);
}

static void print_window(const report_opts *o)
{
	char a[32] = "the beginning", b[32] = "now";
	if (o->since)
		rfx_iso8601(o->since, a);
	if (o->until)
		rfx_iso8601(o->until, b);
	printf("Reflex remediations from %s to %s", a, b);
	if (o->rule)
		printf(", rule %s", o->rule);
	if (o->entity)
		printf(", entity %s", o->entity);
	printf("\n\n");
}

static void print_table(const report_opts *o, const summary *sm)
{
	print_window(o);
	if (o->rule && o->entity)
		printf(
		    "%s acted on %s %llu times (%llu succeeded; %llu refused, %llu dry-run not counted)\n\n",
		    o->rule, o->entity, (unsigned long long)stats_ran(&sm->total),
		    (unsigned long long)sm->total.succeeded, (unsigned long long)sm->total.refused,
		    (unsigned long long)sm->total.dry_run);
	printf("events classified: %llu (a rule acted on %llu, %llu left to investigate)\n\n",
	       (unsigned long long)sm->events, (unsigned long long)sm->events_acted,
	       (unsigned long long)sm->events_investigated);
	printf("%-32s %7s %9s %6s %7s %11s %7s %7s %7s %8s %8s %8s\n", "rule", "actions", "succeeded",
	       "failed", "timeout", "interrupted", "refused", "dry-run", "success", "p50 ms", "p90 ms",
	       "p99 ms");
	for (size_t i = 0; i < sm->nrules; i++)
		table_row(sm->rules[i].rule, &sm->rules[i].s);
	table_row("(all rules)", &sm->total);
	if (!sm->nrefusals)
		return;
	printf("\n%-32s %7s\n", "refusals by reason", "count");
	for (size_t i = 0; i < sm->nrefusals; i++)
		printf("%-32s %7llu\n", sm->refusals[i].name, (unsigned long long)sm->refusals[i].n);
}

/* ---- command line ---- */

static int parse_when(const char *s, int64_t *out)
{
	int64_t d;
	if (!rfx_parse_duration(s, &d)) {
		*out = rfx_now_ms() - d;
		return 0;
	}
	return rfx_parse_time(s, out) ? -1 : 0;
}

static int add_prop(report_opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || o->props.n >= REPORT_MAX_PROPS)
		return -1;
	o->props.keys = rfx_realloc(o->props.keys, (o->props.n + 1) * sizeof(char *));
	o->props.values = rfx_realloc(o->props.values, (o->props.n + 1) * sizeof(char *));
	o->props.keys[o->props.n] = rfx_strndup(kv, (size_t)(eq - kv));
	o->props.values[o->props.n] = rfx_strdup(eq + 1);
	o->props.n++;
	return 0;
}

static void opts_free(report_opts *o)
{
	for (size_t i = 0; i < o->props.n; i++) {
		free(o->props.keys[i]);
		free(o->props.values[i]);
	}
	free(o->props.keys);
	free(o->props.values);
}

static int parse_opt(report_opts *o, int c, const char *arg)
{
	int64_t ms;
	switch (c) {
	case 's':
		return parse_when(arg, &o->since);
	case 'u':
		return parse_when(arg, &o->until);
	case 'r':
		o->rule = arg;
		return 0;
	case 'e':
		o->entity = arg;
		return 0;
	case 'j':
		o->format = OUT_JSON;
		return 0;
	case 'c':
		o->format = OUT_CSV;
		return 0;
	case 'k':
		o->brokers = arg;
		return 0;
	case 't':
		o->topic = arg;
		return 0;
	case 'p':
		return add_prop(o, arg);
	case 'T':
		if (rfx_parse_duration(arg, &ms) || ms <= 0 || ms > 24 * 3600 * 1000)
			return -1;
		o->timeout_ms = (int)ms;
		return 0;
	default:
		return -1;
	}
}

static int parse_args(int argc, char **argv, report_opts *o)
{
	static const struct option lo[] = {
	    {"since", required_argument, 0, 's'},
	    {"until", required_argument, 0, 'u'},
	    {"rule", required_argument, 0, 'r'},
	    {"entity", required_argument, 0, 'e'},
	    {"json", no_argument, 0, 'j'},
	    {"csv", no_argument, 0, 'c'},
	    {"kafka", required_argument, 0, 'k'},
	    {"topic", required_argument, 0, 't'},
	    {"kafka-property", required_argument, 0, 'p'},
	    {"timeout", required_argument, 0, 'T'},
	    {0, 0, 0, 0},
	};
	int c, idx = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		if (parse_opt(o, c, optarg)) {
			if (c != '?')
				fprintf(stderr, "reflex report: bad value for --%s: %s\n", lo[idx].name,
					optarg ? optarg : "");
			return -1;
		}
	}
	if (o->brokers && optind < argc) {
		fprintf(stderr, "reflex report: give either --kafka or files, not both\n");
		return -1;
	}
	if (!o->brokers && optind == argc && isatty(0)) {
		fprintf(stderr,
			"reflex report: no input: give log files, '-' for stdin, or --kafka BROKERS\n");
		return -1;
	}
	return 0;
}

static void print_report(const report_opts *o, const report *r)
{
	summary sm;
	summarise(r, o, &sm);
	if (o->format == OUT_JSON)
		print_json(o, &sm, r);
	else if (o->format == OUT_CSV)
		print_csv(&sm);
	else
		print_table(o, &sm);
	summary_free(&sm);
	if (r->unreadable || r->too_long || r->over_limit)
		fprintf(
		    stderr,
		    "reflex report: skipped %llu unreadable and %llu over-long lines, %llu records past %u\n",
		    (unsigned long long)r->unreadable, (unsigned long long)r->too_long,
		    (unsigned long long)r->over_limit, REPORT_MAX_ITEMS);
}

int cmd_report(int argc, char **argv)
{
	report_opts o = {.topic = "reflex.audit", .timeout_ms = REPORT_DEFAULT_TIMEOUT_MS};
	report r = {0};
	int status = CLI_OK;
	rfx_err rc = RFX_OK;
	if (parse_args(argc, argv, &o)) {
		cmd_report_usage(stderr);
		status = CLI_USAGE;
		goto out;
	}
	if (o.brokers)
		rc = ingest_kafka(&r, &o);
	else if (optind == argc)
		rc = ingest_file(&r, "-");
	for (int i = optind; !o.brokers && i < argc && !rc; i++)
		rc = ingest_file(&r, argv[i]);
	if (rc) {
		status = CLI_FAIL;
		goto out;
	}
	print_report(&o, &r);
out:
	report_free(&r);
	opts_free(&o);
	return status;
}
