/* idmap.h -- a string-keyed hash map (chained, power-of-two buckets) for ids, target keys and limit keys. */
#ifndef AH_IDMAP_H
#define AH_IDMAP_H

#include "rfx.h"

typedef struct idmap idmap;

idmap *idmap_new(void);
/* Frees the map; free_val (may be NULL) is called on every value. */
void idmap_free(idmap *m, void (*free_val)(void *));
void *idmap_get(const idmap *m, const char *key);
/* Stores a copy of key; returns the value it replaced (NULL when new). */
void *idmap_put(idmap *m, const char *key, void *val);
/* Removes key; returns its value (NULL when absent). */
void *idmap_del(idmap *m, const char *key);
size_t idmap_count(const idmap *m);
/* Calls fn on every entry; an entry is removed when fn returns true (fn then owns/frees the value). */
void idmap_sweep(idmap *m, bool (*fn)(const char *key, void *val, void *ud), void *ud);

#endif
