/* runner.c -- a feed's poll loop: schedule and backoff, the comparison with the feed's state, and the commit.
 */
#include "runner.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

#define RUNNER_RETRY_AFTER_MAX_MS 3600000L

static metric *feed_metric(metric *(*mk)(const char *, const char *, const char *), const char *name,
			   const char *feed, const char *extra, const char *help)
{
	char labels[160];
	snprintf(labels, sizeof(labels), "feed=\"%s\"%s", feed, extra ? extra : "");
	return mk(name, labels, help);
}

static void init_metrics(runner *r)
{
	const char *n = r->cfg->name;
	r->m_polls = feed_metric(metrics_counter, "reflex_poller_polls_total", n, NULL, "Polls of the feed");
	r->m_errors =
	    feed_metric(metrics_counter, "reflex_poller_poll_errors_total", n, NULL, "Failed polls");
	r->m_problems = feed_metric(metrics_gauge, "reflex_poller_problems", n, NULL,
				    "Open problems the feed reported in its last successful poll");
	r->m_last_success = feed_metric(metrics_gauge, "reflex_poller_last_success_timestamp_seconds", n,
					NULL, "Time of the last successful poll (Unix seconds)");
	r->m_duration = feed_metric(metrics_histogram, "reflex_poller_poll_duration_seconds", n, NULL,
				    "Duration of a full poll (all pages)");
	r->m_rejected = feed_metric(metrics_counter, "reflex_poller_items_rejected_total", n, NULL,
				    "Problems in a feed's answer the normalizer could not read");
	r->m_full = feed_metric(metrics_counter, "reflex_poller_outbox_full_total", n, NULL,
				"Polls not committed because the outbox was full");
	r->m_pending = metrics_gauge("reflex_poller_outbox_pending", NULL, "Problems waiting in the outbox");
	r->m_queued_open =
	    feed_metric(metrics_counter, "reflex_poller_problems_queued_total", n, ",state=\"open\"",
			"Problems queued for the classifier (new or changed, and resolved)");
	r->m_queued_resolved =
	    feed_metric(metrics_counter, "reflex_poller_problems_queued_total", n, ",state=\"resolved\"",
			"Problems queued for the classifier (new or changed, and resolved)");
}

rfx_err runner_init(runner *r, const feed_cfg *cfg, const char *state_dir, outbox *ob, atomic_bool *stop,
		    char *err, size_t errlen)
{
	pthread_condattr_t ca;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->state_dir = state_dir;
	r->ob = ob;
	r->stop = stop;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->stage_path = rfx_asprintf("%s/%s.stage", state_dir, cfg->name);
	init_metrics(r);
	rfx_err rc = state_open(&r->st, state_dir, cfg->name, cfg->type, err, errlen);
	if (!rc)
		metrics_set(r->m_problems, (double)r->st.n);
	return rc;
}

static void log_queued(runner *r, const char *source_id, const char *state, const char *change)
{
	LOG_INFO("problem queued", "feed", r->cfg->name, "source_id", source_id, "state", state, "change",
		 change);
}

static rfx_err stage_json(runner *r, const char *json)
{
	size_t len = strlen(json);
	if (fwrite(json, 1, len, r->stage) != len || fputc('\n', r->stage) == EOF) {
		snprintf(r->err, sizeof(r->err), "%s: cannot write: %s", r->stage_path, strerror(errno));
		return RFX_ERR_IO;
	}
	r->staged++;
	r->staged_bytes += len + 1;
	return RFX_OK;
}

static char *print_json(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	if (!s)
		abort(); /* cJSON only fails to print on allocation failure */
	return s;
}

/* Stages ev for the classifier (with its raw payload, unless that makes it too large) and, when stored is not
 * NULL, returns the form the state keeps. One JSON tree serves both, and raw is referenced, not copied. */
static rfx_err stage_event(runner *r, const event *ev, char **stored)
{
	cJSON *j = event_to_json(ev, false);
	rfx_err rc = RFX_OK;
	char *s = NULL;

	if (ev->raw) {
		cJSON_AddItemReferenceToObject(j, "raw", ev->raw);
		s = print_json(j);
		cJSON_DeleteItemFromObjectCaseSensitive(j, "raw"); /* frees the reference node only */
		if (strlen(s) > OUTBOX_MAX_RECORD)
			RFX_FREE(s);
	}
	if (!s)
		s = print_json(j);
	if (strlen(s) > OUTBOX_MAX_RECORD)
		LOG_WARN("problem too large to forward, skipped", "feed", r->cfg->name, "source_id",
			 ev->source_id);
	else
		rc = stage_json(r, s);
	free(s);
	if (!rc && stored) {
		cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
		*stored = print_json(j);
	}
	cJSON_Delete(j);
	if (!rc)
		metrics_inc(ev->state == EV_RESOLVED ? r->m_queued_resolved : r->m_queued_open);
	return rc;
}

