/* norm_opsgenie.c -- unit tests for the OpsGenie normalizer: alert objects, lists, webhooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "norm_fixture.h"

#define ALERT_ID "70413a06-38d6-4c85-92b8-5ebc900d42e2"

static void test_alert(void **state)
{
	norm_result r = {0};
	norm_run_fixture("opsgenie", "opsgenie/alert.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	assert_int_equal(e->source, SRC_OPSGENIE);
	assert_string_equal(e->source_id, ALERT_ID);
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->title, "nginx is down on web-01");
	assert_string_equal(e->severity, "P1");
	assert_string_equal(e->event_type, "ServiceDown"); /* details.event_type over alias */
	assert_string_equal(e->entity, "web-01");	   /* entity over details.host */
	assert_int_equal(e->ntags, 3);
	assert_string_equal(TAG(e, "OverwriteQuietHours"), "");
	assert_string_equal(TAG(e, "env"), "prod");
	assert_string_equal(TAG(e, "service"), "nginx");
	assert_null(TAG(e, "region")); /* details are not tags */
	assert_int_equal(e->started_at_ms, ms_of("2026-11-22T01:21:04.264Z"));
	assert_null(e->url);
	assert_string_equal(cJSON_GetObjectItem(e->raw, "tinyId")->valuestring, "1791");
	assert_null(cJSON_GetObjectItem(e->raw, "requestId")); /* raw is the alert, not the envelope */
	event_list_free(&r.list);
}

