/* event.c -- unit tests for the normalized event: setters, tag bounds and order, field lookup, JSON shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static void test_new(void **state)
{
	event *e = event_new(SRC_DYNATRACE);
	assert_true(event_id_valid(e->id));
	assert_int_equal(e->source, SRC_DYNATRACE);
	assert_int_equal(e->state, EV_OPEN);
	assert_string_equal(e->source_id, "");
	assert_string_equal(e->title, "");
	assert_string_equal(e->severity, "");
	assert_string_equal(e->entity, "");
	assert_string_equal(e->event_type, "");
	assert_null(e->url);
	assert_int_equal(e->ntags, 0);
	assert_int_equal(e->started_at_ms, 0);
	event *f = event_new(SRC_DYNATRACE);
	assert_string_not_equal(e->id, f->id);
	event_free(f);
	event_free(e);
	event_free(NULL);
	e = event_new((event_source)99);
	assert_int_equal(e->source, SRC_GENERIC);
	event_free(e);
}

static void test_set_sanitizes(void **state)
{
	event *e = event_new(SRC_GENERIC);
	event_set(&e->title, "nginx \"down\"\n$(reboot); `id` | rm -rf / #'");
	assert_string_equal(e->title, "nginx \"down\"\n$(reboot); `id` | rm -rf / #'");
	event_set(&e->title, "bad \xff\xfe utf8 \xc3");
	assert_string_equal(e->title, "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd");
	event_set(&e->title, NULL);
	assert_string_equal(e->title, "");
	event_set(&e->url, "http://x");
	assert_string_equal(e->url, "http://x");

	/* A 2-byte character straddling the bound is dropped whole, never split. */
	char *big = malloc(EVENT_MAX_FIELD + 100);
	memset(big, 'a', EVENT_MAX_FIELD - 1);
	strcpy(big + EVENT_MAX_FIELD - 1, "\xc3\xa9tail");
	event_set(&e->entity, big);
	assert_int_equal(strlen(e->entity), EVENT_MAX_FIELD - 1);
	/* Exactly at the bound it is kept. */
	memset(big, 'a', EVENT_MAX_FIELD - 2);
	strcpy(big + EVENT_MAX_FIELD - 2, "\xc3\xa9tail");
	event_set(&e->entity, big);
	assert_int_equal(strlen(e->entity), EVENT_MAX_FIELD);
	assert_memory_equal(e->entity + EVENT_MAX_FIELD - 2, "\xc3\xa9", 2);
	/* Invalid bytes near the bound expand to U+FFFD and the result is still bounded and valid. */
	memset(big, '\xff', EVENT_MAX_FIELD + 50);
	big[EVENT_MAX_FIELD + 50] = '\0';
	event_set(&e->entity, big);
	assert_true(strlen(e->entity) <= EVENT_MAX_FIELD);
	assert_true(rfx_utf8_valid(e->entity, strlen(e->entity)));
	free(big);
	event_free(e);
}

static void test_tags(void **state)
{
	event *e = event_new(SRC_GENERIC);
	event_tag_set(e, "zeta", "1");
	event_tag_set(e, "alpha", "2");
	event_tag_set(e, "mid", NULL);
	event_tag_set(e, "", "ignored");
	event_tag_set(e, NULL, "ignored");
	assert_int_equal(e->ntags, 3);
	assert_string_equal(e->tags[0].key, "alpha");
	assert_string_equal(e->tags[1].key, "mid");
	assert_string_equal(e->tags[2].key, "zeta");
	assert_string_equal(event_tag_get(e, "mid"), "");
	event_tag_set(e, "alpha", "replaced");
	assert_int_equal(e->ntags, 3);
	assert_string_equal(event_tag_get(e, "alpha"), "replaced");
	assert_null(event_tag_get(e, "nope"));
	assert_null(event_tag_get(e, NULL));
	event_tag_set(e, "k\xff", "v\xfe");
	assert_string_equal(event_tag_get(e, "k\xef\xbf\xbd"), "v\xef\xbf\xbd");
	for (int i = 0; i < 300; i++) {
		char k[16];
		snprintf(k, sizeof(k), "t%03d", 299 - i);
		event_tag_set(e, k, k);
	}
	assert_int_equal(e->ntags, EVENT_MAX_TAGS);
	for (size_t i = 1; i < e->ntags; i++)
		assert_true(strcmp(e->tags[i - 1].key, e->tags[i].key) < 0);
	/* Replacing an existing tag still works at the bound. */
	event_tag_set(e, "alpha", "again");
	assert_string_equal(event_tag_get(e, "alpha"), "again");
	event_free(e);
}

