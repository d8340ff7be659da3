/* feeds.c -- unit tests for each feed type's response parser (answers shaped as the vendors publish them),
 * the feed helpers (URLs, redaction, deep JSON), and the classifier answer policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "log.h"
#include "poller_config.h"

static feed_cfg cfg_of(const char *yaml_text)
{
	yt_node **docs = NULL;
	size_t ndocs = 0;
	yt_error ye;
	feed_cfg c;
	char err[512] = "";
	assert_int_equal(yt_parse(yaml_text, strlen(yaml_text), &docs, &ndocs, &ye), RFX_OK);
	if (poller_config_parse_feed(docs[0], &c, err, sizeof(err)))
		fail_msg("%s", err);
	yt_free_docs(docs, ndocs);
	return c;
}

static rfx_err parse(const feed_cfg *c, const char *body, feed_page *pg, char *err)
{
	feed_page_init(pg);
	err[0] = 0;
	return c->ft->parse(c, body, strlen(body), pg, err, 512);
}

static const char DT_PAGE[] =
    "{\"totalCount\":3,\"pageSize\":2,\"nextPageKey\":\"AQAAABQBAAAABQ==\",\"problems\":["
    "{\"problemId\":\"-2511290345711440375_1669823466223V2\",\"displayId\":\"P-221194163\","
    "\"title\":\"CPU "
    "saturation\",\"impactLevel\":\"INFRASTRUCTURE\",\"severityLevel\":\"RESOURCE_CONTENTION\","
    "\"status\":\"OPEN\",\"affectedEntities\":[{\"entityId\":{\"id\":\"HOST-1\",\"type\":\"HOST\"},\"name\":"
    "\"web-01\"}],"
    "\"impactedEntities\":[{\"entityId\":{\"id\":\"HOST-1\",\"type\":\"HOST\"},\"name\":\"web-01\"}],"
    "\"rootCauseEntity\":{\"entityId\":{\"id\":\"HOST-1\",\"type\":\"HOST\"},\"name\":\"web-01\"},"
    "\"managementZones\":[],\"entityTags\":[{\"context\":\"CONTEXTLESS\",\"key\":\"env\",\"value\":\"prod\","
    "\"stringRepresentation\":\"env:prod\"}],\"problemFilters\":[],\"startTime\":1669823466223,\"endTime\":-"
    "1,"
    "\"evidenceDetails\":{\"totalCount\":1,\"details\":[{\"evidenceType\":\"EVENT\",\"displayName\":\"CPU "
    "saturation\","
    "\"rootCauseRelevant\":true,\"startTime\":1669823466223,\"eventType\":\"CPU_SATURATED\"}]}},"
    "{\"problemId\":\"8868209287437155931_1669823466224V2\",\"displayId\":\"P-221194164\",\"title\":\"Disk "
    "full\","
    "\"severityLevel\":\"AVAILABILITY\",\"status\":\"CLOSED\",\"startTime\":1669823466224,\"endTime\":"
    "1669823966224},"
    "{\"displayId\":\"no problemId\"}]}";

static void test_dynatrace_page(void **state)
{
	feed_cfg c =
	    cfg_of("{name: dt, type: dynatrace, url: 'https://abc.live.dynatrace.com', token_file: /t}");
	feed_page pg;
	char err[512];
	assert_int_equal(parse(&c, DT_PAGE, &pg, err), RFX_OK);
	assert_int_equal(pg.n, 2);
	assert_int_equal(pg.rejected, 1); /* one bad problem does not cost the page */
	assert_non_null(strstr(pg.reject_reason, "problemId"));
	assert_string_equal(pg.next, "AQAAABQBAAAABQ==");
	event *e = pg.items[0].ev;
	assert_string_equal(pg.items[0].source_id, "-2511290345711440375_1669823466223V2");
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->entity, "web-01");
	assert_string_equal(e->event_type, "CPU_SATURATED");
	assert_string_equal(event_tag_get(e, "env"), "prod");
	assert_non_null(e->raw);
	assert_int_equal(pg.items[1].ev->state, EV_RESOLVED);
	assert_false(pg.items[0].suppressed);
	feed_page_reset(&pg);

	assert_int_equal(parse(&c, "{\"totalCount\":0,\"pageSize\":50,\"problems\":[]}", &pg, err), RFX_OK);
	assert_int_equal(pg.n, 0);
	assert_null(pg.next);
	feed_page_reset(&pg);
	assert_int_equal(parse(&c, "{\"problems\": [{\"problemId\": \"P-1\", \"title\": ", &pg, err),
			 RFX_ERR_PARSE);
	assert_non_null(strstr(err, "malformed JSON"));
	assert_int_equal(parse(&c, "{\"error\":{\"code\":400,\"message\":\"x\"}}", &pg, err), RFX_ERR_PARSE);
	assert_non_null(strstr(err, "problems"));
	feed_page_reset(&pg);
	poller_config_free_feed(&c);
}

