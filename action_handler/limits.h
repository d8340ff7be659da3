/* limits.h -- the safety-limit ledger: cooldown per rule+target, attempts per rule+problem, runs per rule and
 * hour, targets per action. Not thread-safe: the engine holds its accept lock around check+record. */
#ifndef AH_LIMITS_H
#define AH_LIMITS_H

#include "action.h"

#define LIMITS_HOUR_MS	(3600LL * 1000)
#define LIMITS_KEEP_MS	(7LL * 24 * 3600 * 1000) /* ledger entries untouched this long are forgotten */
#define LIMITS_MAX_KEYS 1000000
#define LIMITS_HOUR_CAP 100000 /* per-rule timestamps kept for max_per_hour */

typedef struct limits limits;

limits *limits_new(void);
void limits_free(limits *l);
/* Whether a (its runs' keys set) may be accepted at now_ms. RFX_ERR_REFUSED with reason ("max_targets",
 * "cooldown", "max_attempts", "max_per_hour", "limits_full") and a human message when not. */
rfx_err limits_check(limits *l, const action *a, int64_t now_ms, const char **reason, char *msg,
		     size_t msglen);
/* Counts an accepted action at at_ms (also used to rebuild the ledger from the journal after a restart). */
void limits_record(limits *l, const action *a, int64_t at_ms);

#endif
