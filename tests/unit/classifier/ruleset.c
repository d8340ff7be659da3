/* ruleset.c -- unit tests for rule snapshots: priority and final ordering, the index against a brute-force
 * evaluation over random rules and events, lookup, speed with 1,000 rules and memory with 10,000. */
#include "engine_fixture.h"

#include <malloc.h>
#include <time.h>

#include "buf.h"
#include "ruleset.h"

static rule **parse_text(const char *text, size_t *n)
{
	rule **v;
	rules_errors errs = {0};
	if (rules_parse("rules/test.yaml", text, strlen(text), &v, n, &errs)) {
		char line[600];
		rules_error_format(&errs.v[0], line, sizeof(line));
		fail_msg("parse failed: %s", line);
	}
	return v;
}

static ruleset *build(const char *text)
{
	size_t n;
	rule **v = parse_text(text, &n);
	ruleset *rs = ruleset_new(v, n, NULL);
	rules_release_all(v, n); /* the snapshot holds its own references */
	return rs;
}

static char *names(const rule **out, size_t n)
{
	static char buf[1024];
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i ? "," : "");
		strcat(buf, out[i]->name);
	}
	return buf;
}

static void test_order_and_final(void **state)
{
	ruleset *rs =
	    build("name: b-low\n---\n"
		  "name: a-low\n---\n"
		  "name: high\npriority: 100\n---\n"
		  "name: mid-final\npriority: 50\nfinal: true\nmatch: {event_type: ServiceDown}\n---\n"
		  "name: mid-other\npriority: 50\nmatch: {event_type: DiskFull}\n---\n"
		  "name: neg\npriority: -5\n---\n"
		  "name: off\npriority: 1000\nenabled: false\n");
	assert_int_equal(ruleset_count(rs), 7);
	assert_string_equal(ruleset_get(rs, 0)->name, "off");
	assert_string_equal(ruleset_get(rs, 1)->name, "high");
	assert_null(ruleset_get(rs, 7));
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	const rule *out[16];
	size_t n = ruleset_match(rs, &c, out, 16);
	assert_string_equal(names(out, n), "high,mid-final"); /* final stops lower priorities */
	event_set(&e->event_type, "DiskFull");
	n = ruleset_match(rs, &c, out, 16);
	assert_string_equal(names(out, n), "high,mid-other,a-low,b-low,neg"); /* ties by name */
	n = ruleset_match(rs, &c, out, 2);
	assert_string_equal(names(out, n), "high,mid-other");
	n = ruleset_match_linear(rs, &c, out, 16);
	assert_string_equal(names(out, n), "high,mid-other,a-low,b-low,neg");
	e->state = EV_RESOLVED;
	n = ruleset_match(rs, &c, out, 16);
	assert_int_equal(n, 0); /* every rule defaults to state: open */
	assert_non_null(ruleset_find(rs, "mid-other"));
	assert_non_null(ruleset_find(rs, "off"));
	assert_null(ruleset_find(rs, "nope"));
	event_free(e);
	ruleset_release(rs);
}

static void test_index_shape(void **state)
{
	ruleset *rs = build("name: by-type\nmatch: {event_type: [A, B], source: alertmanager}\n---\n"
			    "name: by-entity\nmatch: {event_type: {glob: \"*\"}, entity: web-01}\n---\n"
			    "name: by-source\nmatch: {source: dynatrace}\n---\n"
			    "name: by-state\nmatch: {severity: {not: x}}\n---\n"
			    "name: generic\nmatch: {state: {glob: \"*\"}}\n---\n"
			    "name: disabled\nenabled: false\nmatch: {event_type: A}\n");
	assert_int_equal(ruleset_indexed_by(rs, RULE_MF_EVENT_TYPE), 1);
	assert_int_equal(ruleset_indexed_by(rs, RULE_MF_ENTITY), 1);
	assert_int_equal(ruleset_indexed_by(rs, RULE_MF_SOURCE), 1);
	assert_int_equal(ruleset_indexed_by(rs, RULE_MF_STATE), 1);
	assert_int_equal(ruleset_unindexed(rs), 1);
	ruleset_release(rs);
}

static void test_errors_and_refs(void **state)
{
	size_t n;
	rule **v = parse_text("name: a\n---\nname: b\n", &n);
	rules_errors errs = {0};
	rules_errors_add(&errs, "rules/x.yaml", 3, 5, "name: required");
	ruleset *rs = ruleset_new(v, n, &errs);
	rules_errors_clear(&errs);
	assert_int_equal(ruleset_errors(rs)->n, 1);
	assert_string_equal(ruleset_errors(rs)->v[0].message, "name: required");
	assert_true(ruleset_loaded_at_ms(rs) > 0);
	ruleset *again = ruleset_ref(rs);
	ruleset_release(rs);
	assert_string_equal(ruleset_get(again, 0)->name, "a"); /* still alive through the second reference */
	rules_release_all(v, n);
	assert_string_equal(ruleset_get(again, 1)->name, "b"); /* rules outlive the loader's references */
	ruleset_release(again);
	ruleset_release(NULL);
}

