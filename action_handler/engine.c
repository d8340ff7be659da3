/* engine.c -- the action handler's core. Locks: accept_mu serialises accept decisions (limits, idempotency,
 * compaction); mu guards the store, the run queue and every action's outcome. Order: accept_mu, then mu;
 * done_mu is a leaf. A state change is appended to the journal under mu (so snapshots of one action are in
 * order) and synced after. What must wait for a finished run to be durable (its audit record, write-back) is
 * handed to the finisher thread, so that a worker takes its next run at once. */
#include "engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "audit.h"
#include "auth.h"
#include "executor.h"
#include "journal.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "runq.h"
#include "store.h"
#include "target.h"
#include "writeback.h"

#define ENGINE_MAX_EXECUTORS 8
#define ENGINE_COMPACT_MIN   (16ull << 20)

/* A finished run whose follow-ups wait for its journal record to be on disk. */
typedef struct engine_done {
	uint64_t seq; /* 0: nothing to sync (the append failed) */
	cJSON *fin;   /* action.finished, when the run made the action final */
	char *wb_id;  /* the action to write back, when it has write-back to do */
	struct engine_done *next;
} engine_done;

struct engine {
	const ah_config *cfg;
	char *key;
	size_t keylen;
	journal *j;
	store *st;
	runq *q;
	limits *lim;
	writeback *wb;
	void *exec_ctx[ENGINE_MAX_EXECUTORS];
	pthread_mutex_t accept_mu, mu;
	pthread_cond_t work_cv, idle_cv;
	pthread_t *threads;
	size_t nthreads;
	bool paused, stopping;
	atomic_int cancel;
	size_t running;
	uint64_t compact_at;
	/* The finisher thread: syncs finished runs to disk, then emits their action.finished and starts
	 * write-back. */
	pthread_mutex_t done_mu;
	pthread_cond_t done_cv;
	engine_done *done_head, *done_tail;
	uint64_t sync_want, sync_done; /* journal records the finisher must sync, and has synced */
	bool done_stop, finisher_started;
	pthread_t finisher;
};

/* ---- metrics ---- */

static void engine_count(const char *name, const char *label, const char *value, const char *help)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "%s=\"%s\"", label, value);
	metrics_inc(metrics_counter(name, labels, help));
}

static void engine_gauges(engine *e)
{
	metrics_set(metrics_gauge("reflex_actions_queued", NULL, "Target runs waiting for a worker"),
		    (double)runq_queued(e->q));
	metrics_set(metrics_gauge("reflex_actions_running", NULL, "Target runs in progress"),
		    (double)e->running);
	metrics_set(metrics_gauge("reflex_actions_paused", NULL, "1 while the kill switch is on"), e->paused);
}

/* ---- journal ---- */

static rfx_err engine_persist(engine *e, const action *a, uint64_t *seq)
{
	cJSON *j = action_to_json(a, ACTION_VIEW_FULL);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	rfx_err rc = journal_append(e->j, s, strlen(s), seq);
	free(s);
	if (rc)
		LOG_ERROR("journal append failed", "action_id", a->id, "error", rfx_strerror(rc));
	return rc;
}

static rfx_err engine_compact_locked(engine *e)
{
	rfx_err rc = journal_rewrite_begin(e->j);
	for (action *a = store_oldest(e->st); a && !rc; a = a->newer) {
		cJSON *j = action_to_json(a, ACTION_VIEW_FULL);
		char *s = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		rc = journal_rewrite_add(e->j, s, strlen(s));
		free(s);
	}
	rc = rc ? rc : journal_rewrite_commit(e->j);
	if (rc)
		journal_rewrite_abort(e->j);
	uint64_t bytes = journal_bytes(e->j);
	e->compact_at = bytes * 2 + ENGINE_COMPACT_MIN;
	metrics_set(metrics_gauge("reflex_journal_bytes", NULL, "Size of the action journal"), (double)bytes);
	return rc;
}

/* Called with accept_mu held, so no accept is between its journal append and the store. */
static void engine_maybe_compact(engine *e)
{
	if (journal_bytes(e->j) < e->compact_at)
		return;
	pthread_mutex_lock(&e->mu);
	rfx_err rc = engine_compact_locked(e);
	pthread_mutex_unlock(&e->mu);
	if (rc)
		LOG_ERROR("journal compaction failed", "error", rfx_strerror(rc));
}

/* ---- audit ---- */

static cJSON *engine_audit_fields(const action *a)
{
	cJSON *f = cJSON_CreateObject();
	const char *keys[] = {"action_id", "event_id", "source", "source_id", "rule", "rule_version"};
	const char *vals[] = {a->id, a->event_id, a->source, a->source_id, a->rule, a->rule_version};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++)
		if (vals[i])
			cJSON_AddStringToObject(f, keys[i], vals[i]);
	cJSON_AddStringToObject(f, "mode", a->dry_run ? "dry-run" : "enforce");
	return f;
}

