/* history.c -- bounded ring of recent events and the bounded LRU de-duplication table. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "history.h"

typedef struct dedup_entry {
	char *key; /* source \x1f source_id */
	uint64_t hash;
	event_state state;
	uint64_t severity; /* hash: a change of severity is news, not a repeat */
	char id[27];
	struct dedup_entry *next_in_bucket;
	struct dedup_entry *lru_prev, *lru_next; /* lru_prev: more recent */
} dedup_entry;

struct history {
	pthread_mutex_t lock;
	cJSON **ring;
	char (*ids)[27];		/* id of each ring slot */
	size_t max_events, head, count; /* head: next slot to write */
	uint32_t *index; /* id -> ring slot + 1 (0: empty); linear probing, twice the ring's size */
	size_t index_mask;
	dedup_entry **buckets;
	size_t nbuckets, ndedup, max_dedup;
	dedup_entry *lru_head, *lru_tail; /* head: most recent */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

history *history_new(size_t max_events, size_t max_dedup)
{
	history *h = rfx_calloc(1, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->max_events = max_events ? max_events : 1;
	h->ring = rfx_calloc(h->max_events, sizeof(cJSON *));
	h->ids = rfx_calloc(h->max_events, sizeof(*h->ids));
	size_t isize = 1;
	while (isize < 2 * h->max_events)
		isize <<= 1;
	h->index = rfx_calloc(isize, sizeof(uint32_t));
	h->index_mask = isize - 1;
	h->max_dedup = max_dedup ? max_dedup : 1;
	h->nbuckets = 1;
	while (h->nbuckets < h->max_dedup)
		h->nbuckets <<= 1;
	h->buckets = rfx_calloc(h->nbuckets, sizeof(dedup_entry *));
	return h;
}

void history_free(history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->max_events; i++)
		cJSON_Delete(h->ring[i]);
	for (dedup_entry *e = h->lru_head, *n; e; e = n) {
		n = e->lru_next;
		free(e->key);
		free(e);
	}
	free(h->ring);
	free(h->ids);
	free(h->index);
	free(h->buckets);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static char *dedup_key(const event *ev)
{
	return rfx_asprintf("%s\x1f%s", event_source_name(ev->source), ev->source_id);
}

static dedup_entry *dedup_find(history *h, const char *key, uint64_t hash, dedup_entry ***slot_out)
{
	dedup_entry **slot = &h->buckets[hash & (h->nbuckets - 1)];
	for (; *slot; slot = &(*slot)->next_in_bucket) {
		if ((*slot)->hash == hash && !strcmp((*slot)->key, key))
			break;
	}
	if (slot_out)
		*slot_out = slot;
	return *slot;
}

static void lru_unlink(history *h, dedup_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		h->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		h->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(history *h, dedup_entry *e)
{
	e->lru_next = h->lru_head;
	e->lru_prev = NULL;
	if (h->lru_head)
		h->lru_head->lru_prev = e;
	h->lru_head = e;
	if (!h->lru_tail)
		h->lru_tail = e;
}

static void dedup_remove(history *h, dedup_entry *e)
{
	dedup_entry **slot;
	dedup_find(h, e->key, e->hash, &slot);
	*slot = e->next_in_bucket;
	lru_unlink(h, e);
	h->ndedup--;
	free(e->key);
	free(e);
}

bool history_seen(history *h, const event *ev, char dup_of[27])
{
	char *key = dedup_key(ev);
	uint64_t hash = hash_str(key), sev = hash_str(ev->severity);
	bool dup = false;
	pthread_mutex_lock(&h->lock);
	dedup_entry **slot;
	dedup_entry *e = dedup_find(h, key, hash, &slot);
	if (e) {
		lru_unlink(h, e);
		lru_push_front(h, e);
		if (e->state == ev->state && e->severity == sev) {
			memcpy(dup_of, e->id, 27);
			dup = true;
		} else {
			e->state = ev->state;
			e->severity = sev;
			memcpy(e->id, ev->id, 27);
		}
		free(key);
		goto out;
	}
	if (h->ndedup >= h->max_dedup)
		dedup_remove(h, h->lru_tail);
	e = rfx_calloc(1, sizeof(*e));
	e->key = key;
	e->hash = hash;
	e->state = ev->state;
	e->severity = sev;
	memcpy(e->id, ev->id, 27);
	dedup_find(h, key, hash, &slot); /* the slot may have moved if the evicted entry shared the bucket */
	*slot = e;
	lru_push_front(h, e);
	h->ndedup++;
out:
	pthread_mutex_unlock(&h->lock);
	return dup;
}

void history_forget(history *h, const event *ev)
{
	char *key = dedup_key(ev);
	uint64_t hash = hash_str(key);
	pthread_mutex_lock(&h->lock);
	dedup_entry *e = dedup_find(h, key, hash, NULL);
	if (e && !strcmp(e->id, ev->id))
		dedup_remove(h, e);
	pthread_mutex_unlock(&h->lock);
	free(key);
}

/* Position in the id index where id is, or the empty position where it would go. Caller holds the lock. */
static size_t index_pos(history *h, const char *id)
{
	size_t i = hash_str(id) & h->index_mask;
	while (h->index[i] && strcmp(h->ids[h->index[i] - 1], id))
		i = (i + 1) & h->index_mask;
	return i;
}

/* Removes the entry at position i, shifting later entries of the probe chain back (no tombstones). */
static void index_remove_at(history *h, size_t i)
{
	size_t j = i;
	for (;;) {
		h->index[i] = 0;
		for (;;) {
			j = (j + 1) & h->index_mask;
			if (!h->index[j])
				return;
			size_t home = hash_str(h->ids[h->index[j] - 1]) & h->index_mask;
			/* Move j back to i unless its home lies cyclically in (i, j]. */
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		h->index[i] = h->index[j];
		i = j;
	}
}

/* Ring slot of the stored entry with this id, or -1. Caller holds the lock. */
static long ring_find(history *h, const char *id)
{
	size_t i = index_pos(h, id);
	return h->index[i] ? (long)h->index[i] - 1 : -1;
}

void history_count_duplicate(history *h, const char *id)
{
	pthread_mutex_lock(&h->lock);
	long slot = ring_find(h, id);
	if (slot >= 0) {
		cJSON *entry = h->ring[slot];
		cJSON *d = cJSON_GetObjectItemCaseSensitive(entry, "duplicates");
		if (cJSON_IsNumber(d))
			cJSON_SetNumberValue(d, d->valuedouble + 1);
		else
			cJSON_AddNumberToObject(entry, "duplicates", 1);
	}
	pthread_mutex_unlock(&h->lock);
}

void history_add(history *h, cJSON *entry)
{
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "id"));
	pthread_mutex_lock(&h->lock);
	if (h->ring[h->head]) {
		size_t old = index_pos(h, h->ids[h->head]);
		if (h->index[old] == h->head + 1)
			index_remove_at(h, old);
		cJSON_Delete(h->ring[h->head]);
	}
	h->ring[h->head] = entry;
	snprintf(h->ids[h->head], sizeof(h->ids[h->head]), "%s", id ? id : "");
	if (id) {
		size_t pos = index_pos(h, id);
		if (h->index[pos]) /* an id stored twice: the newer wins */
			index_remove_at(h, pos), pos = index_pos(h, id);
		h->index[pos] = (uint32_t)h->head + 1;
	}
	h->head = (h->head + 1) % h->max_events;
	if (h->count < h->max_events)
		h->count++;
	pthread_mutex_unlock(&h->lock);
}

/* Sets one decision's status and reason in place. */
static bool decision_update(cJSON *decisions, const char *action_id, const char *status, const char *reason,
			    const char *only_if)
{
	cJSON *d;
	cJSON_ArrayForEach(d, decisions)
	{
		const char *aid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "action_id"));
		if (!aid || strcmp(aid, action_id))
			continue;
		const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "status"));
		if (only_if && (!cur || strcmp(cur, only_if)))
			return false;
		cJSON_DeleteItemFromObjectCaseSensitive(d, "status");
		cJSON_DeleteItemFromObjectCaseSensitive(d, "reason");
		cJSON_AddStringToObject(d, "status", status);
		if (reason)
			cJSON_AddStringToObject(d, "reason", reason);
		return true;
	}
	return false;
}

