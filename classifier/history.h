/* history.h -- the classifier's bounded memory of recent events: a ring of the last N classified events (for
 * GET /v1/events) and the de-duplication table (source + source_id -> last state) that keeps repeated
 * notifications of the same problem in the same state from acting twice. Thread-safe. */
#ifndef CLASSIFIER_HISTORY_H
#define CLASSIFIER_HISTORY_H

#include <cjson/cJSON.h>
#include "event.h"

typedef struct history history;

history *history_new(size_t max_events, size_t max_dedup);
void history_free(history *h);

/* De-duplication: if the same source/source_id was last seen in the same state, returns true and copies the
 * id of the event that first reported that state into dup_of. Otherwise records (source, source_id, state,
 * id) and returns false. The table is bounded: the least recently seen problems are forgotten first. */
bool history_seen(history *h, const event *ev, char dup_of[27]);
/* Forgets a problem's de-duplication entry (used when classifying it failed, so a retry is not a duplicate).
 */
void history_forget(history *h, const event *ev);
/* Counts a duplicate notification against the stored entry of event id (visible as "duplicates" in GET). */
void history_count_duplicate(history *h, const char *id);

/* Stores a classified event (takes ownership of entry, a JSON object with at least "id" and "source_id"). The
 * oldest entry is dropped when the ring is full. */
void history_add(history *h, cJSON *entry);
/* Stores a classified event as the entry event_to_json(ev, true) + received_at + decisions (+ impact) that
 * history_add would store, printed once instead of kept as a tree. decisions_text, when not NULL, is
 * decisions printed already (jsonw_print), copied instead of printed again. */
void history_add_event(history *h, const event *ev, const char *received_at, const cJSON *decisions,
		       const char *decisions_text, const cJSON *impact);
/* Sets status (and reason, NULL to clear) of the decision with action_id in the stored event. With only_if,
 * only when the current status is only_if. False when the event or decision is gone or the condition failed.
 */
bool history_update_decision(history *h, const char *id, const char *action_id, const char *status,
			     const char *reason, const char *only_if);
/* A deep copy of the stored entry, or NULL. */
cJSON *history_get(history *h, const char *id);
/* A copy of the stored entry's "decisions", or NULL. */
cJSON *history_get_decisions(history *h, const char *id);
/* Newest first; source_id NULL for all. Returns a JSON array (copies). */
cJSON *history_list(history *h, const char *source_id, size_t limit);
size_t history_count(history *h);

#endif
