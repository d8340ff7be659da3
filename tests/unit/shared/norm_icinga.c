/* norm_icinga.c -- unit tests for the Icinga 2 / Nagios normalizer: event stream and objects API shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "norm_fixture.h"

static void test_statechange_service(void **state)
{
	norm_result r = {0};
	norm_run_fixture("icinga", "icinga/statechange_service.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	assert_int_equal(e->source, SRC_ICINGA);
	assert_string_equal(e->source_id, "web-01!http");
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->severity, "critical");
	assert_string_equal(e->entity, "web-01");
	assert_string_equal(e->event_type, "http");
	/* first line of the output only */
	assert_string_equal(
	    e->title, "HTTP CRITICAL: HTTP/1.1 502 Bad Gateway - 497 bytes in 0.002 second response time");
	assert_int_equal(e->started_at_ms, 1795310464284LL);
	/* vars_after, scalars stringified */
	assert_int_equal(e->ntags, 4);
	assert_string_equal(TAG(e, "attempt"), "1");
	assert_string_equal(TAG(e, "reachable"), "true");
	assert_string_equal(TAG(e, "state"), "2");
	assert_string_equal(TAG(e, "state_type"), "1");
	assert_null(e->url);
	assert_string_equal(cJSON_GetObjectItem(e->raw, "type")->valuestring, "StateChange");
	event_list_free(&r.list);
}

static void test_statechange_host(void **state)
{
	norm_result r = {0};
	norm_run_fixture("icinga", "icinga/statechange_host.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->source_id, "db-02");
	assert_string_equal(e->event_type, "host");
	assert_string_equal(e->entity, "db-02");
	assert_string_equal(e->severity, "critical"); /* DOWN */
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->title, "PING CRITICAL - Packet loss = 100%");
	assert_int_equal(e->started_at_ms, 1795310520500LL);
	event_list_free(&r.list);
}

