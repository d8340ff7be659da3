/* writeback.c -- plans write-back steps for finished actions and performs them on one background thread,
 * oldest due first, with exponential backoff between retries. */
#include "writeback.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "audit.h"
#include "buf.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"

#define WRITEBACK_BACKOFF_MAX_MS (5LL * 60 * 1000)

static const wb_sink_ops *const sinks[] = {&wb_opsgenie_ops, &wb_dynatrace_ops, &wb_webhook_ops};
#define NSINKS (sizeof(sinks) / sizeof(sinks[0]))

typedef struct wb_job {
	char *id;
	int64_t due_ms;
	struct wb_job *next;
} wb_job;

struct writeback {
	const ah_config *cfg;
	wb_hooks hooks;
	void *ud;
	void *ctx[NSINKS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	wb_job *jobs;
	size_t njobs;
	bool stop;
	pthread_t thread;
	bool started;
};

static const wb_sink_ops *writeback_sink(const writeback *w, const char *name, void **ctx)
{
	for (size_t i = 0; i < NSINKS; i++) {
		if (!strcmp(sinks[i]->name, name)) {
			*ctx = w->ctx[i];
			return sinks[i];
		}
	}
	*ctx = NULL;
	return NULL;
}

void writeback_plan(writeback *w, action *a)
{
	if (a->state == ACTION_REFUSED || a->state == ACTION_DRY_RUN || !action_state_final(a->state))
		return;
	for (size_t i = 0; i < NSINKS; i++) {
		const char *ops[WRITEBACK_MAX_STEPS];
		if (!w->ctx[i])
			continue;
		size_t n = sinks[i]->plan(w->ctx[i], a, ops, WRITEBACK_MAX_STEPS);
		if (!n)
			continue;
		a->wb = rfx_realloc(a->wb, (a->nwb + n) * sizeof(*a->wb));
		for (size_t k = 0; k < n; k++) {
			action_wb *s = &a->wb[a->nwb++];
			memset(s, 0, sizeof(*s));
			s->sink = rfx_strdup(sinks[i]->name);
			s->op = rfx_strdup(ops[k]);
		}
	}
}

static void writeback_push(writeback *w, const char *id, int64_t due_ms)
{
	pthread_mutex_lock(&w->mu);
	if (w->njobs >= WRITEBACK_MAX_JOBS) {
		pthread_mutex_unlock(&w->mu);
		LOG_ERROR("writeback queue full; the steps stay pending until restart", "action_id", id);
		return;
	}
	wb_job *j = rfx_calloc(1, sizeof(*j));
	j->id = rfx_strdup(id);
	j->due_ms = due_ms;
	j->next = w->jobs;
	w->jobs = j;
	w->njobs++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void writeback_enqueue(writeback *w, const char *action_id)
{
	writeback_push(w, action_id, rfx_mono_ms());
}

/* Takes the job due first; NULL when none is due (*wait_ms says for how long to sleep). */
static wb_job *writeback_take_due(writeback *w, int64_t *wait_ms)
{
	wb_job **best = NULL;
	for (wb_job **p = &w->jobs; *p; p = &(*p)->next)
		if (!best || (*p)->due_ms < (*best)->due_ms)
			best = p;
	*wait_ms = 1000;
	if (!best)
		return NULL;
	int64_t now = rfx_mono_ms();
	if ((*best)->due_ms > now) {
		*wait_ms = (*best)->due_ms - now;
		return NULL;
	}
	wb_job *j = *best;
	*best = j->next;
	w->njobs--;
	return j;
}

static int64_t writeback_delay(const writeback *w, int attempts, const wb_attempt *att)
{
	int64_t d = w->cfg->writeback_backoff;
	for (int i = 1; i < attempts && d < WRITEBACK_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > WRITEBACK_BACKOFF_MAX_MS)
		d = WRITEBACK_BACKOFF_MAX_MS;
	if (att->retry_after_s > 0 && att->retry_after_s * 1000 > d)
		d = att->retry_after_s > 3600 ? 3600 * 1000LL : att->retry_after_s * 1000;
	return d;
}

static void writeback_observe(const cJSON *a, const char *sink, const char *op, wb_state st, int attempts,
			      const wb_attempt *att)
{
	char labels[96], status[16], tries[16];
	const char *result = st == WB_DONE ? "done" : st == WB_FAILED ? "failed" : "retry";
	snprintf(labels, sizeof(labels), "sink=\"%s\",result=\"%s\"", sink, result);
	metrics_inc(metrics_counter("reflex_writeback_total", labels, "Write-back calls by sink and result"));
	snprintf(status, sizeof(status), "%ld", att->status);
	snprintf(tries, sizeof(tries), "%d", attempts);
	const char *id = writeback_str(a, "action_id");
	if (st == WB_DONE)
		LOG_INFO("writeback done", "action_id", id, "sink", sink, "op", op, "status", status,
			 "attempts", tries);
	else
		LOG_WARN(st == WB_FAILED ? "writeback failed" : "writeback retry", "action_id", id, "sink",
			 sink, "op", op, "status", status, "attempts", tries, "error", att->error);
	if (st == WB_PENDING)
		return;
	cJSON *f = cJSON_CreateObject();
	const char *keys[] = {"action_id", "event_id", "source", "source_id", "rule"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++)
		if (writeback_str(a, keys[i]))
			cJSON_AddStringToObject(f, keys[i], writeback_str(a, keys[i]));
	cJSON_AddStringToObject(f, "sink", sink);
	cJSON_AddStringToObject(f, "op", op);
	cJSON_AddStringToObject(f, "result", result);
	cJSON_AddNumberToObject(f, "status", (double)att->status);
	cJSON_AddNumberToObject(f, "attempts", attempts);
	if (st == WB_FAILED)
		cJSON_AddStringToObject(f, "error", att->error);
	audit_emit("writeback.done", f);
}

/* Performs pending steps in order; returns the delay before the next try, or 0 when none is left. */
static int64_t writeback_steps(writeback *w, const char *id, cJSON *a)
{
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(a, "writeback");
	size_t i = 0;
	const cJSON *s;
	cJSON_ArrayForEach(s, steps)
	{
		size_t step = i++;
		const char *sink = writeback_str(s, "sink"), *op = writeback_str(s, "op");
		const char *state = writeback_str(s, "state");
		if (!sink || !op || !state || strcmp(state, "pending"))
			continue;
		const cJSON *at = cJSON_GetObjectItemCaseSensitive(s, "attempts");
		int attempts = (cJSON_IsNumber(at) ? at->valueint : 0) + 1;
		wb_attempt att = {.retry_after_s = -1};
		void *ctx;
		const wb_sink_ops *ops = writeback_sink(w, sink, &ctx);
		rfx_err rc = RFX_ERR_UNAVAILABLE;
		if (!ops || !ctx) {
			att.permanent = true;
			snprintf(att.error, sizeof(att.error), "sink %s is not configured", sink);
		} else {
			rc = ops->send(ctx, op, a, &att);
		}
		wb_state st = rc == RFX_OK					      ? WB_DONE
			      : att.permanent || attempts > w->cfg->writeback_retries ? WB_FAILED
										      : WB_PENDING;
		w->hooks.record(w->ud, id, step, st, attempts, &att);
		writeback_observe(a, sink, op, st, attempts, &att);
		if (st == WB_PENDING)
			return writeback_delay(w, attempts, &att);
	}
	return 0;
}

static void writeback_run(writeback *w, wb_job *j)
{
	cJSON *a = w->hooks.snapshot(w->ud, j->id);
	int64_t delay = a ? writeback_steps(w, j->id, a) : 0;
	cJSON_Delete(a);
	if (delay > 0)
		writeback_push(w, j->id, rfx_mono_ms() + delay);
}

static void *writeback_main(void *arg)
{
	writeback *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		int64_t wait_ms;
		wb_job *j = writeback_take_due(w, &wait_ms);
		if (!j) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait_ms / 1000;
			ts.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&w->mu);
		writeback_run(w, j);
		free(j->id);
		free(j);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

rfx_err writeback_open(const ah_config *cfg, const wb_hooks *hooks, void *ud, writeback **out, char *err,
		       size_t errlen)
{
	writeback *w = rfx_calloc(1, sizeof(*w));
	rfx_err rc = RFX_OK;
	w->cfg = cfg;
	w->hooks = *hooks;
	w->ud = ud;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (size_t i = 0; i < NSINKS && !rc; i++) {
		rc = sinks[i]->open(cfg, &w->ctx[i], err, errlen);
		if (!rc && w->ctx[i])
			LOG_INFO("writeback sink enabled", "sink", sinks[i]->name);
	}
	if (!rc && pthread_create(&w->thread, NULL, writeback_main, w)) {
		snprintf(err, errlen, "cannot start the writeback thread");
		rc = RFX_ERR_INTERNAL;
	}
	w->started = !rc;
	if (rc) {
		writeback_close(w);
		w = NULL;
	}
	*out = w;
	return rc;
}

void writeback_close(writeback *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	while (w->jobs) {
		wb_job *next = w->jobs->next;
		free(w->jobs->id);
		free(w->jobs);
		w->jobs = next;
	}
	for (size_t i = 0; i < NSINKS; i++)
		if (w->ctx[i])
			sinks[i]->close(w->ctx[i]);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* ---- helpers for the sinks ---- */

const char *writeback_str(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool writeback_succeeded(const cJSON *action)
{
	const char *st = writeback_str(action, "state");
	return st && !strcmp(st, "succeeded");
}

const cJSON *writeback_followup(const cJSON *action)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(action, writeback_succeeded(action) ? "on_success"
											      : "on_failure");
	return cJSON_IsObject(f) ? f : NULL;
}

static void writeback_note_run(rfx_buf *b, const cJSON *r)
{
	const char *target = writeback_str(r, "target"), *state = writeback_str(r, "state");
	const char *reason = writeback_str(r, "reason"), *error = writeback_str(r, "error");
	const cJSON *exit = cJSON_GetObjectItemCaseSensitive(r, "exit_status");
	const cJSON *dur = cJSON_GetObjectItemCaseSensitive(r, "duration_ms");
	buf_printf(b, "\n%s: %s", target ? target : "?", state ? state : "?");
	if (reason)
		buf_printf(b, " (%s)", reason);
	if (cJSON_IsNumber(exit))
		buf_printf(b, ", exit %d", exit->valueint);
	if (cJSON_IsNumber(dur))
		buf_printf(b, ", %.1f s", dur->valuedouble / 1000.0);
	if (error)
		buf_printf(b, ": %.200s", error);
}

char *writeback_note(const cJSON *action)
{
	rfx_buf b;
	buf_init(&b, WRITEBACK_NOTE_MAX);
	const char *note = writeback_str(writeback_followup(action), "note");
	const char *rule = writeback_str(action, "rule"), *state = writeback_str(action, "state");
	const char *id = writeback_str(action, "action_id");
	if (note && *note)
		buf_printf(&b, "%.2000s\n\n", note);
	buf_printf(&b, "Reflex: rule %s %s (action %s).", rule ? rule : "?", state ? state : "?",
		   id ? id : "?");
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(action, "results"))
	{
		if (b.len > WRITEBACK_NOTE_MAX - 400)
			break;
		writeback_note_run(&b, r);
	}
	return buf_steal(&b);
}

char *writeback_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = rfx_malloc(n * 3 + 1), *p = out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

bool writeback_source_in(const cfg_strlist *sources, const char *source)
{
	for (size_t i = 0; source && i < sources->n; i++)
		if (!strcmp(sources->v[i], source))
			return true;
	return false;
}

static void writeback_redact(char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *p;
	while (n && (p = strstr(s, secret)))
		memset(p, '*', n);
}

rfx_err writeback_http(const ah_config *cfg, const char *url, const char *const *headers, const char *body,
		       const char *secret, wb_attempt *att)
{
	httpc_req req = {
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout_ms = (long)cfg->writeback_timeout,
	    .connect_timeout_ms = (long)(cfg->writeback_timeout < 3000 ? cfg->writeback_timeout : 3000),
	    .max_response = 1 << 20,
	    .ca_file = cfg->writeback_ca_file,
	};
	httpc_resp resp;
	memset(&resp, 0, sizeof(resp));
	rfx_err rc = httpc_do(&req, &resp);
	att->status = resp.status;
	att->retry_after_s = resp.retry_after_s;
	if (rc) {
		snprintf(att->error, sizeof(att->error), "%s", resp.error[0] ? resp.error : rfx_strerror(rc));
	} else if (resp.status < 200 || resp.status > 299) {
		rc = RFX_ERR_UNAVAILABLE;
		att->permanent =
		    resp.status >= 400 && resp.status < 500 && resp.status != 408 && resp.status != 429;
		snprintf(att->error, sizeof(att->error), "HTTP %ld: %.200s", resp.status,
			 buf_cstr(&resp.body));
	}
	httpc_resp_free(&resp);
	writeback_redact(att->error, secret);
	return rc;
}
