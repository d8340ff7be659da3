/* forward.c -- the outbox sender: one thread posting each waiting problem to the classifier, oldest first. */
#include "forward.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"

#define FORWARD_TOKEN_REFRESH_MS 60000
#define FORWARD_LOG_EVERY_MS	 30000

struct forwarder {
	forward_opts o;
	char *url;
	char *token;
	int64_t token_read_ms;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned failures;
	int64_t last_fail_log_ms;
	metric *m_delivered, *m_dropped, *m_errors, *m_pending, *m_latency;
};

forward_verdict forward_classify(rfx_err transport, long status)
{
	if (transport || status == 0)
		return FWD_RETRY;
	if (status >= 200 && status < 300)
		return FWD_DELIVERED;
	/* A wrong token or a busy classifier is fixed on the other side; dropping would lose problems
	 * meanwhile. */
	if (status == 401 || status == 403 || status == 408 || status == 429)
		return FWD_RETRY;
	if (status >= 400 && status < 500)
		return FWD_DROP;
	return FWD_RETRY;
}

static void refresh_token(forwarder *f, bool force)
{
	char err[200] = "";
	char *tok = NULL;
	size_t len = 0;

	if (!f->o.token_file)
		return;
	if (!force && f->token && rfx_mono_ms() - f->token_read_ms < FORWARD_TOKEN_REFRESH_MS)
		return;
	f->token_read_ms = rfx_mono_ms();
	if (auth_read_secret(f->o.token_file, &tok, &len, err, sizeof(err))) {
		LOG_ERROR("cannot read classifier token", "path", f->o.token_file, "error", err);
		return;
	}
	free(f->token);
	f->token = tok;
}

/* Sleeps up to ms, returning early when stopping. */
static void nap(forwarder *f, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	while (!atomic_load(f->o.stop))
		if (pthread_cond_timedwait(&f->cv, &f->mu, &ts))
			break;
	pthread_mutex_unlock(&f->mu);
}

static long retry_delay(forwarder *f, long retry_after_ms)
{
	long d = f->o.retry_min_ms;
	for (unsigned i = 1; i < f->failures && d < f->o.retry_max_ms; i++)
		d *= 2;
	if (d > f->o.retry_max_ms)
		d = f->o.retry_max_ms;
	d = d / 2 + (long)(random() % (d / 2 + 1));
	if (retry_after_ms > d)
		d = retry_after_ms < 3600000 ? retry_after_ms : 3600000;
	return d;
}

static void describe(const outbox_record *rec, char *source_id, size_t sidlen, char *state, size_t stlen)
{
	cJSON *j = cJSON_Parse(rec->json);
	const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "source_id");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	snprintf(source_id, sidlen, "%s", cJSON_IsString(sid) ? sid->valuestring : "");
	snprintf(state, stlen, "%s", cJSON_IsString(st) ? st->valuestring : "");
	cJSON_Delete(j);
}

static void log_drop(const outbox_record *rec, const httpc_resp *resp)
{
	char sid[256], state[16], status[16], body[300];
	describe(rec, sid, sizeof(sid), state, sizeof(state));
	snprintf(status, sizeof(status), "%ld", resp->status);
	snprintf(body, sizeof(body), "%.*s", (int)(resp->body.len < 256 ? resp->body.len : 256),
		 resp->body.data ? resp->body.data : "");
	LOG_WARN("problem refused by the classifier, dropped", "feed", rec->feed, "source_id", sid, "state",
		 state, "status", status, "error", body);
}

static void log_failure(forwarder *f, const outbox_record *rec, rfx_err rc, const httpc_resp *resp,
			long delay)
{
	char status[16], delay_s[24], pending[24], fails[16];
	int64_t now = rfx_mono_ms();
	if (f->failures > 1 && now - f->last_fail_log_ms < FORWARD_LOG_EVERY_MS)
		return;
	f->last_fail_log_ms = now;
	snprintf(status, sizeof(status), "%ld", resp->status);
	snprintf(delay_s, sizeof(delay_s), "%ld", delay);
	snprintf(pending, sizeof(pending), "%zu", outbox_pending(f->o.ob));
	snprintf(fails, sizeof(fails), "%u", f->failures);
	LOG_WARN("classifier did not take the problem, will retry", "feed", rec->feed, "status", status,
		 "error", rc ? (resp->error[0] ? resp->error : rfx_strerror(rc)) : "", "retry_in_ms", delay_s,
		 "pending", pending, "failures", fails);
}