bool history_update_decision(history *h, const char *id, const char *action_id, const char *status,
			     const char *reason, const char *only_if)
{
	bool ok = false;
	pthread_mutex_lock(&h->lock);
	long slot = ring_find(h, id);
	if (slot >= 0)
		ok = decision_update(cJSON_GetObjectItemCaseSensitive(h->ring[slot], "decisions"), action_id,
				     status, reason, only_if);
	pthread_mutex_unlock(&h->lock);
	return ok;
}

cJSON *history_get(history *h, const char *id)
{
	cJSON *copy = NULL;
	pthread_mutex_lock(&h->lock);
	long slot = ring_find(h, id);
	if (slot >= 0)
		copy = cJSON_Duplicate(h->ring[slot], true);
	pthread_mutex_unlock(&h->lock);
	return copy;
}

cJSON *history_list(history *h, const char *source_id, size_t limit)
{
	cJSON *arr = cJSON_CreateArray();
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->count && n < limit; i++) {
		cJSON *entry = h->ring[(h->head + h->max_events - 1 - i) % h->max_events];
		if (source_id) {
			const cJSON *sid = cJSON_GetObjectItemCaseSensitive(entry, "source_id");
			if (!cJSON_IsString(sid) || strcmp(sid->valuestring, source_id))
				continue;
		}
		cJSON_AddItemToArray(arr, cJSON_Duplicate(entry, true));
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return arr;
}

size_t history_count(history *h)
{
	pthread_mutex_lock(&h->lock);
	size_t n = h->count;
	pthread_mutex_unlock(&h->lock);
	return n;
}
