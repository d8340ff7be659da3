/* normalize_owned.c -- unit tests: parsing a body the caller owns gives the same events as parsing a copy. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "normalize.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *s = calloc(1, 1 << 20);
	size_t n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void assert_same_events(const event_list *a, const event_list *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		cJSON *ja = event_to_json(a->v[i], true), *jb = event_to_json(b->v[i], true);
		cJSON_DeleteItemFromObject(ja, "id");
		cJSON_DeleteItemFromObject(jb, "id");
		assert_true(cJSON_Compare(ja, jb, true));
		cJSON_Delete(ja);
		cJSON_Delete(jb);
	}
}

/* Every way on one payload (copied; owned; owned and declared valid UTF-8 when the text is ASCII, as the
 * classifier does); the owned bodies are deleted before the events are compared. */
static void check_payload(const normalizer *n, const char *text)
{
	cJSON *body = cJSON_Parse(text), *owned = cJSON_Parse(text), *owned2 = cJSON_Parse(text);
	assert_non_null(body);
	event_list a = {0}, b = {0}, c = {0};
	char ea[300], eb[300];
	const char *fa, *fb;
	rfx_err ra = n->parse(body, &a, ea, sizeof(ea), &fa);
	rfx_err rb = normalize_parse_owned(n, owned, false, &b, eb, sizeof(eb), &fb);
	rfx_err rc = normalize_parse_owned(n, owned2, rfx_ascii(text, strlen(text)), &c, eb, sizeof(eb), &fb);
	cJSON_Delete(owned);
	cJSON_Delete(owned2);
	assert_int_equal(ra, rb);
	assert_int_equal(ra, rc);
	assert_same_events(&a, &b);
	assert_same_events(&a, &c);
	event_list_free(&c);
	/* the copy-parsed body is untouched */
	cJSON *again = cJSON_Parse(text);
	assert_true(cJSON_Compare(again, body, true));
	cJSON_Delete(again);
	cJSON_Delete(body);
	event_list_free(&a);
	event_list_free(&b);
}

static void check_corpus(const char *source)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "tests/fuzz/corpus/shared__norm_%s", source);
	DIR *d = opendir(dir);
	assert_non_null(d);
	const normalizer *n = normalizer_find(source);
	assert_non_null(n);
	int seen = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		char path[600];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		char *text = slurp(path);
		cJSON *valid = cJSON_Parse(text);
		if (valid) {
			cJSON_Delete(valid);
			check_payload(n, text);
			seen++;
		}
		free(text);
	}
	closedir(d);
	assert_true(seen > 0);
}

static void test_alertmanager(void **state)
{
	(void)state;
	check_corpus("alertmanager");
	/* several alerts, invalid UTF-8 in raw, and a failure after the first alert was taken */
	check_payload(&norm_alertmanager,
		      "{\"alerts\":[{\"labels\":{\"alertname\":\"A\",\"x\":\"\xff\xfe\"},"
		      "\"annotations\":{\"k\":\"v\"}},{\"labels\":{\"alertname\":\"B\"}}]}");
	check_payload(&norm_alertmanager,
		      "{\"alerts\":[{\"labels\":{\"alertname\":\"A\"}},{\"labels\":\"not an object\"}]}");
}

static void test_other_sources(void **state)
{
	(void)state;
	check_corpus("dynatrace");
	check_corpus("generic");
	check_corpus("icinga");
	check_corpus("opsgenie");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alertmanager),
	    cmocka_unit_test(test_other_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
