/* history.c -- bounded ring of recent events and the bounded LRU de-duplication table. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "history.h"
#include "jsonw.h"

typedef struct dedup_entry {
	char *source_id;
	event_source source;
	uint64_t hash; /* of source and source_id */
	event_state state;
	uint64_t severity; /* hash: a change of severity is news, not a repeat */
	char id[27];
	struct dedup_entry *next_in_bucket;
	struct dedup_entry *lru_prev, *lru_next; /* lru_prev: more recent */
} dedup_entry;

/* A stored event as text: a few allocations per event instead of a JSON tree keeps adding and evicting cheap
 * and the memory small. The entry is the object head + "decisions" + tail members + "duplicates". */
typedef struct hist_entry {
	char *head; /* "{" and the members before "decisions", without the closing brace; NULL: empty slot */
	char *decisions; /* JSON text of "decisions", NULL when the entry has none */
	char *tail;	 /* members after "decisions" as text ("\"impact\":{...}"), NULL when none */
	char *source_id;
	double duplicates; /* < 0: no "duplicates" member */
} hist_entry;

struct history {
	pthread_mutex_t lock; /* the ring and its index */
	pthread_mutex_t
	    dedup_lock; /* the de-duplication table and its LRU list: events take both, one at a time */
	hist_entry *ring;
	char (*ids)[27];		/* id of each ring slot */
	size_t max_events, head, count; /* head: next slot to write */
	uint32_t *index; /* id -> ring slot + 1 (0: empty); linear probing, twice the ring's size */
	uint32_t *ihash; /* the id's hash at each index position: probes rarely read an id */
	size_t index_mask;
	dedup_entry **buckets;
	size_t nbuckets, ndedup, max_dedup;
	dedup_entry *lru_head, *lru_tail; /* head: most recent */
};

/* The longest stored entry: events are bounded by the request body limit, this only guards the buffer. */
#define HISTORY_ENTRY_MAX (64 * 1024 * 1024)
/* Per-thread print buffers larger than this are freed after use. */
#define HISTORY_SCRATCH_KEEP (64 * 1024)

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static uint64_t dedup_hash(const event *ev)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *s = event_source_name(ev->source); *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h = (h ^ 0x1f) * 1099511628211ULL;
	for (const char *s = ev->source_id; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void entry_clear(hist_entry *e)
{
	free(e->head);
	free(e->decisions);
	free(e->tail);
	free(e->source_id);
	memset(e, 0, sizeof(*e));
}

history *history_new(size_t max_events, size_t max_dedup)
{
	history *h = rfx_calloc(1, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->dedup_lock, NULL);
	h->max_events = max_events ? max_events : 1;
	h->ring = rfx_calloc(h->max_events, sizeof(*h->ring));
	h->ids = rfx_calloc(h->max_events, sizeof(*h->ids));
	size_t isize = 1;
	while (isize < 2 * h->max_events)
		isize <<= 1;
	h->index = rfx_calloc(isize, sizeof(uint32_t));
	h->ihash = rfx_calloc(isize, sizeof(uint32_t));
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
		entry_clear(&h->ring[i]);
	for (dedup_entry *e = h->lru_head, *n; e; e = n) {
		n = e->lru_next;
		free(e);
	}
	free(h->ring);
	free(h->ids);
	free(h->index);
	free(h->ihash);
	free(h->buckets);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->dedup_lock);
	free(h);
}

static dedup_entry *dedup_find(history *h, event_source src, const char *source_id, uint64_t hash,
			       dedup_entry ***slot_out)
{
	dedup_entry **slot = &h->buckets[hash & (h->nbuckets - 1)];
	for (; *slot; slot = &(*slot)->next_in_bucket) {
		if ((*slot)->hash == hash && (*slot)->source == src && !strcmp((*slot)->source_id, source_id))
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

/* Takes e out of the table; the caller frees it (after the lock). */
static void dedup_unlink(history *h, dedup_entry *e)
{
	dedup_entry **slot;
	dedup_find(h, e->source, e->source_id, e->hash, &slot);
	*slot = e->next_in_bucket;
	lru_unlink(h, e);
	h->ndedup--;
}

bool history_seen(history *h, const event *ev, char dup_of[27])
{
	uint64_t hash = dedup_hash(ev), sev = hash_str(ev->severity);
	bool dup = false;
	dedup_entry *gone = NULL;
	pthread_mutex_lock(&h->dedup_lock);
	dedup_entry **slot;
	dedup_entry *e = dedup_find(h, ev->source, ev->source_id, hash, &slot);
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
		goto out;
	}
	if (h->ndedup >= h->max_dedup)
		dedup_unlink(h, gone = h->lru_tail);
	size_t idlen = strlen(ev->source_id);
	e = rfx_calloc(1, sizeof(*e) + idlen + 1); /* the source_id follows the entry */
	e->source_id = memcpy((char *)(e + 1), ev->source_id, idlen + 1);
	e->source = ev->source;
	e->hash = hash;
	e->state = ev->state;
	e->severity = sev;
	memcpy(e->id, ev->id, 27);
	/* the slot may have moved if the evicted entry shared the bucket */
	dedup_find(h, ev->source, ev->source_id, hash, &slot);
	*slot = e;
	lru_push_front(h, e);
	h->ndedup++;
out:
	pthread_mutex_unlock(&h->dedup_lock);
	free(gone);
	return dup;
}

void history_forget(history *h, const event *ev)
{
	uint64_t hash = dedup_hash(ev);
	pthread_mutex_lock(&h->dedup_lock);
	dedup_entry *e = dedup_find(h, ev->source, ev->source_id, hash, NULL);
	if (e && !strcmp(e->id, ev->id))
		dedup_unlink(h, e);
	else
		e = NULL;
	pthread_mutex_unlock(&h->dedup_lock);
	free(e);
}

/* Position in the id index where id is, or the empty position where it would go. Caller holds the lock. */
static size_t index_pos(history *h, const char *id, uint32_t hash)
{
	size_t i = hash & h->index_mask;
	while (h->index[i] && (h->ihash[i] != hash || strcmp(h->ids[h->index[i] - 1], id)))
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
			size_t home = h->ihash[j] & h->index_mask;
			/* Move j back to i unless its home lies cyclically in (i, j]. */
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		h->index[i] = h->index[j];
		h->ihash[i] = h->ihash[j];
		i = j;
	}
}