static void test_names(void **state)
{
	static const char *const names[] = {"generic",	"alertmanager", "dynatrace",
					    "opsgenie", "icinga",	"nagios"};
	for (int i = 0; i < SRC__COUNT; i++) {
		event_source s;
		assert_string_equal(event_source_name((event_source)i), names[i]);
		assert_true(event_source_parse(names[i], &s));
		assert_int_equal(s, i);
	}
	event_source s = SRC_ICINGA;
	assert_false(event_source_parse("zabbix", &s));
	assert_false(event_source_parse("Generic", &s));
	assert_false(event_source_parse(NULL, &s));
	assert_int_equal(s, SRC_ICINGA);
	assert_string_equal(event_state_name(EV_OPEN), "open");
	assert_string_equal(event_state_name(EV_RESOLVED), "resolved");
}

static event *sample(void)
{
	event *e = event_new(SRC_ALERTMANAGER);
	event_set(&e->source_id, "95c7516b6ade3654");
	event_set(&e->title, "nginx is down on web-01");
	event_set(&e->severity, "critical");
	event_set(&e->entity, "web-01");
	event_set(&e->event_type, "ServiceDown");
	event_set(&e->url, "http://prometheus:9090/graph?g0.expr=up");
	event_tag_set(e, "service", "nginx");
	event_tag_set(e, "env", "prod");
	assert_int_equal(rfx_parse_time("2026-11-22T01:21:04Z", &e->started_at_ms), RFX_OK);
	e->raw = cJSON_Parse("{\"fingerprint\":\"95c7516b6ade3654\"}");
	return e;
}

static void test_field(void **state)
{
	event *e = sample();
	assert_string_equal(event_field(e, "source"), "alertmanager");
	assert_string_equal(event_field(e, "state"), "open");
	assert_string_equal(event_field(e, "title"), "nginx is down on web-01");
	assert_string_equal(event_field(e, "severity"), "critical");
	assert_string_equal(event_field(e, "entity"), "web-01");
	assert_string_equal(event_field(e, "event_type"), "ServiceDown");
	assert_string_equal(event_field(e, "source_id"), "95c7516b6ade3654");
	assert_string_equal(event_field(e, "url"), "http://prometheus:9090/graph?g0.expr=up");
	assert_string_equal(event_field(e, "id"), e->id);
	assert_string_equal(event_field(e, "tags.service"), "nginx");
	assert_null(event_field(e, "tags.missing"));
	assert_null(event_field(e, "tags"));
	assert_null(event_field(e, "nope"));
	assert_null(event_field(e, NULL));
	e->state = EV_RESOLVED;
	assert_string_equal(event_field(e, "state"), "resolved");
	event_set(&e->url, "");
	assert_null(event_field(e, "url"));
	event_free(e);
}

static void test_json_shape(void **state)
{
	static const char *const order[] = {"id",    "source",	   "source_id", "state",
					    "title", "severity",   "entity",	"event_type",
					    "tags",  "started_at", "url",	"raw"};
	event *e = sample();
	cJSON *j = event_to_json(e, true);
	size_t i = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, j)
	{
		assert_true(i < 12);
		assert_string_equal(m->string, order[i]);
		i++;
	}
	assert_int_equal(i, 12);
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, e->id);
	assert_string_equal(cJSON_GetObjectItem(j, "source")->valuestring, "alertmanager");
	assert_string_equal(cJSON_GetObjectItem(j, "state")->valuestring, "open");
	assert_string_equal(cJSON_GetObjectItem(j, "started_at")->valuestring, "2026-11-22T01:21:04Z");
	const cJSON *tags = cJSON_GetObjectItem(j, "tags");
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	assert_string_equal(cJSON_GetObjectItem(tags, "env")->valuestring, "prod");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "raw"), "fingerprint")->valuestring,
			    "95c7516b6ade3654");
	cJSON_Delete(j);

	e->started_at_ms += 264;
	RFX_FREE(e->url);
	cJSON_Delete(e->raw);
	e->raw = NULL;
	j = event_to_json(e, false);
	assert_string_equal(cJSON_GetObjectItem(j, "started_at")->valuestring, "2026-11-22T01:21:04.264Z");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "url")));
	assert_null(cJSON_GetObjectItem(j, "raw"));
	cJSON_Delete(j);
	j = event_to_json(e, true);
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "raw")));
	e->started_at_ms = 0;
	cJSON_Delete(j);
	j = event_to_json(e, true);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "started_at")));
	cJSON_Delete(j);
	event_free(e);
}

