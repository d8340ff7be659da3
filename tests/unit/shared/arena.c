/* arena.c -- unit tests: request trees and events in the per-thread arena, and what happens past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "arena.h"
#include "event.h"
#include "jsonw.h"

static const char doc[] =
    "{\"version\":\"4\",\"alerts\":[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":"
    "\"db-1\"},\"startsAt\":\"2026-11-22T01:21:04Z\",\"n\":[1,2.5,true,null]}]}";

static int setup(void **state)
{
	(void)state;
	arena_init();
	return 0;
}

static void test_tree_in_arena(void **state)
{
	(void)state;
	arena_begin();
	cJSON *j = cJSON_Parse(doc);
	arena_end();
	assert_non_null(j);
	assert_true(arena_owns(j));
	assert_true(arena_owns(j->child->valuestring));
	assert_true(arena_used() > 0);
	/* a node made after the arena ended is malloc'd, and deleting the mixed tree frees only it */
	cJSON *extra = cJSON_CreateString("added later");
	assert_false(arena_owns(extra));
	cJSON_AddItemToObject(j, "extra", extra);
	char *text = jsonw_print(j);
	assert_non_null(strstr(text, "\"alertname\":\"DiskFull\""));
	assert_non_null(strstr(text, "\"extra\":\"added later\""));
	assert_false(arena_owns(text));
	free(text);
	cJSON_Delete(j);
	arena_reset();
	assert_int_equal(arena_used(), 0);
}

/* A body larger than the arena: the first nodes are in it, the rest malloc'd; the tree is whole either way.
 */
static void test_larger_than_the_arena(void **state)
{
	(void)state;
	size_t n = 5000;
	char *big = malloc(n * 32 + 16);
	assert_non_null(big);
	size_t len = (size_t)sprintf(big, "[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(big + len, "%s\"value number %05zu\"", i ? "," : "", i);
	sprintf(big + len, "]");
	arena_begin();
	cJSON *j = cJSON_Parse(big);
	arena_end();
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), (int)n);
	assert_true(arena_owns(j));
	cJSON *last = cJSON_GetArrayItem(j, (int)n - 1);
	assert_false(arena_owns(last));
	assert_string_equal(last->valuestring, "value number 04999");
	char *again = jsonw_print(j);
	assert_string_equal(again, big);
	free(again);
	cJSON_Delete(j);
	arena_reset();
	free(big);
}

/* Outside begin/end nothing comes from the arena, and each request starts from an empty arena. */
static void test_outside_and_reuse(void **state)
{
	(void)state;
	cJSON *outside = cJSON_Parse(doc);
	assert_false(arena_owns(outside));
	cJSON_Delete(outside);
	for (int round = 0; round < 3; round++) {
		arena_begin();
		cJSON *j = cJSON_Parse(doc);
		assert_true(arena_owns(j));
		size_t used = arena_used();
		cJSON_Delete(j);
		assert_int_equal(arena_used(), used); /* freeing inside the arena gives nothing back early */
		arena_reset();
		assert_int_equal(arena_used(), 0);
	}
}

/* Events made while the arena is active live in it until it is full (about 3.4 KiB each here, so the last
 * ones are malloc'd); setters and tag growth work across its end, and freeing the list leaks nothing (the
 * sanitizer build checks). */
static void test_events(void **state)
{
	(void)state;
	arena_begin();
	event_list l = {0};
	for (int i = 0; i < 20; i++) {
		event *e = event_new(SRC_ALERTMANAGER);
		event_set(&e->title, "disk full");
		event_set(&e->entity, "db-\xff"); /* invalid UTF-8: replaced */
		for (int t = 0; t < 40; t++) {
			char k[16], v[16];
			snprintf(k, sizeof(k), "k%02d", t);
			snprintf(v, sizeof(v), "v%d", t);
			event_tag_set(e, k, v);
		}
		event_tag_set(e, "k07", "replaced");
		event_list_push(&l, e);
	}
	arena_end();
	assert_int_equal(l.n, 20);
	assert_true(arena_owns(l.v[0]));
	event *last = l.v[19];
	assert_false(arena_owns(last));
	assert_string_equal(last->title, "disk full");
	assert_string_equal(last->entity, "db-\xef\xbf\xbd");
	assert_int_equal(last->ntags, 40);
	assert_string_equal(event_tag_get(last, "k07"), "replaced");
	assert_string_equal(event_tag_get(last, "k39"), "v39");
	event_set(&last->title, "set after the arena ended"); /* malloc'd, freed normally */
	assert_false(arena_owns(last->title));
	event_list_free(&l);
	arena_reset();
}

/* An event wholly in the arena is let go of by the reset: nothing of it is malloc'd, so nothing leaks. */
static void test_event_kept_whole(void **state)
{
	(void)state;
	arena_begin();
	event_list l = {0};
	event *e = event_new(SRC_OPSGENIE);
	event_set(&e->title, "h\xc3\xa9llo \xfe"); /* the sanitized copy comes from the arena too */
	event_tag_set(e, "service", "api");
	event_tag_set(e, "env", "prod");
	e->raw = cJSON_Parse("{\"message\":\"down\"}");
	event_list_push(&l, e);
	assert_true(arena_keeps(e));
	assert_true(arena_keeps(e->title) && arena_keeps(e->tags) && arena_keeps(e->raw) && arena_keeps(l.v));
	assert_string_equal(e->title, "h\xc3\xa9llo \xef\xbf\xbd");
	event_list_free(&l);
	arena_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_in_arena),     cmocka_unit_test(test_larger_than_the_arena),
	    cmocka_unit_test(test_outside_and_reuse), cmocka_unit_test(test_events),
	    cmocka_unit_test(test_event_kept_whole),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
