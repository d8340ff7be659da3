/* dispatch.h -- sends the classifier's actions to the action handler, signed with HMAC-SHA256. An action that
 * cannot be delivered now (handler down, 5xx) waits in a durable outbox (one file per action in
 * <state_dir>/outbox, named by the time-ordered action id) and is retried in order with backoff, also after a
 * restart. */
#ifndef CLASSIFIER_DISPATCH_H
#define CLASSIFIER_DISPATCH_H

#include <cjson/cJSON.h>
#include "rfx.h"

typedef struct dispatch dispatch;

typedef struct dispatch_opts {
	const char *url;   /* action handler base URL, e.g. http://127.0.0.1:8081 */
	const char *token; /* bearer token for the handler, or NULL */
	const char *hmac_key;
	size_t hmac_key_len;
	long timeout_ms;
	const char *outbox_dir;
	size_t outbox_max; /* files */
	/* Called from the retry thread when a queued action's fate is known: status "dispatched", "refused"
	 * or "failed", with the reason (may be NULL). */
	void (*on_result)(void *ud, const char *event_id, const char *action_id, const char *status,
			  const char *reason);
	void *ud;
} dispatch_opts;

rfx_err dispatch_new(const dispatch_opts *opts, dispatch **out, char *err, size_t errlen);
void dispatch_free(dispatch *d);

/* Sends an action body now. Returns the decision status: "dispatched" (202/200), "refused" (403/409; reason
 * set), "failed" (other 4xx; reason set), or "pending" (unreachable or 5xx: kept in the outbox and retried).
 */
const char *dispatch_send(dispatch *d, const char *event_id, const char *action_id, const char *body,
			  char *reason, size_t reasonlen);
size_t dispatch_pending(dispatch *d);

#endif
