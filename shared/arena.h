/* arena.h -- a per-thread bump arena for the memory of one request: its cJSON trees (through cJSON's
 * allocation hooks) and its events cost no malloc/free each, and are let go of in one step at the end.
 *
 * Usage on one thread: arena_begin(); parse, normalize, classify, answer; free trees and events as usual
 * (frees of arena memory are skipped, other memory is freed; whole structures are skipped, see arena_keeps);
 * arena_reset() once nothing refers to what was allocated. Allocations past the arena's size, outside
 * begin/end, or before arena_init() are malloc'd. */
#ifndef RFX_ARENA_H
#define RFX_ARENA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Installs the cJSON allocation hooks; call once before any thread uses cJSON (idempotent). Until it is
 * called, nothing comes from an arena. */
void arena_init(void);
/* Allocations through the arena (cJSON's included) on this thread come from it until arena_end. */
void arena_begin(void);
void arena_end(void);
/* Gives back everything allocated in this thread's arena. Nothing allocated there may be used afterwards. */
void arena_reset(void);

/* n bytes from the arena while it is active, malloc'd otherwise (aborts on OOM, like rfx_malloc). */
void *arena_alloc(size_t n);
void *arena_calloc(size_t n, size_t size);
char *arena_strndup(const char *s, size_t n);
/* p (old bytes long, from arena_alloc) resized to n bytes. */
void *arena_grow(void *p, size_t old, size_t n);
/* Frees p unless it lies in this thread's arena. p may be NULL. */
void arena_free(void *p);

/* Whether p lies in the arena and nothing allocated since arena_begin went elsewhere: then a structure made
 * in this scope (a tree, an event) holds only arena memory, and arena_reset frees it whole. Memory made
 * outside the arena functions (rfx_malloc, strdup) must never be attached to such a structure. */
bool arena_keeps(const void *p);
/* cJSON_Delete, skipped when arena_keeps(j). */
void arena_json_delete(cJSON *j);

size_t arena_used(void);	/* bytes of this thread's arena in use (for tests) */
bool arena_owns(const void *p); /* whether p lies in this thread's arena (for tests) */

#endif
