/* audit.c -- unit tests for the audit dispatcher and the JSON-lines file sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "metrics.h"

static char dir[] = "/tmp/rfx-audit-XXXXXX";

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	log_init("test", LOG_LEVEL_ERROR);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = rfx_asprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

static double counted(const char *sink, const char *result)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "sink=\"%s\",result=\"%s\"", sink, result);
	return metrics_value(
	    metrics_counter("reflex_audit_records_total", labels, "Audit records by sink and result"));
}

static void test_none(void **state)
{
	cfg_common cfg = {0};
	char err[256] = "";
	assert_int_equal(audit_init("tester", &cfg, err, sizeof(err)), RFX_OK);
	double before = counted("none", "skipped");
	audit_emit("event.received", NULL);
	assert_true(counted("none", "skipped") == before + 1);
	audit_shutdown(100);
}

static void test_kafka_without_sink(void **state)
{
	cfg_common cfg = {.kafka_brokers = "127.0.0.1:9092"};
	char err[256] = "";
	rfx_err (*saved)(const cfg_common *, audit_sink *, char *, size_t) = audit_kafka_open_fn;
	audit_kafka_open_fn = NULL;
	assert_int_not_equal(audit_init("tester", &cfg, err, sizeof(err)), RFX_OK);
	assert_non_null(strstr(err, "Kafka"));
	audit_kafka_open_fn = saved;
}

static void *emitter(void *arg)
{
	for (int i = 0; i < 200; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "source_id", "abc");
		cJSON_AddNumberToObject(f, "i", i);
		audit_emit("action.finished", f);
	}
	return NULL;
}

static void test_file_sink(void **state)
{
	char *path = rfx_asprintf("%s/sub/audit.jsonl", dir);
	cfg_common cfg = {.audit_file = path};
	char err[256] = "";
	assert_int_equal(audit_init("classifier", &cfg, err, sizeof(err)), RFX_OK);
	double before = counted("file", "ok");
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "event_id", "01JD3Z");
	cJSON_AddStringToObject(f, "source_id", "95c7516b6ade3654");
	cJSON_AddStringToObject(f, "svc", "spoofed");
	audit_emit("event.received", f);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, emitter, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	audit_shutdown(1000);
	assert_true(counted("file", "ok") == before + 801);

	char *data = NULL;
	size_t len = 0;
	assert_int_equal(rfx_read_file(path, 1 << 24, &data, &len), RFX_OK);
	size_t lines = 0;
	for (char *line = data, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(j, "type")));
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "svc")), "classifier");
		int64_t ms;
		assert_int_equal(rfx_parse_time(cJSON_GetStringValue(cJSON_GetObjectItem(j, "ts")), &ms),
				 RFX_OK);
		if (lines == 0) {
			const char *head = "{\"type\":\"event.received\",\"ts\":\"";
			assert_true(strncmp(line, head, strlen(head)) == 0);
			assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "event_id")),
					    "01JD3Z");
		}
		cJSON_Delete(j);
		lines++;
	}
	assert_int_equal(lines, 801);
	free(data);
	free(path);
}

static void test_file_open_error(void **state)
{
	cfg_common cfg = {.audit_file = "/proc/no/such/dir/audit.jsonl"};
	char err[256] = "";
	assert_int_equal(audit_init("x", &cfg, err, sizeof(err)), RFX_ERR_IO);
	assert_non_null(strstr(err, "audit_file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_kafka_without_sink),
	    cmocka_unit_test(test_file_sink),
	    cmocka_unit_test(test_file_open_error),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