static const char *known_rev_value;
static const char *owner_of(void *ud, const char *rev)
{
	return known_rev_value && strcmp(rev, known_rev_value) == 0 ? "KNOWN-PROBLEM" : NULL;
}

static void test_content_revs(void **state)
{
	feed_cfg c =
	    cfg_of("{name: dt, type: dynatrace, url: 'https://abc.live.dynatrace.com', token_file: /t}");
	feed_page pg;
	char err[512], rev0[32], rev1[32];
	assert_int_equal(parse(&c, DT_PAGE, &pg, err), RFX_OK);
	assert_non_null(pg.items[0].rev);
	assert_int_equal(strlen(pg.items[0].rev), 17);
	snprintf(rev0, sizeof(rev0), "%s", pg.items[0].rev);
	snprintf(rev1, sizeof(rev1), "%s", pg.items[1].rev);
	assert_string_not_equal(rev0, rev1);
	feed_page_reset(&pg);

	/* A problem whose content a known problem had is not normalized again. */
	known_rev_value = rev0;
	feed_page_init(&pg);
	pg.rev_owner = owner_of;
	assert_int_equal(c.ft->parse(&c, DT_PAGE, strlen(DT_PAGE), &pg, err, sizeof(err)), RFX_OK);
	assert_int_equal(pg.n, 2);
	assert_string_equal(pg.items[0].source_id, "KNOWN-PROBLEM");
	assert_null(pg.items[0].ev);
	assert_non_null(pg.items[1].ev);
	feed_page_reset(&pg);
	assert_ptr_equal(pg.rev_owner, owner_of); /* kept across pages */
	pg.rev_owner = NULL;

	/* Any change in content is a new rev (here one character of the title). */
	char *changed = rfx_strdup(DT_PAGE);
	*strstr(changed, "CPU saturation\",\"impactLevel") = 'G';
	assert_int_equal(parse(&c, changed, &pg, err), RFX_OK);
	assert_string_not_equal(pg.items[0].rev, rev0);
	assert_string_equal(pg.items[1].rev, rev1);
	feed_page_reset(&pg);
	free(changed);
	known_rev_value = NULL;
	poller_config_free_feed(&c);
}

static const char OG_LIST[] =
    "{\"data\":[{\"id\":\"70413a06-38d6-4c85-92b8-5ebc900d42e2\",\"tinyId\":\"1791\",\"alias\":\"event_573\","
    "\"message\":\"Our servers are in danger\",\"status\":\"open\",\"acknowledged\":false,\"isSeen\":true,"
    "\"tags\":[\"OverwriteQuietHours\",\"Critical\",\"env:prod\"],\"snoozed\":true,\"snoozedUntil\":\"2017-"
    "04-03T20:32:35.143Z\","
    "\"count\":79,\"lastOccurredAt\":\"2017-04-03T20:05:50.894Z\",\"createdAt\":\"2017-03-21T20:32:52.353Z\","
    "\"updatedAt\":\"2017-04-03T20:32:57.301Z\",\"source\":\"Isengard\",\"owner\":\"morpheus@opsgenie.com\","
    "\"priority\":\"P4\",\"responders\":[],\"integration\":{\"id\":\"4513b7ea\",\"name\":\"Nebula\",\"type\":"
    "\"API\"},"
    "\"report\":{\"ackTime\":15702,\"acknowledgedBy\":\"agent_smith@opsgenie.com\"}}],"
    "\"paging\":{\"next\":\"https://api.opsgenie.com/v2/alerts?query=status%3Aopen&offset=20&limit=10\","
    "\"first\":\"https://api.opsgenie.com/v2/alerts?offset=0\"},\"took\":0.605,\"requestId\":\"9ae63dd7\"}";

