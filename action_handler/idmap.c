/* idmap.c -- a string-keyed hash map: chained buckets, FNV-1a, doubling at load factor 1. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct idmap_node {
	struct idmap_node *next;
	uint64_t hash;
	void *val;
	char key[];
} idmap_node;

struct idmap {
	idmap_node **b;
	size_t nb; /* power of two */
	size_t n;
};

static uint64_t idmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

idmap *idmap_new(void)
{
	idmap *m = rfx_calloc(1, sizeof(*m));
	m->nb = 16;
	m->b = rfx_calloc(m->nb, sizeof(*m->b));
	return m;
}

void idmap_free(idmap *m, void (*free_val)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		idmap_node *n = m->b[i];
		while (n) {
			idmap_node *next = n->next;
			if (free_val)
				free_val(n->val);
			free(n);
			n = next;
		}
	}
	free(m->b);
	free(m);
}

static idmap_node **idmap_slot(const idmap *m, const char *key, uint64_t h)
{
	idmap_node **p = &m->b[h & (m->nb - 1)];
	while (*p && ((*p)->hash != h || strcmp((*p)->key, key)))
		p = &(*p)->next;
	return p;
}

void *idmap_get(const idmap *m, const char *key)
{
	idmap_node *n = *idmap_slot(m, key, idmap_hash(key));
	return n ? n->val : NULL;
}

static void idmap_grow(idmap *m)
{
	size_t nb = m->nb * 2;
	idmap_node **b = rfx_calloc(nb, sizeof(*b));
	for (size_t i = 0; i < m->nb; i++) {
		idmap_node *n = m->b[i];
		while (n) {
			idmap_node *next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
			n = next;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void *idmap_put(idmap *m, const char *key, void *val)
{
	uint64_t h = idmap_hash(key);
	idmap_node **p = idmap_slot(m, key, h);
	if (*p) {
		void *old = (*p)->val;
		(*p)->val = val;
		return old;
	}
	size_t klen = strlen(key);
	idmap_node *n = rfx_malloc(sizeof(*n) + klen + 1);
	memcpy(n->key, key, klen + 1);
	n->hash = h;
	n->val = val;
	n->next = NULL;
	*p = n;
	if (++m->n > m->nb)
		idmap_grow(m);
	return NULL;
}

void *idmap_del(idmap *m, const char *key)
{
	idmap_node **p = idmap_slot(m, key, idmap_hash(key));
	idmap_node *n = *p;
	if (!n)
		return NULL;
	void *val = n->val;
	*p = n->next;
	free(n);
	m->n--;
	return val;
}

size_t idmap_count(const idmap *m)
{
	return m->n;
}

void idmap_sweep(idmap *m, bool (*fn)(const char *key, void *val, void *ud), void *ud)
{
	for (size_t i = 0; i < m->nb; i++) {
		idmap_node **p = &m->b[i];
		while (*p) {
			idmap_node *n = *p;
			if (fn(n->key, n->val, ud)) {
				*p = n->next;
				free(n);
				m->n--;
			} else {
				p = &n->next;
			}
		}
	}
}