static const char *known_rev(feed_poll *p, const char *source_id)
{
	runner *r = p->ud;
	const state_entry *e = state_get(&r->st, source_id);
	return e ? e->rev : NULL;
}

static const char *rev_owner(void *ud, const char *rev)
{
	runner *r = ud;
	const state_entry *e = state_by_rev(&r->st, rev);
	return e ? e->source_id : NULL;
}

static rfx_err item_resolved(runner *r, const feed_item *it, state_entry *e)
{
	if (!e)
		return RFX_OK; /* closed before this poller ever saw it open: nothing to resolve */
	rfx_err rc = stage_event(r, it->ev, NULL);
	if (rc)
		return rc;
	log_queued(r, it->source_id, "resolved", "resolved");
	r->count_resolved++;
	state_remove(&r->st, it->source_id);
	r->dirty = true;
	return RFX_OK;
}

static rfx_err item_open(runner *r, const feed_item *it, state_entry *e)
{
	uint64_t d = state_digest(it->ev);
	if (e && e->digest == d) {
		e->seen = r->st.cycle;
		/* a new rev alone is not worth a state write: it only saves work; the next change saves it */
		state_set_rev(&r->st, e, it->rev);
		return RFX_OK;
	}
	char *stored = NULL;
	rfx_err rc = stage_event(r, it->ev, &stored);
	if (rc)
		return rc;
	log_queued(r, it->source_id, "open", e ? "changed" : "new");
	if (e)
		r->count_changed++;
	else
		r->count_new++;
	e = state_put(&r->st, it->source_id);
	e->digest = d;
	e->seen = r->st.cycle;
	state_set_rev(&r->st, e, it->rev);
	free(e->json);
	e->json = stored;
	r->dirty = true;
	return RFX_OK;
}

static rfx_err process_item(runner *r, const feed_item *it)
{
	state_entry *e = state_get(&r->st, it->source_id);

	if (e && e->seen == r->st.cycle)
		return RFX_OK; /* reported twice in one poll (pages shifted meanwhile) */
	if (it->suppressed || !it->ev) {
		/* unchanged by rev yet unknown (state lost meanwhile?): do not trust absences this time */
		if (e)
			e->seen = r->st.cycle;
		else if (!it->suppressed)
			r->complete = false;
		return RFX_OK;
	}
	if (it->ev->state == EV_RESOLVED)
		return item_resolved(r, it, e);
	return item_open(r, it, e);
}

static rfx_err on_page(feed_poll *p, feed_page *pg)
{
	runner *r = p->ud;
	rfx_err rc = RFX_OK;

	if (pg->rejected) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", pg->rejected);
		metrics_add(r->m_rejected, (double)pg->rejected);
		LOG_WARN("problems in the feed's answer not understood, skipped", "feed", r->cfg->name,
			 "count", n, "error", pg->reject_reason);
		r->complete = false; /* an unreadable problem is not a resolved one */
	}
	for (size_t i = 0; i < pg->n && !rc; i++) {
		if (++r->reported > (size_t)r->cfg->max_problems) {
			snprintf(p->err, sizeof(p->err), "more than %lld problems (max_problems)",
				 r->cfg->max_problems);
			rc = RFX_ERR_LIMIT;
			break;
		}
		rc = process_item(r, &pg->items[i]);
		if (rc)
			snprintf(p->err, sizeof(p->err), "%s", r->err);
	}
	feed_page_reset(pg);
	return rc;
}

typedef struct gone_list {
	char **ids;
	size_t n, cap;
	uint32_t cycle;
} gone_list;

static void collect_gone(state_entry *e, void *ud)
{
	gone_list *g = ud;
	if (e->seen == g->cycle)
		return;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 16;
		g->ids = rfx_realloc(g->ids, g->cap * sizeof(char *));
	}
	g->ids[g->n++] = e->source_id;
}