static const char OG_DETAIL[] =
    "{\"data\":{\"id\":\"70413a06-38d6-4c85-92b8-5ebc900d42e2\",\"tinyId\":\"1791\",\"alias\":\"event_573\","
    "\"message\":\"Our servers are in danger\",\"status\":\"open\",\"tags\":[\"env:prod\"],"
    "\"createdAt\":\"2017-03-21T20:32:52.353Z\",\"updatedAt\":\"2017-04-03T20:32:57.301Z\",\"priority\":"
    "\"P1\","
    "\"actions\":[\"Restart\"],\"entity\":\"\",\"description\":\"Servers\",\"details\":{\"host\":\"db-01\","
    "\"event_type\":\"DiskFull\"}},\"took\":0.006,\"requestId\":\"fe3d2f3b\"}";

static void test_opsgenie_list_and_detail(void **state)
{
	feed_cfg c = cfg_of("{name: og, type: opsgenie, url: 'https://api.opsgenie.com', token_file: /t}");
	feed_page pg;
	char err[512];
	assert_int_equal(parse(&c, OG_LIST, &pg, err), RFX_OK);
	assert_int_equal(pg.n, 1);
	assert_int_equal(pg.listed, 1);
	assert_non_null(pg.next);
	assert_string_equal(pg.items[0].source_id, "70413a06-38d6-4c85-92b8-5ebc900d42e2");
	assert_string_equal(pg.items[0].rev, "2017-04-03T20:32:57.301Z");
	assert_string_equal(pg.items[0].ev->event_type, "event_573");
	feed_page_reset(&pg);

	event *e = NULL;
	assert_int_equal(feed_opsgenie_parse_detail(OG_DETAIL, strlen(OG_DETAIL), &e, err, sizeof(err)),
			 RFX_OK);
	assert_string_equal(e->entity, "db-01");
	assert_string_equal(e->event_type, "DiskFull");
	assert_string_equal(e->severity, "P1");
	event_free(e);
	assert_int_equal(
	    feed_opsgenie_parse_detail("{\"message\":\"Alert does not exist\"}", 34, &e, err, sizeof(err)),
	    RFX_ERR_PARSE);
	assert_null(e);
	assert_int_equal(feed_opsgenie_parse_detail("", 0, &e, err, sizeof(err)), RFX_ERR_PARSE);

	/* last page: no paging.next */
	assert_int_equal(parse(&c,
			       "{\"data\":[],\"paging\":{\"first\":\"x\"},\"took\":0.1,\"requestId\":\"r\"}",
			       &pg, err),
			 RFX_OK);
	assert_null(pg.next);
	feed_page_reset(&pg);
	poller_config_free_feed(&c);
}

static const char AM_ALERTS[] =
    "[{\"annotations\":{\"summary\":\"nginx is down on web-01\"},\"endsAt\":\"2026-11-22T01:54:32.831Z\","
    "\"fingerprint\":\"95c7516b6ade3654\",\"receivers\":[{\"name\":\"null\"}],\"startsAt\":\"2026-11-22T01:"
    "49:27.830Z\","
    "\"status\":{\"inhibitedBy\":[],\"silencedBy\":[],\"state\":\"active\"},\"updatedAt\":\"2026-11-22T01:49:"
    "32.831Z\","
    "\"generatorURL\":\"http://prometheus:9090/graph\","
    "\"labels\":{\"alertname\":\"ServiceDown\",\"instance\":\"web-01:9100\",\"severity\":\"critical\"}},"
    "{\"annotations\":{},\"endsAt\":\"2026-11-22T01:54:32.831Z\",\"fingerprint\":\"38ba0ba97b1e40ef\","
    "\"receivers\":[{\"name\":\"null\"}],\"startsAt\":\"2026-11-22T01:49:27.830Z\",\"status\":{"
    "\"inhibitedBy\":[],"
    "\"silencedBy\":[\"dc505682-8026-46b0-8a11-8afbd4be9b29\"],\"state\":\"suppressed\"},"
    "\"updatedAt\":\"2026-11-22T01:49:32.831Z\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db-01:"
    "9100\"}},"
    "{\"annotations\":{},\"fingerprint\":\"00000000000000aa\",\"startsAt\":\"2026-11-22T01:49:27.830Z\","
    "\"status\":{\"inhibitedBy\":[\"95c7516b6ade3654\"],\"silencedBy\":[],\"state\":\"suppressed\"},"
    "\"labels\":{\"alertname\":\"HighLatency\",\"instance\":\"web-01:9100\"}}]";