static cJSON *engine_audit_finished(const action *a)
{
	cJSON *f = engine_audit_fields(a);
	cJSON_AddStringToObject(f, "state", action_state_name(a->state));
	if (a->reason)
		cJSON_AddStringToObject(f, "reason", a->reason);
	if (a->started_ms && a->finished_ms)
		cJSON_AddNumberToObject(f, "duration_ms", (double)(a->finished_ms - a->started_ms));
	cJSON *res = cJSON_AddArrayToObject(f, "results");
	for (size_t i = 0; i < a->nruns; i++) {
		const action_run *r = &a->runs[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "target", r->target);
		cJSON_AddStringToObject(o, "state", action_state_name(r->state));
		if (r->reason)
			cJSON_AddStringToObject(o, "reason", r->reason);
		if (r->exit_status >= 0)
			cJSON_AddNumberToObject(o, "exit_status", r->exit_status);
		if (r->finished_ms && r->started_ms)
			cJSON_AddNumberToObject(o, "duration_ms", r->duration_ms);
		cJSON_AddItemToArray(res, o);
	}
	return f;
}

static char *engine_targets_csv(const action *a)
{
	rfx_buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < a->nruns; i++)
		if (buf_printf(&b, "%s%s", i ? "," : "", a->runs[i].target))
			break;
	return buf_steal(&b);
}

/* Logs, counts and audits a final action (under mu); returns the audit record to emit after unlocking. */
static cJSON *engine_finished(const action *a)
{
	char dur[32] = "";
	if (a->started_ms && a->finished_ms)
		snprintf(dur, sizeof(dur), "%lld", (long long)(a->finished_ms - a->started_ms));
	char *targets = engine_targets_csv(a);
	LOG_AT(a->state == ACTION_SUCCEEDED || a->state == ACTION_DRY_RUN ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
	       "action finished", "action_id", a->id, "event_id", a->event_id, "rule", a->rule, "source",
	       a->source, "source_id", a->source_id, "targets", targets, "state", action_state_name(a->state),
	       "reason", a->reason, "duration_ms", dur[0] ? dur : NULL);
	free(targets);
	engine_count("reflex_actions_total", "state", action_state_name(a->state), "Actions by final state");
	return engine_audit_finished(a);
}

/* ---- accepting ---- */

static void engine_reply_error(engine_reply *r, int status, const char *code, const char *msg,
			       const char *field)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(j, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (field && *field)
		cJSON_AddStringToObject(e, "field", field);
	r->status = status;
	r->body = j;
}

/* Fills what the request leaves to the handler (user, timeout, ports) and checks what depends on the config.
 */
static rfx_err engine_resolve(engine *e, action *a, request_error *re)
{
	if (!executor_find(a->type)) {
		snprintf(re->field, sizeof(re->field), "type");
		snprintf(re->message, sizeof(re->message), "no executor for action type \"%s\"", a->type);
		return RFX_ERR_INVAL;
	}
	if (a->timeout_ms > e->cfg->max_timeout) {
		snprintf(re->field, sizeof(re->field), "timeout");
		snprintf(re->message, sizeof(re->message), "timeout is above max_timeout (%.0f s)",
			 e->cfg->max_timeout / 1000.0);
		return RFX_ERR_INVAL;
	}
	if (!a->timeout_ms)
		a->timeout_ms = e->cfg->default_timeout;
	if (!a->user)
		a->user = rfx_strdup(e->cfg->ssh_user);
	for (size_t i = 0; i < a->nruns; i++) {
		action_run *r = &a->runs[i];
		target_addr t;
		char key[TARGET_KEY_MAX];
		target_parse(r->target, &t);
		target_key(&t, (int)e->cfg->ssh_port, key);
		r->key = rfx_strdup(key);
		if (!r->port)
			r->port = (int)e->cfg->ssh_port;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(a->runs[k].key, key))
				continue;
			snprintf(re->field, sizeof(re->field), "targets[%zu]", i);
			snprintf(re->message, sizeof(re->message), "the same target as targets[%zu]", k);
			return RFX_ERR_INVAL;
		}
	}
	return RFX_OK;
}

static const char *engine_disallowed(engine *e, const action *a)
{
	for (size_t i = 0; i < a->nruns; i++) {
		target_addr t;
		if (target_parse(a->runs[i].target, &t) ||
		    !target_allowed(&e->cfg->targets_allowed, &t, (int)e->cfg->ssh_port))
			return a->runs[i].target;
	}
	return NULL;
}

/* The policy decision, under accept_mu: NULL when accepted, else the refusal reason; *status the HTTP status.
 */