/* The stored event of a problem the feed no longer reports, as a resolution. */
static char *resolution_json(const state_entry *e)
{
	char id[27];
	cJSON *j = cJSON_Parse(e->json ? e->json : "{}");
	if (!j)
		j = cJSON_CreateObject();
	rfx_ulid(id);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
	cJSON_DeleteItemFromObjectCaseSensitive(j, "state");
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddStringToObject(j, "state", "resolved");
	if (!cJSON_GetObjectItemCaseSensitive(j, "source_id"))
		cJSON_AddStringToObject(j, "source_id", e->source_id);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		abort();
	return s;
}

static rfx_err resolve_gone(runner *r)
{
	gone_list g = {.cycle = r->st.cycle};
	rfx_err rc = RFX_OK;

	state_foreach(&r->st, collect_gone, &g);
	for (size_t i = 0; i < g.n && !rc; i++) {
		state_entry *e = state_get(&r->st, g.ids[i]);
		char *s = resolution_json(e);
		rc = stage_json(r, s);
		free(s);
		if (rc)
			break;
		metrics_inc(r->m_queued_resolved);
		log_queued(r, e->source_id, "resolved", "gone");
		r->count_resolved++;
		state_remove(&r->st, g.ids[i]); /* frees the id g.ids[i] points to */
		r->dirty = true;
	}
	free(g.ids);
	return rc;
}

static rfx_err save_with_commit(void *ud, const char *commit)
{
	runner *r = ud;
	char old[27];
	memcpy(old, r->st.commit, sizeof(old));
	snprintf(r->st.commit, sizeof(r->st.commit), "%s", commit);
	rfx_err rc = state_save(&r->st, r->err, sizeof(r->err));
	if (rc)
		memcpy(r->st.commit, old, sizeof(old));
	return rc;
}

static rfx_err commit(runner *r)
{
	if (!r->staged)
		return r->dirty ? state_save(&r->st, r->err, sizeof(r->err)) : RFX_OK;
	fflush(r->stage);
	rfx_err rc = outbox_commit(r->ob, r->cfg->name, r->stage, r->staged, r->staged_bytes,
				   save_with_commit, r, r->err, sizeof(r->err));
	if (rc == RFX_ERR_LIMIT)
		metrics_inc(r->m_full);
	if (!rc)
		metrics_set(r->m_pending, (double)outbox_pending(r->ob));
	return rc;
}

static rfx_err read_secret(const feed_cfg *c, char **secret, char *err, size_t errlen)
{
	size_t len = 0;
	char why[200] = "";
	*secret = NULL;
	if (!c->token_file)
		return RFX_OK;
	if (auth_read_secret(c->token_file, secret, &len, why, sizeof(why))) {
		snprintf(err, errlen, "token_file: %s", why);
		return RFX_ERR_AUTH;
	}
	return RFX_OK;
}

static rfx_err begin(runner *r)
{
	r->st.cycle++;
	r->staged = r->staged_bytes = r->reported = 0;
	r->count_new = r->count_changed = r->count_resolved = 0;
	r->dirty = false;
	r->complete = true;
	r->err[0] = 0;
	r->stage = fopen(r->stage_path, "w+");
	if (!r->stage) {
		snprintf(r->err, sizeof(r->err), "%s: %s", r->stage_path, strerror(errno));
		return RFX_ERR_IO;
	}
	return RFX_OK;
}

static void finish(runner *r, rfx_err rc)
{
	char err[FEED_ERR_MAX] = "";
	if (r->stage) {
		fclose(r->stage);
		r->stage = NULL;
		unlink(r->stage_path);
	}
	if (rc && r->dirty && state_reload(&r->st, err, sizeof(err)))
		LOG_ERROR("cannot reload feed state", "feed", r->cfg->name, "error", err);
}

static void log_cycle(runner *r, const feed_poll *p, double secs)
{
	char n[24], nn[24], nc[24], nr[24], ms[24], req[24];
	snprintf(n, sizeof(n), "%zu", r->st.n);
	snprintf(nn, sizeof(nn), "%zu", r->count_new);
	snprintf(nc, sizeof(nc), "%zu", r->count_changed);
	snprintf(nr, sizeof(nr), "%zu", r->count_resolved);
	snprintf(ms, sizeof(ms), "%.1f", secs * 1000);
	snprintf(req, sizeof(req), "%ld", p->requests);
	if (r->count_new || r->count_changed || r->count_resolved)
		LOG_INFO("poll done", "feed", r->cfg->name, "problems", n, "new", nn, "changed", nc,
			 "resolved", nr, "requests", req, "duration_ms", ms);
	else
		LOG_DEBUG("poll done", "feed", r->cfg->name, "problems", n, "new", nn, "changed", nc,
			  "resolved", nr, "requests", req, "duration_ms", ms);
}