static void test_alertmanager_alerts(void **state)
{
	feed_cfg c = cfg_of("{name: am, type: alertmanager, url: 'http://127.0.0.1:9093'}");
	feed_page pg;
	char err[512];
	assert_int_equal(parse(&c, AM_ALERTS, &pg, err), RFX_OK);
	assert_int_equal(pg.n, 3);
	assert_string_equal(pg.items[0].source_id, "95c7516b6ade3654");
	assert_string_equal(pg.items[0].ev->entity, "web-01");
	assert_string_equal(pg.items[0].ev->title, "nginx is down on web-01");
	assert_int_equal(pg.items[0].ev->state, EV_OPEN);
	assert_false(pg.items[0].suppressed);
	assert_true(pg.items[1].suppressed); /* silenced */
	assert_true(pg.items[2].suppressed); /* inhibited */
	feed_page_reset(&pg);
	poller_config_free_feed(&c);

	c = cfg_of("{name: am, type: alertmanager, url: 'http://127.0.0.1:9093', include_silenced: true}");
	assert_int_equal(parse(&c, AM_ALERTS, &pg, err), RFX_OK);
	assert_false(pg.items[1].suppressed);
	assert_true(pg.items[2].suppressed);
	feed_page_reset(&pg);
	assert_int_equal(parse(&c, "{\"alerts\": 1}", &pg, err), RFX_ERR_PARSE);
	assert_non_null(strstr(err, "array"));
	feed_page_reset(&pg);
	poller_config_free_feed(&c);
}

static const char IC_SERVICES[] =
    "{\"results\":[{\"attrs\":{\"__name\":\"web-01!http\",\"name\":\"http\",\"host_name\":\"web-01\","
    "\"state\":2.0,\"state_type\":1.0,\"handled\":false,\"acknowledgement\":0.0,\"downtime_depth\":0.0,"
    "\"last_state_change\":1669823466.22,\"vars\":{\"team\":\"web\"},\"last_check_result\":{\"output\":"
    "\"HTTP CRITICAL - connection refused\\nsecond line\",\"state\":2.0}},\"joins\":{},\"meta\":{},"
    "\"name\":\"web-01!http\",\"type\":\"Service\"},"
    "{\"attrs\":{\"name\":\"disk\",\"host_name\":\"db-01\",\"state\":1.0,\"acknowledgement\":1.0,"
    "\"downtime_depth\":0.0,\"last_check_result\":{\"output\":\"DISK WARNING\"}},\"name\":\"db-01!disk\","
    "\"type\":\"Service\"},"
    "{\"attrs\":{\"name\":\"db-02\",\"state\":1.0,\"handled\":true},\"name\":\"db-02\",\"type\":\"Host\"}]}";

static void test_icinga_objects(void **state)
{
	feed_cfg c =
	    cfg_of("{name: ic, type: icinga, url: 'https://icinga:5665', username: r, token_file: /p}");
	feed_page pg;
	char err[512];
	assert_int_equal(parse(&c, IC_SERVICES, &pg, err), RFX_OK);
	assert_int_equal(pg.n, 3);
	assert_string_equal(pg.items[0].source_id, "web-01!http");
	assert_string_equal(pg.items[0].ev->title, "HTTP CRITICAL - connection refused");
	assert_string_equal(pg.items[0].ev->severity, "critical");
	assert_string_equal(event_tag_get(pg.items[0].ev, "team"), "web");
	assert_false(pg.items[0].suppressed);
	assert_true(pg.items[1].suppressed); /* acknowledged (no `handled` before Icinga 2.11) */
	assert_true(pg.items[2].suppressed);
	assert_string_equal(pg.items[2].source_id, "db-02");
	feed_page_reset(&pg);
	poller_config_free_feed(&c);
}

