/* runq.c -- per-target FIFOs and a ready list of idle targets with work. */
#include "runq.h"

#include <stdlib.h>
#include "idmap.h"

typedef struct runq_job {
	action *a;
	size_t i;
	struct runq_job *next;
} runq_job;

typedef struct runq_target {
	char *key;
	runq_job *head, *tail;
	bool busy, ready;
	struct runq_target *next_ready;
} runq_target;

struct runq {
	idmap *targets;
	runq_target *ready_head, *ready_tail;
	size_t queued, busy, max;
};

runq *runq_new(size_t max_jobs)
{
	runq *q = rfx_calloc(1, sizeof(*q));
	q->targets = idmap_new();
	q->max = max_jobs;
	return q;
}

static void runq_target_free(void *p)
{
	runq_target *t = p;
	while (t->head) {
		runq_job *next = t->head->next;
		free(t->head);
		t->head = next;
	}
	free(t->key);
	free(t);
}

void runq_free(runq *q)
{
	if (!q)
		return;
	idmap_free(q->targets, runq_target_free);
	free(q);
}

bool runq_has_room(const runq *q, size_t n)
{
	return q->queued + n <= q->max;
}

static void runq_make_ready(runq *q, runq_target *t)
{
	if (t->ready || t->busy || !t->head)
		return;
	t->ready = true;
	t->next_ready = NULL;
	if (q->ready_tail)
		q->ready_tail->next_ready = t;
	else
		q->ready_head = t;
	q->ready_tail = t;
}

rfx_err runq_push(runq *q, action *a, size_t i, bool force)
{
	if (!force && !runq_has_room(q, 1))
		return RFX_ERR_LIMIT;
	const char *key = a->runs[i].key;
	runq_target *t = idmap_get(q->targets, key);
	if (!t) {
		t = rfx_calloc(1, sizeof(*t));
		t->key = rfx_strdup(key);
		idmap_put(q->targets, key, t);
	}
	runq_job *j = rfx_calloc(1, sizeof(*j));
	j->a = a;
	j->i = i;
	if (t->tail)
		t->tail->next = j;
	else
		t->head = j;
	t->tail = j;
	q->queued++;
	runq_make_ready(q, t);
	return RFX_OK;
}

bool runq_pop(runq *q, action **a, size_t *i)
{
	runq_target *t = q->ready_head;
	if (!t)
		return false;
	q->ready_head = t->next_ready;
	if (!q->ready_head)
		q->ready_tail = NULL;
	t->ready = false;
	runq_job *j = t->head;
	t->head = j->next;
	if (!t->head)
		t->tail = NULL;
	t->busy = true;
	q->busy++;
	q->queued--;
	*a = j->a;
	*i = j->i;
	free(j);
	return true;
}

void runq_done(runq *q, const char *key)
{
	runq_target *t = idmap_get(q->targets, key);
	if (!t || !t->busy)
		return;
	t->busy = false;
	q->busy--;
	if (!t->head) {
		idmap_del(q->targets, key);
		runq_target_free(t);
		return;
	}
	runq_make_ready(q, t);
}

size_t runq_queued(const runq *q)
{
	return q->queued;
}

size_t runq_busy(const runq *q)
{
	return q->busy;
}
