/* timefmt.c -- unit tests: the cached formatter gives rfx_iso8601's text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "timefmt.h"

static void test_same_as_rfx_iso8601(void **state)
{
	(void)state;
	static const int64_t samples[] = {0,
					  1,
					  999,
					  1000,
					  1001,
					  -1,
					  -999,
					  -1000,
					  -1001,
					  1763774464264,
					  1763774464999,
					  1763774465000,
					  253402300799999,
					  951782400000,
					  4102444800123};
	char want[32], got[32];
	for (int round = 0; round < 2; round++) /* second round: from the cache where it applies */
		for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
			for (int64_t d = 0; d < 3; d++) {
				rfx_iso8601(samples[i] + d, want);
				timefmt_iso8601(samples[i] + d, got);
				assert_string_equal(got, want);
			}
		}
	int64_t now = rfx_now_ms();
	for (int64_t ms = now; ms < now + 5000; ms += 7) {
		rfx_iso8601(ms, want);
		timefmt_iso8601(ms, got);
		assert_string_equal(got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_as_rfx_iso8601),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