static void test_list(void **state)
{
	norm_result r = {0};
	norm_run_fixture("opsgenie", "opsgenie/alerts_list.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	event *a = r.list.v[0], *b = r.list.v[1];
	assert_string_equal(a->source_id, ALERT_ID);
	assert_string_equal(a->event_type, "nginx-down-web-01"); /* list items carry no details: alias */
	assert_string_equal(a->entity, "");
	assert_string_equal(b->source_id, "b4f2e0c3-5a1d-4f7e-9c2b-3d8e6f1a0b92");
	assert_int_equal(b->state, EV_RESOLVED);
	assert_string_equal(b->title, "Disk /var is 97% full");
	assert_string_equal(b->severity, "P3");
	assert_string_equal(b->event_type, "DiskFull");
	assert_string_equal(TAG(b, "disk"), "");
	assert_int_equal(b->started_at_ms, ms_of("2026-11-21T22:10:00Z"));
	event_list_free(&r.list);
	norm_run_text("opsgenie", "{\"data\": [], \"took\": 0.1}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 0);
	/* a bare alert object and a bare array work too */
	norm_run_text("opsgenie",
		      "[{\"id\": \"x1\", \"message\": \"m\"}, {\"id\": \"x2\", \"status\": \"closed\"}]", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	assert_int_equal(r.list.v[1]->state, EV_RESOLVED);
	norm_run_text("opsgenie", "{\"id\": \"x3\", \"message\": \"m\"}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 3);
	assert_string_equal(r.list.v[2]->source_id, "x3");
	event_list_free(&r.list);
}

static void test_webhook_create(void **state)
{
	norm_result r = {0};
	norm_run_fixture("opsgenie", "opsgenie/webhook_create.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	assert_string_equal(e->source_id, ALERT_ID); /* alertId, the same identity as the API's id */
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->title, "nginx is down on web-01");
	assert_string_equal(e->severity, "P1");
	assert_string_equal(e->event_type, "ServiceDown");
	assert_string_equal(e->entity, "web-01"); /* entity "" -> details.host */
	assert_string_equal(TAG(e, "env"), "prod");
	assert_string_equal(TAG(e, "OverwriteQuietHours"), "");
	assert_int_equal(e->started_at_ms, 1795310464264LL); /* epoch ms in webhooks */
	assert_string_equal(cJSON_GetObjectItem(e->raw, "action")->valuestring, "Create");
	event_list_free(&r.list);
}

static void test_webhook_actions(void **state)
{
	norm_result r = {0};
	norm_run_fixture("opsgenie", "opsgenie/webhook_close.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_int_equal(e->state, EV_RESOLVED);
	assert_string_equal(e->source_id, ALERT_ID);
	assert_string_equal(e->event_type, "nginx-down-web-01");
	assert_string_equal(e->entity, "");
	event_list_free(&r.list);
	static const struct {
		const char *action;
		event_state want;
	} cases[] = {{"Acknowledge", EV_OPEN}, {"AddNote", EV_OPEN},   {"UnAcknowledge", EV_OPEN},
		     {"Delete", EV_RESOLVED},  {"Close", EV_RESOLVED}, {"Escalate", EV_OPEN}};
	for (size_t i = 0; i < RFX_ARRAY_LEN(cases); i++) {
		char body[256];
		snprintf(body, sizeof(body), "{\"action\": \"%s\", \"alert\": {\"alertId\": \"a1\"}}",
			 cases[i].action);
		norm_run_text("opsgenie", body, &r);
		assert_int_equal(r.rc, RFX_OK);
		assert_int_equal(r.list.v[0]->state, cases[i].want);
		event_list_free(&r.list);
	}
}

static void test_tag_split(void **state)
{
	norm_result r = {0};
	norm_run_text("opsgenie",
		      "{\"id\": \"a\", \"tags\": [\"k:v:w\", \":nokey\", \"k2:\", \"plain\", \"plain\"]}",
		      &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_int_equal(e->ntags, 3);
	assert_string_equal(TAG(e, "k"), "v:w");
	assert_string_equal(TAG(e, "k2"), "");
	assert_string_equal(TAG(e, "plain"), "");
	event_list_free(&r.list);
}

static void test_bad_input(void **state)
{
	norm_result r = {0};
	norm_run_text("opsgenie", "\"alert\"", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "must be a JSON object");
	norm_run_text("opsgenie", "{\"took\": 1}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "data", "data is required");
	norm_run_text("opsgenie", "{\"data\": 5}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "data", "data must be an alert object");
	norm_run_text("opsgenie", "{\"data\": {\"message\": \"x\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "id", "data: id is required");
	norm_run_text("opsgenie", "{\"data\": [{\"id\": \"a\"}, {\"id\": 7}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "id", "data[1]: id must be a string");
	assert_int_equal(r.list.n, 0);
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "id", "must not be empty");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"status\": \"snoozed\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "status", "status must be open or closed");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"tags\": [1]}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "tags", "tags items must be strings");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"tags\": \"x\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "tags", "tags must be an array");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"details\": \"x\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "details", "details must be an object");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"details\": {\"event_type\": 1}}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "details.event_type", "details.event_type must be a string");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"priority\": 1}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "priority", "priority must be a string");
	norm_run_text("opsgenie", "{\"data\": {\"id\": \"a\", \"createdAt\": \"last week\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "createdAt", "createdAt is not an RFC 3339 time");
	norm_run_text("opsgenie", "{\"action\": \"Create\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "alert", "alert is required");
	norm_run_text("opsgenie", "{\"alert\": {\"alertId\": \"a\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "action", "action is required");
	norm_run_text("opsgenie", "{\"action\": \"Create\", \"alert\": {\"message\": \"x\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "alertId", "alert: alertId is required");
	norm_run_text("opsgenie", "{\"action\": 1, \"alert\": {\"alertId\": \"a\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "action", "action must be a string");
	assert_int_equal(r.list.n, 0);
}

static void test_hostile_strings(void **state)
{
	norm_result r = {0};
	norm_run_text(
	    "opsgenie",
	    "{\"data\": {\"id\": \"a\", \"message\": \"it's \\\"down\\\"\\n$(halt)\", \"entity\": \"h;ls\", "
	    "\"tags\": [\"svc:`rm x`\", \"\xff:\xfe\"]}}",
	    &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->title, "it's \"down\"\n$(halt)");
	assert_string_equal(e->entity, "h;ls");
	assert_string_equal(TAG(e, "svc"), "`rm x`");
	assert_string_equal(TAG(e, "\xef\xbf\xbd"), "\xef\xbf\xbd");
	event_list_free(&r.list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alert),	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_webhook_create),  cmocka_unit_test(test_webhook_actions),
	    cmocka_unit_test(test_tag_split),	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_hostile_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
