/* classify.h -- one event through the classifier: de-duplication, topology, rules, actions, history, logs,
 * audit. */
#ifndef CLASSIFIER_CLASSIFY_H
#define CLASSIFIER_CLASSIFY_H

#include <cjson/cJSON.h>
#include "app.h"
#include "event.h"
#include "match.h"

#define CLASSIFY_MAX_FIRED 64 /* rules that may fire for one event */

/* Classifies ev and returns the caller's entry {"id", "source_id", "decisions": [...]} (plus "duplicate":
 * true when it repeats a known problem state). act=false is `POST /v1/rules/test`: nothing is sent, stored or
 * de-duplicated, and each decision carries the rendered action. */
cJSON *classify_event(classifier_app *app, event *ev, bool act);

/* Registers the classifier's metrics; call once before serving. */
void classify_init_metrics(void);

/* Builds the action request body for rule r and event ev (the contract in docs/api/action-handler.yaml); NULL
 * with a reason when a template cannot be rendered. Shared with `reflex rules test`. */
struct rule;
cJSON *classify_action_body(const struct rule *r, const eval_ctx *c, const char *action_id, char *err,
			    size_t errlen);

#endif