static const char *engine_decide(engine *e, const action *a, int64_t now, int *status, char *msg,
				 size_t msglen)
{
	const char *reason = NULL, *bad = engine_disallowed(e, a);
	*status = 409;
	if (bad) {
		*status = 403;
		snprintf(msg, msglen, "target %s is not in targets_allowed", bad);
		return "target_not_allowed";
	}
	if (e->paused) {
		snprintf(msg, msglen, "actions are paused (POST /v1/resume to resume)");
		return "paused";
	}
	if (limits_check(e->lim, a, now, &reason, msg, msglen))
		return reason;
	return NULL;
}

static void engine_mark(action *a, action_state st, const char *reason, const char *msg, int64_t now)
{
	a->state = st;
	a->received_ms = now;
	if (action_state_final(st))
		a->finished_ms = now;
	action_set_str(&a->reason, reason);
	action_set_str(&a->error, msg);
	for (size_t i = 0; i < a->nruns; i++)
		a->runs[i].state = st;
}

static void engine_reply_accepted(engine_reply *r, const action *a)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "action_id", a->id);
	cJSON_AddStringToObject(j, "state", action_state_name(a->state));
	r->status = 202;
	r->body = j;
}

static void engine_reply_refused(engine_reply *r, int status, const action *a)
{
	engine_reply_error(r, status, a->reason, a->error, NULL);
	cJSON_AddStringToObject(r->body, "action_id", a->id);
	cJSON_AddStringToObject(r->body, "state", "refused");
	cJSON_AddStringToObject(r->body, "reason", a->reason);
}

static void engine_log_accept(const action *a)
{
	char *targets = engine_targets_csv(a);
	char timeout[32];
	snprintf(timeout, sizeof(timeout), "%.3f", a->timeout_ms / 1000.0);
	if (a->state == ACTION_REFUSED)
		LOG_WARN("action refused", "action_id", a->id, "event_id", a->event_id, "rule", a->rule,
			 "source", a->source, "source_id", a->source_id, "targets", targets, "reason",
			 a->reason, "error", a->error);
	else
		LOG_INFO("action queued", "action_id", a->id, "event_id", a->event_id, "rule", a->rule,
			 "source", a->source, "source_id", a->source_id, "targets", targets, "mode",
			 a->dry_run ? "dry-run" : "enforce", "timeout_s", timeout);
	free(targets);
	if (a->state == ACTION_REFUSED)
		engine_count("reflex_actions_refused_total", "reason", a->reason,
			     "Refused actions by reason");
}

/* Stores a durable, decided action and queues its runs; returns audit records to emit. Under accept_mu. */
static void engine_admit(engine *e, action *a, cJSON **queued, cJSON **finished)
{
	pthread_mutex_lock(&e->mu);
	store_add(e->st, a);
	engine_log_accept(a);
	if (a->state != ACTION_REFUSED) {
		*queued = engine_audit_fields(a);
		cJSON *targets = cJSON_AddArrayToObject(*queued, "targets");
		for (size_t i = 0; i < a->nruns; i++)
			cJSON_AddItemToArray(targets, cJSON_CreateString(a->runs[i].target));
		cJSON_AddStringToObject(*queued, "command", a->command);
		/* Emitted before a worker can see the run, so action.queued always precedes action.started.
		 */
		audit_emit("action.queued", *queued);
		*queued = NULL;
	}
	if (a->state == ACTION_QUEUED) {
		for (size_t i = 0; i < a->nruns; i++) {
			runq_push(e->q, a, i, true);
			pthread_cond_signal(&e->work_cv); /* one worker per run: no herd of wake-ups */
		}
	} else {
		*finished = engine_finished(a);
	}
	store_trim(e->st);
	engine_gauges(e);
	pthread_mutex_unlock(&e->mu);
}

static bool engine_existing(engine *e, const char *id, engine_reply *r)
{
	pthread_mutex_lock(&e->mu);
	action *old = store_get(e->st, id);
	if (old) {
		r->status = 200;
		r->body = action_to_json(old, ACTION_VIEW_SUMMARY);
	}
	pthread_mutex_unlock(&e->mu);
	return old != NULL;
}

/* Under accept_mu: decide, make durable, admit. */
static void engine_accept(engine *e, action *a, engine_reply *r)
{
	char msg[256];
	int status;
	int64_t now = rfx_now_ms();
	cJSON *queued = NULL, *finished = NULL;
	const char *reason = engine_decide(e, a, now, &status, msg, sizeof(msg));
	if (!reason && !a->dry_run && !runq_has_room(e->q, a->nruns)) {
		/* Transient: nothing is stored, so the classifier's retry with the same action_id can
		 * succeed. */
		engine_reply_error(r, 503, "queue_full", "the run queue is full (queue_max); retry later",
				   NULL);
		action_free(a);
		return;
	}
	engine_mark(a,
		    reason	 ? ACTION_REFUSED
		    : a->dry_run ? ACTION_DRY_RUN
				 : ACTION_QUEUED,
		    reason, reason ? msg : NULL, now);
	uint64_t seq;
	if (engine_persist(e, a, &seq) || journal_sync(e->j, seq)) {
		engine_reply_error(r, 503, "journal_error",
				   "the action could not be made durable; retry later", NULL);
		action_free(a);
		return;
	}
	if (!reason)
		limits_record(e->lim, a, now);
	if (reason)
		engine_reply_refused(r, status, a);
	else
		engine_reply_accepted(r, a);
	engine_admit(e, a, &queued, &finished);
	if (queued)
		audit_emit("action.queued", queued);
	if (finished)
		audit_emit("action.finished", finished);
}