/* ---- random rules against a brute force ---- */

static const char *const pool_type[] = {"ServiceDown", "DiskFull", "HighGC", "CpuHigh", "Weird Type", "x"};
static const char *const pool_entity[] = {"web-01", "web-02", "db-01", "app-7", "web-01.prod"};
static const char *const pool_sev[] = {"critical", "error", "warning", "P1", ""};
static const char *const pool_src[] = {"alertmanager", "dynatrace", "opsgenie", "icinga", "generic"};
static const char *const pool_tag[] = {"nginx", "java", "prod", "staging", ""};

#define PICK(pool) pool[rand() % (int)(sizeof(pool) / sizeof(pool[0]))]

/* A random matcher over pool as YAML. */
static void rand_matcher(rfx_buf *b, const char *const *pool, size_t n)
{
	switch (rand() % 7) {
	case 0:
	case 1:
		buf_printf(b, "\"%s\"", pool[rand() % (int)n]);
		break;
	case 2:
		buf_printf(b, "[\"%s\", \"%s\"]", pool[rand() % (int)n], pool[rand() % (int)n]);
		break;
	case 3:
		buf_printf(b, "{glob: \"%.3s*\"}", pool[rand() % (int)n]);
		break;
	case 4:
		buf_printf(b, "{regex: \"(?i)^%.2s\"}", pool[rand() % (int)n]);
		break;
	case 5:
		buf_printf(b, "{not: \"%s\"}", pool[rand() % (int)n]);
		break;
	default:
		buf_printf(b, "[\"%s\", {glob: \"*%.1s*\"}]", pool[rand() % (int)n], pool[rand() % (int)n]);
		break;
	}
}

#define RAND_FIELD(b, key, pool)                                                                             \
	do {                                                                                                 \
		if (rand() % 3 == 0) {                                                                       \
			buf_puts(b, "  " key ": ");                                                          \
			rand_matcher(b, pool, sizeof(pool) / sizeof(pool[0]));                               \
			buf_puts(b, "\n");                                                                   \
		}                                                                                            \
	} while (0)

static void rand_rule(rfx_buf *b, int i)
{
	buf_printf(b, "---\nname: r%04d\npriority: %d\nfinal: %s\nenabled: %s\nmatch:\n", i, rand() % 6,
		   rand() % 12 == 0 ? "true" : "false", rand() % 10 == 0 ? "false" : "true");
	RAND_FIELD(b, "event_type", pool_type);
	RAND_FIELD(b, "entity", pool_entity);
	RAND_FIELD(b, "severity", pool_sev);
	RAND_FIELD(b, "source", pool_src);
	if (rand() % 5 == 0)
		buf_puts(b, rand() % 2 ? "  state: resolved\n" : "  state: [open, resolved]\n");
	if (rand() % 4 == 0) {
		buf_puts(b, "  tags:\n    service: ");
		rand_matcher(b, pool_tag, sizeof(pool_tag) / sizeof(pool_tag[0]));
		buf_puts(b, "\n");
	}
	if (rand() % 4 == 0)
		buf_printf(b, "when: 'tags.env == \"%s\" || severity in [\"%s\", \"%s\"]'\n", PICK(pool_tag),
			   PICK(pool_sev), PICK(pool_sev));
}

static event *rand_event(void)
{
	event *e = event_new((event_source)(rand() % SRC__COUNT));
	e->state = rand() % 4 == 0 ? EV_RESOLVED : EV_OPEN;
	event_set(&e->event_type, PICK(pool_type));
	event_set(&e->entity, PICK(pool_entity));
	event_set(&e->severity, PICK(pool_sev));
	if (rand() % 2)
		event_tag_set(e, "service", PICK(pool_tag));
	if (rand() % 2)
		event_tag_set(e, "env", PICK(pool_tag));
	return e;
}

static int cmp_rule(const void *a, const void *b)
{
	const rule *x = *(rule *const *)a, *y = *(rule *const *)b;
	if (x->priority != y->priority)
		return y->priority - x->priority;
	return strcmp(x->name, y->name);
}

/* The definition: every enabled rule in (priority desc, name) order, stop after a final match. */
static size_t brute_force(rule **sorted, size_t n, const eval_ctx *c, const rule **out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < max; i++) {
		if (!sorted[i]->enabled || !rule_matches(sorted[i], c))
			continue;
		out[k++] = sorted[i];
		if (sorted[i]->final)
			break;
	}
	return k;
}

