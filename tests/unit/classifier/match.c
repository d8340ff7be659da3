/* match.c -- unit tests for rule matchers, field references, the regex cache and number parsing. */
#include "engine_fixture.h"

#include <regex.h>

/* Parses `v: <yaml>` and returns the matcher for v, or NULL with the diagnostic in *d. */
static matcher *parse(const char *yaml_value, rule_diag *d)
{
	char text[512];
	snprintf(text, sizeof(text), "v: %s\n", yaml_value);
	yt_node *root = fx_yaml(text);
	matcher *m = NULL;
	rule_diag local;
	if (matcher_parse(yt_map_get(root, "v"), "match.title", &m, d ? d : &local))
		m = NULL;
	yt_free(root);
	return m;
}

static matcher *parse_ok(const char *yaml_value)
{
	rule_diag d;
	matcher *m = parse(yaml_value, &d);
	if (!m)
		fail_msg("matcher %s: %d:%d: %s", yaml_value, d.line, d.col, d.msg);
	return m;
}

static void expect(const char *yaml_value, const char *value, bool want)
{
	matcher *m = parse_ok(yaml_value);
	if (matcher_test(m, value) != want)
		fail_msg("%s on \"%s\": expected %s", yaml_value, value, want ? "match" : "no match");
	matcher_free(m);
}

static void test_exact(void **state)
{
	expect("nginx", "nginx", true);
	expect("nginx", "Nginx", false);
	expect("nginx", "nginx2", false);
	expect("nginx", "", false);
	expect("\"80\"", "80", true);
	expect("80", "80", true);
	expect("\"\"", "", true);
	expect("true", "true", true);
}

static void test_any_of(void **state)
{
	expect("[critical, error]", "critical", true);
	expect("[critical, error]", "error", true);
	expect("[critical, error]", "warning", false);
	expect("[critical, {glob: \"P*\"}]", "P1", true);
	expect("[critical, {glob: \"P*\"}]", "warning", false);
	expect("[{regex: \"^a\"}, {not: b}]", "c", true);
	expect("[{regex: \"^a\"}, [x, y]]", "y", true);
}

static void test_glob(void **state)
{
	expect("{glob: \"web-*\"}", "web-01", true);
	expect("{glob: \"web-*\"}", "db-01", false);
	expect("{glob: \"web-??\"}", "web-01", true);
	expect("{glob: \"web-??\"}", "web-001", false);
	expect("{glob: \"web-[0-9]*\"}", "web-7", true);
	expect("{glob: \"web-[0-9]*\"}", "web-x", false);
	expect("{glob: \"*\"}", "", true);
}

static void test_regex(void **state)
{
	expect("{regex: \"nginx\"}", "nginx is down", true); /* unanchored */
	expect("{regex: \"^nginx$\"}", "nginx is down", false);
	expect("{regex: \"nginx\"}", "NGINX is down", false);
	expect("{regex: \"(?i)nginx\"}", "NGINX is down", true);
	expect("{regex: \"(?i)^disk (full|almost full)$\"}", "Disk FULL", true);
	expect("{regex: \"[0-9]{2,3}%\"}", "disk at 97%", true);
	expect("{regex: \"[0-9]{2,3}%\"}", "disk at 7%", false);
	expect("{regex: \"a|b\"}", "xbx", true);
}

static void test_not(void **state)
{
	expect("{not: prod}", "staging", true);
	expect("{not: prod}", "prod", false);
	expect("{not: [prod, staging]}", "dev", true);
	expect("{not: [prod, staging]}", "staging", false);
	expect("{not: {glob: \"web-*\"}}", "db-1", true);
	expect("{not: {not: {regex: \"^x\"}}}", "xy", true);
	expect("{not: {not: {regex: \"^x\"}}}", "yx", false);
}

static void expect_error(const char *yaml_value, int line, int col, const char *msg)
{
	rule_diag d;
	matcher *m = parse(yaml_value, &d);
	if (m)
		fail_msg("%s: expected an error", yaml_value);
	if (d.line != line || d.col != col || strcmp(d.msg, msg) != 0)
		fail_msg("%s: got %d:%d: %s\nwant %d:%d: %s", yaml_value, d.line, d.col, d.msg, line, col,
			 msg);
}

