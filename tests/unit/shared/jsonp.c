/* jsonp.c -- unit tests: the request body parser accepts and builds exactly what cJSON does, on valid
 * documents, cJSON's quirks and broken texts, and bounds the nesting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../fuzz/jsonp_same.h"

static void assert_same(const char *text, size_t len, int want_accepted)
{
	int accepted;
	if (!jsonp_same(text, len, &accepted))
		fail_msg("jsonp and cJSON disagree on: %.*s", (int)len, text);
	if (accepted != want_accepted)
		fail_msg("%s by cJSON: %.*s", accepted ? "accepted" : "refused", (int)len, text);
}

#define SAME_OK(s)  assert_same(s, sizeof(s) - 1, 1)
#define SAME_BAD(s) assert_same(s, sizeof(s) - 1, 0)

static void test_documents(void **state)
{
	(void)state;
	SAME_OK("{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"labels\":{\"alertname\":\"X\","
		"\"instance\":"
		"\"web-1:9100\"},\"annotations\":{},\"startsAt\":\"2026-11-22T01:21:04.264Z\"}]}");
	SAME_OK("  {\n\t\"a\" : [ 1 , 2.5 , -3e2 , true , false , null , { } , [ ] ] } ");
	SAME_OK("[]");
	SAME_OK("{}");
	SAME_OK("\"just a string\"");
	SAME_OK("0");
	SAME_OK("-0.0");
	SAME_OK("1e400");
	SAME_OK("-1e400");
	SAME_OK("3000000000");
	SAME_OK("-2147483649");
	SAME_OK("0.1");
	SAME_OK("{\"dup\":1,\"dup\":2}");
	SAME_OK("[\"$(touch /tmp/x)\",\"'; touch /tmp/x #\",\"`id`\"]");
	SAME_OK(
	    "{\"a very long key that needs more than sixteen bytes\":\"and a value longer than thirty-two "
	    "bytes, to cross blocks\"}");
}

static void test_escapes(void **state)
{
	(void)state;
	SAME_OK("\"\\b\\f\\n\\r\\t\\\"\\\\\\/\"");
	SAME_OK("\"caf\\u00e9 \\u20ac \\ud83d\\udd25\"");
	SAME_OK("\"\\u0041\\u00410\\u0000after\"");
	SAME_OK("\"\\uZZZZ\""); /* cJSON: not hex reads as U+0000 */
	SAME_BAD("\"\\udc00\"");
	SAME_BAD("\"\\ud800\"");
	SAME_BAD("\"\\ud800\\u0041\"");
	SAME_BAD("\"\\ud800x\\udc00\"");
	SAME_BAD("\"\\u12\"");
	SAME_BAD("\"\\x\"");
	SAME_BAD("\"\\");
	SAME_BAD("\"abc");
	SAME_BAD("\"abc\\\"");
	SAME_OK("{\"k\\u00e9y\\n\":\"v\"}");
	SAME_OK("\"raw \x01 control \x1f bytes and \xff\xfe not UTF-8\"");
}

static void test_quirks(void **state)
{
	(void)state;
	SAME_OK("\x01\x02 [1]"); /* any byte up to 0x20 is whitespace */
	SAME_OK("\xEF\xBB\xBF{\"bom\":1}");
	SAME_OK("01");
	SAME_OK("1.");
	SAME_OK("1.e5");
	SAME_OK("1e5e5");
	SAME_BAD("-");
	SAME_BAD("+1");
	SAME_BAD(".5");
	SAME_OK("nullx"); /* the value ends after null: the caller judges what follows */
	SAME_OK("[1]garbage");
	SAME_OK("123456789012345678901234567890123456789012345678901234567890123456789");
	assert_same("[1,2]\0[3]", 9, 1);
	assert_same("\"a\0b\"", 5, 1);
	assert_same("{\"a\0b\":\"c\0d\"}", 13, 1);
}

static void test_broken(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    " ",
	    "[",
	    "]",
	    "{",
	    "}",
	    "[1,]",
	    "[,1]",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1,}",
	    "{a:1}",
	    "{\"a\" 1}",
	    "[1 2]",
	    "tru",
	    "fals",
	    "nul",
	    "[\"a\",",
	    "{\"a\":1",
	    "{\"a\":[1,{\"b\":",
	    "\xEF\xBB\xBF",
	    "'x'",
	    "[1]]",
	    "{\"a\":1}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_same(bad[i], strlen(bad[i]), !strcmp(bad[i], "[1]]") || !strcmp(bad[i], "{\"a\":1}}"));
}

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);
	memset(s, '[', (size_t)depth);
	memset(s + depth, ']', (size_t)depth);
	s[depth * 2] = '\0';
	return s;
}

static void test_depth(void **state)
{
	(void)state;
	char *ok = nested(64), *deep = nested(65), *cjson_max = nested(CJSON_NESTING_LIMIT),
	     *cjson_over = nested(CJSON_NESTING_LIMIT + 1);
	size_t end;
	bool too_deep;
	cJSON *j = jsonp_parse(ok, strlen(ok), 64, &end, &too_deep);
	assert_non_null(j);
	assert_false(too_deep);
	assert_int_equal(end, 128);
	cJSON_Delete(j);
	assert_null(jsonp_parse(deep, strlen(deep), 64, &end, &too_deep));
	assert_true(too_deep);
	assert_same(cjson_max, strlen(cjson_max), 1);
	assert_same(cjson_over, strlen(cjson_over), 0);
	free(ok);
	free(deep);
	free(cjson_max);
	free(cjson_over);
}

/* Random texts built from JSON's own tokens, so that most are nearly valid. */
static void test_random_token_soup(void **state)
{
	(void)state;
	static const char *const tok[] = {"{",	   "}",		  "[",	"]",	  ",",	  ":",
					  "\"k\"", "\"v\\n\"",	  "1",	"-2.5e3", "true", "null",
					  " ",	   "\"\\u00e9\"", "\"", "\\",	  "0x",	  "\x01"};
	srand(42);
	char text[256];
	int accepted = 0;
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		int n = 1 + rand() % 20;
		for (int i = 0; i < n; i++) {
			const char *t = tok[rand() % (int)(sizeof(tok) / sizeof(tok[0]))];
			size_t tl = strlen(t);
			if (len + tl >= sizeof(text))
				break;
			memcpy(text + len, t, tl);
			len += tl;
		}
		int acc;
		if (!jsonp_same(text, len, &acc))
			fail_msg("jsonp and cJSON disagree on: %.*s", (int)len, text);
		accepted += acc;
	}
	assert_true(accepted > 1000); /* the soup holds plenty of valid documents too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documents), cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_quirks),    cmocka_unit_test(test_broken),
	    cmocka_unit_test(test_depth),     cmocka_unit_test(test_random_token_soup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
