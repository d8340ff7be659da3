/* shared__norm_common.h -- body of every normalizer fuzzer: normalize, check invariants and round trip. */
#ifndef SHARED_NORM_COMMON_H
#define SHARED_NORM_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);        \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

static void check_str(const char *s)
{
	CHECK(s);
	size_t n = strlen(s);
	CHECK(n <= EVENT_MAX_FIELD);
	CHECK(rfx_utf8_valid(s, n));
}

static void check_event(const event *e)
{
	CHECK(event_id_valid(e->id));
	CHECK((unsigned)e->source < SRC__COUNT);
	CHECK(e->state == EV_OPEN || e->state == EV_RESOLVED);
	check_str(e->source_id);
	CHECK(*e->source_id);
	check_str(e->title);
	check_str(e->severity);
	check_str(e->entity);
	check_str(e->event_type);
	if (e->url)
		check_str(e->url);
	CHECK(e->started_at_ms >= 0);
	CHECK(e->ntags <= EVENT_MAX_TAGS);
	for (size_t i = 0; i < e->ntags; i++) {
		check_str(e->tags[i].key);
		check_str(e->tags[i].value);
		CHECK(*e->tags[i].key);
		if (i)
			CHECK(strcmp(e->tags[i - 1].key, e->tags[i].key) < 0);
		CHECK(event_tag_get(e, e->tags[i].key) == e->tags[i].value);
	}
}

/* The JSON form is valid UTF-8 and, when it has a title, normalizes back to itself. Texts are compared, not
 * trees: cJSON_Compare cannot match objects with duplicate member names, which raw may carry. */
static void check_round_trip(const event *e)
{
	cJSON *j1 = event_to_json(e, true);
	char *t1 = cJSON_PrintUnformatted(j1);
	CHECK(t1);
	CHECK(rfx_utf8_valid(t1, strlen(t1)));
	if (*e->title) {
		event_list l = {0};
		char err[256];
		const char *field = NULL;
		CHECK(normalize_generic(j1, &l, err, sizeof(err), &field) == RFX_OK);
		CHECK(l.n == 1);
		cJSON *j2 = event_to_json(l.v[0], true);
		char *t2 = cJSON_PrintUnformatted(j2);
		CHECK(t2 && strcmp(t1, t2) == 0);
		free(t2);
		cJSON_Delete(j2);
		event_list_free(&l);
	}
	free(t1);
	cJSON_Delete(j1);
}

static int fuzz_normalizer(const char *name, const uint8_t *data, size_t size)
{
	const normalizer *n = normalizer_find(name);
	CHECK(n);
	cJSON *body = cJSON_ParseWithLength((const char *)data, size);
	if (!body)
		return 0;
	event_list l = {0};
	char err[256];
	const char *field = NULL;
	rfx_err rc = n->parse(body, &l, err, sizeof(err), &field);
	if (rc) {
		CHECK(rc == RFX_ERR_INVAL || rc == RFX_ERR_LIMIT);
		CHECK(l.n == 0 && l.v == NULL);
		CHECK(err[0] && rfx_utf8_valid(err, strlen(err)));
	}
	for (size_t i = 0; i < l.n; i++) {
		check_event(l.v[i]);
		check_round_trip(l.v[i]);
	}
	event_list_free(&l);
	cJSON_Delete(body);
	return 0;
}

#endif