static void test_deep_json_refused(void **state)
{
	char err[256] = "";
	size_t n = 100000;
	char *deep = rfx_malloc(2 * n + 1);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = 0;
	assert_null(feed_parse_json(deep, 2 * n, err, sizeof(err)));
	assert_non_null(strstr(err, "nested deeper"));
	/* brackets inside strings do not count */
	const char *ok =
	    "{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}";
	cJSON *j = feed_parse_json(ok, strlen(ok), err, sizeof(err));
	assert_non_null(j);
	cJSON_Delete(j);
	free(deep);
}

static void test_urls(void **state)
{
	feed_url u;
	char out[256];
	feed_url_init(&u, "https://abc.live.dynatrace.com/e/env1//", "/api/v2/problems");
	feed_url_param(&u, "problemSelector", "status(\"open\"),severityLevel(\"ERROR\")");
	feed_url_param(&u, "from", "now-2h");
	assert_string_equal(buf_cstr(&u.b),
			    "https://abc.live.dynatrace.com/e/env1/api/v2/problems?problemSelector="
			    "status%28%22open%22%29%2CseverityLevel%28%22ERROR%22%29&from=now-2h");
	feed_url_free(&u);
	feed_url_redact("https://user:secret@icinga:5665/v1/objects/services?filter=x", out, sizeof(out));
	assert_string_equal(out, "https://icinga:5665/v1/objects/services");
	feed_url_redact("http://127.0.0.1:9093/api/v2/alerts?active=true", out, sizeof(out));
	assert_string_equal(out, "http://127.0.0.1:9093/api/v2/alerts");
}

static void test_type_table(void **state)
{
	static const char *const names[] = {"alertmanager", "dynatrace", "opsgenie", "icinga"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(names); i++) {
		const feed_type *t = feed_type_find(names[i]);
		assert_non_null(t);
		assert_string_equal(t->name, names[i]);
		assert_non_null(t->poll);
		assert_non_null(t->parse);
	}
	assert_null(feed_type_find("zabbix"));
	assert_null(feed_type_find(NULL));
}

static void test_classifier_answers(void **state)
{
	assert_int_equal(forward_classify(RFX_OK, 202), FWD_DELIVERED);
	assert_int_equal(forward_classify(RFX_OK, 200), FWD_DELIVERED);
	assert_int_equal(forward_classify(RFX_OK, 400), FWD_DROP);
	assert_int_equal(forward_classify(RFX_OK, 413), FWD_DROP);
	assert_int_equal(forward_classify(RFX_OK, 422), FWD_DROP);
	assert_int_equal(forward_classify(RFX_OK, 401), FWD_RETRY);
	assert_int_equal(forward_classify(RFX_OK, 403), FWD_RETRY);
	assert_int_equal(forward_classify(RFX_OK, 429), FWD_RETRY);
	assert_int_equal(forward_classify(RFX_OK, 500), FWD_RETRY);
	assert_int_equal(forward_classify(RFX_OK, 503), FWD_RETRY);
	assert_int_equal(forward_classify(RFX_ERR_UNAVAILABLE, 0), FWD_RETRY);
	assert_int_equal(forward_classify(RFX_ERR_TIMEOUT, 0), FWD_RETRY);
}

int main(void)
{
	log_init("poller", LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dynatrace_page),
	    cmocka_unit_test(test_content_revs),
	    cmocka_unit_test(test_opsgenie_list_and_detail),
	    cmocka_unit_test(test_alertmanager_alerts),
	    cmocka_unit_test(test_icinga_objects),
	    cmocka_unit_test(test_deep_json_refused),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_type_table),
	    cmocka_unit_test(test_classifier_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