static void test_index_matches_brute_force(void **state)
{
	for (unsigned seed = 1; seed <= 12; seed++) {
		srand(seed);
		rfx_buf b;
		buf_init(&b, 4 << 20);
		int nrules = 50 + rand() % 400;
		for (int i = 0; i < nrules; i++)
			rand_rule(&b, i);
		size_t n;
		rule **v = parse_text(buf_cstr(&b), &n);
		buf_free(&b);
		ruleset *rs = ruleset_new(v, n, NULL);
		qsort(v, n, sizeof(*v), cmp_rule);
		size_t fired = 0;
		for (int k = 0; k < 400; k++) {
			event *e = rand_event();
			eval_ctx c = fx_ctx(e);
			const rule *got[512], *want[512];
			size_t max = rand() % 5 == 0 ? (size_t)(1 + rand() % 3) : 512;
			size_t ng = ruleset_match(rs, &c, got, max), nw = brute_force(v, n, &c, want, max);
			if (ng != nw || memcmp(got, want, ng * sizeof(*got)) != 0)
				fail_msg("seed %u event %d: index gave %zu rules, brute force %zu", seed, k,
					 ng, nw);
			fired += ng;
			event_free(e);
		}
		assert_true(fired > 0); /* the generator does produce matches */
		ruleset_release(rs);
		rules_release_all(v, n);
	}
}

/* ---- scale ---- */

/* n realistic rules: exact event types, globs, regexes (a quarter of them not plain substrings), tags, a
 * when, an ssh action with templates; nothing shared between rules but the shape. */
static char *realistic_rules(int n)
{
	rfx_buf b;
	buf_init(&b, 64 << 20);
	for (int i = 0; i < n; i++)
		buf_printf(
		    &b,
		    "---\nname: rule-%05d\ndescription: Restart service %d when it is down\npriority: %d\n"
		    "match:\n  source: [alertmanager, dynatrace]\n  event_type: Type%d\n"
		    "  entity: {glob: \"web-*\"}\n  title: {regex: \"%ssvc%d%s\"}\n"
		    "  tags: {service: svc%d, env: [prod, staging]}\n"
		    "when: 'severity in [\"critical\", \"error\"] && tags.env != \"dev\"'\n"
		    "action:\n  type: ssh\n  command: \"sudo systemctl restart {{tags.service}}\"\n"
		    "  verify: \"systemctl is-active {{tags.service}}\"\n"
		    "  on_success: {note: \"Restarted {{tags.service}} on {{entity}}\", close: true}\n"
		    "limits: {cooldown: 10m, max_attempts: 3}\n",
		    i, i, i % 100, i % 500, i % 4 ? "(?i)" : "^", i, i % 4 ? "" : "( |$)", i);
	return buf_steal(&b);
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_speed_1000(void **state)
{
	char *text = realistic_rules(1000);
	size_t n;
	rule **v = parse_text(text, &n);
	free(text);
	ruleset *rs = ruleset_new(v, n, NULL);
	rules_release_all(v, n);
	event *e = fx_event();
	event_set(&e->event_type, "Type42");
	event_set(&e->title, "svc42 is down");
	event_tag_set(e, "service", "svc42");
	eval_ctx c = fx_ctx(e);
	const rule *out[64];
	assert_int_equal(ruleset_match(rs, &c, out, 64), 1);
	assert_string_equal(out[0]->name, "rule-00042");
	int iters = 20000;
	double t0 = now_sec();
	for (int i = 0; i < iters; i++)
		ruleset_match(rs, &c, out, 64);
	double indexed_us = (now_sec() - t0) / iters * 1e6;
	t0 = now_sec();
	for (int i = 0; i < 200; i++)
		ruleset_match_linear(rs, &c, out, 64);
	double linear_us = (now_sec() - t0) / 200 * 1e6;
	print_message("1000 rules: %.2f us per event indexed, %.1f us linear\n", indexed_us, linear_us);
	assert_true(indexed_us < 100.0);
	assert_true(indexed_us * 5 < linear_us);
	event_free(e);
	ruleset_release(rs);
}

static void test_memory_10000(void **state)
{
	char *text = realistic_rules(10000);
	struct mallinfo2 before = mallinfo2();
	size_t n;
	rule **v = parse_text(text, &n);
	ruleset *rs = ruleset_new(v, n, NULL);
	rules_release_all(v, n);
	struct mallinfo2 after = mallinfo2();
	free(text);
	assert_int_equal(ruleset_count(rs), 10000);
	size_t used = after.uordblks + after.hblkhd - before.uordblks - before.hblkhd;
	print_message("10000 rules: %.1f MiB\n", (double)used / (1 << 20));
	if (after.uordblks != before.uordblks) /* sanitizer allocators do not report through mallinfo2 */
		assert_true(used < 48u << 20);
	ruleset_release(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_final), cmocka_unit_test(test_index_shape),
	    cmocka_unit_test(test_errors_and_refs), cmocka_unit_test(test_index_matches_brute_force),
	    cmocka_unit_test(test_speed_1000),	    cmocka_unit_test(test_memory_10000),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
