/* history_event.c -- unit tests: an event stored as text reads back as the tree history_add would have kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <stdlib.h>
#include "history.h"
#include "jsonw.h"

static event *sample(bool with_raw)
{
	event *e = event_new(SRC_ALERTMANAGER);
	event_set(&e->source_id, "fp-\"quoted\"\\slash");
	event_set(&e->title, "line1\nline2\ttab \x01 ctl \xc3\xa9t\xc3\xa9");
	event_set(&e->severity, "critical");
	event_set(&e->entity, "web-1:9100");
	event_set(&e->event_type, "HostDown");
	event_set(&e->url, "http://prometheus:9090/graph?g0.expr=up%3D%3D0");
	event_tag_set(e, "env", "prod");
	event_tag_set(e, "a\"b", "c\\d");
	e->started_at_ms = 1763774464264;
	if (with_raw)
		e->raw = cJSON_Parse("{\"labels\":{\"x\":\"y\"},\"n\":1.5,\"big\":12345678901234,\"l\":[true,"
				     "null,\"\\u0001\"]}");
	return e;
}

static cJSON *decisions(void)
{
	return cJSON_Parse(
	    "[{\"rule\":\"r1\",\"rule_version\":\"1\",\"type\":\"ssh\",\"action_id\":\"A1\",\"mode\":"
	    "\"act\",\"targets\":[\"web-1\"],\"status\":\"sending\"}]");
}

static void check_same(bool with_raw, bool with_impact, bool printed)
{
	history *h = history_new(10, 10);
	event *e = sample(with_raw);
	cJSON *d = decisions();
	cJSON *impact = with_impact ? cJSON_Parse("{\"services\":[\"shop\"],\"root_cause\":null}") : NULL;
	cJSON *want = event_to_json(e, true);
	cJSON_AddStringToObject(want, "received_at", "2026-11-22T01:21:04.264Z");
	cJSON_AddItemToObject(want, "decisions", cJSON_Duplicate(d, 1));
	if (impact)
		cJSON_AddItemToObject(want, "impact", cJSON_Duplicate(impact, 1));
	char *text = printed ? jsonw_print(d) : NULL; /* decisions printed by the caller already */
	history_add_event(h, e, "2026-11-22T01:21:04.264Z", d, text, impact);
	free(text);
	cJSON *got = history_get(h, e->id);
	assert_non_null(got);
	assert_true(cJSON_Compare(want, got, true));
	/* members keep their order */
	const cJSON *a = want->child, *b = got->child;
	for (; a && b; a = a->next, b = b->next)
		assert_string_equal(a->string, b->string);
	assert_null(a);
	assert_null(b);
	cJSON_Delete(got);
	/* duplicates and decision updates act on the stored text */
	history_count_duplicate(h, e->id);
	history_count_duplicate(h, e->id);
	assert_true(history_update_decision(h, e->id, "A1", "pending", "queued", "sending"));
	got = history_get(h, e->id);
	assert_int_equal(cJSON_GetObjectItem(got, "duplicates")->valueint, 2);
	const cJSON *gd = cJSON_GetArrayItem(cJSON_GetObjectItem(got, "decisions"), 0);
	assert_string_equal(cJSON_GetObjectItem(gd, "status")->valuestring, "pending");
	assert_string_equal(cJSON_GetObjectItem(gd, "reason")->valuestring, "queued");
	assert_string_equal(got->child->string, "id");
	cJSON_Delete(got);
	cJSON *only = history_get_decisions(h, e->id);
	assert_int_equal(cJSON_GetArraySize(only), 1);
	cJSON_Delete(only);
	cJSON *l = history_list(h, e->source_id, 10);
	assert_int_equal(cJSON_GetArraySize(l), 1);
	cJSON_Delete(l);
	cJSON_Delete(want);
	cJSON_Delete(d);
	cJSON_Delete(impact);
	event_free(e);
	history_free(h);
}

static void test_event_with_raw(void **state)
{
	(void)state;
	check_same(true, false, false);
	check_same(true, false, true);
}

static void test_event_without_raw_with_impact(void **state)
{
	(void)state;
	check_same(false, true, false);
	check_same(false, true, true);
}

static void test_unknown_times_and_url_are_null(void **state)
{
	(void)state;
	event *e = event_new(SRC_GENERIC);
	rfx_buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(event_json_write(e, false, &b), RFX_OK);
	buf_putc(&b, '}');
	cJSON *got = cJSON_Parse(buf_cstr(&b));
	cJSON *want = event_to_json(e, false);
	assert_true(cJSON_Compare(want, got, true));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(got, "url")));
	cJSON_Delete(got);
	cJSON_Delete(want);
	buf_free(&b);
	event_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_with_raw),
	    cmocka_unit_test(test_event_without_raw_with_impact),
	    cmocka_unit_test(test_unknown_times_and_url_are_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
