/* audit.c -- unit tests for the audit dispatcher and the JSON-lines file sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "jsonw.h"
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
	return tu_rmtree(dir);
}

static double counted(const char *sink, const char *result)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "sink=\"%s\",result=\"%s\"", sink, result);
	return metrics_value(
	    metrics_counter("reflex_audit_records_total", labels, "Audit records by sink and result"));
}

/* Opens the file sink for the service "classifier" at dir/name; returns the path (caller frees). */
static char *open_file_sink(const char *name)
{
	char *path = rfx_asprintf("%s/%s", dir, name);
	cfg_common cfg = {.audit_file = path};
	char err[256] = "";
	assert_int_equal(audit_init("classifier", &cfg, err, sizeof(err)), RFX_OK);
	return path;
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
	char *path = open_file_sink("sub/audit.jsonl");
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

/* The escaping must equal cJSON's byte for byte: records built either way are indistinguishable. */
static void assert_escapes_like_cjson(const char *s)
{
	cJSON *str = cJSON_CreateString(s);
	char *want = cJSON_PrintUnformatted(str);
	rfx_buf b;
	buf_init(&b, 1 << 16);
	assert_int_equal(jsonw_string(&b, s), RFX_OK);
	assert_string_equal(buf_cstr(&b), want);
	buf_free(&b);
	free(want);
	cJSON_Delete(str);
}

static void test_put_str_matches_cjson(void **state)
{
	char one[2] = {0};
	for (int c = 1; c < 256; c++) {
		one[0] = (char)c;
		assert_escapes_like_cjson(one);
	}
	char all[256];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';
	assert_escapes_like_cjson(all);
	assert_escapes_like_cjson("");
	assert_escapes_like_cjson("plain ascii text");
	assert_escapes_like_cjson(
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5 \"q\" \\ \n\r\t\b\f\x01\x1f\x7f end");
	assert_escapes_like_cjson("\\\"\\\"");
	assert_escapes_like_cjson("\xff\xfe invalid utf-8 \xc3");
}

static void test_put_str_limit(void **state)
{
	rfx_buf b;
	buf_init(&b, 8);
	assert_int_equal(jsonw_string(&b, "abc"), RFX_OK);
	assert_int_equal(jsonw_string(&b, "\n\n"), RFX_ERR_LIMIT);
	buf_free(&b);
}

static void test_put_members(void **state)
{
	rfx_buf *b = audit_fields_buf();
	assert_int_equal(audit_put_member(b, "a", "x\"y"), RFX_OK);
	assert_int_equal(audit_put_member(b, "skipped", NULL), RFX_OK);
	assert_int_equal(audit_put_json(b, "n", NULL), RFX_OK);
	cJSON *arr = cJSON_Parse("[{\"rule\":null,\"n\":1.5,\"s\":\"\\u0001\"}]");
	assert_int_equal(audit_put_json(b, "d", arr), RFX_OK);
	cJSON_Delete(arr);
	assert_int_equal(audit_put_text(b, "t", "[1,{\"k\":true}]", 14), RFX_OK);
	assert_int_equal(audit_put_text(b, "none", NULL, 0), RFX_OK);
	assert_string_equal(buf_cstr(b),
			    "\"a\":\"x\\\"y\",\"d\":[{\"rule\":null,\"n\":1.5,\"s\":\"\\u0001\"}],"
			    "\"t\":[1,{\"k\":true}]");
	assert_int_equal(audit_fields_buf()->len, 0);
}

/* Reads the file's lines with each record's "ts" value blanked (the only part that differs in time). */
static char **read_lines(const char *path, size_t *n)
{
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(rfx_read_file(path, 1 << 24, &data, &len), RFX_OK);
	char **lines = rfx_calloc(64, sizeof(*lines));
	*n = 0;
	for (char *line = data, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		assert_true(*n < 64);
		char *ts = strstr(line, ",\"ts\":\"");
		assert_non_null(ts);
		char *end = strchr(ts + 7, '"');
		assert_non_null(end);
		lines[(*n)++] = rfx_asprintf("%.*s%s", (int)(ts + 7 - line), line, end);
	}
	free(data);
	return lines;
}

static void test_emit_raw_equals_emit(void **state)
{
	char *path = open_file_sink("raw.jsonl");
	const char *src = "id \"with\" quotes\n\xc3\xa9\x01";
	const char *dec =
	    "[{\"rule\":\"disk\",\"action_id\":null,\"score\":0.25,\"tags\":{\"k\":\"v\\u0002\"}}]";

	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "event_id", "01JD3Z");
	cJSON_AddStringToObject(f, "source_id", src);
	cJSON_AddItemToObject(f, "decisions", cJSON_Parse(dec));
	audit_emit("event.classified", f);

	cJSON *parsed = cJSON_Parse(dec);
	rfx_buf *b = audit_fields_buf();
	assert_int_equal(audit_put_member(b, "event_id", "01JD3Z"), RFX_OK);
	assert_int_equal(audit_put_member(b, "source_id", src), RFX_OK);
	assert_int_equal(audit_put_json(b, "decisions", parsed), RFX_OK);
	cJSON_Delete(parsed);
	double ok = counted("file", "ok"), failed = counted("file", "error");
	audit_emit_raw("event.classified", src, buf_cstr(b), b->len);
	audit_emit_raw("event.received", NULL, "", 0);
	audit_emit_raw("event.received", NULL, NULL, 0);
	assert_true(counted("file", "ok") == ok + 2);
	assert_true(counted("file", "error") == failed + 1);
	audit_shutdown(1000);

	size_t n = 0;
	char **lines = read_lines(path, &n);
	assert_int_equal(n, 3);
	assert_string_equal(lines[1], lines[0]);
	assert_string_equal(lines[2], "{\"type\":\"event.received\",\"ts\":\"\",\"svc\":\"classifier\"}");
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(path);
}