/* Stored entry with this id, or NULL. Caller holds the lock. */
static hist_entry *ring_find(history *h, const char *id)
{
	size_t i = index_pos(h, id, (uint32_t)hash_str(id));
	return h->index[i] ? &h->ring[h->index[i] - 1] : NULL;
}

void history_count_duplicate(history *h, const char *id)
{
	pthread_mutex_lock(&h->lock);
	hist_entry *e = ring_find(h, id);
	if (e)
		e->duplicates = e->duplicates < 0 ? 1 : e->duplicates + 1;
	pthread_mutex_unlock(&h->lock);
}

/* Puts a prepared entry in the next ring slot (the caller's strings are taken), dropping the oldest. */
static void ring_put(history *h, const char *id, hist_entry *ne)
{
	uint32_t hash = id ? (uint32_t)hash_str(id) : 0;
	pthread_mutex_lock(&h->lock);
	hist_entry *slot = &h->ring[h->head];
	if (slot->head) {
		size_t old = index_pos(h, h->ids[h->head], (uint32_t)hash_str(h->ids[h->head]));
		if (h->index[old] == h->head + 1)
			index_remove_at(h, old);
	}
	hist_entry gone = *slot;
	*slot = *ne;
	size_t idlen = id ? strnlen(id, sizeof(h->ids[h->head]) - 1) : 0;
	memcpy(h->ids[h->head], id ? id : "", idlen);
	h->ids[h->head][idlen] = '\0';
	if (id) {
		size_t pos = index_pos(h, id, hash);
		if (h->index[pos]) /* an id stored twice: the newer wins */
			index_remove_at(h, pos), pos = index_pos(h, id, hash);
		h->index[pos] = (uint32_t)h->head + 1;
		h->ihash[pos] = hash;
	}
	h->head = (h->head + 1) % h->max_events;
	if (h->count < h->max_events)
		h->count++;
	pthread_mutex_unlock(&h->lock);
	entry_clear(&gone); /* outside the lock */
}

/* Object members as text without the braces ("" for none); takes o. */
static char *members_text(cJSON *o)
{
	char *s = jsonw_print(o);
	cJSON_Delete(o);
	size_t n = strlen(s);
	memmove(s, s + 1, n - 2);
	s[n - 2] = '\0';
	return s;
}

void history_add(history *h, cJSON *entry)
{
	const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "source_id"));
	char id[27] = "";
	const char *idv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "id"));
	if (idv)
		snprintf(id, sizeof(id), "%s", idv);
	hist_entry ne = {.source_id = sid ? rfx_strdup(sid) : NULL, .duplicates = -1};
	cJSON *head = cJSON_CreateObject(), *tail = cJSON_CreateObject(), *into = head;
	while (entry->child) {
		cJSON *m = cJSON_DetachItemViaPointer(entry, entry->child);
		if (m->string && !strcmp(m->string, "decisions") && into == head) {
			ne.decisions = jsonw_print(m);
			into = tail;
			cJSON_Delete(m);
		} else if (m->string && !strcmp(m->string, "duplicates") && cJSON_IsNumber(m)) {
			ne.duplicates = m->valuedouble;
			cJSON_Delete(m);
		} else {
			cJSON_AddItemToObject(into, m->string ? m->string : "", m);
		}
	}
	cJSON_Delete(entry);
	char *members = members_text(head);
	ne.head = rfx_asprintf("{%s", members);
	free(members);
	ne.tail = tail->child ? members_text(tail) : (cJSON_Delete(tail), NULL);
	ring_put(h, idv ? id : NULL, &ne);
}

