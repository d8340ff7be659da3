/* runner.h -- one thread per feed: polls on its interval, backs off on failure, compares what the feed
 * reports with the feed's state and commits new, changed and resolved problems to the outbox. */
#ifndef POLLER_RUNNER_H
#define POLLER_RUNNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "feed.h"
#include "metrics.h"
#include "outbox.h"
#include "state.h"

typedef struct runner {
	const feed_cfg *cfg;
	const char *state_dir;
	outbox *ob;
	atomic_bool *stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	bool started;
	feed_state st;

	/* one poll */
	FILE *stage;
	char *stage_path;
	size_t staged, staged_bytes, reported, count_new, count_changed, count_resolved;
	bool dirty, complete;
	char err[FEED_ERR_MAX];

	unsigned failures;
	long retry_after_ms; /* from the last poll's 429, -1 when none */
	metric *m_polls, *m_errors, *m_problems, *m_last_success, *m_duration, *m_rejected, *m_full;
	metric *m_queued_open, *m_queued_resolved, *m_pending;
} runner;

/* Loads the feed's state; does not start polling. */
rfx_err runner_init(runner *r, const feed_cfg *cfg, const char *state_dir, outbox *ob, atomic_bool *stop,
		    char *err, size_t errlen);
/* One poll cycle, synchronously (tests and the benchmark call this directly). */
rfx_err runner_cycle(runner *r);
rfx_err runner_start(runner *r);
void runner_wake(runner *r); /* after setting *stop */
void runner_join(runner *r);
void runner_free(runner *r);

/* The delay before the next poll after `failures` consecutive failures (0: the interval), jittered. */
int64_t runner_next_delay(const feed_cfg *cfg, unsigned failures, long retry_after_ms);

#endif
