/* report.c -- unit tests for `reflex report`: reading logfmt and audit JSON lines, de-duplication by
 * action_id, filters (time, rule, entity), success rate and nearest-rank percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../../cli/cmd_report.c"

static void feed(report *r, const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		ingest_line(r, p, len);
		p += len + (nl ? 1 : 0);
	}
}

static const char *LOGS =
    "ts=2026-11-22T01:00:00.000Z level=info svc=classifier msg=\"event classified\" event_id=E1 "
    "source=alertmanager "
    "source_id=s1 state=open entity=web-01 event_type=ServiceDown rule=nginx-restart decision=act "
    "action_id=A1\n"
    "reflex_action-handler.1.abc@node-1    | ts=2026-11-22T01:00:01.000Z level=info svc=action-handler "
    "msg=\"action finished\" action_id=A1 event_id=E1 rule=nginx-restart source=alertmanager source_id=s1 "
    "targets=web-01:2222 state=succeeded duration_ms=100\n"
    "ts=2026-11-22T02:00:00.000Z level=warn svc=action-handler msg=\"action finished\" action_id=A2 "
    "event_id=E2 "
    "rule=nginx-restart targets=web-02 state=refused reason=cooldown\n"
    "ts=2026-11-22T03:00:00.000Z level=warn svc=action-handler msg=\"action finished\" action_id=A3 "
    "event_id=E3 "
    "rule=disk-clean targets=db-01,db-02 state=failed reason=exit_status duration_ms=300\n"
    "ts=2026-11-22T03:00:01.000Z level=info svc=action-handler msg=\"action finished\" action_id=A4 "
    "event_id=E4 "
    "rule=disk-clean targets=db-03 state=dry-run\n"
    "ts=2026-11-22T03:30:00.000Z level=info svc=classifier msg=\"event classified\" event_id=E9 entity=db-09 "
    "decision=investigate\n"
    "ts=2026-11-22T03:30:00.000Z level=info svc=classifier msg=\"listening\" port=8080\n"
    "not a log line at all\n"
    "ts=2026-11-22T03:30:00.000Z msg=\"unterminated\n";

static void test_reads_logfmt(void **state)
{
	report r = {0};
	report_opts o = {0};
	summary sm;
	feed(&r, LOGS);
	assert_int_equal(r.nacts, 4);
	assert_int_equal(r.nevs, 2);
	assert_int_equal(r.unreadable, 1);
	summarise(&r, &o, &sm);
	assert_int_equal(sm.total.actions, 4);
	assert_int_equal(sm.total.succeeded, 1);
	assert_int_equal(sm.total.failed, 1);
	assert_int_equal(sm.total.refused, 1);
	assert_int_equal(sm.total.dry_run, 1);
	assert_int_equal(stats_ran(&sm.total), 2); /* refused and dry-run did not run */
	assert_int_equal(sm.nrefusals, 1);
	assert_string_equal(sm.refusals[0].name, "cooldown");
	assert_int_equal(sm.events, 2);
	assert_int_equal(sm.events_acted, 1);
	assert_int_equal(sm.events_investigated, 1);
	assert_int_equal(sm.nrules, 2);
	summary_free(&sm);
	report_free(&r);
}

static void test_audit_json_and_dedup(void **state)
{
	report r = {0};
	report_opts o = {0};
	summary sm;
	const char *line =
	    "{\"type\":\"action.finished\",\"ts\":\"2026-11-22T01:00:01Z\",\"svc\":\"action-handler\","
	    "\"action_id\":\"A1\",\"event_id\":\"E1\",\"rule\":\"nginx-restart\",\"state\":\"succeeded\","
	    "\"duration_ms\":100,\"results\":[{\"target\":\"web-01:2222\",\"state\":\"succeeded\"}]}\n"
	    "{\"type\":\"event.classified\",\"ts\":\"2026-11-22T01:00:00Z\",\"event_id\":\"E1\","
	    "\"entity\":\"web-01\",\"decisions\":[{\"rule\":\"nginx-restart\",\"action_id\":\"A1\"}]}\n"
	    "{\"type\":\"action.started\",\"action_id\":\"A1\"}\n"
	    "{\"type\":\"event.classified\",\"event_id\":\"E5\",\"entity\":\"x\","
	    "\"decisions\":[{\"rule\":null,\"status\":\"investigate\"}]}\n"
	    "{broken json\n";
	feed(&r, line);
	feed(&r, LOGS); /* the same actions again, from the logs: counted once */
	assert_int_equal(r.nacts, 4);
	assert_int_equal(r.unreadable, 2);
	summarise(&r, &o, &sm);
	assert_int_equal(sm.total.actions, 4);
	assert_int_equal(sm.total.succeeded, 1);
	assert_int_equal(sm.events, 3);
	assert_int_equal(sm.events_investigated, 2);
	summary_free(&sm);
	report_free(&r);
}

