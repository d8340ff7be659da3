/* engine.h -- the action handler's core: accepts signed actions under the allow-list and limits, makes them
 * durable, runs them on a bounded worker pool (one run per target at a time), recovers after a restart, and
 * hands finished actions to write-back. Every function is thread-safe. */
#ifndef AH_ENGINE_H
#define AH_ENGINE_H

#include <cjson/cJSON.h>
#include "ah_config.h"

typedef struct engine engine;

/* An answer for the HTTP layer: status and JSON body (owned). */
typedef struct engine_reply {
	int status;
	cJSON *body;
} engine_reply;

typedef struct engine_filter {
	const char *state, *rule, *target; /* NULL: any */
	size_t limit;
} engine_filter;

/* Loads the HMAC key, opens the journal and replays it, opens the executors and write-back, starts the
 * workers. */
rfx_err engine_open(const ah_config *cfg, engine **out, char *err, size_t errlen);
/* Stops taking work, lets running commands finish within shutdown_grace, cuts off the rest (interrupted). */
void engine_close(engine *e);

/* Checks X-Reflex-Signature ("sha256=<hex>") against the exact body bytes, in constant time. */
bool engine_signature_ok(const engine *e, const char *body, size_t len, const char *header);
/* POST /v1/actions after the signature check. */
void engine_submit(engine *e, const char *body, size_t len, engine_reply *r);
cJSON *engine_get(engine *e, const char *id); /* NULL when unknown */
cJSON *engine_list(engine *e, const engine_filter *f);
rfx_err engine_set_paused(engine *e, bool paused);
cJSON *engine_status(engine *e);

#endif
