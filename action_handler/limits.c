/* limits.c -- the safety-limit ledger. Cooldowns and attempts are keyed by rule, so each rule's own limits
 * apply to its own history; per-hour counts one per target run, since that is what reaches hosts. */
#include "limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "idmap.h"

typedef struct limits_attempts {
	long long n;
	int64_t last_ms;
} limits_attempts;

typedef struct limits_ring {
	int64_t *ts;
	size_t cap, head, n;
} limits_ring;

struct limits {
	idmap *cooldown; /* rule \x1f target key -> int64_t * last accepted */
	idmap *attempts; /* rule \x1f source \x1f source_id -> limits_attempts */
	idmap *hourly;	 /* rule -> limits_ring */
	int64_t last_sweep_ms;
};

static void limits_ring_free(void *p)
{
	limits_ring *r = p;
	if (r)
		free(r->ts);
	free(r);
}

limits *limits_new(void)
{
	limits *l = rfx_calloc(1, sizeof(*l));
	l->cooldown = idmap_new();
	l->attempts = idmap_new();
	l->hourly = idmap_new();
	return l;
}

void limits_free(limits *l)
{
	if (!l)
		return;
	idmap_free(l->cooldown, free);
	idmap_free(l->attempts, free);
	idmap_free(l->hourly, limits_ring_free);
	free(l);
}

static char *limits_cooldown_key(const action *a, const action_run *r)
{
	return rfx_asprintf("%s\x1f%s", a->rule, r->key ? r->key : r->target);
}

/* NULL when the action names no problem: max_attempts cannot apply then. */
static char *limits_attempts_key(const action *a)
{
	const char *problem = a->source_id && *a->source_id ? a->source_id : a->event_id;
	if (!problem || !*problem)
		return NULL;
	return rfx_asprintf("%s\x1f%s\x1f%s", a->rule, a->source ? a->source : "", problem);
}

