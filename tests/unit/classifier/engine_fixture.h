/* engine_fixture.h -- helpers shared by the rules engine unit tests: events, contexts, parsing snippets. */
#ifndef ENGINE_FIXTURE_H
#define ENGINE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "match.h"
#include "yamltree.h"

/* An Alertmanager-like open event for web-01 with service=nginx, env=prod. */
static inline event *fx_event(void)
{
	event *e = event_new(SRC_ALERTMANAGER);
	event_set(&e->source_id, "95c7516b6ade3654");
	event_set(&e->title, "nginx is down on web-01");
	event_set(&e->severity, "critical");
	event_set(&e->entity, "web-01");
	event_set(&e->event_type, "ServiceDown");
	event_tag_set(e, "service", "nginx");
	event_tag_set(e, "env", "prod");
	return e;
}

static inline eval_ctx fx_ctx(const event *e)
{
	eval_ctx c = {.ev = e};
	return c;
}

/* Parses one YAML document; the test fails on a syntax error. */
static inline yt_node *fx_yaml(const char *text)
{
	yt_node **docs;
	size_t n;
	yt_error err;
	if (yt_parse(text, strlen(text), &docs, &n, &err))
		fail_msg("yaml: %d:%d: %s", err.line, err.col, err.reason);
	assert_int_equal(n, 1);
	yt_node *root = docs[0];
	free(docs);
	return root;
}

/* A fake topology store: entity web-01 is known, listens on 80 and 443 and has 7 dependents. */
static inline const char *fx_topo_field(void *ud, const event *ev, const char *name, char *buf, size_t buflen)
{
	if (strcmp(ev->entity, "web-01") != 0)
		return NULL;
	if (strcmp(name, "dependents") == 0) {
		snprintf(buf, buflen, "%d", 7);
		return buf;
	}
	if (strcmp(name, "role") == 0)
		return "frontend";
	return NULL;
}

static inline bool fx_topo_match(void *ud, const event *ev, const char *key, const char *value)
{
	if (ud)
		(*(int *)ud)++;
	if (strcmp(ev->entity, "web-01") != 0)
		return false;
	if (strcmp(key, "listens") == 0)
		return strcmp(value, "80") == 0 || strcmp(value, "443") == 0;
	return strcmp(key, "known") == 0 || strcmp(key, "process") == 0 || strcmp(key, "node") == 0;
}

static inline eval_ctx fx_topo_ctx(const event *e, int *calls)
{
	eval_ctx c = {.ev = e, .topo_ud = calls, .topo_field = fx_topo_field, .topo_match = fx_topo_match};
	return c;
}

#endif