void engine_submit(engine *e, const char *body, size_t len, engine_reply *r)
{
	action *a = NULL;
	request_error re;
	r->status = 0;
	r->body = NULL;
	rfx_err rc = request_parse(body, len, &a, &re);
	if (!rc)
		rc = engine_resolve(e, a, &re);
	if (rc) {
		engine_reply_error(r, 400, rc == RFX_ERR_PARSE ? "invalid_json" : "invalid_request",
				   re.message, re.field);
		action_free(a);
		return;
	}
	pthread_mutex_lock(&e->accept_mu);
	if (engine_existing(e, a->id, r))
		action_free(a);
	else
		engine_accept(e, a, r);
	engine_maybe_compact(e);
	pthread_mutex_unlock(&e->accept_mu);
}

bool engine_signature_ok(const engine *e, const char *body, size_t len, const char *header)
{
	return header && auth_hmac_verify(e->key, e->keylen, body, len, header);
}

/* ---- running ---- */

static cJSON *engine_audit_started(const action *a, size_t i)
{
	cJSON *f = engine_audit_fields(a);
	cJSON_AddStringToObject(f, "target", a->runs[i].target);
	cJSON_AddStringToObject(f, "user", a->user);
	cJSON_AddStringToObject(f, "command", a->command);
	return f;
}

/* Marks run i running and appends it to the journal (under mu). It must be durable before the command starts
 * (engine_before_exec), so that a crash can only ever make it "interrupted", never run it twice. */
static rfx_err engine_run_start(engine *e, action *a, size_t i, uint64_t *seq)
{
	action_run *r = &a->runs[i];
	int64_t now = rfx_now_ms();
	r->state = ACTION_RUNNING;
	r->started_ms = now;
	if (a->state == ACTION_QUEUED) {
		a->state = ACTION_RUNNING;
		a->started_ms = now;
	}
	e->running++;
	char queue_ms[32];
	snprintf(queue_ms, sizeof(queue_ms), "%lld", (long long)(now - a->received_ms));
	LOG_INFO("action started", "action_id", a->id, "rule", a->rule, "target", r->target, "queue_ms",
		 queue_ms);
	metrics_observe(
	    metrics_histogram("reflex_action_queue_seconds", NULL, "From accepted to started, per target"),
	    (now - a->received_ms) / 1000.0);
	engine_gauges(e);
	return engine_persist(e, a, seq);
}

static void engine_store_result(action_run *r, exec_res *res)
{
	r->state = res->state;
	action_set_str(&r->reason, res->state == ACTION_SUCCEEDED ? NULL : res->reason);
	action_set_str(&r->error, res->state == ACTION_SUCCEEDED || !res->error[0] ? NULL : res->error);
	r->exit_status = res->exit_status;
	r->verify_exit_status = res->verify_exit_status;
	action_output_set(&r->out, res->out.buf.data, res->out.buf.len, res->out.truncated);
	action_output_set(&r->err, res->err.buf.data, res->err.buf.len, res->err.truncated);
	action_output_set(&r->verify_out, res->verify_out.buf.data, res->verify_out.buf.len,
			  res->verify_out.truncated);
	r->finished_ms = rfx_now_ms();
	r->duration_ms = res->duration_ms;
}

static void engine_log_run(const action *a, const action_run *r)
{
	char exit[16] = "", dur[32];
	if (r->exit_status >= 0)
		snprintf(exit, sizeof(exit), "%d", r->exit_status);
	snprintf(dur, sizeof(dur), "%.1f", r->duration_ms);
	LOG_AT(r->state == ACTION_SUCCEEDED ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "action target finished",
	       "action_id", a->id, "rule", a->rule, "target", r->target, "state", action_state_name(r->state),
	       "reason", r->reason, "exit_status", exit[0] ? exit : NULL, "duration_ms", dur, "error",
	       r->error);
	engine_count("reflex_action_runs_total", "state", action_state_name(r->state),
		     "Target runs by final state");
	metrics_observe(
	    metrics_histogram("reflex_action_run_duration_seconds", NULL, "Command plus verify, per target"),
	    r->duration_ms / 1000.0);
}