/* The scratch's text as an exact-size copy; the scratch (per thread, so storing an event allocates only this
 * copy) is emptied. */
static char *scratch_take(rfx_buf *b)
{
	char *s = rfx_strndup(buf_cstr(b), b->len);
	buf_trim(b, HISTORY_SCRATCH_KEEP);
	return s;
}

void history_add_event(history *h, const event *ev, const char *received_at, const cJSON *decisions,
		       const char *decisions_text, const cJSON *impact)
{
	rfx_buf *b = buf_scratch(BUF_SCRATCH_HISTORY, HISTORY_ENTRY_MAX);
	buf_reset(b);
	rfx_err rc = event_json_write(ev, true, b);
	if (!rc)
		rc = buf_puts(b, ",\"received_at\":");
	if (!rc)
		rc = jsonw_string(b, received_at);
	hist_entry ne = {.source_id = rfx_strdup(ev->source_id), .duplicates = -1};
	if (rc) { /* cannot happen below the request body limit: keep the event's identity at least */
		buf_reset(b);
		buf_puts(b, "{\"id\":");
		jsonw_string(b, ev->id);
		buf_puts(b, ",\"source_id\":");
		jsonw_string(b, ev->source_id);
	}
	ne.head = scratch_take(b);
	ne.decisions = decisions_text ? rfx_strdup(decisions_text)
		       : decisions    ? jsonw_print(decisions)
				      : NULL;
	if (impact) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddItemReferenceToObject(t, "impact", (cJSON *)impact);
		ne.tail = members_text(t);
	}
	ring_put(h, ev->id, &ne);
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
	hist_entry *e = ring_find(h, id);
	cJSON *d = e && e->decisions ? cJSON_Parse(e->decisions) : NULL;
	if (d && decision_update(d, action_id, status, reason, only_if)) {
		free(e->decisions);
		e->decisions = jsonw_print(d);
		ok = true;
	}
	pthread_mutex_unlock(&h->lock);
	cJSON_Delete(d);
	return ok;
}

/* The entry as text. Caller holds the lock. */
static char *entry_text(const hist_entry *e)
{
	rfx_buf b;
	buf_init(&b, SIZE_MAX / 2);
	bool first = e->head[1] == '\0';
	buf_puts(&b, e->head);
	if (e->decisions) {
		buf_puts(&b, first ? "\"decisions\":" : ",\"decisions\":");
		buf_puts(&b, e->decisions);
		first = false;
	}
	if (e->tail && *e->tail) {
		if (!first)
			buf_putc(&b, ',');
		buf_puts(&b, e->tail);
		first = false;
	}
	if (e->duplicates >= 0)
		buf_printf(&b, "%s\"duplicates\":%.17g", first ? "" : ",", e->duplicates);
	buf_putc(&b, '}');
	char *s = buf_steal(&b);
	buf_free(&b);
	return s;
}

cJSON *history_get(history *h, const char *id)
{
	char *s = NULL;
	pthread_mutex_lock(&h->lock);
	hist_entry *e = ring_find(h, id);
	if (e)
		s = entry_text(e);
	pthread_mutex_unlock(&h->lock);
	cJSON *j = s ? cJSON_Parse(s) : NULL;
	free(s);
	return j;
}

cJSON *history_get_decisions(history *h, const char *id)
{
	char *s = NULL;
	pthread_mutex_lock(&h->lock);
	hist_entry *e = ring_find(h, id);
	if (e && e->decisions)
		s = rfx_strdup(e->decisions);
	pthread_mutex_unlock(&h->lock);
	cJSON *j = s ? cJSON_Parse(s) : NULL;
	free(s);
	return j;
}

/* The entries' texts are copied under the lock and parsed after it, so a listing never holds up
 * classification. An entry whose text cJSON cannot parse (nested deeper than the request limit allows) is
 * left out. */
cJSON *history_list(history *h, const char *source_id, size_t limit)
{
	size_t n = 0;
	pthread_mutex_lock(&h->lock);
	size_t cap = limit < h->count ? limit : h->count;
	char **texts = rfx_calloc(cap ? cap : 1, sizeof(*texts));
	for (size_t i = 0; i < h->count && n < cap; i++) {
		const hist_entry *e = &h->ring[(h->head + h->max_events - 1 - i) % h->max_events];
		if (e->head && (!source_id || (e->source_id && !strcmp(e->source_id, source_id))))
			texts[n++] = entry_text(e);
	}
	pthread_mutex_unlock(&h->lock);
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *j = cJSON_Parse(texts[i]);
		if (j)
			cJSON_AddItemToArray(arr, j);
		free(texts[i]);
	}
	free(texts);
	return arr;
}

size_t history_count(history *h)
{
	pthread_mutex_lock(&h->lock);
	size_t n = h->count;
	pthread_mutex_unlock(&h->lock);
	return n;
}
