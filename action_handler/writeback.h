/* writeback.h -- writing an action's outcome back to where the problem came from: one sink per target system
 * (a table of function pointers: wb_opsgenie.c, wb_dynatrace.c, wb_webhook.c), each finished action planned
 * into steps (sink + operation) that a background thread performs with retries and backoff. A failed
 * write-back is recorded next to the result and never changes it. */
#ifndef AH_WRITEBACK_H
#define AH_WRITEBACK_H

#include <cjson/cJSON.h>
#include "action.h"
#include "ah_config.h"

#define WRITEBACK_MAX_STEPS 8
#define WRITEBACK_NOTE_MAX  4000
#define WRITEBACK_MAX_JOBS  100000

typedef struct wb_attempt {
	long status;	    /* HTTP status, 0 when no answer came */
	long retry_after_s; /* from the answer, -1 when none */
	bool permanent;	    /* retrying cannot help (4xx other than 408 and 429) */
	char error[256];
} wb_attempt;

typedef struct wb_sink_ops {
	const char *name;
	/* Reads the sink's settings; *ctx stays NULL when the sink is not configured (it is then skipped). */
	rfx_err (*open)(const ah_config *cfg, void **ctx, char *err, size_t errlen);
	/* The operations to perform for a finished action, in order; returns how many (at most max). */
	size_t (*plan)(void *ctx, const action *a, const char **ops, size_t max);
	/* Performs one operation for the action (its full JSON). RFX_OK when the far end accepted it. */
	rfx_err (*send)(void *ctx, const char *op, const cJSON *action, wb_attempt *att);
	void (*close)(void *ctx);
} wb_sink_ops;

extern const wb_sink_ops wb_opsgenie_ops, wb_dynatrace_ops, wb_webhook_ops;

typedef struct wb_hooks {
	cJSON *(*snapshot)(void *ud, const char *action_id); /* a copy of the action's JSON; NULL when gone */
	void (*record)(void *ud, const char *action_id, size_t step, wb_state state, int attempts,
		       const wb_attempt *att);
} wb_hooks;

typedef struct writeback writeback;

rfx_err writeback_open(const ah_config *cfg, const wb_hooks *hooks, void *ud, writeback **out, char *err,
		       size_t errlen);
/* Stops the thread after the call in flight; steps not done stay pending in the journal. */
void writeback_close(writeback *w);
/* Appends the steps for a finished action to a->wb: nothing for refused and dry-run actions. */
void writeback_plan(writeback *w, action *a);
/* Performs the action's pending steps in the background. */
void writeback_enqueue(writeback *w, const char *action_id);

/* Helpers for the sinks. */
const char *writeback_str(const cJSON *j, const char *name);
bool writeback_succeeded(const cJSON *action);
/* on_success or on_failure, whichever applies to the action's state; NULL when not set. */
const cJSON *writeback_followup(const cJSON *action);
/* The followup's note plus a summary of the outcome per target. Caller frees. */
char *writeback_note(const cJSON *action);
char *writeback_urlencode(const char *s);
bool writeback_source_in(const cfg_strlist *sources, const char *source);
/* One HTTP call: RFX_OK for a 2xx answer; att says what came back and whether a retry can help. secret (may
 * be NULL) is blanked out of att->error, in case the far end echoes the credentials back. */
rfx_err writeback_http(const ah_config *cfg, const char *url, const char *const *headers, const char *body,
		       const char *secret, wb_attempt *att);

#endif