static void test_filters(void **state)
{
	report r = {0};
	summary sm;
	feed(&r, LOGS);
	report_opts o = {.rule = "nginx-restart", .entity = "web-01"};
	summarise(&r, &o, &sm);
	assert_int_equal(sm.total.actions, 1); /* target web-01:2222 is host web-01 */
	assert_int_equal(stats_ran(&sm.total), 1);
	summary_free(&sm);

	o = (report_opts){.entity = "db-02"};
	summarise(&r, &o, &sm);
	assert_int_equal(sm.total.actions, 1);
	assert_int_equal(sm.total.failed, 1);
	summary_free(&sm);

	assert_int_equal(rfx_parse_time("2026-11-22T02:00:00Z", &o.since), RFX_OK);
	assert_int_equal(rfx_parse_time("2026-11-22T03:00:00Z", &o.until), RFX_OK);
	o.entity = NULL;
	summarise(&r, &o, &sm);
	assert_int_equal(sm.total.actions, 1); /* since inclusive, until exclusive */
	assert_int_equal(sm.total.refused, 1);
	summary_free(&sm);
	report_free(&r);
}

static void test_entity_from_event(void **state)
{
	report r = {0};
	summary sm;
	feed(&r, "ts=2026-11-22T01:00:00Z msg=\"event classified\" event_id=E7 entity=app-7 decision=act\n"
		 "ts=2026-11-22T01:00:01Z msg=\"action finished\" action_id=A7 event_id=E7 rule=r "
		 "targets=10.0.0.7 "
		 "state=timeout duration_ms=60000\n");
	report_opts o = {.entity = "app-7"};
	summarise(&r, &o, &sm);
	assert_int_equal(sm.total.timeout, 1);
	summary_free(&sm);
	report_free(&r);
}

static void test_percentiles(void **state)
{
	rstats s = {0};
	for (int i = 100; i >= 1; i--) {
		raction a = {.state = "succeeded", .duration_ms = i};
		stats_add(&s, &a);
	}
	sort(s.durs, s.ndurs, sizeof(double), dbl_cmp);
	assert_true(percentile(&s, 50) == 50);
	assert_true(percentile(&s, 90) == 90);
	assert_true(percentile(&s, 99) == 99);
	assert_true(percentile(&s, 100) == 100);
	raction nodur = {.state = "succeeded", .duration_ms = NAN};
	stats_add(&s, &nodur);
	assert_int_equal(s.ndurs, 100);
	free(s.durs);
	rstats empty = {0};
	assert_true(isnan(percentile(&empty, 50)));
}

static void test_hosts(void **state)
{
	assert_true(host_equal("web-01", 6, "web-01"));
	assert_true(host_equal("web-01:22", 9, "web-01"));
	assert_true(host_equal("[::1]:22", 8, "::1"));
	assert_true(host_equal("::1", 3, "::1"));
	assert_false(host_equal("web-011", 7, "web-01"));
	assert_false(host_equal("web-0", 5, "web-01"));
}

static void test_when(void **state)
{
	int64_t t, now = rfx_now_ms();
	assert_int_equal(parse_when("24h", &t), 0);
	assert_true(llabs(now - 24 * 3600 * 1000LL - t) < 5000);
	assert_int_equal(parse_when("2026-11-22T00:00:00Z", &t), 0);
	assert_int_equal(parse_when("yesterday", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads_logfmt), cmocka_unit_test(test_audit_json_and_dedup),
	    cmocka_unit_test(test_filters),	 cmocka_unit_test(test_entity_from_event),
	    cmocka_unit_test(test_percentiles),	 cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_when),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
