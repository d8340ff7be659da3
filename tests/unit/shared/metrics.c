/* metrics.c -- unit tests for the metrics registry and its Prometheus text rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "metrics.h"

static void test_metrics_render(void **state)
{
	metric *c = metrics_counter("test_things_total", "kind=\"a\"", "Things seen");
	assert_ptr_equal(c, metrics_counter("test_things_total", "kind=\"a\"", "Things seen"));
	metric *c2 = metrics_counter("test_things_total", "kind=\"b\"", "Things seen");
	metric *g = metrics_gauge("test_queue_depth", NULL, "Queue depth\nwith \\ newline");
	metric *h = metrics_histogram("test_latency_seconds", "op=\"x\"", "Latency");
	metrics_inc(c);
	metrics_add(c, 2.5);
	metrics_inc(c2);
	metrics_set(g, 7);
	metrics_set(g, 3);
	metrics_observe(h, 0.0001);
	metrics_observe(h, 0.003);
	metrics_observe(h, 0.2);
	metrics_observe(h, 100);
	assert_true(metrics_value(c) == 3.5);
	assert_true(metrics_value(g) == 3);
	assert_true(metrics_value(h) == 4);
	/* misuse never crashes: a bad name or a type clash gives a handle that is not rendered */
	metric *bad = metrics_counter("9bad name", NULL, "x");
	metrics_inc(bad);
	metric *clash = metrics_gauge("test_things_total", "kind=\"a\"", "x");
	metrics_set(clash, 99);
	assert_true(metrics_value(c) == 3.5);

	rfx_buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(&b), RFX_OK);
	const char *s = buf_cstr(&b);
	assert_non_null(strstr(s, "# HELP test_things_total Things seen\n# TYPE test_things_total counter\n"
				  "test_things_total{kind=\"a\"} 3.5\ntest_things_total{kind=\"b\"} 1\n"));
	assert_non_null(strstr(s, "# HELP test_queue_depth Queue depth\\nwith \\\\ newline\n"
				  "# TYPE test_queue_depth gauge\ntest_queue_depth 3\n"));
	assert_non_null(strstr(s, "# TYPE test_latency_seconds histogram\n"
				  "test_latency_seconds_bucket{op=\"x\",le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(s, "test_latency_seconds_bucket{op=\"x\",le=\"0.005\"} 2\n"));
	assert_non_null(strstr(s, "test_latency_seconds_bucket{op=\"x\",le=\"0.25\"} 3\n"));
	assert_non_null(strstr(s, "test_latency_seconds_bucket{op=\"x\",le=\"60\"} 3\n"));
	assert_non_null(strstr(s, "test_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(s, "test_latency_seconds_sum{op=\"x\"} 100.2031\n"));
	assert_non_null(strstr(s, "test_latency_seconds_count{op=\"x\"} 4\n"));
	assert_null(strstr(s, "9bad"));
	assert_null(strstr(s, " 99\n"));
	buf_free(&b);
	/* a full buffer is reported, not overrun */
	buf_init(&b, 64);
	assert_int_equal(metrics_render(&b), RFX_ERR_LIMIT);
	buf_free(&b);
}

static void *incrementer(void *arg)
{
	metric *m = arg;
	for (int i = 0; i < 100000; i++)
		metrics_inc(m);
	return NULL;
}

static void test_concurrent_updates(void **state)
{
	metric *m = metrics_counter("test_concurrent_total", NULL, "Concurrent increments");
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, incrementer, m);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_true(metrics_value(m) == 400000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_render),
	    cmocka_unit_test(test_concurrent_updates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