static void *raw_emitter(void *arg)
{
	for (int i = 0; i < 200; i++) {
		rfx_buf *b = audit_fields_buf();
		assert_int_equal(audit_put_member(b, "source_id", "abc"), RFX_OK);
		audit_emit_raw("event.received", "abc", buf_cstr(b), b->len);
	}
	return NULL;
}

static void test_emit_raw_threads(void **state)
{
	char *path = open_file_sink("threads.jsonl");
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, raw_emitter, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	audit_shutdown(1000);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(rfx_read_file(path, 1 << 24, &data, &len), RFX_OK);
	size_t lines = 0;
	for (char *line = data, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "source_id")), "abc");
		cJSON_Delete(j);
		lines++;
	}
	assert_int_equal(lines, 800);
	free(data);
	free(path);
}

/* Held records reach the file only at the release, as one line each, in order, and are counted. */
static void test_hold_release(void **state)
{
	char *path = open_file_sink("held.jsonl");
	double ok0 = counted("file", "ok");
	audit_hold();
	audit_emit_raw("event.received", "k1", "\"n\":1", 5);
	audit_emit_raw("event.classified", "k1", "\"n\":2", 5);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(rfx_read_file(path, 1 << 24, &data, &len), RFX_OK);
	assert_int_equal(len, 0); /* nothing written while held */
	free(data);
	audit_release();
	audit_emit_raw("after", "k1", "\"n\":3", 5); /* not held: written at once */
	assert_int_equal(rfx_read_file(path, 1 << 24, &data, &len), RFX_OK);
	const char *types[] = {"event.received", "event.classified", "after"};
	size_t lines = 0;
	for (char *line = data, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
		*nl = '\0';
		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		assert_true(lines < 3);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "type")), types[lines]);
		assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n")), (double)lines + 1);
		cJSON_Delete(j);
	}
	assert_int_equal(lines, 3);
	assert_true(counted("file", "ok") - ok0 == 3.0);
	audit_hold();
	audit_release(); /* nothing held: nothing written */
	audit_shutdown(1000);
	free(data);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_kafka_without_sink),
	    cmocka_unit_test(test_file_sink),
	    cmocka_unit_test(test_file_open_error),
	    cmocka_unit_test(test_put_str_matches_cjson),
	    cmocka_unit_test(test_put_str_limit),
	    cmocka_unit_test(test_put_members),
	    cmocka_unit_test(test_emit_raw_equals_emit),
	    cmocka_unit_test(test_emit_raw_threads),
	    cmocka_unit_test(test_hold_release),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
