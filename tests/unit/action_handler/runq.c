/* runq.c -- unit tests for the per-target run queue and the in-memory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../../action_handler/runq.h"
#include "../../../action_handler/store.h"

static action *mk(const char *id, const char *const *keys, size_t n)
{
	action *a = action_new();
	a->id = rfx_strdup(id);
	a->runs = rfx_calloc(n, sizeof(*a->runs));
	a->nruns = n;
	for (size_t i = 0; i < n; i++) {
		a->runs[i].target = rfx_strdup(keys[i]);
		a->runs[i].key = rfx_strdup(keys[i]);
	}
	return a;
}

static void test_one_run_per_target(void **state)
{
	runq *q = runq_new(100);
	const char *ab[] = {"a:22", "b:22"}, *a_only[] = {"a:22"};
	action *x = mk("x", ab, 2), *y = mk("y", a_only, 1);
	runq_push(q, x, 0, false);
	runq_push(q, x, 1, false);
	runq_push(q, y, 0, false);
	assert_int_equal(runq_queued(q), 3);
	action *got;
	size_t i;
	assert_true(runq_pop(q, &got, &i));
	assert_ptr_equal(got, x);
	assert_int_equal(i, 0); /* a */
	assert_true(runq_pop(q, &got, &i));
	assert_ptr_equal(got, x);
	assert_int_equal(i, 1);		     /* b */
	assert_false(runq_pop(q, &got, &i)); /* y waits: a is busy */
	assert_int_equal(runq_busy(q), 2);
	runq_done(q, "b:22");
	assert_false(runq_pop(q, &got, &i));
	runq_done(q, "a:22");
	assert_true(runq_pop(q, &got, &i));
	assert_ptr_equal(got, y);
	runq_done(q, "a:22");
	assert_int_equal(runq_queued(q), 0);
	assert_int_equal(runq_busy(q), 0);
	runq_free(q);
	action_free(x);
	action_free(y);
}

static void test_bound_and_force(void **state)
{
	runq *q = runq_new(2);
	const char *k[] = {"a:22", "b:22", "c:22"};
	action *x = mk("x", k, 3);
	assert_true(runq_has_room(q, 2));
	assert_false(runq_has_room(q, 3));
	assert_int_equal(runq_push(q, x, 0, false), RFX_OK);
	assert_int_equal(runq_push(q, x, 1, false), RFX_OK);
	assert_int_equal(runq_push(q, x, 2, false), RFX_ERR_LIMIT);
	assert_int_equal(runq_push(q, x, 2, true), RFX_OK); /* replay never drops accepted work */
	assert_int_equal(runq_queued(q), 3);
	runq_free(q);
	action_free(x);
}

static void test_fifo_across_targets(void **state)
{
	runq *q = runq_new(100);
	const char *k[] = {"t1:22", "t2:22", "t3:22"};
	action *acts[3];
	for (int n = 0; n < 3; n++) {
		char id[8];
		snprintf(id, sizeof(id), "a%d", n);
		acts[n] = mk(id, &k[n], 1);
		runq_push(q, acts[n], 0, false);
	}
	for (int n = 0; n < 3; n++) {
		action *got;
		size_t i;
		assert_true(runq_pop(q, &got, &i));
		assert_ptr_equal(got, acts[n]);
	}
	runq_free(q);
	for (int n = 0; n < 3; n++)
		action_free(acts[n]);
}

static void test_store_trim_keeps_unfinished(void **state)
{
	store *s = store_new(2);
	const char *k[] = {"a:22"};
	char id[8];
	for (int n = 0; n < 5; n++) {
		snprintf(id, sizeof(id), "a%d", n);
		action *a = mk(id, k, 1);
		a->state = n == 0 ? ACTION_QUEUED : ACTION_SUCCEEDED;
		if (n == 1) { /* finished, but its write-back is pending */
			a->wb = rfx_calloc(1, sizeof(*a->wb));
			a->nwb = 1;
			a->wb[0].sink = rfx_strdup("opsgenie");
			a->wb[0].op = rfx_strdup("note");
		}
		store_add(s, a);
	}
	/* Finished without pending write-back: a2, a3, a4; two may stay, the oldest goes. */
	assert_int_equal(store_trim(s), 1);
	assert_int_equal(store_count(s), 4);
	assert_non_null(store_get(s, "a0"));
	assert_non_null(store_get(s, "a1"));
	assert_null(store_get(s, "a2"));
	assert_non_null(store_get(s, "a3"));
	assert_string_equal(store_newest(s)->id, "a4");
	assert_string_equal(store_oldest(s)->id, "a0");
	action *b = mk("a1", k, 1);
	b->state = ACTION_FAILED;
	store_replace(s, b); /* a later snapshot keeps its place in arrival order */
	assert_ptr_equal(store_get(s, "a1"), b);
	assert_ptr_equal(store_oldest(s)->newer, b);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_run_per_target),
	    cmocka_unit_test(test_bound_and_force),
	    cmocka_unit_test(test_fifo_across_targets),
	    cmocka_unit_test(test_store_trim_keeps_unfinished),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
