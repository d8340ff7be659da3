/* norm_generic.c -- unit tests for POST /v1/events input and the normalizer table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "norm_fixture.h"

static void test_table(void **state)
{
	static const char *const names[] = {"alertmanager", "dynatrace", "opsgenie",
					    "icinga",	    "nagios",	 "generic"};
	static const event_source sources[] = {SRC_ALERTMANAGER, SRC_DYNATRACE, SRC_OPSGENIE,
					       SRC_ICINGA,	 SRC_NAGIOS,	SRC_GENERIC};
	size_t n = 0;
	while (normalizers[n])
		n++;
	assert_int_equal(n, RFX_ARRAY_LEN(names));
	for (size_t i = 0; i < n; i++) {
		const normalizer *z = normalizer_find(names[i]);
		assert_non_null(z);
		assert_string_equal(z->name, names[i]);
		assert_int_equal(z->source, sources[i]);
		assert_non_null(z->parse);
	}
	assert_null(normalizer_find("zabbix"));
	assert_null(normalizer_find(""));
	assert_null(normalizer_find(NULL));
}

static void test_normalized_event(void **state)
{
	norm_result r = {0};
	norm_run_fixture("generic", "generic/event.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	assert_string_equal(e->id, "01KAKZ7J0R8B2Q4V6X9Z1C3E5G"); /* a ULID id is kept */
	assert_int_equal(e->source, SRC_ALERTMANAGER);
	assert_string_equal(e->source_id, "95c7516b6ade3654");
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->title, "nginx is down on web-01");
	assert_string_equal(e->severity, "critical");
	assert_string_equal(e->entity, "web-01");
	assert_string_equal(e->event_type, "ServiceDown");
	assert_int_equal(e->ntags, 2);
	assert_string_equal(TAG(e, "service"), "nginx");
	assert_string_equal(TAG(e, "env"), "prod");
	assert_int_equal(e->started_at_ms, ms_of("2026-11-22T01:21:04Z"));
	assert_string_equal(e->url, "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0");
	assert_string_equal(cJSON_GetObjectItem(e->raw, "fingerprint")->valuestring, "95c7516b6ade3654");
	assert_int_equal(cJSON_GetArraySize(e->raw), 1);
	event_list_free(&r.list);
}

/* event_to_json output is accepted as input and gives back the same JSON. */
static void test_round_trip(void **state)
{
	static const char *const fixtures[][2] = {
	    {"alertmanager", "alertmanager/webhook_firing.json"},
	    {"dynatrace", "dynatrace/webhook_default.json"},
	    {"opsgenie", "opsgenie/alert.json"},
	    {"icinga", "icinga/objects_services.json"},
	    {"icinga", "icinga/nagios_notification.json"},
	    {"generic", "generic/events_list.json"},
	};
	for (size_t i = 0; i < RFX_ARRAY_LEN(fixtures); i++) {
		norm_result a = {0};
		norm_run_fixture(fixtures[i][0], fixtures[i][1], &a);
		assert_int_equal(a.rc, RFX_OK);
		for (size_t k = 0; k < a.list.n; k++) {
			cJSON *j1 = event_to_json(a.list.v[k], true);
			norm_result b = {0};
			norm_run_json("generic", j1, &b);
			assert_int_equal(b.rc, RFX_OK);
			assert_int_equal(b.list.n, 1);
			cJSON *j2 = event_to_json(b.list.v[0], true);
			assert_true(cJSON_Compare(j1, j2, true));
			cJSON_Delete(j1);
			cJSON_Delete(j2);
			event_list_free(&b.list);
		}
		event_list_free(&a.list);
	}
}