static void test_errors(void **state)
{
	expect_error("~", 1, 4, "match.title: expected a string, a list or a mapping with glob/regex/not");
	expect_error("{glob: a, regex: b}", 1, 4,
		     "match.title: expected a string, a list or a mapping with glob/regex/not");
	expect_error(
	    "{exact: a}", 1, 5,
	    "match.title: unknown key \"exact\": expected a string, a list or a mapping with glob/regex/not");
	expect_error("{regex: \"(\"}", 1, 12, "match.title.regex: invalid regex \"(\": Unmatched ( or \\(");
	expect_error("{glob: [a]}", 1, 11, "match.title.glob: expected a non-empty string");
	expect_error("{regex: \"\"}", 1, 12, "match.title.regex: expected a non-empty string");
	expect_error("[]", 1, 4, "match.title: a list needs 1 to 1024 items");
	expect_error("[a, {not: ~}]", 1, 14,
		     "match.title[1].not: expected a string, a list or a mapping with glob/regex/not");
	expect_error("{not: {not: {not: {not: {not: {not: {not: {not: {not: x}}}}}}}}}", 1, 58,
		     "match.title.not.not.not.not.not.not.not.not.not: matchers nested deeper than 8 levels");
}

static void test_exact_values(void **state)
{
	const char *const *vals;
	size_t n;
	matcher *m = parse_ok("[a, b, c]");
	assert_true(matcher_exact_values(m, &vals, &n));
	assert_int_equal(n, 3);
	assert_string_equal(vals[2], "c");
	matcher_free(m);
	m = parse_ok("a");
	assert_true(matcher_exact_values(m, &vals, &n));
	assert_int_equal(n, 1);
	matcher_free(m);
	m = parse_ok("[a, {glob: b*}]");
	assert_false(matcher_exact_values(m, &vals, &n));
	matcher_free(m);
	m = parse_ok("{not: a}");
	assert_false(matcher_exact_values(m, &vals, &n));
	matcher_free(m);
}

static void test_describe(void **state)
{
	char buf[128];
	matcher *m = parse_ok("[a, {glob: \"w*\"}, {not: {regex: \"(?i)x\"}}]");
	matcher_describe(m, buf, sizeof(buf));
	assert_string_equal(buf, "[a, {glob: w*}, {not: {regex: (?i)x}}]");
	matcher_describe(m, buf, 6); /* truncates safely */
	assert_string_equal(buf, "[a, {");
	matcher_free(m);
}