static rfx_err post(forwarder *f, const outbox_record *rec, httpc_resp *resp)
{
	char auth[4200];
	const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
	if (f->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
		headers[1] = auth;
	}
	httpc_req req = {
	    .method = "POST",
	    .url = f->url,
	    .headers = headers,
	    .body = rec->json,
	    .body_len = strlen(rec->json),
	    .timeout_ms = f->o.timeout_ms,
	    .connect_timeout_ms = f->o.timeout_ms < 3000 ? f->o.timeout_ms : 3000,
	    .max_response = 1 << 20,
	};
	rfx_err rc = httpc_do(&req, resp);
	explicit_bzero(auth, sizeof(auth));
	return rc;
}

/* One delivery attempt of the oldest record; returns false when the record must be retried. */
static bool deliver(forwarder *f, const outbox_record *rec)
{
	httpc_resp resp;
	memset(&resp, 0, sizeof(resp));
	double t0 = rfx_mono_sec();
	rfx_err rc = post(f, rec, &resp);
	forward_verdict v = forward_classify(rc, resp.status);
	bool done = v != FWD_RETRY;

	metrics_observe(f->m_latency, rfx_mono_sec() - t0);
	if (v == FWD_DELIVERED) {
		metrics_inc(f->m_delivered);
		f->failures = 0;
	} else if (v == FWD_DROP) {
		metrics_inc(f->m_dropped);
		log_drop(rec, &resp);
		f->failures = 0;
	} else {
		f->failures++;
		metrics_inc(f->m_errors);
		if (resp.status == 401 || resp.status == 403)
			refresh_token(f, true);
		long delay = retry_delay(
		    f, resp.status == 429 && resp.retry_after_s >= 0 ? resp.retry_after_s * 1000 : 0);
		log_failure(f, rec, rc, &resp, delay);
		httpc_resp_free(&resp);
		nap(f, delay);
		return false;
	}
	httpc_resp_free(&resp);
	if (f->failures == 0 && f->last_fail_log_ms) {
		LOG_INFO("classifier takes problems again", "feed", rec->feed);
		f->last_fail_log_ms = 0;
	}
	return done;
}

static void *forward_main(void *arg)
{
	forwarder *f = arg;
	outbox_record rec;

	while (!atomic_load(f->o.stop)) {
		metrics_set(f->m_pending, (double)outbox_pending(f->o.ob));
		if (outbox_peek(f->o.ob, 1000, &rec))
			continue;
		refresh_token(f, false);
		if (deliver(f, &rec))
			outbox_ack(f->o.ob, &rec);
		outbox_record_free(&rec);
	}
	metrics_set(f->m_pending, (double)outbox_pending(f->o.ob));
	return NULL;
}

rfx_err forward_start(const forward_opts *o, forwarder **out, char *err, size_t errlen)
{
	forwarder *f = rfx_calloc(1, sizeof(*f));
	size_t n = strlen(o->classifier_url);
	pthread_condattr_t ca;

	f->o = *o;
	while (n > 0 && o->classifier_url[n - 1] == '/')
		n--;
	f->url = rfx_asprintf("%.*s/v1/events", (int)n, o->classifier_url);
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	f->m_delivered =
	    metrics_counter("reflex_poller_forwarded_total", NULL, "Problems the classifier accepted");
	f->m_dropped = metrics_counter("reflex_poller_forward_dropped_total", NULL,
				       "Problems the classifier refused with a 4xx, dropped");
	f->m_errors = metrics_counter(
	    "reflex_poller_forward_errors_total", NULL,
	    "Delivery attempts that failed (no answer, 5xx, 401/403/408/429) and are retried");
	f->m_pending = metrics_gauge("reflex_poller_outbox_pending", NULL, "Problems waiting in the outbox");
	f->m_latency = metrics_histogram("reflex_poller_forward_duration_seconds", NULL,
					 "Time of each POST to the classifier");
	if (o->token_file) {
		char *tok = NULL;
		size_t len = 0;
		if (auth_read_secret(o->token_file, &tok, &len, err, errlen)) {
			forward_stop(f);
			return RFX_ERR_AUTH;
		}
		f->token = tok;
		f->token_read_ms = rfx_mono_ms();
	}
	if (pthread_create(&f->thr, NULL, forward_main, f)) {
		snprintf(err, errlen, "cannot start the forwarding thread");
		forward_stop(f);
		return RFX_ERR_INTERNAL;
	}
	*out = f;
	return RFX_OK;
}

void forward_stop(forwarder *f)
{
	if (!f)
		return;
	if (f->thr) {
		pthread_mutex_lock(&f->mu);
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		outbox_wake(f->o.ob);
		pthread_join(f->thr, NULL);
	}
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	if (f->token)
		explicit_bzero(f->token, strlen(f->token));
	free(f->token);
	free(f->url);
	free(f);
}
