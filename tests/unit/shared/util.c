/* util.c -- unit tests for rfx.c and buf.c: durations, times, ULIDs, UTF-8, files, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "rfx.h"

static void test_duration(void **state)
{
	int64_t ms;
	assert_int_equal(rfx_parse_duration("250ms", &ms), RFX_OK);
	assert_int_equal(ms, 250);
	assert_int_equal(rfx_parse_duration("10s", &ms), RFX_OK);
	assert_int_equal(ms, 10000);
	assert_int_equal(rfx_parse_duration("10m", &ms), RFX_OK);
	assert_int_equal(ms, 600000);
	assert_int_equal(rfx_parse_duration("2h", &ms), RFX_OK);
	assert_int_equal(ms, 7200000);
	assert_int_equal(rfx_parse_duration("1d", &ms), RFX_OK);
	assert_int_equal(ms, 86400000);
	assert_int_equal(rfx_parse_duration("30", &ms), RFX_OK);
	assert_int_equal(ms, 30000);
	assert_int_equal(rfx_parse_duration("1h30m", &ms), RFX_OK);
	assert_int_equal(ms, 5400000);
	assert_int_equal(rfx_parse_duration("1.5s", &ms), RFX_OK);
	assert_int_equal(ms, 1500);
	assert_int_not_equal(rfx_parse_duration("", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_duration("abc", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_duration("10x", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_duration("-5s", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_duration("5 s", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_duration("10s5", &ms), RFX_OK);
}

/* The hand-made calendar arithmetic against the C library's: gmtime_r + strftime for formatting, timegm for
 * parsing, over leap years, century rules, negative times, day and second overflow (Feb 31, second 60). */
static void test_time_against_libc(void **state)
{
	(void)state;
	static const int64_t fixed[] = {0,
					-1,
					-86400000,
					951782400000LL /* 2000-02-29 */,
					4107542400000LL /* 2100-03-01 */,
					-2208988800000LL /* 1900-01-01 */,
					253402300799999LL /* 9999-12-31T23:59:59.999 */,
					-30610224000000LL /* 1000-01-01 */,
					-62135596800000LL /* 0001-01-01: outside the fast path */};
	srand(7);
	for (int i = 0; i < 200000; i++) {
		int64_t ms = i < (int)(sizeof(fixed) / sizeof(fixed[0]))
				 ? fixed[i]
				 : ((int64_t)rand() << 31 ^ rand()) % 253402300800000LL - 30610224000000LL;
		char got[32], want[32];
		rfx_iso8601(ms, got);
		time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
		struct tm tm;
		gmtime_r(&sec, &tm);
		size_t n = strftime(want, 24, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + n, sizeof(want) - n, ".%03uZ", (unsigned)(ms - (int64_t)sec * 1000) % 1000u);
		assert_string_equal(got, want);
		int64_t back;
		if (tm.tm_year + 1900 >= 1000 && tm.tm_year + 1900 <= 9999) {
			assert_int_equal(rfx_parse_time(got, &back), RFX_OK);
			assert_int_equal(back, ms);
		}
	}
	static const char *const overflow[] = {"2025-02-31T00:00:00Z", "2024-02-30T23:59:60Z",
					       "2026-12-31T23:59:60.5+14:00", "1999-04-31T12:00:00-11:30"};
	for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++) {
		struct tm tm = {0};
		int off_h = 0, off_m = 0;
		char sign = 'Z';
		sscanf(overflow[i], "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		       &tm.tm_min, &tm.tm_sec);
		const char *z = overflow[i] + 19;
		int frac = 0;
		if (*z == '.') {
			frac = (z[1] - '0') * 100;
			z += 2;
		}
		if (*z == '+' || *z == '-') {
			sign = *z;
			sscanf(z + 1, "%d:%d", &off_h, &off_m);
		}
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		int64_t want = ((int64_t)timegm(&tm) -
				(sign == '-' ? -1 : 1) * (off_h * 3600 + off_m * 60) * (sign != 'Z')) *
				   1000 +
			       frac;
		int64_t got;
		assert_int_equal(rfx_parse_time(overflow[i], &got), RFX_OK);
		assert_int_equal(got, want);
	}
}

