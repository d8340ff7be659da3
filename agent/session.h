/* session.h -- the agent's side of the report protocol: sequence numbers under one boot id, deltas against
 * the last report the classifier acknowledged, a full report every N and after any failure, and backoff
 * between failures. */
#ifndef AGENT_SESSION_H
#define AGENT_SESSION_H

#include "report.h"

typedef struct session {
	char node[256];
	char boot_id[27]; /* a new ULID each time the agent starts */
	uint64_t seq;	  /* of the last report built */
	int64_t interval_ms;
	unsigned full_every; /* scans between full reports */
	unsigned since_full;
	bool need_full;
	report_state acked; /* what the classifier holds */
	unsigned failures;  /* consecutive */
	int64_t backoff_max_ms;
	int64_t next_try_ms; /* monotonic; 0: now */
} session;

void session_init(session *s, const char *node, int64_t interval_ms, unsigned full_every,
		  int64_t backoff_max_ms);
void session_free(session *s);

/* True when a report may be sent at mono time now (not inside a backoff window). */
bool session_may_send(const session *s, int64_t now);
/* Builds the next report for cur: full or a delta against the acknowledged state. *full tells which. */
cJSON *session_report(session *s, const report_state *cur, const char *const *addrs, size_t naddrs,
		      bool *full);

typedef enum {
	SESSION_SENT = 0,    /* 2xx: cur becomes the acknowledged state */
	SESSION_FULL_NEEDED, /* 409: the classifier lost track; send a full report at once */
	SESSION_FAILED,	     /* transport error or another status: back off, then a full report */
} session_outcome;

/* Records the outcome of sending the report built from cur. On SESSION_SENT cur is moved into the session. */
void session_result(session *s, session_outcome outcome, report_state *cur, int64_t now);

/* Delay before the next try after `failures` consecutive failures: exponential from the interval (capped),
 * with jitter in [d/2, d] so agents that failed together do not retry together. rnd: any random number. */
int64_t session_backoff_ms(unsigned failures, int64_t interval_ms, int64_t max_ms, uint32_t rnd);

#endif
