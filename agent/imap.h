/* imap.h -- open-addressing hash map from a non-zero 64-bit key (socket inode, pid) to a 32-bit value. */
#ifndef AGENT_IMAP_H
#define AGENT_IMAP_H

#include "rfx.h"

typedef struct imap_slot {
	uint64_t key; /* 0: empty */
	uint32_t value;
} imap_slot;

typedef struct imap {
	imap_slot *slots;
	size_t cap; /* power of two */
	size_t n;
} imap;

void imap_init(imap *m);
void imap_free(imap *m);
void imap_clear(imap *m);
/* Makes room for n keys without growing again. */
void imap_reserve(imap *m, size_t n);
/* Inserts or replaces. key must not be 0. */
void imap_put(imap *m, uint64_t key, uint32_t value);
/* NULL when absent; the pointer is valid until the next imap_put. */
uint32_t *imap_get(const imap *m, uint64_t key);

#endif