static void test_time_parse(void **state)
{
	int64_t ms;
	assert_int_equal(rfx_parse_time("2026-11-22T01:21:04Z", &ms), RFX_OK);
	assert_int_equal(ms, 1795310464000LL);
	assert_int_equal(rfx_parse_time("2026-11-22T01:21:04.264Z", &ms), RFX_OK);
	assert_int_equal(ms, 1795310464264LL);
	assert_int_equal(rfx_parse_time("2026-11-22T02:21:04.264+01:00", &ms), RFX_OK);
	assert_int_equal(ms, 1795310464264LL);
	assert_int_equal(rfx_parse_time("2026-11-21T20:21:04-0500", &ms), RFX_OK);
	assert_int_equal(ms, 1795310464000LL);
	assert_int_equal(rfx_parse_time("2026-11-22T01:21:04.123456789Z", &ms), RFX_OK);
	assert_int_equal(ms, 1795310464123LL);
	assert_int_equal(rfx_parse_time("1795310464264", &ms), RFX_OK);
	assert_int_equal(ms, 1795310464264LL);
	assert_int_not_equal(rfx_parse_time("2026-13-22T01:21:04Z", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_time("2026-11-22", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_time("2026-11-22T01:21:04", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_time("2026-11-22T01:21:04Zjunk", &ms), RFX_OK);
	assert_int_not_equal(rfx_parse_time("", &ms), RFX_OK);

	char out[32];
	rfx_iso8601(1795310464264LL, out);
	assert_string_equal(out, "2026-11-22T01:21:04.264Z");
	rfx_iso8601(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	/* round trip */
	int64_t now = rfx_now_ms();
	rfx_iso8601(now, out);
	assert_int_equal(rfx_parse_time(out, &ms), RFX_OK);
	assert_int_equal(ms, now);
}

static void test_ulid(void **state)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	char prev[27] = "", cur[27];
	for (int i = 0; i < 2000; i++) {
		rfx_ulid(cur);
		assert_int_equal(strlen(cur), 26);
		for (int j = 0; j < 26; j++)
			assert_non_null(strchr(alphabet, cur[j]));
		assert_true(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof(cur));
	}
	/* The first 10 characters encode the current time in ms. */
	int64_t before = rfx_now_ms();
	rfx_ulid(cur);
	int64_t t = 0;
	for (int j = 0; j < 10; j++)
		t = t * 32 + (int64_t)(strchr(alphabet, cur[j]) - alphabet);
	assert_true(t >= before && t <= rfx_now_ms() + 1);
}

static void test_utf8(void **state)
{
	assert_true(rfx_ascii("", 0));
	assert_true(rfx_ascii("plain text, longer than eight bytes", 35));
	for (size_t at = 0; at < 20; at++) { /* a high byte anywhere, in the 8-byte part or the tail */
		char t[21] = "aaaaaaaaaaaaaaaaaaaa";
		t[at] = (char)0x80;
		assert_false(rfx_ascii(t, 20));
	}
	assert_true(rfx_utf8_valid("h\xc3\xa9llo", 6));
	assert_true(rfx_utf8_valid("abcdefgh\xc3\xa9ijklmnop", 18)); /* past the ASCII fast path */
	assert_false(rfx_utf8_valid("abcdefgh\xc3ijklmnop", 17));
	assert_true(rfx_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_false(rfx_utf8_valid("\xc3", 1));	     /* truncated */
	assert_false(rfx_utf8_valid("\xc0\xaf", 2));	     /* overlong */
	assert_false(rfx_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(rfx_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(rfx_utf8_valid("\xff", 1));

	char *s = rfx_utf8_sanitize("a\xffz", 3);
	assert_string_equal(s, "a\xef\xbf\xbdz");
	free(s);
	s = rfx_utf8_sanitize("a\0b", 3);
	assert_string_equal(s, "ab");
	free(s);
	s = rfx_utf8_sanitize("h\xc3\xa9", 3);
	assert_string_equal(s, "h\xc3\xa9");
	free(s);
	s = rfx_utf8_sanitize("x\xc3", 2);
	assert_string_equal(s, "x\xef\xbf\xbd");
	assert_true(rfx_utf8_valid(s, strlen(s)));
	free(s);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/rfx-util-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *sub = rfx_asprintf("%s/a/b/c", dir);
	assert_int_equal(rfx_mkdirs(sub), RFX_OK);
	assert_int_equal(rfx_mkdirs(sub), RFX_OK);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	char *path = rfx_asprintf("%s/file", sub);
	assert_int_equal(rfx_write_file_atomic(path, "first", 5), RFX_OK);
	assert_int_equal(rfx_write_file_atomic(path, "second", 6), RFX_OK);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(rfx_read_file(path, 100, &data, &len), RFX_OK);
	assert_int_equal(len, 6);
	assert_string_equal(data, "second");
	free(data);
	assert_int_equal(rfx_read_file(path, 3, &data, &len), RFX_ERR_LIMIT);
	char *missing = rfx_asprintf("%s/nope", dir);
	assert_int_equal(rfx_read_file(missing, 100, &data, &len), RFX_ERR_NOTFOUND);
	/* the atomic write leaves no temp file behind */
	assert_int_equal(tu_count_entries(sub), 1);
	assert_int_equal(tu_rmtree(dir), 0);
	free(missing);
	free(path);
	free(sub);
}

static void test_ct_glob(void **state)
{
	assert_true(rfx_ct_equal("abc", 3, "abc", 3));
	assert_false(rfx_ct_equal("abc", 3, "abd", 3));
	assert_false(rfx_ct_equal("abc", 3, "abcd", 4));
	assert_false(rfx_ct_equal("", 0, "a", 1));
	assert_true(rfx_ct_equal("", 0, "", 0));
	assert_true(rfx_glob("web-*", "web-01"));
	assert_false(rfx_glob("web-*", "db-01"));
	assert_true(rfx_glob("db-0[1-3]", "db-02"));
	assert_true(rfx_glob("h?st", "host"));
}

static void test_buf(void **state)
{
	rfx_buf b;
	buf_init(&b, 10);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_puts(&b, "hello"), RFX_OK);
	assert_int_equal(buf_printf(&b, "%d", 1234), RFX_OK);
	assert_string_equal(buf_cstr(&b), "hello1234");
	assert_int_equal(buf_puts(&b, "xy"), RFX_ERR_LIMIT);
	assert_string_equal(buf_cstr(&b), "hello1234");
	assert_int_equal(buf_putc(&b, '!'), RFX_OK);
	assert_int_equal(buf_putc(&b, '!'), RFX_ERR_LIMIT);
	assert_int_equal(b.len, 10);
	char *s = buf_steal(&b);
	assert_string_equal(s, "hello1234!");
	free(s);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_init(&b, 100000);
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(buf_printf(&b, "<%s>", big), RFX_OK);
	assert_int_equal(b.len, 3001);
	buf_reset(&b);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
	char *a = rfx_asprintf("%s-%d", "x", 5);
	assert_string_equal(a, "x-5");
	RFX_FREE(a);
	assert_null(a);
	assert_string_equal(rfx_strerror(RFX_ERR_LIMIT), "limit exceeded");
}

static void *other_thread_scratch(void *arg)
{
	rfx_buf *b = buf_scratch(BUF_SCRATCH_LOG, 64);
	return (void *)(uintptr_t)(b != arg && b->len == 0);
}

/* Scratch buffers keep their content per slot and thread; trimming empties and gives back grown storage. */
static void test_buf_scratch(void **state)
{
	rfx_buf *a = buf_scratch(BUF_SCRATCH_LOG, 64), *h = buf_scratch(BUF_SCRATCH_HISTORY, 64);
	assert_ptr_not_equal(a, h);
	buf_reset(a);
	assert_int_equal(buf_puts(a, "kept"), RFX_OK);
	assert_ptr_equal(buf_scratch(BUF_SCRATCH_LOG, 64), a);
	assert_string_equal(buf_cstr(a), "kept");
	assert_int_equal(buf_puts(a, "0123456789012345678901234567890123456789012345678901234567890"),
			 RFX_ERR_LIMIT);
	pthread_t t;
	void *other = NULL;
	pthread_create(&t, NULL, other_thread_scratch, a);
	pthread_join(t, &other);
	assert_true(other != NULL);
	buf_trim(a, 1024);
	assert_string_equal(buf_cstr(a), "");
	assert_non_null(a->data); /* small storage is kept */
	assert_int_equal(buf_puts(a, "grown"), RFX_OK);
	buf_trim(a, 8);
	assert_null(a->data);
	assert_int_equal(a->cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_time_parse),
	    cmocka_unit_test(test_time_against_libc),
	    cmocka_unit_test(test_ulid),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_ct_glob),
	    cmocka_unit_test(test_buf),
	    cmocka_unit_test(test_buf_scratch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