/* Records run i's result (under mu); when it was the last run, finalises the action and plans write-back.
 * Returns the action.finished audit record when the action became final. */
static cJSON *engine_run_finish(engine *e, action *a, size_t i, exec_res *res, uint64_t *seq, bool *wb)
{
	action_run *r = &a->runs[i];
	cJSON *fin = NULL;
	engine_store_result(r, res);
	engine_log_run(a, r);
	e->running--;
	runq_done(e->q, r->key);
	if (action_runs_final(a)) {
		action_summarise(a);
		a->finished_ms = rfx_now_ms();
		writeback_plan(e->wb, a);
		fin = engine_finished(a);
	}
	*wb = fin && action_wb_pending(a);
	if (engine_persist(e, a, seq))
		*seq = 0;
	pthread_cond_signal(&e->work_cv); /* the target may have its next run ready */
	pthread_cond_broadcast(&e->idle_cv);
	engine_gauges(e);
	store_trim(e->st);
	return fin;
}

/* ---- the finisher ---- */

/* Hands a finished run's follow-ups (fin owned) to the finisher: they run once seq is on disk. */
static void engine_done_push(engine *e, uint64_t seq, cJSON *fin, const char *wb_id)
{
	engine_done *d = rfx_calloc(1, sizeof(*d));
	d->seq = seq;
	d->fin = fin;
	d->wb_id = wb_id ? rfx_strdup(wb_id) : NULL;
	pthread_mutex_lock(&e->done_mu);
	if (e->done_tail)
		e->done_tail->next = d;
	else
		e->done_head = d;
	e->done_tail = d;
	if (seq > e->sync_want)
		e->sync_want = seq;
	pthread_cond_signal(&e->done_cv);
	pthread_mutex_unlock(&e->done_mu);
}

static void engine_done_run(engine *e, engine_done *d)
{
	while (d) {
		engine_done *next = d->next;
		if (d->fin)
			audit_emit("action.finished", d->fin);
		if (d->wb_id)
			writeback_enqueue(e->wb, d->wb_id);
		free(d->wb_id);
		free(d);
		d = next;
	}
}

static bool engine_finisher_idle(const engine *e)
{
	return !e->done_head && e->sync_want <= e->sync_done;
}

/* Every record up to sync_want is synced before the follow-ups taken with it run: one fdatasync covers them
 * all, and the journal's group commit shares it with the workers' own syncs. */
static void *engine_finisher(void *arg)
{
	engine *e = arg;
	pthread_mutex_lock(&e->done_mu);
	for (;;) {
		while (!e->done_stop && engine_finisher_idle(e))
			pthread_cond_wait(&e->done_cv, &e->done_mu);
		if (e->done_stop && engine_finisher_idle(e))
			break;
		uint64_t want = e->sync_want;
		engine_done *list = e->done_head;
		e->done_head = e->done_tail = NULL;
		pthread_mutex_unlock(&e->done_mu);
		if (want > e->sync_done && journal_sync(e->j, want))
			LOG_ERROR("journal sync failed");
		engine_done_run(e, list);
		pthread_mutex_lock(&e->done_mu);
		if (want > e->sync_done)
			e->sync_done = want;
	}
	pthread_mutex_unlock(&e->done_mu);
	return NULL;
}

static void engine_stop_finisher(engine *e)
{
	if (!e->finisher_started)
		return;
	pthread_mutex_lock(&e->done_mu);
	e->done_stop = true;
	pthread_cond_signal(&e->done_cv);
	pthread_mutex_unlock(&e->done_mu);
	pthread_join(e->finisher, NULL);
	e->finisher_started = false;
}

typedef struct engine_durable {
	engine *e;
	uint64_t seq;
} engine_durable;

static rfx_err engine_before_exec(void *ud)
{
	engine_durable *d = ud;
	return journal_sync(d->e->j, d->seq);
}

static void engine_execute(engine *e, const action *a, size_t i, uint64_t seq, exec_res *res)
{
	engine_durable d = {e, seq};
	const executor_ops *ops = executor_find(a->type);
	size_t k = 0;
	while (executor_at(k) != ops)
		k++;
	exec_req req = {
	    .host = a->runs[i].host,
	    .port = a->runs[i].port,
	    .user = a->user,
	    .command = a->command,
	    .verify = a->verify,
	    .timeout_ms = a->timeout_ms,
	    .cancel = &e->cancel,
	    .before_exec = engine_before_exec,
	    .ud = &d,
	};
	ops->run(e->exec_ctx[k], &req, res);
}

/* One job: start, execute outside the lock, finish. The executor syncs the start to disk (before_exec) while
 * its request to open the channel is on the way, and sends the command only after. The finish is synced by
 * the finisher, which then emits action.finished and starts write-back, while this worker takes its next
 * run. Called and returns with mu held. */