/* Hostile strings survive a print/parse round trip byte for byte (after sanitizing). */
static void test_json_escaping(void **state)
{
	event *e = event_new(SRC_GENERIC);
	const char *nasty = "\"quoted\"\n\ttab \\ back $(rm -rf /) `id` ; | & > < ' \x01";
	event_set(&e->title, nasty);
	event_tag_set(e, "k\"ey", nasty);
	event_set(&e->entity, "\xff");
	cJSON *j = event_to_json(e, true);
	char *text = cJSON_PrintUnformatted(j);
	cJSON *back = cJSON_Parse(text);
	assert_non_null(back);
	assert_string_equal(cJSON_GetObjectItem(back, "title")->valuestring, nasty);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "tags"), "k\"ey")->valuestring,
			    nasty);
	assert_string_equal(cJSON_GetObjectItem(back, "entity")->valuestring, "\xef\xbf\xbd");
	assert_true(rfx_utf8_valid(text, strlen(text)));
	cJSON_Delete(back);
	free(text);
	cJSON_Delete(j);
	event_free(e);
}

static void test_clone_and_list(void **state)
{
	event *e = sample();
	event *c = event_clone(e);
	assert_string_equal(c->id, e->id);
	assert_string_equal(c->title, e->title);
	assert_string_equal(c->url, e->url);
	assert_int_equal(c->ntags, 2);
	assert_int_equal(c->started_at_ms, e->started_at_ms);
	assert_true(cJSON_Compare(c->raw, e->raw, true));
	event_set(&c->title, "changed");
	event_tag_set(c, "env", "dev");
	assert_string_equal(e->title, "nginx is down on web-01");
	assert_string_equal(event_tag_get(e, "env"), "prod");
	event_free(e);

	event_list l = {0};
	event_list_push(&l, c);
	for (int i = 0; i < 100; i++)
		event_list_push(&l, event_new(SRC_GENERIC));
	assert_int_equal(l.n, 101);
	assert_ptr_equal(l.v[0], c);
	event_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	event_list_free(&l);
}

static void test_id_valid(void **state)
{
	char id[27];
	rfx_ulid(id);
	assert_true(event_id_valid(id));
	assert_true(event_id_valid("01KAKZ7J0R8B2Q4V6X9Z1C3E5G"));
	assert_false(event_id_valid("01KAKZ7J0R8B2Q4V6X9Z1C3E5"));
	assert_false(event_id_valid("01KAKZ7J0R8B2Q4V6X9Z1C3E5GG"));
	assert_false(event_id_valid("81KAKZ7J0R8B2Q4V6X9Z1C3E5G"));
	assert_false(event_id_valid("01KAKZ7J0R8B2Q4V6X9Z1C3E5I"));
	assert_false(event_id_valid("01kakz7j0r8b2q4v6x9z1c3e5g"));
	assert_false(event_id_valid(""));
	assert_false(event_id_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new),		  cmocka_unit_test(test_set_sanitizes),
	    cmocka_unit_test(test_tags),	  cmocka_unit_test(test_names),
	    cmocka_unit_test(test_field),	  cmocka_unit_test(test_json_shape),
	    cmocka_unit_test(test_json_escaping), cmocka_unit_test(test_clone_and_list),
	    cmocka_unit_test(test_id_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
