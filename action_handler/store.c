/* store.c -- the in-memory action index: an id map plus a list in arrival order. */
#include "store.h"

#include <stdlib.h>
#include "idmap.h"

struct store {
	idmap *by_id;
	action *oldest, *newest;
	size_t n, history_max;
};

store *store_new(size_t history_max)
{
	store *s = rfx_calloc(1, sizeof(*s));
	s->by_id = idmap_new();
	s->history_max = history_max;
	return s;
}

void store_free(store *s)
{
	if (!s)
		return;
	action *a = s->oldest;
	while (a) {
		action *next = a->newer;
		action_free(a);
		a = next;
	}
	idmap_free(s->by_id, NULL);
	free(s);
}

action *store_get(const store *s, const char *id)
{
	return idmap_get(s->by_id, id);
}

void store_add(store *s, action *a)
{
	a->older = s->newest;
	a->newer = NULL;
	if (s->newest)
		s->newest->newer = a;
	else
		s->oldest = a;
	s->newest = a;
	idmap_put(s->by_id, a->id, a);
	s->n++;
}

static void store_unlink(store *s, action *a)
{
	if (a->older)
		a->older->newer = a->newer;
	else
		s->oldest = a->newer;
	if (a->newer)
		a->newer->older = a->older;
	else
		s->newest = a->older;
	idmap_del(s->by_id, a->id);
	s->n--;
}

void store_replace(store *s, action *a)
{
	action *old = store_get(s, a->id);
	if (!old) {
		store_add(s, a);
		return;
	}
	/* Keep the arrival position: the list order is the order actions were first received. */
	a->older = old->older;
	a->newer = old->newer;
	if (a->older)
		a->older->newer = a;
	else
		s->oldest = a;
	if (a->newer)
		a->newer->older = a;
	else
		s->newest = a;
	idmap_put(s->by_id, a->id, a);
	action_free(old);
}

size_t store_count(const store *s)
{
	return s->n;
}

static bool store_evictable(const action *a)
{
	return action_state_final(a->state) && !action_wb_pending(a);
}

/* history_max bounds the finished actions; queued and running ones are never dropped. */
size_t store_trim(store *s)
{
	if (s->n <= s->history_max)
		return 0;
	size_t finished = 0, dropped = 0;
	for (action *a = s->oldest; a; a = a->newer)
		finished += store_evictable(a);
	for (action *a = s->oldest; a && finished > s->history_max;) {
		action *next = a->newer;
		if (store_evictable(a)) {
			store_unlink(s, a);
			action_free(a);
			finished--;
			dropped++;
		}
		a = next;
	}
	return dropped;
}

action *store_oldest(const store *s)
{
	return s->oldest;
}

action *store_newest(const store *s)
{
	return s->newest;
}
