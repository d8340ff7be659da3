/* session.c -- report sequencing, delta bases and backoff for the agent's pushes. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void session_init(session *s, const char *node, int64_t interval_ms, unsigned full_every,
		  int64_t backoff_max_ms)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->node, sizeof(s->node), "%s", node);
	rfx_ulid(s->boot_id);
	s->interval_ms = interval_ms;
	s->full_every = full_every ? full_every : 1;
	s->backoff_max_ms = backoff_max_ms;
	s->need_full = true;
}

void session_free(session *s)
{
	report_state_free(&s->acked);
}

bool session_may_send(const session *s, int64_t now)
{
	return now >= s->next_try_ms;
}

cJSON *session_report(session *s, const report_state *cur, const char *const *addrs, size_t naddrs,
		      bool *full)
{
	*full = s->need_full || s->since_full + 1 >= s->full_every;
	report_meta m = {.node = s->node,
			 .boot_id = s->boot_id,
			 .seq = ++s->seq,
			 .interval_ms = s->interval_ms,
			 .addresses = addrs,
			 .naddresses = naddrs};
	return report_json(cur, *full ? NULL : &s->acked, &m);
}

int64_t session_backoff_ms(unsigned failures, int64_t interval_ms, int64_t max_ms, uint32_t rnd)
{
	int64_t d = interval_ms > 0 ? interval_ms : 1000;
	for (unsigned i = 1; i < failures && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	int64_t half = d / 2;
	return half + (half ? (int64_t)(rnd % (uint64_t)(half + 1)) : 0);
}

void session_result(session *s, session_outcome outcome, report_state *cur, int64_t now)
{
	uint32_t rnd = 0;
	if (outcome == SESSION_SENT) {
		bool was_full = s->need_full || s->since_full + 1 >= s->full_every;
		report_state_move(&s->acked, cur);
		s->since_full = was_full ? 0 : s->since_full + 1;
		s->need_full = false;
		s->failures = 0;
		s->next_try_ms = 0;
		return;
	}
	s->need_full = true;
	report_state_free(&s->acked);
	if (outcome == SESSION_FULL_NEEDED)
		return;
	s->failures++;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now;
	s->next_try_ms = now + session_backoff_ms(s->failures, s->interval_ms, s->backoff_max_ms, rnd);
}
