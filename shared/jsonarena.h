/* jsonarena.h -- cJSON trees parsed into a per-thread arena: a request's body tree costs no malloc/free per
 * node, and is let go of in one step when the request is done.
 *
 * Usage on one thread: jsonarena_begin(); parse; jsonarena_end(); use and cJSON_Delete the tree (its arena
 * nodes are skipped by the free hook; nodes added from elsewhere are freed as usual); jsonarena_reset() once
 * nothing refers to the tree any more. A tree larger than the arena continues in malloc'd memory. */
#ifndef RFX_JSONARENA_H
#define RFX_JSONARENA_H

#include <stdbool.h>
#include <stddef.h>

/* Installs the cJSON allocation hooks; call once before any thread uses cJSON (idempotent). Until it is
 * called, begin/end/reset do nothing and every node is malloc'd. */
void jsonarena_init(void);
/* cJSON allocations on this thread come from its arena until jsonarena_end. */
void jsonarena_begin(void);
void jsonarena_end(void);
/* Gives back everything allocated in this thread's arena. Nothing allocated there may be used afterwards. */
void jsonarena_reset(void);
/* Bytes of this thread's arena in use (for tests). */
size_t jsonarena_used(void);
/* Whether p lies in this thread's arena (for tests). */
bool jsonarena_owns(const void *p);

#endif