static rfx_err cycle(runner *r, feed_poll *p)
{
	char *secret = NULL;
	rfx_err rc = read_secret(r->cfg, &secret, p->err, sizeof(p->err));
	if (rc)
		return rc;
	p->secret = secret;
	rc = begin(r);
	if (rc)
		snprintf(p->err, sizeof(p->err), "%s", r->err);
	if (!rc)
		rc = r->cfg->ft->poll(p);
	if (p->incomplete)
		r->complete = false;
	if (!rc && r->complete)
		rc = resolve_gone(r);
	if (!rc) {
		rc = commit(r);
		if (rc)
			snprintf(p->err, sizeof(p->err), "%s", r->err);
	}
	finish(r, rc);
	if (secret)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	p->secret = NULL;
	return rc;
}

rfx_err runner_cycle(runner *r)
{
	feed_poll p = {.cfg = r->cfg,
		       .on_page = on_page,
		       .known_rev = known_rev,
		       .rev_owner = rev_owner,
		       .ud = r,
		       .stop = r->stop,
		       .retry_after_ms = -1};
	double t0 = rfx_mono_sec();
	rfx_err rc = cycle(r, &p);
	double secs = rfx_mono_sec() - t0;

	metrics_inc(r->m_polls);
	metrics_observe(r->m_duration, secs);
	snprintf(r->err, sizeof(r->err), "%s", p.err);
	r->failures = rc ? r->failures + 1 : 0;
	r->retry_after_ms = p.retry_after_ms;
	if (rc) {
		metrics_inc(r->m_errors);
		return rc;
	}
	metrics_set(r->m_problems, (double)r->st.n);
	metrics_set(r->m_last_success, (double)rfx_now_ms() / 1000.0);
	log_cycle(r, &p, secs);
	return RFX_OK;
}

int64_t runner_next_delay(const feed_cfg *cfg, unsigned failures, long retry_after_ms)
{
	int64_t d = cfg->interval_ms;
	if (failures > 0) {
		int64_t b = cfg->backoff_min_ms;
		for (unsigned i = 1; i < failures && b < cfg->backoff_max_ms; i++)
			b *= 2;
		if (b > cfg->backoff_max_ms)
			b = cfg->backoff_max_ms;
		b = b / 2 +
		    (int64_t)(random() % (b / 2 + 1)); /* jitter: feeds failing together retry apart */
		if (b > d)
			d = b;
	}
	if (retry_after_ms > d)
		d = retry_after_ms < RUNNER_RETRY_AFTER_MAX_MS ? retry_after_ms : RUNNER_RETRY_AFTER_MAX_MS;
	return d;
}

static void wait_ms(runner *r, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	while (!atomic_load(r->stop))
		if (pthread_cond_timedwait(&r->cv, &r->mu, &ts))
			break;
	pthread_mutex_unlock(&r->mu);
}

static void log_failure(runner *r, rfx_err rc, int64_t delay)
{
	char d[24], f[16];
	snprintf(d, sizeof(d), "%lld", (long long)delay);
	snprintf(f, sizeof(f), "%u", r->failures);
	LOG_WARN("poll failed", "feed", r->cfg->name, "type", r->cfg->type, "status", rfx_strerror(rc),
		 "error", r->err, "failures", f, "retry_in_ms", d);
}

static void *runner_main(void *arg)
{
	runner *r = arg;
	while (!atomic_load(r->stop)) {
		rfx_err rc = runner_cycle(r);
		if (atomic_load(r->stop))
			break;
		int64_t delay = runner_next_delay(r->cfg, r->failures, r->retry_after_ms);
		if (rc)
			log_failure(r, rc, delay);
		wait_ms(r, delay);
	}
	return NULL;
}

rfx_err runner_start(runner *r)
{
	if (pthread_create(&r->thr, NULL, runner_main, r))
		return RFX_ERR_INTERNAL;
	r->started = true;
	return RFX_OK;
}

void runner_wake(runner *r)
{
	pthread_mutex_lock(&r->mu);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void runner_join(runner *r)
{
	if (r->started)
		pthread_join(r->thr, NULL);
	r->started = false;
}

void runner_free(runner *r)
{
	state_close(&r->st);
	free(r->stage_path);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
}