static void limits_ring_prune(limits_ring *r, int64_t now_ms)
{
	while (r->n && r->ts[r->head] <= now_ms - LIMITS_HOUR_MS) {
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
}

static void limits_ring_push(limits_ring *r, int64_t ms)
{
	if (r->n == r->cap && r->cap < LIMITS_HOUR_CAP) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		int64_t *ts = rfx_malloc(cap * sizeof(*ts));
		for (size_t i = 0; i < r->n; i++)
			ts[i] = r->ts[(r->head + i) % r->cap];
		free(r->ts);
		r->ts = ts;
		r->cap = cap;
		r->head = 0;
	}
	if (r->n == r->cap) { /* full at the cap: the oldest goes, the count stays saturated */
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
	r->ts[(r->head + r->n) % r->cap] = ms;
	r->n++;
}

static rfx_err limits_refuse(const char **reason, const char *why, char *msg, size_t msglen, const char *fmt,
			     ...) __attribute__((format(printf, 5, 6)));

static rfx_err limits_refuse(const char **reason, const char *why, char *msg, size_t msglen, const char *fmt,
			     ...)
{
	va_list ap;
	*reason = why;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return RFX_ERR_REFUSED;
}

static rfx_err limits_check_cooldown(limits *l, const action *a, int64_t now_ms, const char **reason,
				     char *msg, size_t msglen)
{
	if (a->limits.cooldown_ms == ACTION_NO_LIMIT)
		return RFX_OK;
	for (size_t i = 0; i < a->nruns; i++) {
		char *key = limits_cooldown_key(a, &a->runs[i]);
		int64_t *last = idmap_get(l->cooldown, key);
		free(key);
		if (last && now_ms - *last < a->limits.cooldown_ms)
			return limits_refuse(reason, "cooldown", msg, msglen,
					     "rule %s acted on %s %.0f s ago (cooldown %.0f s)", a->rule,
					     a->runs[i].target, (now_ms - *last) / 1000.0,
					     a->limits.cooldown_ms / 1000.0);
	}
	return RFX_OK;
}

static rfx_err limits_check_attempts(limits *l, const action *a, const char **reason, char *msg,
				     size_t msglen)
{
	if (a->limits.max_attempts == ACTION_NO_LIMIT)
		return RFX_OK;
	char *key = limits_attempts_key(a);
	if (!key)
		return RFX_OK;
	limits_attempts *at = idmap_get(l->attempts, key);
	free(key);
	if (at && at->n >= a->limits.max_attempts)
		return limits_refuse(reason, "max_attempts", msg, msglen,
				     "rule %s already acted %lld times on this problem (max_attempts %lld)",
				     a->rule, at->n, a->limits.max_attempts);
	return RFX_OK;
}

static rfx_err limits_check_hourly(limits *l, const action *a, int64_t now_ms, const char **reason, char *msg,
				   size_t msglen)
{
	if (a->limits.max_per_hour == ACTION_NO_LIMIT)
		return RFX_OK;
	limits_ring *r = idmap_get(l->hourly, a->rule);
	size_t n = 0;
	if (r) {
		limits_ring_prune(r, now_ms);
		n = r->n;
	}
	if ((long long)(n + a->nruns) > a->limits.max_per_hour)
		return limits_refuse(
		    reason, "max_per_hour", msg, msglen,
		    "rule %s ran %zu times in the last hour; %zu more would pass max_per_hour %lld", a->rule,
		    n, a->nruns, a->limits.max_per_hour);
	return RFX_OK;
}

static bool limits_stale(const char *key, void *val, void *ud)
{
	(void)key;
	int64_t cutoff = *(const int64_t *)ud;
	if (*(int64_t *)val >= cutoff)
		return false;
	free(val);
	return true;
}

static bool limits_stale_attempts(const char *key, void *val, void *ud)
{
	(void)key;
	if (((limits_attempts *)val)->last_ms >= *(const int64_t *)ud)
		return false;
	free(val);
	return true;
}

static bool limits_stale_ring(const char *key, void *val, void *ud)
{
	(void)key;
	limits_ring *r = val;
	limits_ring_prune(r, *(const int64_t *)ud + LIMITS_HOUR_MS);
	if (r->n)
		return false;
	limits_ring_free(r);
	return true;
}

/* Forgets old entries at most once a minute, and only once the ledger has grown. */
static void limits_sweep(limits *l, int64_t now_ms)
{
	size_t n = idmap_count(l->cooldown) + idmap_count(l->attempts) + idmap_count(l->hourly);
	if (n < 10000 || now_ms - l->last_sweep_ms < 60000)
		return;
	l->last_sweep_ms = now_ms;
	int64_t cutoff = now_ms - LIMITS_KEEP_MS, hour = now_ms - LIMITS_HOUR_MS;
	idmap_sweep(l->cooldown, limits_stale, &cutoff);
	idmap_sweep(l->attempts, limits_stale_attempts, &cutoff);
	idmap_sweep(l->hourly, limits_stale_ring, &hour);
}

rfx_err limits_check(limits *l, const action *a, int64_t now_ms, const char **reason, char *msg,
		     size_t msglen)
{
	rfx_err rc;
	limits_sweep(l, now_ms);
	if (a->limits.max_targets != ACTION_NO_LIMIT && (long long)a->nruns > a->limits.max_targets)
		return limits_refuse(reason, "max_targets", msg, msglen, "%zu targets, rule %s allows %lld",
				     a->nruns, a->rule, a->limits.max_targets);
	if ((rc = limits_check_cooldown(l, a, now_ms, reason, msg, msglen)) ||
	    (rc = limits_check_attempts(l, a, reason, msg, msglen)) ||
	    (rc = limits_check_hourly(l, a, now_ms, reason, msg, msglen)))
		return rc;
	if (idmap_count(l->cooldown) + a->nruns > LIMITS_MAX_KEYS ||
	    idmap_count(l->attempts) >= LIMITS_MAX_KEYS)
		return limits_refuse(reason, "limits_full", msg, msglen, "the limits ledger is full");
	return RFX_OK;
}

void limits_record(limits *l, const action *a, int64_t at_ms)
{
	for (size_t i = 0; i < a->nruns; i++) {
		char *key = limits_cooldown_key(a, &a->runs[i]);
		int64_t *last = idmap_get(l->cooldown, key);
		if (!last) {
			last = rfx_malloc(sizeof(*last));
			*last = at_ms;
			idmap_put(l->cooldown, key, last);
		} else if (at_ms > *last) {
			*last = at_ms;
		}
		free(key);
	}
	char *key = limits_attempts_key(a);
	if (key) {
		limits_attempts *at = idmap_get(l->attempts, key);
		if (!at) {
			at = rfx_calloc(1, sizeof(*at));
			idmap_put(l->attempts, key, at);
		}
		at->n++;
		if (at_ms > at->last_ms)
			at->last_ms = at_ms;
		free(key);
	}
	limits_ring *r = idmap_get(l->hourly, a->rule);
	if (!r) {
		r = rfx_calloc(1, sizeof(*r));
		idmap_put(l->hourly, a->rule, r);
	}
	for (size_t i = 0; i < a->nruns; i++)
		limits_ring_push(r, at_ms);
}
