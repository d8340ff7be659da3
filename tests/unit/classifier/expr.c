/* expr.c -- unit tests for the `when` expression compiler (precedence, errors with columns) and evaluator. */
#include "engine_fixture.h"

#include "expr.h"

static expr *compile_ok(const char *src)
{
	expr *e;
	int col;
	char err[300];
	if (expr_compile(src, &e, &col, err, sizeof(err)))
		fail_msg("compile \"%s\": column %d: %s", src, col, err);
	return e;
}

static void expect_dump(const char *src, const char *want)
{
	char buf[1024];
	expr *e = compile_ok(src);
	expr_dump(e, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s\n got  %s\n want %s", src, buf, want);
	assert_string_equal(expr_source(e), src);
	expr_free(e);
}

static void test_precedence(void **state)
{
	expect_dump("tags.a == \"1\" || tags.b == \"2\" && tags.c == \"3\"",
		    "((tags.a == \"1\") || ((tags.b == \"2\") && (tags.c == \"3\")))");
	expect_dump("(tags.a == \"1\" || tags.b == \"2\") && tags.c == \"3\"",
		    "(((tags.a == \"1\") || (tags.b == \"2\")) && (tags.c == \"3\"))");
	expect_dump("tags.a == 1 && tags.b == 2 && tags.c == 3",
		    "(((tags.a == \"1\") && (tags.b == \"2\")) && (tags.c == \"3\"))");
	expect_dump("tags.a == 1 || tags.b == 2 || tags.c == 3",
		    "(((tags.a == \"1\") || (tags.b == \"2\")) || (tags.c == \"3\"))");
	/* ! applies to the whole comparison that follows */
	expect_dump("!tags.env == \"prod\"", "!(tags.env == \"prod\")");
	expect_dump("!tags.env == \"prod\" && severity == \"x\"",
		    "(!(tags.env == \"prod\") && (severity == \"x\"))");
	expect_dump("!(tags.a == 1 || tags.b == 2)", "!((tags.a == \"1\") || (tags.b == \"2\"))");
	expect_dump("!!tags.x", "!!(tags.x)");
	expect_dump("tags.x", "(tags.x)");
	expect_dump("title =~ \"(?i)nginx\" && title !~ /^test/",
		    "((title =~ /(?i)nginx/) && (title !~ /^test/))");
	expect_dump("severity in [\"critical\", \"error\", 5]",
		    "(severity in [\"critical\", \"error\", \"5\"])");
	expect_dump("severity in []", "(severity in [])");
	expect_dump("tags.load >= 0.5 && tags.load < -2e3",
		    "((tags.load >= \"0.5\") && (tags.load < \"-2e3\"))");
	expect_dump("tags[\"context:key\"] == 'x'", "(tags.context:key == \"x\")");
	expect_dump("topology.dependents > 3", "(topology.dependents > \"3\")");
	expect_dump("  ( ( entity ) )  ", "(entity)");
}

static void expect_error(const char *src, int col, const char *msg)
{
	expr *e = NULL;
	int got_col;
	char err[300];
	rfx_err rc = expr_compile(src, &e, &got_col, err, sizeof(err));
	if (!rc)
		fail_msg("\"%s\": expected an error", src);
	assert_null(e);
	if (got_col != col || strcmp(err, msg) != 0)
		fail_msg("\"%s\"\n got  %d: %s\n want %d: %s", src, got_col, err, col, msg);
}

static void test_errors(void **state)
{
	expect_error("", 1, "empty expression");
	expect_error("   ", 1, "empty expression");
	expect_error("severity ==", 12, "expected a field, a string or a number, found end of expression");
	expect_error("severity = \"x\"", 10, "unexpected \"=\" (use \"==\" to compare)");
	expect_error("a == 1 & b == 2", 1,
		     "unknown field \"a\" (known: source, state, title, severity, entity, "
		     "event_type, source_id, url, id, tags.NAME, topology.NAME)");
	expect_error("tags.a == 1 & tags.b == 2", 13, "unexpected \"&\" (use \"&&\")");
	expect_error("tags.a == 1 | tags.b == 2", 13, "unexpected \"|\" (use \"||\")");
	expect_error("hostname == \"x\"", 1,
		     "unknown field \"hostname\" (known: source, state, title, severity, entity, event_type, "
		     "source_id, url, id, tags.NAME, topology.NAME)");
	expect_error("severity == \"x", 13, "unterminated string");
	expect_error("(severity == \"x\"", 17,
		     "expected \")\" to close the \"(\" at column 1, found end of expression");
	expect_error("severity == \"x\")", 16,
		     "unexpected \")\" after a complete condition (missing && or ||?)");
	expect_error("severity == \"x\" entity == \"y\"", 17,
		     "unexpected field after a complete condition (missing && or ||?)");
	expect_error("title =~ \"(\"", 10, "invalid regex \"(\": Unmatched ( or \\(");
	expect_error("title =~ severity", 10, "expected a regex (\"...\" or /.../) after =~, found field");
	expect_error("title !~ 5", 10, "expected a regex (\"...\" or /.../) after !~, found number");
	expect_error("title == /x/", 10, "a regex is only allowed after =~ or !~");
	expect_error("severity in \"x\"", 13, "expected \"[\" after in, found string");
	expect_error("severity in [\"a\" \"b\"]", 18, "expected \",\" or \"]\" in the list, found string");
	expect_error("severity in [entity]", 14, "expected a string or a number in the list, found field");
	expect_error("(a == 1) == 2", 2,
		     "unknown field \"a\" (known: source, state, title, severity, entity, "
		     "event_type, source_id, url, id, tags.NAME, topology.NAME)");
	expect_error("(tags.a == 1) == 2", 15, "\"==\" cannot follow a parenthesized condition");
	expect_error("tags.a == 10s", 11, "invalid number \"10s\"");
	expect_error("tags.a == @", 11, "unexpected character \"@\"");
	expect_error("tags.a == \x01", 11, "unexpected byte 0x01");
	expect_error("tags. == 1", 1, "tags needs a name of 1 to 256 characters");
	expect_error("tags[x] == 1", 6, "expected a quoted name after \"[\"");
	expect_error("tags[\"x\" == 1", 9, "expected \"]\" after the name");
	expect_error("&& tags.a", 1, "expected a field, a string or a number, found \"&&\"");
	expect_error("tags.a == 1 ||", 15, "expected a field, a string or a number, found end of expression");
	expect_error("!", 2, "expected a field, a string or a number, found end of expression");
}

static void test_limits(void **state)
{
	char src[EXPR_MAX_LEN + 16];
	/* nesting */
	size_t n = 0;
	for (int i = 0; i < EXPR_MAX_DEPTH + 2; i++)
		src[n++] = '(';
	strcpy(src + n, "entity");
	expr *e;
	int col;
	char err[300];
	assert_int_equal(expr_compile(src, &e, &col, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "expression nested deeper than 32 levels");
	memset(src, '!', 100);
	strcpy(src + 100, "entity");
	assert_int_equal(expr_compile(src, &e, &col, err, sizeof(err)), RFX_ERR_INVAL);
	/* length */
	memset(src, ' ', EXPR_MAX_LEN + 1);
	src[EXPR_MAX_LEN + 1] = '\0';
	assert_int_equal(expr_compile(src, &e, &col, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "expression longer than 4096 bytes");
	/* node count: 300 comparisons and 299 || */
	n = 0;
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(src + n, "%sid", i ? "||" : "");
	assert_int_equal(expr_compile(src, &e, &col, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "expression has more than 512 operations");
	/* a long flat chain within the bounds compiles and evaluates */
	n = 0;
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(src + n, "%stags.t%d == \"x\"", i ? " || " : "", i);
	n += (size_t)sprintf(src + n, " || entity == \"web-01\"");
	e = compile_ok(src);
	event *ev = fx_event();
	eval_ctx c = fx_ctx(ev);
	assert_true(expr_eval(e, &c));
	expr_free(e);
	event_free(ev);
}

static bool eval_src(const char *src, const eval_ctx *c)
{
	expr *e = compile_ok(src);
	bool v = expr_eval(e, c);
	expr_free(e);
	return v;
}

static void expect_eval(const char *src, const eval_ctx *c, bool want)
{
	if (eval_src(src, c) != want)
		fail_msg("\"%s\" evaluated to %s", src, want ? "false" : "true");
}

static void test_eval_strings(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	expect_eval("severity == \"critical\"", &c, true);
	expect_eval("severity != \"critical\"", &c, false);
	expect_eval("\"critical\" == severity", &c, true);
	expect_eval("source == 'alertmanager' && state == 'open'", &c, true);
	expect_eval("tags.env != \"prod\" || severity == \"critical\"", &c, true);
	expect_eval("tags.env != \"prod\" || severity == \"warning\"", &c, false);
	expect_eval("tags.service == tags.service", &c, true);
	expect_eval("tags.service == tags.env", &c, false);
	expect_eval("severity in [\"critical\", \"error\"]", &c, true);
	expect_eval("severity in [\"warning\", \"error\"]", &c, false);
	expect_eval("!(severity in [\"warning\", \"error\"])", &c, true);
	expect_eval("severity in []", &c, false);
	expect_eval("title =~ \"(?i)NGINX IS\"", &c, true);
	expect_eval("title =~ \"NGINX\"", &c, false);
	expect_eval("title =~ /^nginx/ && title !~ /apache/", &c, true);
	expect_eval("title =~ \"web-\\d+\"", &c, false); /* \d is not POSIX: a literal d */
	expect_eval("title =~ \"web-[0-9]+$\"", &c, true);
	expect_eval("entity =~ /web\\/?-01/", &c, true);
	/* ordering comparisons of non-numbers are false, both ways */
	expect_eval("severity < \"z\"", &c, false);
	expect_eval("severity > \"a\"", &c, false);
	expect_eval("severity >= severity", &c, false);
	/* truthiness */
	expect_eval("tags.service", &c, true);
	expect_eval("tags.missing", &c, false);
	expect_eval("!tags.missing", &c, true);
	expect_eval("url", &c, false);
	expect_eval("\"\"", &c, false);
	event_free(e);
}

static void test_eval_missing(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	expect_eval("tags.nope == \"\"", &c, true);
	expect_eval("tags.nope != \"x\"", &c, true);
	expect_eval("tags.nope == \"x\"", &c, false);
	expect_eval("tags.nope > 0", &c, false);
	expect_eval("tags.nope < 0", &c, false);
	expect_eval("tags.nope <= 0", &c, false);
	expect_eval("tags.nope =~ \"^$\"", &c, true);
	expect_eval("tags.nope in [\"\"]", &c, true);
	expect_eval("topology.dependents > 3", &c, false); /* no topology store */
	expect_eval("topology.dependents == \"\"", &c, true);
	event_free(e);
}

static void test_eval_numbers(void **state)
{
	event *e = fx_event();
	event_tag_set(e, "load", "10");
	event_tag_set(e, "ratio", "0.75");
	event_tag_set(e, "code", "007");
	event_tag_set(e, "neg", "-3");
	event_tag_set(e, "ver", "1.2.3");
	eval_ctx c = fx_ctx(e);
	expect_eval("tags.load > 9", &c, true); /* numerically, not "10" < "9" */
	expect_eval("tags.load > 10", &c, false);
	expect_eval("tags.load >= 10", &c, true);
	expect_eval("tags.load <= 10.0", &c, true);
	expect_eval("tags.load == 10.0", &c, true);
	expect_eval("tags.load == \"10.0\"", &c, true); /* both parse as numbers */
	expect_eval("tags.load != 1e1", &c, false);
	expect_eval("tags.ratio < 1 && tags.ratio > 0.5", &c, true);
	expect_eval("tags.code == 7", &c, true);
	expect_eval("tags.code == \"7\"", &c, true);
	expect_eval("tags.neg < 0 && tags.neg > -4", &c, true);
	expect_eval("tags.ver > 1", &c, false); /* not a number */
	expect_eval("tags.ver == \"1.2.3\"", &c, true);
	expect_eval("tags.load in [1, 10, 100]", &c, true);
	expect_eval("tags.load in [\"010\"]", &c, true);
	expect_eval("tags.ratio in [0.7, 0.8]", &c, false);
	expect_eval("severity == 0", &c, false);
	event_free(e);
}

static void test_eval_topology(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_topo_ctx(e, NULL);
	expect_eval("topology.dependents > 3", &c, true);
	expect_eval("topology.dependents == 7 && topology.role == \"frontend\"", &c, true);
	expect_eval("topology.unknown == \"\"", &c, true);
	expect_eval("topology.unknown", &c, false);
	event_set(&e->entity, "db-01");
	expect_eval("topology.dependents > 3", &c, false);
	event_free(e);
}

static void test_eval_state_and_source(void **state)
{
	event *e = fx_event();
	e->state = EV_RESOLVED;
	e->source = SRC_DYNATRACE;
	eval_ctx c = fx_ctx(e);
	expect_eval("state == \"resolved\" && source == \"dynatrace\"", &c, true);
	expect_eval("state in [\"open\"]", &c, false);
	event_free(e);
}

static void test_dump_truncates(void **state)
{
	char buf[8];
	expr *e = compile_ok("severity == \"critical\"");
	expr_dump(e, buf, sizeof(buf));
	assert_string_equal(buf, "(severi");
	expr_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_precedence),	   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_limits),	   cmocka_unit_test(test_eval_strings),
	    cmocka_unit_test(test_eval_missing),   cmocka_unit_test(test_eval_numbers),
	    cmocka_unit_test(test_eval_topology),  cmocka_unit_test(test_eval_state_and_source),
	    cmocka_unit_test(test_dump_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
