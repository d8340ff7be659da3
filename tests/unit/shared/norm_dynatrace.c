/* norm_dynatrace.c -- unit tests for the Dynatrace normalizer: problems, pages, notifications. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "norm_fixture.h"

#define PID  "-6004362228644432354_1795310464000V2"
#define PURL "https://abc12345.live.dynatrace.com/#problems/problemdetails;pid=" PID

static void check_memory_problem(const event *e)
{
	assert_int_equal(e->source, SRC_DYNATRACE);
	assert_string_equal(e->source_id, PID);
	assert_string_equal(e->title, "Memory saturation");
	assert_string_equal(e->severity, "RESOURCE_CONTENTION");
	/* the root-cause-relevant evidence, not the first one (CPU_SATURATED is not root cause) */
	assert_string_equal(e->event_type, "MEMORY_SATURATED");
	assert_string_equal(e->entity, "web-01");
	assert_int_equal(e->started_at_ms, 1795310464000LL);
	assert_string_equal(TAG(e, "env"), "prod");
	assert_string_equal(TAG(e, "service"), "nginx");
}

static void test_problem(void **state)
{
	norm_result r = {0};
	norm_run_fixture("dynatrace", "dynatrace/problem.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	check_memory_problem(e);
	assert_int_equal(e->state, EV_OPEN);
	assert_int_equal(e->ntags, 4);
	assert_string_equal(TAG(e, "frontend"), ""); /* valueless tag */
	assert_string_equal(TAG(e, "KUBERNETES:app"), "web");
	assert_null(e->url); /* the API object has no link; the poller knows the tenant */
	assert_string_equal(cJSON_GetObjectItem(e->raw, "displayId")->valuestring, "P-251122");
	event_list_free(&r.list);
}

static void test_problem_list(void **state)
{
	norm_result r = {0};
	norm_run_fixture("dynatrace", "dynatrace/problems_list.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 2);
	event *a = r.list.v[0], *b = r.list.v[1];
	assert_string_equal(a->source_id, PID);
	assert_int_equal(a->state, EV_OPEN);
	assert_string_equal(a->entity, "web-01");
	assert_string_equal(a->event_type,
			    "RESOURCE_CONTENTION"); /* no evidence details in the list: severityLevel */
	assert_string_equal(b->source_id, "2533116934566154213_1795306860000V2");
	assert_int_equal(b->state, EV_RESOLVED);
	assert_string_equal(b->title, "Response time degradation");
	assert_string_equal(b->severity, "PERFORMANCE");
	assert_string_equal(b->event_type, "PERFORMANCE");
	assert_string_equal(b->entity, "checkout"); /* rootCauseEntity null: first impacted entity */
	assert_int_equal(b->ntags, 2);
	assert_string_equal(TAG(b, "AWS:Name"), "checkout-prod");
	assert_string_equal(TAG(b, "team"), "payments");
	assert_int_equal(b->started_at_ms, 1795306860000LL);
	/* each event's raw is its own problem, not the page */
	assert_string_equal(cJSON_GetObjectItem(b->raw, "displayId")->valuestring, "P-251119");
	assert_null(cJSON_GetObjectItem(b->raw, "nextPageKey"));
	event_list_free(&r.list);
	norm_run_text("dynatrace", "{\"totalCount\": 0, \"pageSize\": 50, \"problems\": []}", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 0);
}

static void test_webhook_default(void **state)
{
	norm_result r = {0};
	norm_run_fixture("dynatrace", "dynatrace/webhook_default.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	check_memory_problem(e);
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->url, PURL);
	assert_string_equal(TAG(e, "frontend"), "");
	assert_string_equal(TAG(e, "KUBERNETES:app"), "web");
	assert_int_equal(e->ntags, 4);
	assert_string_equal(cJSON_GetObjectItem(e->raw, "ProblemID")->valuestring, "251122");
	event_list_free(&r.list);
}

/* The same problem polled from the API and pushed by the webhook gives the same event. */
static void test_api_and_webhook_agree(void **state)
{
	norm_result a = {0}, b = {0};
	norm_run_fixture("dynatrace", "dynatrace/problem.json", &a);
	norm_run_fixture("dynatrace", "dynatrace/webhook_default.json", &b);
	assert_int_equal(a.rc, RFX_OK);
	assert_int_equal(b.rc, RFX_OK);
	cJSON *ja = event_to_json(a.list.v[0], false), *jb = event_to_json(b.list.v[0], false);
	static const char *const same[] = {"source",   "source_id",  "state",  "title",
					   "severity", "event_type", "entity", "tags"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(same); i++)
		assert_true(
		    cJSON_Compare(cJSON_GetObjectItem(ja, same[i]), cJSON_GetObjectItem(jb, same[i]), true));
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	event_list_free(&a.list);
	event_list_free(&b.list);
}

static void test_webhook_resolved(void **state)
{
	norm_result r = {0};
	norm_run_fixture("dynatrace", "dynatrace/webhook_resolved.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_int_equal(e->state, EV_RESOLVED);
	assert_string_equal(e->source_id, PID);
	assert_string_equal(e->url, PURL); /* the documented default payload spells it "Problem URL" */
	assert_string_equal(e->entity, "web-01");
	assert_string_equal(e->event_type, "RESOURCE_CONTENTION");
	assert_int_equal(e->ntags, 2);
	assert_string_equal(TAG(e, "service"), "nginx");
	assert_int_equal(e->started_at_ms, 0);
	event_list_free(&r.list);
}

static void test_webhook_embedded(void **state)
{
	norm_result r = {0};
	norm_run_fixture("dynatrace", "dynatrace/webhook_embedded.json", &r);
	assert_int_equal(r.rc, RFX_OK);
	assert_int_equal(r.list.n, 1);
	event *e = r.list.v[0];
	check_memory_problem(e);
	assert_int_equal(e->state, EV_RESOLVED); /* State wins over the embedded status OPEN */
	assert_string_equal(e->url, PURL);
	assert_non_null(cJSON_GetObjectItem(e->raw, "problem"));
	event_list_free(&r.list);
	/* The v2 placeholder under its own name works the same. */
	cJSON *p = fixture_json("dynatrace/problem.json");
	cJSON *body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "ProblemDetailsJSONv2", p);
	norm_run_json("dynatrace", body, &r);
	assert_int_equal(r.rc, RFX_OK);
	check_memory_problem(r.list.v[0]);
	assert_int_equal(r.list.v[0]->state, EV_OPEN);
	event_list_free(&r.list);
	cJSON_Delete(body);
}

static void test_webhook_variants(void **state)
{
	norm_result r = {0};
	/* ProblemID when PID is absent; a number when the placeholder was not quoted; names list as entity.
	 */
	norm_run_text(
	    "dynatrace",
	    "{\"ProblemID\": 251122, \"ProblemTitle\": \"t\", \"State\": \"MERGED\", "
	    "\"ImpactedEntityNames\": \"  app-01 , app-02\", \"Tags\": \"a:b:c, ,  [ctx]k, noval, :x, "
	    "[Environment]team:ops\"}",
	    &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->source_id, "251122");
	assert_int_equal(e->state, EV_RESOLVED);
	assert_string_equal(e->entity, "app-01");
	assert_string_equal(TAG(e, "a"), "b:c");
	assert_string_equal(TAG(e, "CTX:k"), "");
	assert_string_equal(TAG(e, "noval"), "");
	assert_string_equal(TAG(e, "ENVIRONMENT:team"), "ops");
	assert_int_equal(e->ntags, 4);
	assert_string_equal(e->event_type, "");
	event_list_free(&r.list);
	/* The documented test notification. */
	norm_run_text("dynatrace",
		      "{\"ImpactedEntities\": [{\"type\": \"HOST\", \"name\": \"MyHost1\", \"entity\": "
		      "\"HOST-XXXXXXXXXXXXX\"},"
		      " {\"type\": \"HOST\", \"name\": \"MyHost2\", \"entity\": \"HOST-XXXXXXXXXXXXY\"}], "
		      "\"ImpactedEntity\": \"MyHost1, MyHost2\", \"PID\": \"99999\", \"ProblemDetailsHTML\": "
		      "\"<h1>x</h1>\", "
		      "\"ProblemDetailsJSON\": {\"ID\": \"99999\"}, \"ProblemID\": \"999\", "
		      "\"ProblemImpact\": \"INFRASTRUCTURE\", "
		      "\"ProblemTitle\": \"Dynatrace problem notification test run\", \"Problem URL\": "
		      "\"https://example.com\", "
		      "\"State\": \"OPEN\", \"Tags\": \"testtag1, testtag2\"}",
		      &r);
	assert_int_equal(r.rc, RFX_OK);
	e = r.list.v[0];
	assert_string_equal(e->source_id, "99999");
	assert_string_equal(e->entity, "MyHost1");
	assert_string_equal(e->title, "Dynatrace problem notification test run");
	assert_string_equal(e->url, "https://example.com");
	assert_string_equal(TAG(e, "testtag2"), "");
	assert_int_equal(e->state, EV_OPEN);
	event_list_free(&r.list);
}

static void test_bad_input(void **state)
{
	norm_result r = {0};
	norm_run_text("dynatrace", "[]", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "must be a JSON object");
	norm_run_text("dynatrace", "{\"foo\": 1}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "problemId", "problemId is required");
	norm_run_text("dynatrace", "{\"problemId\": 5}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "problemId", "problemId must be a string");
	norm_run_text("dynatrace", "{\"problemId\": \"\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "problemId", "must not be empty");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"status\": \"SLEEPING\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "status", "status must be OPEN");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"startTime\": \"noon\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "startTime", "startTime is not an RFC 3339 time");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"title\": [\"x\"]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "title", "title must be a string");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"entityTags\": [{\"value\": \"x\"}]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "entityTags.key", "entityTags.key is required");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"entityTags\": [\"env:prod\"]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "entityTags", "items must be objects");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"rootCauseEntity\": {\"name\": 3}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "rootCauseEntity", "rootCauseEntity must be a string");
	norm_run_text("dynatrace", "{\"problemId\": \"p\", \"impactedEntities\": [7]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "impactedEntities", "must be an object");
	norm_run_text(
	    "dynatrace",
	    "{\"problemId\": \"p\", \"evidenceDetails\": {\"details\": [{\"rootCauseRelevant\": \"yes\"}]}}",
	    &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "evidenceDetails.details.rootCauseRelevant",
			  "must be a boolean");
	norm_run_text("dynatrace", "{\"problems\": {}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "problems", "problems must be an array");
	norm_run_text("dynatrace", "{\"problems\": [{\"problemId\": \"a\"}, 1]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, NULL, "problems[1]: a problem must be an object");
	assert_int_equal(r.list.n, 0);
	norm_run_text("dynatrace", "{\"State\": \"OPEN\", \"ProblemTitle\": \"x\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "PID", "PID is required");
	norm_run_text("dynatrace", "{\"PID\": {}, \"State\": \"OPEN\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "PID", "PID must be");
	norm_run_text("dynatrace", "{\"PID\": \"1\", \"State\": \"DONE\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "State", "State must be OPEN");
	norm_run_text("dynatrace", "{\"PID\": \"1\", \"Tags\": [\"a\"]}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "Tags", "Tags must be a string");
	norm_run_text("dynatrace", "{\"PID\": \"1\", \"ImpactedEntities\": \"web-01\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "ImpactedEntities", "must be an array");
	norm_run_text("dynatrace", "{\"PID\": \"1\", \"ProblemDetailsJSON\": {\"startTime\": true}}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "ProblemDetailsJSON.startTime", "must be");
	norm_run_text("dynatrace", "{\"problem\": {\"title\": \"x\"}, \"State\": \"OPEN\"}", &r);
	assert_norm_fails(&r, RFX_ERR_INVAL, "problemId", "problemId is required");
	assert_int_equal(r.list.n, 0);
}

static void test_hostile_strings(void **state)
{
	norm_result r = {0};
	norm_run_text(
	    "dynatrace",
	    "{\"problemId\": \"p\\\"; reboot\", \"title\": \"a\\nb $(id) \xfe\", \"rootCauseEntity\": "
	    "{\"name\": \"web-01; rm -rf /\"}, \"entityTags\": [{\"key\": \"k'\", \"value\": "
	    "\"`x`\\r\\n\"}]}",
	    &r);
	assert_int_equal(r.rc, RFX_OK);
	event *e = r.list.v[0];
	assert_string_equal(e->source_id, "p\"; reboot");
	assert_string_equal(e->title, "a\nb $(id) \xef\xbf\xbd");
	assert_string_equal(e->entity, "web-01; rm -rf /");
	assert_string_equal(TAG(e, "k'"), "`x`\r\n");
	event_list_free(&r.list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_problem),	     cmocka_unit_test(test_problem_list),
	    cmocka_unit_test(test_webhook_default),  cmocka_unit_test(test_api_and_webhook_agree),
	    cmocka_unit_test(test_webhook_resolved), cmocka_unit_test(test_webhook_embedded),
	    cmocka_unit_test(test_webhook_variants), cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_hostile_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