static void test_events_list(void **state)
{
	norm_result r = {0};
	norm_run_fixture("generic", "generic/events_list.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	event *a = r.list.v[0], *b = r.list.v[1];
	assert_int_equal(a->source, SRC_GENERIC);
	assert_int_equal(a->state, EV_OPEN);
	assert_string_equal(a->title, "Disk /var is 97% full");
	assert_string_equal(a->entity, "web-02");
	assert_string_equal(TAG(a, "mount"), "/var");
	assert_string_equal(TAG(a, "percent"), "97");
	assert_string_equal(TAG(a, "critical"), "false");
	assert_int_equal(a->started_at_ms, 1795310464264LL);
	assert_null(a->raw);
	/* source_id derived from source+entity+event_type+title */
	const char *parts[] = {"generic", "web-02", "DiskFull", "Disk /var is 97% full"};
	char want[17];
	normalize_hash_id(parts, 4, want);
	assert_string_equal(a->source_id, want);
	assert_int_equal(strlen(a->source_id), 16);
	assert_int_equal(b->state, EV_RESOLVED);
	assert_string_equal(b->source_id, "backup-web-02-nightly");
	assert_string_equal(b->severity, "");
	event_list_free(&r.list);
	/* the hash is stable, and differs when a part moves between fields */
	norm_run_fixture("generic", "generic/events_list.json", &r);
	assert_string_equal(r.list.v[0]->source_id, want);
	event_list_free(&r.list);
	const char *shifted[] = {"generic", "web-0", "2DiskFull", "Disk /var is 97% full"};
	char other[17];
	normalize_hash_id(shifted, 4, other);
	assert_string_not_equal(other, want);
}

static void test_array_and_aliases(void **state)
{
	norm_result r = {0};
	norm_run_fixture("generic", "generic/array.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	assert_string_equal(r.list.v[0]->title, "Queue depth above 10000");
	assert_string_equal(r.list.v[0]->severity, "major");
	assert_string_equal(r.list.v[1]->title, "Certificate expires in 5 days"); /* message */
	assert_string_equal(r.list.v[1]->entity, "lb-01");			  /* host */
	assert_null(r.list.v[1]->raw);
	event_list_free(&r.list);

	norm_run_fixture("generic", "generic/simple.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->title, "Disk usage 93% on /data"); /* summary */
	assert_string_equal(e->entity, "files-01");
	assert_true(event_id_valid(e->id)); /* "id": 4711 is the sender's, kept in raw */
	assert_int_equal(cJSON_GetArraySize(e->raw), 3);
	assert_string_equal(cJSON_GetObjectItem(e->raw, "check")->valuestring, "disk");
	assert_int_equal(cJSON_GetObjectItem(e->raw, "value")->valueint, 93);
	assert_int_equal(cJSON_GetObjectItem(e->raw, "id")->valueint, 4711);
	assert_null(cJSON_GetObjectItem(e->raw, "summary"));
	event_list_free(&r.list);

	/* an alias not used for a field stays in raw; a numeric source_id becomes text */
	norm_run_text("generic",
		      "{\"title\": \"t\", \"message\": \"long text\", \"source_id\": 12345, \"id\": \"abc\"}",
		      &r);
	assert_int_equal(r.rc, RFX_OK);
	e = r.list.v[0];
	assert_string_equal(e->title, "t");
	assert_string_equal(e->source_id, "12345");
	assert_string_equal(cJSON_GetObjectItem(e->raw, "message")->valuestring, "long text");
	assert_string_equal(cJSON_GetObjectItem(e->raw, "id")->valuestring, "abc");
	event_list_free(&r.list);
	/* empty title falls through to the next alias; nulls are absent */
	norm_run_text(
	    "generic",
	    "{\"title\": \"\", \"summary\": null, \"message\": \"m\", \"url\": null, \"tags\": null}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_string_equal(r.list.v[0]->title, "m");
	assert_null(r.list.v[0]->url);
	event_list_free(&r.list);
	norm_run_text("generic", "[]", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 0);
}

static void test_bad_input(void **state)
{
	norm_result r = {0};
	norm_run_text("generic", "\"just text\"", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "body must be an event object");
	norm_run_text("generic", "{}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "title", "title is required (or summary, or message)");
	norm_run_text("generic", "{\"title\": \"\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "title", "title is required");
	norm_run_text("generic", "{\"title\": 5}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "title", "title must be a string");
	norm_run_text("generic", "{\"summary\": {\"text\": \"x\"}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "summary", "summary must be a string");
	norm_run_text("generic", "{\"title\": \"t\", \"state\": \"closed\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state must be open or resolved");
	norm_run_text("generic", "{\"title\": \"t\", \"state\": 1}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state must be a string");
	norm_run_text("generic", "{\"title\": \"t\", \"source\": \"zabbix\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "source", "source must be one of");
	norm_run_text("generic", "{\"title\": \"t\", \"source_id\": true}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "source_id", "source_id must be");
	norm_run_text("generic", "{\"title\": \"t\", \"tags\": [\"a\"]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "tags", "tags must be an object");
	norm_run_text("generic", "{\"title\": \"t\", \"tags\": {\"a\": {\"b\": 1}}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "tags", "tags values must be strings, numbers or booleans");
	norm_run_text("generic", "{\"title\": \"t\", \"started_at\": \"yesterday\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "started_at", "started_at is not an RFC 3339 time");
	norm_run_text("generic", "{\"title\": \"t\", \"started_at\": -1e308}", &r);
	assert_int_equal(r.rc, RFX_OK); /* before the epoch: unknown */
	assert_int_equal(r.list.v[0]->started_at_ms, 0);
	event_list_free(&r.list);
	norm_run_text("generic", "{\"title\": \"t\", \"url\": 5}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "url", "url must be a string");
	norm_run_text("generic", "{\"title\": \"t\", \"entity\": []}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "entity", "entity must be a string");
	norm_run_text("generic", "{\"title\": \"t\", \"raw\": \"x\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "raw", "raw must be an object");
	norm_run_text("generic", "{\"events\": {}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "events", "events must be an array");
	norm_run_text("generic", "[{\"title\": \"a\"}, 2]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "[1]: an event must be a JSON object");
	event_list_push(&r.list, event_new(SRC_OPSGENIE));
	norm_run_text("generic", "{\"events\": [{\"title\": \"ok\"}, {\"title\": \"y\", \"state\": \"x\"}]}",
		      &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "events[1]: state must be open or resolved");
	assert_int_equal(r.list.n, 1); /* untouched on failure */
	event_list_free(&r.list);
}

static void test_hostile_strings(void **state)
{
	norm_result r = {0};
	norm_run_text("generic",
		      "{\"title\": \"\\\"; rm -rf / #\\n$(reboot) `id` | nc x 1 > /etc/passwd\", \"entity\": "
		      "\"web-01 && "
		      "halt\", \"tags\": {\"svc\": \"nginx'; reboot; echo '\", \"\xff\": \"\xfe\"}, "
		      "\"extra\\u0000\": \"a\\u0000b\","
		      " \"bad\xc3\": \"\xc3\"}",
		      &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->title, "\"; rm -rf / #\n$(reboot) `id` | nc x 1 > /etc/passwd");
	assert_string_equal(e->entity, "web-01 && halt");
	assert_string_equal(TAG(e, "svc"), "nginx'; reboot; echo '");
	assert_string_equal(TAG(e, "\xef\xbf\xbd"), "\xef\xbf\xbd");
	cJSON *j = event_to_json(e, true);
	char *text = cJSON_PrintUnformatted(j);
	assert_true(rfx_utf8_valid(text, strlen(text)));
	assert_non_null(cJSON_GetObjectItem(e->raw, "bad\xef\xbf\xbd"));
	free(text);
	cJSON_Delete(j);
	event_list_free(&r.list);
}

static void test_bounds(void **state)
{
	cJSON *o = cJSON_CreateObject();
	char *big = malloc(100001);
	memset(big, 'y', 100000);
	big[100000] = '\0';
	cJSON_AddStringToObject(o, "title", big);
	cJSON_AddStringToObject(o, "entity", big);
	cJSON *tags = cJSON_AddObjectToObject(o, "tags");
	for (int i = 0; i < 1000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "t%04d", i);
		cJSON_AddNumberToObject(tags, k, i);
	}
	cJSON_AddStringToObject(tags, big, big);
	norm_result r = {0};
	norm_run_json("generic", o, &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_int_equal(strlen(e->title), EVENT_MAX_FIELD);
	assert_int_equal(strlen(e->entity), EVENT_MAX_FIELD);
	assert_int_equal(e->ntags, EVENT_MAX_TAGS);
	for (size_t i = 0; i < e->ntags; i++)
		assert_true(strlen(e->tags[i].key) <= EVENT_MAX_FIELD &&
			    strlen(e->tags[i].value) <= EVENT_MAX_FIELD);
	event_list_free(&r.list);
	free(big);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_normalized_event),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_events_list),
	    cmocka_unit_test(test_array_and_aliases),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_hostile_strings),
	    cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
