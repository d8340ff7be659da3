/* request.c -- unit tests for the action request parser and the action's JSON round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../action_handler/request.h"

static const char *full =
    "{\"action_id\": \"01JD3Z0A\", \"event_id\": \"01JD3Z0B\", \"source\": \"opsgenie\", \"source_id\": "
    "\"og-1\","
    " \"entity\": \"web-01\", \"event_type\": \"ServiceDown\", \"title\": \"nginx down\","
    " \"rule\": \"nginx-down-restart\", \"rule_version\": \"3f2a9c1b\", \"type\": \"ssh\","
    " \"targets\": [\"web-01\", \"db-02:2222\", \"[::1]:22\"], \"command\": \"sudo systemctl restart "
    "'nginx'\","
    " \"verify\": \"systemctl is-active 'nginx'\", \"user\": \"remediation\", \"timeout\": 60.5, \"mode\": "
    "\"dry-run\","
    " \"limits\": {\"cooldown\": 600, \"max_attempts\": 3, \"max_per_hour\": 20, \"max_targets\": 5},"
    " \"on_success\": {\"note\": \"Restarted\", \"close\": true, \"team\": \"ops\"},"
    " \"on_failure\": {\"note\": \"Failed\", \"team\": \"oncall\"}, \"created_at\": "
    "\"2026-11-22T01:21:04.264Z\","
    " \"some_future_field\": 1}";

static action *parse_ok(const char *s)
{
	action *a = NULL;
	request_error e;
	rfx_err rc = request_parse(s, strlen(s), &a, &e);
	if (rc)
		fprintf(stderr, "unexpected: %s: %s\n", e.field, e.message);
	assert_int_equal(rc, RFX_OK);
	return a;
}

static void parse_bad(const char *s, rfx_err want, const char *field)
{
	action *a = (action *)1;
	request_error e;
	assert_int_equal(request_parse(s, strlen(s), &a, &e), want);
	assert_null(a);
	assert_string_equal(e.field, field);
	assert_true(e.message[0] != '\0');
}

static void test_full_request(void **state)
{
	action *a = parse_ok(full);
	assert_string_equal(a->id, "01JD3Z0A");
	assert_string_equal(a->source_id, "og-1");
	assert_string_equal(a->rule, "nginx-down-restart");
	assert_int_equal(a->nruns, 3);
	assert_string_equal(a->runs[0].host, "web-01");
	assert_int_equal(a->runs[0].port, 0);
	assert_string_equal(a->runs[1].host, "db-02");
	assert_int_equal(a->runs[1].port, 2222);
	assert_string_equal(a->runs[2].host, "::1");
	assert_int_equal(a->timeout_ms, 60500);
	assert_true(a->dry_run);
	assert_int_equal(a->limits.cooldown_ms, 600000);
	assert_int_equal(a->limits.max_attempts, 3);
	assert_int_equal(a->limits.max_per_hour, 20);
	assert_int_equal(a->limits.max_targets, 5);
	assert_true(a->on_success.set && a->on_success.close);
	assert_string_equal(a->on_success.team, "ops");
	assert_false(a->on_failure.close);
	assert_int_equal(a->state, ACTION_QUEUED);
	assert_int_equal(a->runs[0].exit_status, -1);
	action_free(a);
}

static void test_minimal_request_defaults(void **state)
{
	action *a = parse_ok(
	    "{\"action_id\": \"x1\", \"rule\": \"r\", \"type\": \"ssh\", \"targets\": [\"h\"],"
	    " \"command\": \"true\", \"verify\": \"\", \"user\": null, \"limits\": {\"cooldown\": null}}");
	assert_null(a->user);
	assert_null(a->verify); /* an empty verify is no verify */
	assert_int_equal(a->timeout_ms, 0);
	assert_false(a->dry_run);
	assert_int_equal(a->limits.cooldown_ms, ACTION_NO_LIMIT);
	assert_int_equal(a->limits.max_targets, ACTION_NO_LIMIT);
	assert_false(a->on_success.set);
	action_free(a);
}

#define BASE "\"action_id\": \"x1\", \"rule\": \"r\", \"type\": \"ssh\", \"command\": \"true\""

