/* jsonw.c -- unit tests: the JSON writer gives exactly cJSON_PrintUnformatted's text. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "jsonw.h"

static void assert_same_as_cjson(const cJSON *v)
{
	char *want = cJSON_PrintUnformatted(v);
	char *got = jsonw_print(v);
	assert_non_null(want);
	assert_string_equal(got, want);
	free(want);
	free(got);
}

static void test_documents(void **state)
{
	(void)state;
	static const char *const docs[] = {
	    "{}",
	    "[]",
	    "null",
	    "true",
	    "false",
	    "\"\"",
	    "{\"a\":[1,2.5,-3,0,-0.0,1e300,-1e-300,3000000000,-2147483649,0.1,0.3333333333333333]}",
	    "{\"k\\\"ey\":\"v\\\\al\\/ue\",\"nl\":\"a\\nb\\rc\\td\\be\\ff\",\"u\":\"\\u0001\\u001f\\u007f\"}",
	    "{\"utf8\":\"h\\u00e9llo \xe2\x82\xac "
	    "\xf0\x9f\x94\xa5\",\"empty\":{},\"list\":[[],[{}],[null,true]]}",
	    "[\"$(touch /tmp/x)\",\"'; touch /tmp/x #\",\"`id`\"]",
	    "{\"version\":\"4\",\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"startsAt\":\"2026-11-22T01:"
	    "21:04Z\"}]}",
	    "[123456789012345678,1.7976931348623157e308,5e-324,2.2250738585072014e-308,42.0,-17.25]",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		cJSON *v = cJSON_Parse(docs[i]);
		assert_non_null(v);
		assert_same_as_cjson(v);
		cJSON_Delete(v);
	}
}

static void test_every_byte_in_a_string(void **state)
{
	(void)state;
	char s[256];
	for (int i = 1; i < 256; i++)
		s[i - 1] = (char)i;
	s[255] = '\0';
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, s, s);
	assert_same_as_cjson(v);
	cJSON_Delete(v);
}

/* The scan reads sixteen aligned bytes at a time: every start alignment, every length up to three blocks,
 * and an escape at every position, against cJSON's byte-at-a-time printer. */
static void test_alignments_and_lengths(void **state)
{
	(void)state;
	static const char esc[] = {'"', '\\', '\n', '\x01', '\x1f', 'a', '\x7f', '\xe9'};
	char *mem = malloc(128);
	assert_non_null(mem);
	for (size_t align = 0; align < 16; align++) {
		for (size_t len = 0; len <= 48; len++) {
			for (size_t at = 0; at <= len; at++) {
				char *s = mem + align;
				memset(s, 'x', len);
				s[len] = '\0';
				if (at < len)
					s[at] = esc[(align + len + at) % sizeof(esc)];
				cJSON *v = cJSON_CreateString(s);
				assert_non_null(v);
				rfx_buf b;
				buf_init(&b, 1024);
				assert_int_equal(jsonw_string(&b, s), RFX_OK);
				char *want = cJSON_PrintUnformatted(v);
				assert_string_equal(b.data, want);
				free(want);
				buf_free(&b);
				cJSON_Delete(v);
			}
		}
	}
	free(mem);
}

static void test_built_trees(void **state)
{
	(void)state;
	cJSON *v = cJSON_CreateObject();
	cJSON_AddItemToObject(v, "raw", cJSON_CreateRaw("{\"pre\":[1,2]}"));
	cJSON_AddNumberToObject(v, "nan", NAN);
	cJSON_AddNumberToObject(v, "inf", INFINITY);
	cJSON_AddNumberToObject(v, "neg", -0.5);
	cJSON_AddItemToObject(v, "nothing", cJSON_CreateNull());
	cJSON_AddItemToArray(cJSON_AddArrayToObject(v, "arr"), cJSON_CreateString("x"));
	assert_same_as_cjson(v);
	cJSON_Delete(v);
}

static void test_limit_and_null(void **state)
{
	(void)state;
	rfx_buf b;
	buf_init(&b, 8);
	cJSON *v = cJSON_CreateString("longer than eight bytes");
	assert_int_equal(jsonw_value(&b, v), RFX_ERR_LIMIT);
	cJSON_Delete(v);
	buf_reset(&b);
	assert_int_equal(jsonw_value(&b, NULL), RFX_OK);
	assert_string_equal(buf_cstr(&b), "null");
	buf_reset(&b);
	assert_int_equal(jsonw_string(&b, NULL), RFX_OK);
	assert_string_equal(buf_cstr(&b), "\"\"");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documents),
	    cmocka_unit_test(test_every_byte_in_a_string),
	    cmocka_unit_test(test_alignments_and_lengths),
	    cmocka_unit_test(test_built_trees),
	    cmocka_unit_test(test_limit_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