static void engine_run(engine *e, action *a, size_t i)
{
	uint64_t seq = 0;
	exec_res res;
	exec_res_init(&res, (size_t)e->cfg->output_max_bytes);
	rfx_err rc = engine_run_start(e, a, i, &seq);
	cJSON *started = engine_audit_started(a, i);
	pthread_mutex_unlock(&e->mu);
	audit_emit("action.started", started);
	if (rc)
		exec_res_fail(&res, ACTION_FAILED, "journal_error",
			      "the start could not be journaled; not run");
	else
		engine_execute(e, a, i, seq,
			       &res); /* a's request fields are immutable: safe without the lock */
	bool wb = false;
	char id[80];
	snprintf(id, sizeof(id), "%s", a->id);
	pthread_mutex_lock(&e->mu);
	cJSON *fin =
	    engine_run_finish(e, a, i, &res, &seq, &wb); /* a may be gone afterwards (history trim) */
	pthread_mutex_unlock(&e->mu);
	exec_res_free(&res);
	engine_done_push(e, seq, fin, wb ? id : NULL);
	pthread_mutex_lock(&e->mu);
}

static void *engine_worker(void *arg)
{
	engine *e = arg;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		action *a = NULL;
		size_t i = 0;
		while (!e->stopping && (e->paused || !runq_pop(e->q, &a, &i)))
			pthread_cond_wait(&e->work_cv, &e->mu);
		if (e->stopping)
			break;
		engine_run(e, a, i);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* ---- write-back hooks ---- */

static cJSON *engine_wb_snapshot(void *ud, const char *id)
{
	engine *e = ud;
	pthread_mutex_lock(&e->mu);
	action *a = store_get(e->st, id);
	cJSON *j = a ? action_to_json(a, ACTION_VIEW_FULL) : NULL;
	pthread_mutex_unlock(&e->mu);
	return j;
}

static void engine_wb_record(void *ud, const char *id, size_t step, wb_state state, int attempts,
			     const wb_attempt *att)
{
	engine *e = ud;
	uint64_t seq = 0;
	pthread_mutex_lock(&e->mu);
	action *a = store_get(e->st, id);
	if (a && step < a->nwb) {
		action_wb *w = &a->wb[step];
		w->state = state;
		w->attempts = attempts;
		w->status = att->status;
		action_set_str(&w->error, state == WB_DONE ? NULL : att->error);
		if (state != WB_PENDING)
			w->done_ms = rfx_now_ms();
		if (engine_persist(e, a, &seq))
			seq = 0;
		store_trim(e->st); /* a finished write-back may let an old action go */
	}
	pthread_mutex_unlock(&e->mu);
	if (seq)
		journal_sync(e->j, seq);
}

/* ---- queries ---- */

cJSON *engine_get(engine *e, const char *id)
{
	pthread_mutex_lock(&e->mu);
	action *a = store_get(e->st, id);
	cJSON *j = a ? action_to_json(a, ACTION_VIEW_FULL) : NULL;
	pthread_mutex_unlock(&e->mu);
	return j;
}

static bool engine_matches(const action *a, const engine_filter *f)
{
	if (f->state && strcmp(action_state_name(a->state), f->state))
		return false;
	if (f->rule && strcmp(a->rule, f->rule))
		return false;
	if (!f->target)
		return true;
	for (size_t i = 0; i < a->nruns; i++)
		if (!strcmp(a->runs[i].target, f->target) ||
		    (a->runs[i].key && !strcmp(a->runs[i].key, f->target)))
			return true;
	return false;
}

cJSON *engine_list(engine *e, const engine_filter *f)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "actions");
	size_t n = 0;
	pthread_mutex_lock(&e->mu);
	for (action *a = store_newest(e->st); a && n < f->limit; a = a->older) {
		if (!engine_matches(a, f))
			continue;
		cJSON_AddItemToArray(arr, action_to_json(a, ACTION_VIEW_SUMMARY));
		n++;
	}
	pthread_mutex_unlock(&e->mu);
	cJSON_AddNumberToObject(j, "count", (double)n);
	return j;
}

rfx_err engine_set_paused(engine *e, bool paused)
{
	pthread_mutex_lock(&e->accept_mu);
	rfx_err rc = journal_set_paused(e->j, paused);
	if (!rc) {
		pthread_mutex_lock(&e->mu);
		e->paused = paused;
		pthread_cond_broadcast(&e->work_cv);
		engine_gauges(e);
		pthread_mutex_unlock(&e->mu);
	}
	pthread_mutex_unlock(&e->accept_mu);
	if (rc)
		LOG_ERROR("cannot record the pause flag", "error", rfx_strerror(rc));
	else if (paused)
		LOG_WARN("actions paused");
	else
		LOG_INFO("actions resumed");
	return rc;
}

