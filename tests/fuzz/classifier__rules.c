/* classifier__rules.c -- fuzzes the rule loader from bytes, then builds a ruleset, classifies fixed events
 * and renders the actions and listings of whatever loaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../classifier/ruleset.h"

static const char *topo_field(void *ud, const event *ev, const char *name, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%zu", strlen(name));
	return buf;
}

static bool topo_match(void *ud, const event *ev, const char *key, const char *value)
{
	return strcmp(value, "80") == 0;
}

static event *sample_event(event_source src, const char *type)
{
	event *e = event_new(src);
	event_set(&e->source_id, "fp-1");
	event_set(&e->title, "nginx is down on web-01");
	event_set(&e->severity, "critical");
	event_set(&e->entity, "web-01");
	event_set(&e->event_type, type);
	event_tag_set(e, "service", "nginx");
	event_tag_set(e, "env", "prod");
	event_tag_set(e, "app", "it's $(x)");
	return e;
}

static void classify(const ruleset *rs, const event *e, bool topo)
{
	eval_ctx c = {.ev = e};
	if (topo) {
		c.topo_field = topo_field;
		c.topo_match = topo_match;
	}
	const rule *out[32], *lin[32];
	size_t n = ruleset_match(rs, &c, out, 32);
	if (n != ruleset_match_linear(rs, &c, lin, 32) || memcmp(out, lin, n * sizeof(*out)) != 0)
		abort(); /* the index must agree with the plain evaluation */
	for (size_t i = 0; i < n; i++) {
		rule_rendered rr;
		char err[300];
		if (rule_render(out[i], &c, &rr, err, sizeof(err)) == RFX_OK) {
			cJSON_Delete(rule_action_json(out[i], &rr));
			rule_rendered_clear(&rr);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rule **v = NULL;
	size_t n = 0;
	rules_errors errs = {0};
	if (size > 256 * 1024)
		return 0;
	if (rules_parse("fuzz.yaml", (const char *)data, size, &v, &n, &errs) == RFX_OK) {
		ruleset *rs = ruleset_new(v, n, &errs);
		event *a = sample_event(SRC_ALERTMANAGER, "ServiceDown"),
		      *b = sample_event(SRC_DYNATRACE, "DiskFull");
		classify(rs, a, false);
		classify(rs, a, true);
		classify(rs, b, true);
		for (size_t i = 0; i < ruleset_count(rs); i++)
			cJSON_Delete(rule_to_json(ruleset_get(rs, i)));
		event_free(a);
		event_free(b);
		ruleset_release(rs);
		rules_release_all(v, n);
	}
	for (size_t i = 0; i < errs.n; i++) {
		char line[1024];
		rules_error_format(&errs.v[i], line, sizeof(line));
	}
	rules_errors_clear(&errs);
	return 0;
}
