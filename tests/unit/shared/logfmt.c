/* logfmt.c -- unit tests for logfmt quoting, parsing, round trips and the level-gated log macros. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logfmt.h"

static char *enc(const char *key, const char *value)
{
	rfx_buf b;
	buf_init(&b, 4096);
	assert_int_equal(logfmt_append(&b, key, value), RFX_OK);
	return buf_steal(&b);
}

static void check_enc(const char *value, const char *want)
{
	char *s = enc("k", value);
	assert_string_equal(s, want);
	free(s);
}

static void test_quoting(void **state)
{
	check_enc("plain", "k=plain");
	check_enc("", "k=\"\"");
	check_enc("two words", "k=\"two words\"");
	check_enc("a=b", "k=\"a=b\"");
	check_enc("say \"hi\"", "k=\"say \\\"hi\\\"\"");
	check_enc("line1\nline2", "k=\"line1\\nline2\"");
	check_enc("tab\there", "k=\"tab\\there\"");
	check_enc("bell\x07", "k=\"bell\\x07\"");
	check_enc("caf\xc3\xa9", "k=\"caf\xc3\xa9\"");
	check_enc("bad\xff", "k=\"bad\\xff\"");
	check_enc("back\\slash", "k=back\\slash");
	check_enc("quoted \\ slash", "k=\"quoted \\\\ slash\"");
	assert_true(logfmt_needs_quote(""));
	assert_true(logfmt_needs_quote("\xc3\xa9"));
	assert_false(logfmt_needs_quote("abc-1.2/x:y"));
	/* keys never break the line */
	char *s = enc("bad key=", "v");
	assert_string_equal(s, "bad_key_=v");
	free(s);
}

static void test_append_sequence_and_limit(void **state)
{
	rfx_buf b;
	buf_init(&b, 20);
	assert_int_equal(logfmt_append(&b, "a", "1"), RFX_OK);
	assert_int_equal(logfmt_append(&b, "b", "two words"), RFX_OK);
	assert_string_equal(buf_cstr(&b), "a=1 b=\"two words\"");
	assert_int_equal(logfmt_append(&b, "c", "too long to fit"), RFX_ERR_LIMIT);
	assert_string_equal(buf_cstr(&b), "a=1 b=\"two words\"");
	buf_free(&b);
}

static void test_roundtrip(void **state)
{
	const char *values[] = {"plain",       "",	     "two words", "a=b",
				"say \"hi\"",  "l1\nl2\r\n", "\ttab",	  "caf\xc3\xa9 \xe2\x82\xac",
				"bad\xff\xfe", "\\",	     "x\\\"y",	  "ctl\x01\x1f\x7f"};
	rfx_buf b;
	buf_init(&b, 1 << 16);
	char key[16];
	for (size_t i = 0; i < RFX_ARRAY_LEN(values); i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(logfmt_append(&b, key, values[i]), RFX_OK);
	}
	logfmt_record r;
	assert_int_equal(logfmt_parse(b.data, b.len, &r), RFX_OK);
	assert_int_equal(r.n, RFX_ARRAY_LEN(values));
	for (size_t i = 0; i < RFX_ARRAY_LEN(values); i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_string_equal(logfmt_get(&r, key), values[i]);
	}
	assert_null(logfmt_get(&r, "absent"));
	logfmt_record_free(&r);
	buf_free(&b);
}

static void test_parse(void **state)
{
	logfmt_record r;
	const char *line =
	    "ts=2026-11-22T01:21:04.264Z level=info msg=\"event classified\" flag empty= n=0.21\n";
	assert_int_equal(logfmt_parse(line, strlen(line), &r), RFX_OK);
	assert_int_equal(r.n, 6);
	assert_string_equal(logfmt_get(&r, "level"), "info");
	assert_string_equal(logfmt_get(&r, "msg"), "event classified");
	assert_string_equal(logfmt_get(&r, "flag"), "");
	assert_string_equal(logfmt_get(&r, "empty"), "");
	assert_string_equal(logfmt_get(&r, "n"), "0.21");
	logfmt_record_free(&r);

	const char *bad[] = {"",   "   ",	   "k=\"unterminated", "k=\"x\"y",
			     "=v", "k=\"bad\\q\"", "\"k\"=v",	       "k=a\"b"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(bad); i++)
		assert_int_equal(logfmt_parse(bad[i], strlen(bad[i]), &r), RFX_ERR_PARSE);
}

static void test_log_lines(void **state)
{
	char path[] = "/tmp/rfx-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	log_init("tester", LOG_LEVEL_INFO);
	log_set_fd(fd);
	int evaluated = 0;
	LOG_DEBUG("hidden", "x", (evaluated++, "1"));
	LOG_INFO("event classified", "event_id", "01J", "skipped", NULL, "rule", "a b");
	LOG_ERROR("boom");
	log_set_fd(1);
	assert_int_equal(evaluated, 0);

	char *data = NULL;
	size_t len = 0;
	assert_int_equal(rfx_read_file(path, 1 << 16, &data, &len), RFX_OK);
	char *nl = strchr(data, '\n');
	assert_non_null(nl);
	logfmt_record r;
	assert_int_equal(logfmt_parse(data, (size_t)(nl - data), &r), RFX_OK);
	assert_string_equal(r.pairs[0].key, "ts");
	assert_string_equal(logfmt_get(&r, "level"), "info");
	assert_string_equal(logfmt_get(&r, "svc"), "tester");
	assert_string_equal(logfmt_get(&r, "msg"), "event classified");
	assert_string_equal(logfmt_get(&r, "rule"), "a b");
	assert_null(logfmt_get(&r, "skipped"));
	logfmt_record_free(&r);
	assert_non_null(strstr(nl + 1, "level=error"));
	assert_null(strstr(data, "hidden"));

	log_level l;
	assert_int_equal(log_level_parse("warn", &l), RFX_OK);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_int_not_equal(log_level_parse("loud", &l), RFX_OK);
	free(data);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quoting),   cmocka_unit_test(test_append_sequence_and_limit),
	    cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_log_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