static void test_rejects(void **state)
{
	parse_bad("not json", RFX_ERR_PARSE, "");
	parse_bad("[1,2]", RFX_ERR_INVAL, "");
	parse_bad("{\"rule\": \"r\", \"type\": \"ssh\", \"command\": \"c\", \"targets\": [\"h\"]}",
		  RFX_ERR_INVAL, "action_id");
	parse_bad("{\"action_id\": \"a b\", \"rule\": \"r\", \"type\": \"ssh\", \"command\": \"c\", "
		  "\"targets\": [\"h\"]}",
		  RFX_ERR_INVAL, "action_id");
	parse_bad("{" BASE ", \"targets\": []}", RFX_ERR_INVAL, "targets");
	parse_bad("{" BASE ", \"targets\": \"h\"}", RFX_ERR_INVAL, "targets");
	parse_bad("{" BASE ", \"targets\": [\"h\", 5]}", RFX_ERR_INVAL, "targets[1]");
	parse_bad("{" BASE ", \"targets\": [\"-oProxyCommand=sh\"]}", RFX_ERR_INVAL, "targets[0]");
	parse_bad("{" BASE ", \"targets\": [\"h:0\"]}", RFX_ERR_INVAL, "targets[0]");
	parse_bad("{" BASE ", \"targets\": [\"h:65536\"]}", RFX_ERR_INVAL, "targets[0]");
	parse_bad("{" BASE ", \"targets\": [\"h\", \"h\"]}", RFX_ERR_INVAL, "targets[1]");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"timeout\": \"60\"}", RFX_ERR_INVAL, "timeout");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"timeout\": 0}", RFX_ERR_INVAL, "timeout");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"timeout\": 1e9}", RFX_ERR_INVAL, "timeout");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"mode\": \"enforced\"}", RFX_ERR_INVAL, "mode");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"user\": \"root;id\"}", RFX_ERR_INVAL, "user");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"limits\": {\"cooldwn\": 1}}", RFX_ERR_INVAL, "limits");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"limits\": {\"max_attempts\": 1.5}}", RFX_ERR_INVAL,
		  "limits.max_attempts");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"limits\": {\"max_targets\": -1}}", RFX_ERR_INVAL,
		  "limits.max_targets");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"limits\": 5}", RFX_ERR_INVAL, "limits");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"on_success\": {\"close\": \"yes\"}}", RFX_ERR_INVAL,
		  "on_success");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"on_failure\": {\"note\": 7}}", RFX_ERR_INVAL,
		  "on_failure");
	parse_bad("{\"action_id\": \"x\", \"rule\": \"r\", \"type\": \"ssh\", \"targets\": [\"h\"]}",
		  RFX_ERR_INVAL, "command");
	parse_bad("{\"action_id\": \"x\", \"rule\": \"r x\", \"type\": \"ssh\", \"command\": \"c\", "
		  "\"targets\": [\"h\"]}",
		  RFX_ERR_INVAL, "rule");
	parse_bad("{" BASE ", \"targets\": [\"h\"], \"title\": \"\xff\xfe\"}", RFX_ERR_INVAL, "title");
}

static void test_json_round_trip(void **state)
{
	action *a = parse_ok(full);
	a->state = ACTION_FAILED;
	action_set_str(&a->reason, "verify_failed");
	a->received_ms = 1795000000000;
	a->started_ms = 1795000000100;
	a->finished_ms = 1795000002100;
	a->runs[0].state = ACTION_FAILED;
	a->runs[0].exit_status = 0;
	a->runs[0].verify_exit_status = 3;
	action_set_str(&a->runs[0].key, "web-01:22");
	action_output_set(&a->runs[0].out, "out\xff\n", 5, true);
	a->runs[0].started_ms = 1795000000100;
	a->runs[0].finished_ms = 1795000002100;
	a->runs[0].duration_ms = 1999.5;
	a->wb = rfx_calloc(1, sizeof(*a->wb));
	a->nwb = 1;
	a->wb[0].sink = rfx_strdup("opsgenie");
	a->wb[0].op = rfx_strdup("note");
	a->wb[0].state = WB_FAILED;
	a->wb[0].attempts = 4;
	a->wb[0].status = 503;
	cJSON *j = action_to_json(a, ACTION_VIEW_FULL);
	char *s1 = cJSON_PrintUnformatted(j);
	action *b = NULL;
	char err[200];
	assert_int_equal(action_from_json(j, &b, err, sizeof(err)), RFX_OK);
	cJSON *j2 = action_to_json(b, ACTION_VIEW_FULL);
	char *s2 = cJSON_PrintUnformatted(j2);
	assert_string_equal(s1, s2);
	assert_string_equal(b->runs[0].out.data, "out\xef\xbf\xbd\n"); /* invalid byte became U+FFFD */
	assert_true(b->runs[0].out.truncated);
	assert_int_equal(b->wb[0].state, WB_FAILED);
	cJSON *sum = action_to_json(a, ACTION_VIEW_SUMMARY);
	assert_null(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "results"), 0), "stdout"));
	cJSON_Delete(sum);
	free(s1);
	free(s2);
	cJSON_Delete(j);
	cJSON_Delete(j2);
	action_free(a);
	action_free(b);
}

static void test_summarise(void **state)
{
	action *a = parse_ok(full);
	for (size_t i = 0; i < a->nruns; i++)
		a->runs[i].state = ACTION_SUCCEEDED;
	assert_true(action_runs_final(a));
	action_summarise(a);
	assert_int_equal(a->state, ACTION_SUCCEEDED);
	assert_null(a->reason);
	a->runs[1].state = ACTION_TIMEOUT;
	action_set_str(&a->runs[1].reason, "timeout");
	action_set_str(&a->runs[1].error, "too slow");
	a->runs[2].state = ACTION_FAILED;
	action_summarise(a);
	assert_int_equal(a->state, ACTION_TIMEOUT); /* the first run in target order that did not succeed */
	assert_string_equal(a->reason, "timeout");
	assert_string_equal(a->error, "db-02:2222: too slow");
	a->runs[0].state = ACTION_RUNNING;
	assert_false(action_runs_final(a));
	action_free(a);
}

static void test_state_names(void **state)
{
	for (int i = 0; i < ACTION_STATE_COUNT; i++) {
		action_state s;
		assert_true(action_state_parse(action_state_name((action_state)i), &s));
		assert_int_equal(s, i);
	}
	action_state s;
	assert_false(action_state_parse("done", &s));
	assert_false(action_state_final(ACTION_QUEUED));
	assert_false(action_state_final(ACTION_RUNNING));
	assert_true(action_state_final(ACTION_INTERRUPTED));
	assert_string_equal(action_state_name(ACTION_DRY_RUN), "dry-run");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_request), cmocka_unit_test(test_minimal_request_defaults),
	    cmocka_unit_test(test_rejects),	 cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_summarise),	 cmocka_unit_test(test_state_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
