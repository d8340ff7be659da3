/* limits.c -- unit tests for the safety-limit ledger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../../action_handler/limits.h"
#include "../../../action_handler/request.h"

#define T0  1795000000000LL
#define MIN 60000LL

static action *mk(const char *rule, const char *targets, const char *source_id, const char *limits)
{
	char body[1024];
	snprintf(
	    body, sizeof(body),
	    "{\"action_id\": \"a\", \"rule\": \"%s\", \"type\": \"ssh\", \"command\": \"c\", \"targets\": %s,"
	    " \"source\": \"alertmanager\", \"source_id\": \"%s\", \"limits\": %s}",
	    rule, targets, source_id, limits);
	action *a = NULL;
	request_error e;
	assert_int_equal(request_parse(body, strlen(body), &a, &e), RFX_OK);
	for (size_t i = 0; i < a->nruns; i++)
		a->runs[i].key = rfx_asprintf("%s:22", a->runs[i].host);
	return a;
}

static const char *check(limits *l, action *a, int64_t now)
{
	const char *reason = NULL;
	char msg[256];
	if (limits_check(l, a, now, &reason, msg, sizeof(msg)) == RFX_OK)
		return NULL;
	assert_true(msg[0] != '\0');
	return reason;
}

static void test_cooldown(void **state)
{
	limits *l = limits_new();
	action *a = mk("r1", "[\"web-01\"]", "p1", "{\"cooldown\": 600}");
	assert_null(check(l, a, T0));
	limits_record(l, a, T0);
	assert_string_equal(check(l, a, T0 + 5 * MIN), "cooldown");
	assert_null(check(l, a, T0 + 10 * MIN)); /* over once the cooldown has passed */
	action *other_target = mk("r1", "[\"web-02\"]", "p1", "{\"cooldown\": 600}");
	assert_null(check(l, other_target, T0 + MIN));
	action *other_rule = mk("r2", "[\"web-01\"]", "p1", "{\"cooldown\": 600}");
	assert_null(check(l, other_rule, T0 + MIN));
	action *multi = mk("r1", "[\"web-02\", \"web-01\"]", "p2", "{\"cooldown\": 600}");
	assert_string_equal(check(l, multi, T0 + MIN), "cooldown"); /* one target in cooldown refuses all */
	action *nolimit = mk("r1", "[\"web-01\"]", "p1", "{}");
	assert_null(check(l, nolimit, T0 + MIN));
	action *a_list[] = {a, other_target, other_rule, multi, nolimit};
	for (size_t i = 0; i < 5; i++)
		action_free(a_list[i]);
	limits_free(l);
}

static void test_max_attempts(void **state)
{
	limits *l = limits_new();
	action *a = mk("r1", "[\"web-01\"]", "problem-1", "{\"max_attempts\": 2}");
	for (int i = 0; i < 2; i++) {
		assert_null(check(l, a, T0 + i));
		limits_record(l, a, T0 + i);
	}
	assert_string_equal(check(l, a, T0 + 3), "max_attempts");
	action *other = mk("r1", "[\"web-01\"]", "problem-2", "{\"max_attempts\": 2}");
	assert_null(check(l, other, T0 + 3));
	action_free(a);
	action_free(other);
	limits_free(l);
}

static void test_max_per_hour_counts_target_runs(void **state)
{
	limits *l = limits_new();
	action *two = mk("r1", "[\"a\", \"b\"]", "p1", "{\"max_per_hour\": 3}");
	action *one = mk("r1", "[\"c\"]", "p2", "{\"max_per_hour\": 3}");
	assert_null(check(l, two, T0));
	limits_record(l, two, T0);
	assert_null(check(l, one, T0 + MIN));
	limits_record(l, one, T0 + MIN);
	assert_string_equal(check(l, one, T0 + 2 * MIN), "max_per_hour");
	/* A sliding hour: the first two runs age out first. */
	assert_string_equal(check(l, two, T0 + 60 * MIN - 1), "max_per_hour");
	assert_null(check(l, two, T0 + 60 * MIN));
	action_free(two);
	action_free(one);
	limits_free(l);
}

static void test_max_targets(void **state)
{
	limits *l = limits_new();
	action *three = mk("r1", "[\"a\", \"b\", \"c\"]", "p1", "{\"max_targets\": 2}");
	action *two = mk("r1", "[\"a\", \"b\"]", "p1", "{\"max_targets\": 2}");
	assert_string_equal(check(l, three, T0), "max_targets");
	assert_null(check(l, two, T0));
	action_free(three);
	action_free(two);
	limits_free(l);
}

static void test_many_keys(void **state)
{
	limits *l = limits_new();
	char targets[64];
	for (int i = 0; i < 20000; i++) {
		snprintf(targets, sizeof(targets), "[\"h%d\"]", i);
		action *a = mk("r1", targets, "p", "{\"cooldown\": 60}");
		limits_record(l, a, T0 + i);
		action_free(a);
	}
	/* After the sweep horizon old entries are forgotten; the ledger still answers. */
	action *a = mk("r1", "[\"h1\"]", "p", "{\"cooldown\": 60}");
	assert_string_equal(check(l, a, T0 + 30000), "cooldown");
	assert_null(check(l, a, T0 + LIMITS_KEEP_MS + 60000));
	action_free(a);
	limits_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cooldown),
	    cmocka_unit_test(test_max_attempts),
	    cmocka_unit_test(test_max_per_hour_counts_target_runs),
	    cmocka_unit_test(test_max_targets),
	    cmocka_unit_test(test_many_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
