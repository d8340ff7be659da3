/* norm_fixture.h -- helpers for the normalizer unit tests: load tests/fixtures payloads, run a normalizer. */
#ifndef NORM_FIXTURE_H
#define NORM_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "normalize.h"

/* tests/fixtures, found from $REFLEX_FIXTURES, the working directory, or the binary (build/tests/shared/x).
 */
static __attribute__((unused)) const char *fixture_dir(void)
{
	static char dir[PATH_MAX + 32];
	const char *env = getenv("REFLEX_FIXTURES");
	if (env)
		return env;
	if (access("tests/fixtures", R_OK) == 0)
		return "tests/fixtures";
	char exe[PATH_MAX / 2];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return "tests/fixtures";
	exe[n] = '\0';
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
	}
	snprintf(dir, sizeof(dir), "%s/tests/fixtures", exe);
	return dir;
}

static __attribute__((unused)) cJSON *fixture_json(const char *rel)
{
	char path[PATH_MAX * 2];
	char *text = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", fixture_dir(), rel);
	if (rfx_read_file(path, 1 << 20, &text, &len) != RFX_OK) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		abort();
	}
	cJSON *j = cJSON_ParseWithLength(text, len);
	free(text);
	if (!j) {
		fprintf(stderr, "fixture %s is not JSON\n", path);
		abort();
	}
	return j;
}

typedef struct norm_result {
	rfx_err rc;
	event_list list;
	char err[256];
	const char *field;
} norm_result;

static __attribute__((unused)) void norm_run_json(const char *source, const cJSON *body, norm_result *r)
{
	const normalizer *n = normalizer_find(source);
	if (!n) {
		fprintf(stderr, "no normalizer %s\n", source);
		abort();
	}
	r->err[0] = '\0';
	r->field = NULL;
	r->rc = n->parse(body, &r->list, r->err, sizeof(r->err), &r->field);
}

static __attribute__((unused)) void norm_run_text(const char *source, const char *text, norm_result *r)
{
	cJSON *body = cJSON_Parse(text);
	if (!body) {
		fprintf(stderr, "test input is not JSON: %s\n", text);
		abort();
	}
	norm_run_json(source, body, r);
	cJSON_Delete(body);
}

static __attribute__((unused)) void norm_run_fixture(const char *source, const char *rel, norm_result *r)
{
	cJSON *body = fixture_json(rel);
	norm_run_json(source, body, r);
	cJSON_Delete(body);
}

static __attribute__((unused)) int64_t ms_of(const char *iso)
{
	int64_t ms = 0;
	if (rfx_parse_time(iso, &ms) != RFX_OK)
		abort();
	return ms;
}

/* Number of tags, and the value of one (NULL when absent), for short assertions. */
#define TAG(e, k) event_tag_get((e), (k))

/* Expects a failure naming field (NULL: no field) with a message containing part. */
#define assert_norm_fails(r, want_rc, want_field, part)                                                      \
	do {                                                                                                 \
		assert_int_equal((r)->rc, (want_rc));                                                        \
		if ((want_field)) {                                                                          \
			assert_non_null((r)->field);                                                         \
			assert_string_equal((r)->field, (want_field));                                       \
		}                                                                                            \
		if (!strstr((r)->err, (part))) {                                                             \
			fprintf(stderr, "error \"%s\" lacks \"%s\"\n", (r)->err, (part));                    \
			fail();                                                                              \
		}                                                                                            \
	} while (0)

#endif
