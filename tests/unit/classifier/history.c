/* history.c -- unit tests of the classifier's bounded event history and de-duplication table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "history.h"

static cJSON *entry(const char *id, const char *sid)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", id);
	cJSON_AddStringToObject(e, "source_id", sid);
	cJSON_AddItemToObject(e, "decisions", cJSON_CreateArray());
	return e;
}

static void test_ring_evicts_oldest_and_index_follows(void **state)
{
	(void)state;
	history *h = history_new(100, 1000);
	char id[32], sid[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "ID%05d", i);
		snprintf(sid, sizeof(sid), "s%d", i % 7);
		history_add(h, entry(id, sid));
	}
	assert_int_equal(history_count(h), 100);
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "ID%05d", i);
		cJSON *e = history_get(h, id);
		if (i < 900) {
			assert_null(e);
		} else {
			assert_non_null(e);
			assert_string_equal(cJSON_GetObjectItem(e, "id")->valuestring, id);
		}
		cJSON_Delete(e);
	}
	cJSON *l = history_list(h, "s3", 5);
	assert_int_equal(cJSON_GetArraySize(l), 5);
	/* newest first */
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "id")->valuestring, "ID00997");
	cJSON_Delete(l);
	history_free(h);
}

static void test_dedup_same_state_only(void **state)
{
	(void)state;
	history *h = history_new(10, 3);
	event *a = event_new(SRC_ALERTMANAGER);
	event_set(&a->source_id, "fp1");
	char dup[27];
	assert_false(history_seen(h, a, dup));
	event *again = event_new(SRC_ALERTMANAGER);
	event_set(&again->source_id, "fp1");
	assert_true(history_seen(h, again, dup));
	assert_string_equal(dup, a->id);
	/* another source with the same id is another problem */
	event *other = event_new(SRC_OPSGENIE);
	event_set(&other->source_id, "fp1");
	assert_false(history_seen(h, other, dup));
	/* an escalation (new severity) is news, its repeat is not */
	event *esc = event_new(SRC_ALERTMANAGER);
	event_set(&esc->source_id, "fp1");
	event_set(&esc->severity, "critical");
	assert_false(history_seen(h, esc, dup));
	assert_true(history_seen(h, esc, dup));
	assert_string_equal(dup, esc->id);
	event_free(esc);
	/* resolved is a new state, then a repeat of it is a duplicate */
	event *res = event_new(SRC_ALERTMANAGER);
	event_set(&res->source_id, "fp1");
	res->state = EV_RESOLVED;
	assert_false(history_seen(h, res, dup));
	assert_true(history_seen(h, res, dup));
	/* bounded: after 3 newer problems, fp1 is forgotten */
	char sid[16];
	for (int i = 0; i < 3; i++) {
		event *e = event_new(SRC_GENERIC);
		snprintf(sid, sizeof(sid), "n%d", i);
		event_set(&e->source_id, sid);
		assert_false(history_seen(h, e, dup));
		event_free(e);
	}
	assert_false(history_seen(h, res, dup));
	/* forgetting lets a retry through */
	history_forget(h, res);
	assert_false(history_seen(h, res, dup));
	event_free(a);
	event_free(again);
	event_free(other);
	event_free(res);
	history_free(h);
}

static void test_update_decision(void **state)
{
	(void)state;
	history *h = history_new(10, 10);
	cJSON *e = entry("E1", "s");
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "action_id", "A1");
	cJSON_AddStringToObject(d, "status", "sending");
	cJSON_AddItemToArray(cJSON_GetObjectItem(e, "decisions"), d);
	history_add(h, e);
	assert_true(history_update_decision(h, "E1", "A1", "dispatched", NULL, NULL));
	/* a late "pending" must not overwrite a settled status */
	assert_false(history_update_decision(h, "E1", "A1", "pending", "x", "sending"));
	cJSON *got = history_get(h, "E1");
	cJSON *gd = cJSON_GetArrayItem(cJSON_GetObjectItem(got, "decisions"), 0);
	assert_string_equal(cJSON_GetObjectItem(gd, "status")->valuestring, "dispatched");
	cJSON_Delete(got);
	assert_false(history_update_decision(h, "nope", "A1", "x", NULL, NULL));
	history_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ring_evicts_oldest_and_index_follows),
	    cmocka_unit_test(test_dedup_same_state_only),
	    cmocka_unit_test(test_update_decision),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
