/* imap.c -- linear-probing hash map of 64-bit keys, grown at 50% load; no deletion (callers rebuild instead).
 */
#include "imap.h"

#include <stdlib.h>
#include <string.h>

static size_t imap_hash(uint64_t k)
{
	/* splitmix64 finaliser: inodes and pids are dense, so mix before masking */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return (size_t)k;
}

void imap_init(imap *m)
{
	memset(m, 0, sizeof(*m));
}

void imap_free(imap *m)
{
	RFX_FREE(m->slots);
	m->cap = m->n = 0;
}

void imap_clear(imap *m)
{
	if (m->slots)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->n = 0;
}

static imap_slot *imap_find(const imap *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	for (size_t i = imap_hash(key) & mask;; i = (i + 1) & mask) {
		if (m->slots[i].key == key || m->slots[i].key == 0)
			return &m->slots[i];
	}
}

static void imap_rehash(imap *m, size_t cap)
{
	imap old = *m;
	m->cap = cap;
	m->slots = rfx_calloc(m->cap, sizeof(*m->slots));
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].key)
			imap_put(m, old.slots[i].key, old.slots[i].value);
	}
	free(old.slots);
}

void imap_reserve(imap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 64;
	while (n * 2 > cap)
		cap *= 2;
	if (cap != m->cap)
		imap_rehash(m, cap);
}

void imap_put(imap *m, uint64_t key, uint32_t value)
{
	if ((m->n + 1) * 2 > m->cap)
		imap_rehash(m, m->cap ? m->cap * 2 : 64);
	imap_slot *s = imap_find(m, key);
	if (s->key == 0) {
		s->key = key;
		m->n++;
	}
	s->value = value;
}

uint32_t *imap_get(const imap *m, uint64_t key)
{
	if (!m->cap || key == 0)
		return NULL;
	imap_slot *s = imap_find(m, key);
	return s->key ? &s->value : NULL;
}