cJSON *engine_status(engine *e)
{
	cJSON *j = cJSON_CreateObject();
	pthread_mutex_lock(&e->mu);
	cJSON_AddBoolToObject(j, "paused", e->paused);
	cJSON_AddNumberToObject(j, "queued", (double)runq_queued(e->q));
	cJSON_AddNumberToObject(j, "running", (double)e->running);
	cJSON_AddNumberToObject(j, "workers", (double)e->nthreads);
	cJSON_AddNumberToObject(j, "actions", (double)store_count(e->st));
	pthread_mutex_unlock(&e->mu);
	cJSON_AddNumberToObject(j, "journal_bytes", (double)journal_bytes(e->j));
	return j;
}

/* ---- recovery ---- */

typedef struct engine_replay_ctx {
	engine *e;
	size_t records, bad;
} engine_replay_ctx;

static void engine_replay_line(const char *rec, size_t len, void *ud)
{
	engine_replay_ctx *c = ud;
	char err[200];
	action *a = NULL;
	cJSON *j = cJSON_ParseWithLength(rec, len);
	c->records++;
	if (!j || action_from_json(j, &a, err, sizeof(err))) {
		c->bad++;
		LOG_WARN("journal record skipped", "error", j ? err : "not JSON");
	} else {
		store_replace(c->e->st, a);
	}
	cJSON_Delete(j);
}

/* A run that was running when the handler stopped is never re-run: its outcome is unknown. */
static void engine_recover_action(engine *e, action *a, int64_t now, size_t *interrupted, size_t *queued)
{
	for (size_t i = 0; i < a->nruns; i++) {
		action_run *r = &a->runs[i];
		if (!r->key) {
			target_addr t;
			char key[TARGET_KEY_MAX];
			target_parse(r->target, &t);
			target_key(&t, (int)e->cfg->ssh_port, key);
			r->key = rfx_strdup(key);
		}
		if (!r->port)
			r->port = (int)e->cfg->ssh_port;
		if (r->state == ACTION_RUNNING) {
			r->state = ACTION_INTERRUPTED;
			action_set_str(&r->reason, "restart");
			action_set_str(&r->error, "the action handler stopped while this ran; not run again");
			r->finished_ms = now;
			(*interrupted)++;
		} else if (r->state == ACTION_QUEUED && !action_state_final(a->state)) {
			runq_push(e->q, a, i, true);
			(*queued)++;
		}
	}
	if (a->state != ACTION_REFUSED)
		limits_record(e->lim, a, a->received_ms ? a->received_ms : now);
}

static rfx_err engine_recover(engine *e)
{
	engine_replay_ctx c = {.e = e};
	size_t torn = 0, interrupted = 0, queued = 0, pending_wb = 0;
	rfx_err rc = journal_replay(e->j, engine_replay_line, &c, &torn);
	if (rc)
		return rc;
	int64_t now = rfx_now_ms();
	cJSON *finished[64];
	size_t nfin = 0;
	for (action *a = store_oldest(e->st); a; a = a->newer) {
		engine_recover_action(e, a, now, &interrupted, &queued);
		if (!action_state_final(a->state) && action_runs_final(a)) {
			action_summarise(a);
			a->finished_ms = now;
			writeback_plan(e->wb, a);
			cJSON *f = engine_finished(a);
			if (nfin < RFX_ARRAY_LEN(finished))
				finished[nfin++] = f;
			else
				audit_emit("action.finished", f);
		}
		pending_wb += action_wb_pending(a);
	}
	store_trim(e->st);
	rc = engine_compact_locked(e); /* the interrupted states are durable before anything runs */
	for (size_t i = 0; i < nfin; i++)
		audit_emit("action.finished", finished[i]);
	char n1[24], n2[24], n3[24], n4[24], n5[24];
	snprintf(n1, sizeof(n1), "%zu", store_count(e->st));
	snprintf(n2, sizeof(n2), "%zu", queued);
	snprintf(n3, sizeof(n3), "%zu", interrupted);
	snprintf(n4, sizeof(n4), "%zu", c.bad + torn);
	snprintf(n5, sizeof(n5), "%zu", pending_wb);
	LOG_INFO("journal replayed", "actions", n1, "queued", n2, "interrupted", n3, "skipped", n4,
		 "writeback_pending", n5);
	return rc;
}

static void engine_resume_writeback(engine *e)
{
	pthread_mutex_lock(&e->mu);
	for (action *a = store_oldest(e->st); a; a = a->newer)
		if (action_state_final(a->state) && action_wb_pending(a))
			writeback_enqueue(e->wb, a->id);
	pthread_mutex_unlock(&e->mu);
}

/* ---- lifetime ---- */

