/* target.c -- unit tests for target syntax, canonical keys and the allow-list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "../../../action_handler/target.h"

static void key_of(const char *s, int def, const char *want)
{
	target_addr t;
	char key[TARGET_KEY_MAX];
	assert_int_equal(target_parse(s, &t), RFX_OK);
	target_key(&t, def, key);
	assert_string_equal(key, want);
}

static void test_parse_and_key(void **state)
{
	key_of("web-01", 22, "web-01:22");
	key_of("WEB-01.Example.com:2222", 22, "web-01.example.com:2222");
	key_of("10.0.0.5", 2200, "10.0.0.5:2200");
	key_of("[::1]:2222", 22, "[::1]:2222");
	key_of("[fe80::1]", 22, "[fe80::1]:22");
	key_of("host_with_underscore", 22, "host_with_underscore:22");
}

static void test_parse_rejects(void **state)
{
	const char *bad[] = {"",	   "-oProxyCommand=x", ".hidden",   "a b",    "web;rm", "web:",
			     "web:0",	   "web:65536",	       "web:22:22", "web:2x", "[::1",	"[::1]x",
			     "[zz::1]:22", "user@host",	       "$(id)",	    "a/b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		target_addr t;
		assert_int_not_equal(target_parse(bad[i], &t), RFX_OK);
	}
	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	target_addr t;
	assert_int_not_equal(target_parse(longname, &t), RFX_OK);
}

static bool allowed(const char *target, char **globs, size_t n)
{
	cfg_strlist l = {globs, n};
	target_addr t;
	assert_int_equal(target_parse(target, &t), RFX_OK);
	return target_allowed(&l, &t, 22);
}

static void test_allow_list(void **state)
{
	char *g1[] = {"web-*", "db-0[12]", "10.0.0.*", "bastion:2222"};
	assert_true(allowed("web-01", g1, 4));
	assert_true(allowed("WEB-01:2200", g1, 4)); /* the host matches, any port */
	assert_true(allowed("db-02", g1, 4));
	assert_false(allowed("db-03", g1, 4));
	assert_true(allowed("10.0.0.7", g1, 4));
	assert_false(allowed("10.0.1.7", g1, 4));
	assert_true(allowed("bastion:2222", g1, 4));
	assert_false(allowed("bastion", g1, 4)); /* port 22 is not 2222 */
	assert_false(allowed("api-01", g1, 4));
	assert_false(allowed("web-01", g1, 0)); /* empty list: nothing is allowed */
	char *g2[] = {"*"};
	assert_true(allowed("[::1]:22", g2, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_key),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_allow_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