static void test_objects_services(void **state)
{
	norm_result r = {0};
	norm_run_fixture("icinga", "icinga/objects_services.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	event *a = r.list.v[0], *b = r.list.v[1];
	assert_string_equal(a->source_id, "web-01!http");
	assert_string_equal(a->severity, "critical");
	assert_int_equal(a->state, EV_OPEN);
	assert_string_equal(a->event_type, "http");
	assert_string_equal(a->entity, "web-01");
	assert_string_equal(
	    a->title, "HTTP CRITICAL: HTTP/1.1 502 Bad Gateway - 497 bytes in 0.002 second response time");
	assert_int_equal(a->started_at_ms, 1795310464284LL);
	/* custom vars: scalars only */
	assert_int_equal(a->ntags, 4);
	assert_string_equal(TAG(a, "service"), "nginx");
	assert_string_equal(TAG(a, "env"), "prod");
	assert_string_equal(TAG(a, "http_port"), "80");
	assert_string_equal(TAG(a, "sla"), "true");
	assert_null(TAG(a, "notification"));
	assert_string_equal(b->source_id, "web-02!disk");
	assert_int_equal(b->state, EV_RESOLVED);
	assert_string_equal(b->severity, "ok");
	assert_int_equal(b->ntags, 0);
	assert_string_equal(cJSON_GetObjectItem(b->raw, "name")->valuestring, "web-02!disk");
	event_list_free(&r.list);
}

static void test_objects_hosts(void **state)
{
	norm_result r = {0};
	norm_run_fixture("icinga", "icinga/objects_hosts.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	assert_string_equal(e->source_id, "db-02");
	assert_string_equal(e->event_type, "host");
	assert_string_equal(e->severity, "critical");
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->title, "PING CRITICAL - Packet loss = 100%");
	assert_int_equal(e->ntags, 2);
	assert_string_equal(TAG(e, "os"), "Linux");
	assert_string_equal(TAG(e, "role"), "db");
	event_list_free(&r.list);
}

static void test_nagios(void **state)
{
	norm_result r = {0};
	norm_run_fixture("icinga", "icinga/nagios_notification.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_int_equal(e->source, SRC_NAGIOS);
	assert_string_equal(e->source_id, "mail-01!smtp");
	assert_string_equal(e->severity, "warning");
	assert_string_equal(e->title, "SMTP WARNING - 5.012 sec. response time");
	assert_string_equal(TAG(e, "contactgroup"), "mail-admins");
	assert_int_equal(e->started_at_ms, 1795310600000LL);
	event_list_free(&r.list);
	/* the "nagios" table entry marks Icinga-shaped input as nagios; an explicit marker still wins */
	norm_run_fixture("nagios", "icinga/statechange_service.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.v[0]->source, SRC_NAGIOS);
	norm_run_text("nagios", "{\"source\": \"icinga\", \"host\": \"h\", \"state\": 0}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.v[1]->source, SRC_ICINGA);
	event_list_free(&r.list);
}

static void test_states_and_titles(void **state)
{
	static const struct {
		const char *body, *severity, *title;
		event_state st;
	} cases[] = {
	    {"{\"host\": \"h\", \"service\": \"s\", \"state\": 0}", "ok", "s on h is OK", EV_RESOLVED},
	    {"{\"host\": \"h\", \"service\": \"s\", \"state\": 1.0}", "warning", "s on h is WARNING",
	     EV_OPEN},
	    {"{\"host\": \"h\", \"service\": \"s\", \"state\": 2}", "critical", "s on h is CRITICAL",
	     EV_OPEN},
	    {"{\"host\": \"h\", \"service\": \"s\", \"state\": 3}", "unknown", "s on h is UNKNOWN", EV_OPEN},
	    {"{\"host\": \"h\", \"state\": 0}", "ok", "h is UP", EV_RESOLVED},
	    {"{\"host\": \"h\", \"state\": 1}", "critical", "h is DOWN", EV_OPEN},
	    {"{\"host\": \"h\", \"service\": \"\", \"state\": \"DOWN\"}", "critical", "h is DOWN", EV_OPEN},
	    {"{\"host\": \"h\", \"service\": \"s\", \"state\": 2, \"check_result\": {\"output\": "
	     "\"a\\r\\nb\"}}",
	     "critical", "a", EV_OPEN},
	    {"{\"type\": \"CheckResult\", \"host\": \"h\", \"service\": \"s\", \"check_result\": {\"state\": "
	     "1, "
	     "\"output\": \"\\nsecond\"}}",
	     "warning", "s on h is WARNING", EV_OPEN},
	};
	for (size_t i = 0; i < RFX_ARRAY_LEN(cases); i++) {
		norm_result r = {0};
		norm_run_text("icinga", cases[i].body, &r);
		assert_int_equal(r.rc, RFX_OK);
		assert_string_equal(r.list.v[0]->severity, cases[i].severity);
		assert_string_equal(r.list.v[0]->title, cases[i].title);
		assert_int_equal(r.list.v[0]->state, cases[i].st);
		event_list_free(&r.list);
	}
	/* a single object as the objects API returns inside results */
	norm_result r = {0};
	norm_run_text("icinga", "{\"type\": \"Service\", \"name\": \"h9!load\", \"attrs\": {\"state\": 1}}",
		      &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_string_equal(r.list.v[0]->source_id, "h9!load");
	assert_string_equal(r.list.v[0]->entity, "h9");
	assert_string_equal(r.list.v[0]->event_type, "load");
	event_list_free(&r.list);
}

static void test_bad_input(void **state)
{
	norm_result r = {0};
	norm_run_text("icinga", "[1]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "must be a JSON object");
	norm_run_text("icinga", "{}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "host", "host is required");
	norm_run_text("icinga", "{\"host\": 5, \"state\": 0}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "host", "host must be a string");
	norm_run_text("icinga", "{\"host\": \"\", \"state\": 0}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "host", "must not be empty");
	norm_run_text("icinga", "{\"host\": \"h\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state is required");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": 7}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state must be 0, 1, 2 or 3");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": 1.5}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state must be 0, 1, 2 or 3");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": -1}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state must be 0, 1, 2 or 3");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": \"BROKEN\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "state", "state must be a state number");
	norm_run_text("icinga", "{\"type\": \"Notification\", \"host\": \"h\", \"state\": 0}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "type", "type must be StateChange or CheckResult");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": 2, \"check_result\": {\"output\": 3}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "check_result.output", "check_result.output must be a string");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": 2, \"check_result\": {\"vars_after\": []}}",
		      &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "check_result.vars_after", "must be an object");
	norm_run_text("icinga", "{\"host\": \"h\", \"state\": 2, \"timestamp\": \"soon\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "timestamp", "timestamp is not an RFC 3339 time");
	norm_run_text("icinga", "{\"source\": \"zabbix\", \"host\": \"h\", \"state\": 0}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "source", "source must be icinga or nagios");
	norm_run_text("icinga", "{\"results\": {}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "results", "results must be an array");
	norm_run_text("icinga", "{\"results\": [{\"type\": \"User\", \"attrs\": {}}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "type", "results[0]: type must be Service or Host");
	norm_run_text("icinga", "{\"results\": [{\"type\": \"Host\"}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "attrs", "attrs is required");
	norm_run_text("icinga", "{\"results\": [{\"type\": \"Service\", \"attrs\": {\"state\": 0}}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "attrs.host_name", "attrs.host_name is required");
	norm_run_text(
	    "icinga",
	    "{\"results\": [{\"type\": \"Service\", \"attrs\": {\"host_name\": \"h\", \"state\": 0}}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "attrs.name", "attrs.name is required");
	norm_run_text("icinga",
		      "{\"results\": [{\"type\": \"Host\", \"name\": \"h\", \"attrs\": {\"state\": null}}]}",
		      &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "attrs.state", "attrs.state is required");
	norm_run_text(
	    "icinga",
	    "{\"results\": [{\"type\": \"Host\", \"name\": \"h\", \"attrs\": {\"state\": 0, \"vars\": 1}}]}",
	    &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "attrs.vars", "attrs.vars must be an object");
	norm_run_text("icinga",
		      "{\"results\": [{\"type\": \"Host\", \"name\": \"h\", \"attrs\": {\"state\": 0}}, 3]}",
		      &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "results[1]: a result must be an object");
	assert_int_equal(r.list.n, 0);
}

static void test_hostile_strings(void **state)
{
	norm_result r = {0};
	norm_run_text(
	    "icinga",
	    "{\"host\": \"web-01;reboot\", \"service\": \"http $(id)\", \"state\": 2, \"output\": "
	    "\"CRIT \\\"x\\\" \xfe`y`\\nmore\", \"vars\": {\"q\": \"'\\\"\", \"n\": null, \"big\": 1e300}}",
	    &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->source_id, "web-01;reboot!http $(id)");
	assert_string_equal(e->title, "CRIT \"x\" \xef\xbf\xbd`y`");
	assert_string_equal(TAG(e, "q"), "'\"");
	assert_string_equal(TAG(e, "n"), "");
	assert_string_equal(TAG(e, "big"), "1e+300");
	event_list_free(&r.list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statechange_service),
	    cmocka_unit_test(test_statechange_host),
	    cmocka_unit_test(test_objects_services),
	    cmocka_unit_test(test_objects_hosts),
	    cmocka_unit_test(test_nagios),
	    cmocka_unit_test(test_states_and_titles),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_hostile_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