static void test_fields(void **state)
{
	event *e = fx_event();
	int calls = 0;
	eval_ctx c = fx_topo_ctx(e, &calls);
	char buf[MATCH_TOPO_BUF], err[200], path[64];
	bool present;
	static const struct {
		const char *path, *want;
		bool present;
	} cases[] = {
	    {"source", "alertmanager", true},
	    {"state", "open", true},
	    {"severity", "critical", true},
	    {"entity", "web-01", true},
	    {"event_type", "ServiceDown", true},
	    {"source_id", "95c7516b6ade3654", true},
	    {"tags.service", "nginx", true},
	    {"tags.missing", "", false},
	    {"url", "", false},
	    {"topology.dependents", "7", true},
	    {"topology.role", "frontend", true},
	    {"topology.nothing", "", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		match_field f;
		assert_int_equal(
		    match_field_parse(cases[i].path, strlen(cases[i].path), &f, err, sizeof(err)), RFX_OK);
		const char *v = match_field_value(&f, &c, buf, sizeof(buf), &present);
		assert_string_equal(v, cases[i].want);
		assert_int_equal(present, cases[i].present);
		match_field_path(&f, path, sizeof(path));
		assert_string_equal(path, cases[i].path);
		match_field_clear(&f);
	}
	/* without a topology store topology fields are "" */
	eval_ctx plain = fx_ctx(e);
	match_field f;
	assert_int_equal(match_field_parse("topology.dependents", 19, &f, err, sizeof(err)), RFX_OK);
	assert_string_equal(match_field_value(&f, &plain, buf, sizeof(buf), &present), "");
	assert_false(present);
	match_field_clear(&f);
	event_free(e);
}

static void test_field_errors(void **state)
{
	match_field f;
	char err[200];
	assert_int_equal(match_field_parse("hostname", 8, &f, err, sizeof(err)), RFX_ERR_INVAL);
	assert_non_null(strstr(err, "unknown field \"hostname\""));
	assert_int_equal(match_field_parse("tags.", 5, &f, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "tags needs a name of 1 to 256 characters");
	assert_int_equal(match_field_parse("tags.a b", 8, &f, err, sizeof(err)), RFX_ERR_INVAL);
	assert_int_equal(match_field_parse("sourcex", 6, &f, err, sizeof(err)), RFX_OK); /* length-bounded */
	assert_int_equal(f.kind, FIELD_SOURCE);
}

static void test_numbers(void **state)
{
	double v;
	assert_true(match_parse_number("42", &v));
	assert_true(v == 42);
	assert_true(match_parse_number("-1.5", &v));
	assert_true(v == -1.5);
	assert_true(match_parse_number("1e3", &v));
	assert_true(v == 1000);
	assert_true(match_parse_number(".5", &v));
	assert_false(match_parse_number("", &v));
	assert_false(match_parse_number("-", &v));
	assert_false(match_parse_number("1e", &v));
	assert_false(match_parse_number("0x10", &v));
	assert_false(match_parse_number("inf", &v));
	assert_false(match_parse_number("nan", &v));
	assert_false(match_parse_number("10s", &v));
	assert_false(match_parse_number(" 1", &v));
}

static void test_regex_cache(void **state)
{
	match_regex *a, *b, *c;
	char err[200];
	assert_int_equal(match_regex_compile("^web-[0-9]+$", &a, err, sizeof(err)), RFX_OK);
	assert_int_equal(match_regex_compile("^web-[0-9]+$", &b, err, sizeof(err)), RFX_OK);
	assert_ptr_equal(a, b); /* identical patterns share one compiled regex */
	assert_int_equal(match_regex_compile("(?i)^web-[0-9]+$", &c, err, sizeof(err)), RFX_OK);
	assert_ptr_not_equal(a, c);
	assert_true(match_regex_test(c, "WEB-1"));
	assert_false(match_regex_test(a, "WEB-1"));
	match_regex_free(a);
	assert_true(match_regex_test(b, "web-12"));
	match_regex_free(b);
	match_regex_free(c);
	assert_int_equal(match_regex_compile("a{", &a, err, sizeof(err)), RFX_ERR_INVAL);
}

static void test_regex_complexity(void **state)
{
	match_regex *re;
	char err[300];
	static const char *const ok[] = {"(a+)+", "a{1000}", "(ab|cd){2,5}x*",	       "[+*{]+", "\\++",
					 "a{,",	  "x{2,}",   "^(web|app)-[0-9]{2,3}$", ")",	 "a|*"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		rfx_err rc = match_regex_compile(ok[i], &re, err, sizeof(err));
		if (rc == RFX_OK)
			match_regex_free(re);
		else if (strstr(err, "repetition") || strstr(err, "complex"))
			fail_msg("\"%s\" refused: %s", ok[i], err);
	}
	assert_int_equal(match_regex_compile("a++", &re, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(
	    err, "invalid regex \"a++\": a repetition operator follows another (write (x+)+ as x+)");
	assert_int_equal(match_regex_compile("x*{2}", &re, err, sizeof(err)), RFX_ERR_INVAL);
	assert_int_equal(match_regex_compile("(a{100}){100}", &re, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err,
			    "invalid regex \"(a{100}){100}\": regex too complex: its repetitions expand to "
			    "more than 4096 elements");
	assert_int_equal(
	    match_regex_compile("((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)", &re, err, sizeof(err)),
	    RFX_ERR_INVAL);
	char deep[80] = "";
	for (int i = 0; i < 33; i++)
		strcat(deep, "(");
	assert_int_equal(match_regex_compile(deep, &re, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(strstr(err, ": ") + 2, "regex nests groups deeper than 32 levels");
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[1] = '.';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(match_regex_compile(big, &re, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(strstr(err, ": ") + 2, "regex longer than 1024 bytes");
}

/* Patterns without metacharacters skip regcomp; they must answer exactly as regexec would. */
static void test_regex_literal_equivalence(void **state)
{
	static const char *const pats[] = {"nginx", "Disk Full", "web-01", "a", "-", "%", "é"};
	static const char *const subjects[] = {
	    "nginx is down", "NGINX",	    "disk full", "DISK FULL on /var",
	    "web-01",	     "WEB-01.prod", "",		 "a",
	    "100%",	     "café",	    "CAFÉ",	 "x-y"};
	char err[300];
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		for (int icase = 0; icase < 2; icase++) {
			char pat[64];
			snprintf(pat, sizeof(pat), "%s%s", icase ? "(?i)" : "", pats[i]);
			match_regex *re;
			regex_t ref;
			assert_int_equal(match_regex_compile(pat, &re, err, sizeof(err)), RFX_OK);
			assert_int_equal(
			    regcomp(&ref, pats[i], REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)), 0);
			for (size_t j = 0; j < sizeof(subjects) / sizeof(subjects[0]); j++)
				if (match_regex_test(re, subjects[j]) !=
				    (regexec(&ref, subjects[j], 0, NULL, 0) == 0))
					fail_msg("\"%s\" on \"%s\" differs from regexec", pat, subjects[j]);
			regfree(&ref);
			match_regex_free(re);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact),
	    cmocka_unit_test(test_any_of),
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_regex),
	    cmocka_unit_test(test_not),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_exact_values),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_field_errors),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_regex_cache),
	    cmocka_unit_test(test_regex_complexity),
	    cmocka_unit_test(test_regex_literal_equivalence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