static rfx_err engine_open_executors(engine *e, char *err, size_t errlen)
{
	for (size_t i = 0; i < executor_count() && i < ENGINE_MAX_EXECUTORS; i++) {
		rfx_err rc = executor_at(i)->open(e->cfg, &e->exec_ctx[i], err, errlen);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static rfx_err engine_start_workers(engine *e, char *err, size_t errlen)
{
	e->threads = rfx_calloc((size_t)e->cfg->workers, sizeof(*e->threads));
	for (long long i = 0; i < e->cfg->workers; i++) {
		if (pthread_create(&e->threads[i], NULL, engine_worker, e)) {
			snprintf(err, errlen, "cannot start worker threads");
			return RFX_ERR_INTERNAL;
		}
		e->nthreads++;
	}
	return RFX_OK;
}

static rfx_err engine_load_key(engine *e, char *err, size_t errlen)
{
	char kerr[200];
	if (!e->cfg->hmac_key_file) {
		snprintf(err, errlen, "hmac_key_file: required (the key the classifier signs actions with)");
		return RFX_ERR_INVAL;
	}
	if (auth_read_secret(e->cfg->hmac_key_file, &e->key, &e->keylen, kerr, sizeof(kerr))) {
		snprintf(err, errlen, "hmac_key_file: %s", kerr);
		return RFX_ERR_INVAL;
	}
	if (e->keylen < 16) {
		snprintf(err, errlen, "hmac_key_file: the key must be at least 16 bytes");
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}

rfx_err engine_open(const ah_config *cfg, engine **out, char *err, size_t errlen)
{
	static const wb_hooks hooks = {.snapshot = engine_wb_snapshot, .record = engine_wb_record};
	engine *e = rfx_calloc(1, sizeof(*e));
	rfx_err rc;
	e->cfg = cfg;
	pthread_mutex_init(&e->accept_mu, NULL);
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->work_cv, NULL);
	pthread_cond_init(&e->idle_cv, NULL);
	pthread_mutex_init(&e->done_mu, NULL);
	pthread_cond_init(&e->done_cv, NULL);
	e->st = store_new((size_t)cfg->history_size);
	e->q = runq_new((size_t)cfg->queue_max);
	e->lim = limits_new();
	if ((rc = engine_load_key(e, err, errlen)) ||
	    (rc = journal_open(cfg->spool_dir, &e->j, err, errlen)) ||
	    (rc = writeback_open(cfg, &hooks, e, &e->wb, err, errlen)) ||
	    (rc = engine_open_executors(e, err, errlen)))
		goto out;
	e->paused = journal_paused(e->j);
	if ((rc = engine_recover(e))) {
		snprintf(err, errlen, "cannot replay or compact the journal in %s", cfg->spool_dir);
		goto out;
	}
	if (!cfg->targets_allowed.n)
		LOG_WARN("targets_allowed is empty: every action will be refused");
	if (e->paused)
		LOG_WARN("actions are paused (kill switch on since before the restart)");
	engine_gauges(e);
	engine_resume_writeback(e);
	if (pthread_create(&e->finisher, NULL, engine_finisher, e)) {
		snprintf(err, errlen, "cannot start the finisher thread");
		rc = RFX_ERR_INTERNAL;
		goto out;
	}
	e->finisher_started = true;
	rc = engine_start_workers(e, err, errlen);
out:
	if (rc) {
		engine_close(e);
		e = NULL;
	}
	*out = e;
	return rc;
}

/* Gives running commands shutdown_grace to finish, then cuts them off; they are recorded as interrupted. */
static void engine_drain(engine *e)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t grace = e->cfg->shutdown_grace;
	ts.tv_sec += grace / 1000;
	ts.tv_nsec += (grace % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	pthread_cond_broadcast(&e->work_cv);
	while (e->running && pthread_cond_timedwait(&e->idle_cv, &e->mu, &ts) == 0)
		;
	if (e->running)
		LOG_WARN("cutting off running actions at shutdown");
	atomic_store(&e->cancel, 1);
	pthread_mutex_unlock(&e->mu);
}

void engine_close(engine *e)
{
	if (!e)
		return;
	engine_drain(e);
	for (size_t i = 0; i < e->nthreads; i++)
		pthread_join(e->threads[i], NULL);
	free(e->threads);
	engine_stop_finisher(e); /* after the workers: it runs their last follow-ups */
	writeback_close(e->wb);
	for (size_t i = 0; i < executor_count() && i < ENGINE_MAX_EXECUTORS; i++)
		if (e->exec_ctx[i])
			executor_at(i)->close(e->exec_ctx[i]);
	journal_close(e->j);
	store_free(e->st);
	runq_free(e->q);
	limits_free(e->lim);
	if (e->key)
		memset(e->key, 0, e->keylen);
	free(e->key);
	pthread_mutex_destroy(&e->accept_mu);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->work_cv);
	pthread_cond_destroy(&e->idle_cv);
	pthread_mutex_destroy(&e->done_mu);
	pthread_cond_destroy(&e->done_cv);
	free(e);
}
