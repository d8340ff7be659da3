/* store.h -- the actions in memory: by id, and in arrival order for listing, history trimming and compaction.
 * Not thread-safe: the engine's lock guards it. */
#ifndef AH_STORE_H
#define AH_STORE_H

#include "action.h"

typedef struct store store;

store *store_new(size_t history_max);
void store_free(store *s); /* frees every action */
action *store_get(const store *s, const char *id);
/* Takes ownership; a becomes the newest. An action with the same id must not be there. */
void store_add(store *s, action *a);
/* Replaces the action with a's id by a (journal replay: the later snapshot wins); frees the old one. */
void store_replace(store *s, action *a);
size_t store_count(const store *s);
/* Drops the oldest finished actions (write-back done) while more than history_max finished ones are kept. */
size_t store_trim(store *s);
action *store_oldest(const store *s);
action *store_newest(const store *s);

#endif
