/* jsonarena.c -- unit tests: request trees parsed into the per-thread arena, and what happens past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "jsonarena.h"
#include "jsonw.h"

static const char doc[] =
    "{\"version\":\"4\",\"alerts\":[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":"
    "\"db-1\"},\"startsAt\":\"2026-11-22T01:21:04Z\",\"n\":[1,2.5,true,null]}]}";

static int setup(void **state)
{
	(void)state;
	jsonarena_init();
	return 0;
}

static void test_tree_in_arena(void **state)
{
	(void)state;
	jsonarena_begin();
	cJSON *j = cJSON_Parse(doc);
	jsonarena_end();
	assert_non_null(j);
	assert_true(jsonarena_owns(j));
	assert_true(jsonarena_owns(j->child->valuestring));
	assert_true(jsonarena_used() > 0);
	/* a node made after the arena ended is malloc'd, and deleting the mixed tree frees only it */
	cJSON *extra = cJSON_CreateString("added later");
	assert_false(jsonarena_owns(extra));
	cJSON_AddItemToObject(j, "extra", extra);
	char *text = jsonw_print(j);
	assert_non_null(strstr(text, "\"alertname\":\"DiskFull\""));
	assert_non_null(strstr(text, "\"extra\":\"added later\""));
	assert_false(jsonarena_owns(text));
	free(text);
	cJSON_Delete(j);
	jsonarena_reset();
	assert_int_equal(jsonarena_used(), 0);
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
	jsonarena_begin();
	cJSON *j = cJSON_Parse(big);
	jsonarena_end();
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), (int)n);
	assert_true(jsonarena_owns(j));
	cJSON *last = cJSON_GetArrayItem(j, (int)n - 1);
	assert_false(jsonarena_owns(last));
	assert_string_equal(last->valuestring, "value number 04999");
	char *again = jsonw_print(j);
	assert_string_equal(again, big);
	free(again);
	cJSON_Delete(j);
	jsonarena_reset();
	free(big);
}

/* Outside begin/end nothing comes from the arena, and each request starts from an empty arena. */
static void test_outside_and_reuse(void **state)
{
	(void)state;
	cJSON *outside = cJSON_Parse(doc);
	assert_false(jsonarena_owns(outside));
	cJSON_Delete(outside);
	for (int round = 0; round < 3; round++) {
		jsonarena_begin();
		cJSON *j = cJSON_Parse(doc);
		assert_true(jsonarena_owns(j));
		size_t used = jsonarena_used();
		cJSON_Delete(j);
		assert_int_equal(jsonarena_used(),
				 used); /* freeing inside the arena gives nothing back early */
		jsonarena_reset();
		assert_int_equal(jsonarena_used(), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_in_arena),
	    cmocka_unit_test(test_larger_than_the_arena),
	    cmocka_unit_test(test_outside_and_reuse),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
