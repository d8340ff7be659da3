/* template.c -- unit tests for templates: compile errors, raw and shell-quoted rendering (checked by running
 * the rendered command through /bin/sh), empty values in commands, and target validation. */
#include "engine_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include "template.h"

static template *compile_ok(const char *src)
{
	template *t;
	int col;
	char err[300];
	if (template_compile(src, &t, &col, err, sizeof(err)))
		fail_msg("template \"%s\": column %d: %s", src, col, err);
	return t;
}

static char *render(const char *src, const eval_ctx *c, bool quote)
{
	template *t = compile_ok(src);
	char *out = NULL, err[300];
	if (template_render(t, c, quote, &out, err, sizeof(err)))
		fail_msg("render \"%s\": %s", src, err);
	template_free(t);
	return out;
}

/* Sets a tag value byte for byte, bypassing the setter's UTF-8 clean-up (as a topology hook could). */
static void raw_tag(event *e, const char *key, const char *value)
{
	event_tag_set(e, key, "placeholder");
	for (size_t i = 0; i < e->ntags; i++) {
		if (strcmp(e->tags[i].key, key) == 0) {
			free(e->tags[i].value);
			e->tags[i].value = strdup(value);
		}
	}
}

static void test_compile(void **state)
{
	template *t = compile_ok("sudo systemctl restart {{tags.service}}");
	assert_int_equal(template_nfields(t), 1);
	assert_string_equal(template_source(t), "sudo systemctl restart {{tags.service}}");
	template_free(t);
	t = compile_ok("no fields here } {");
	assert_int_equal(template_nfields(t), 0);
	template_free(t);
	t = compile_ok("{{ entity }}:{{source_id}}{{tags.a}}");
	assert_int_equal(template_nfields(t), 3);
	template_free(t);
}

static void expect_error(const char *src, int col, const char *msg)
{
	template *t = NULL;
	int got;
	char err[300];
	if (!template_compile(src, &t, &got, err, sizeof(err)))
		fail_msg("\"%s\": expected an error", src);
	assert_null(t);
	if (got != col || strcmp(err, msg) != 0)
		fail_msg("\"%s\"\n got  %d: %s\n want %d: %s", src, got, err, col, msg);
}

static void test_compile_errors(void **state)
{
	expect_error("restart {{service}}", 11,
		     "unknown field \"service\" (known: source, state, title, severity, entity, event_type, "
		     "source_id, "
		     "url, id, tags.NAME, topology.NAME)");
	expect_error("restart {{ tags.service", 9, "unterminated {{ in template");
	expect_error("a {{}} b", 3, "empty {{}} in template");
	expect_error("a {{   }} b", 3, "empty {{}} in template");
	expect_error("{{tags.}}", 3, "tags needs a name of 1 to 256 characters");
	expect_error("{{tags.a b}}", 3, "invalid character in field name \"tags.a b\"");
	char big[TEMPLATE_MAX_LEN + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_error(big, TEMPLATE_MAX_LEN + 1, "template longer than 16384 bytes");
	char many[TEMPLATE_MAX_FIELDS * 11 + 16] = "";
	for (int i = 0; i <= TEMPLATE_MAX_FIELDS; i++)
		strcat(many, "{{entity}}");
	expect_error(many, TEMPLATE_MAX_FIELDS * 10 + 1, "more than 128 fields in a template");
}

static void test_render_raw(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	char *s = render("Restarted {{tags.service}} on {{ entity }} ({{source}}/{{state}}) [{{tags.none}}]",
			 &c, false);
	assert_string_equal(s, "Restarted nginx on web-01 (alertmanager/open) []");
	free(s);
	s = render("plain", &c, false);
	assert_string_equal(s, "plain");
	free(s);
	s = render("{{title}}", &c, false);
	assert_string_equal(s, "nginx is down on web-01");
	free(s);
	event_set(&e->title, "it's \"$(bad)\"");
	s = render("t={{title}}", &c, false); /* raw: as is */
	assert_string_equal(s, "t=it's \"$(bad)\"");
	free(s);
	event_free(e);
}

static void test_render_quoted_text(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	char *s = render("sudo systemctl restart {{tags.service}}", &c, true);
	assert_string_equal(s, "sudo systemctl restart 'nginx'"); /* quoted even when it looks safe */
	free(s);
	event_tag_set(e, "service", "it's");
	s = render("x {{tags.service}} y", &c, true);
	assert_string_equal(s, "x 'it'\\''s' y");
	free(s);
	event_tag_set(e, "service", "''");
	s = render("{{tags.service}}", &c, true);
	assert_string_equal(s, "''\\'''\\'''");
	free(s);
	event_free(e);
}

/* Runs cmd with /bin/sh and returns its stdout (at most 4 KiB). */
static char *run_sh(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char *out = calloc(1, 4097);
	size_t n = fread(out, 1, 4096, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

/* The shell must see exactly the value as one argument, whatever it holds. */
static void test_shell_roundtrip(void **state)
{
	char dir[] = "/tmp/reflex-tpl-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char pwned[128];
	snprintf(pwned, sizeof(pwned), "%s/pwned", dir);
	const char *values[] = {
	    "nginx",
	    "it's",
	    "'",
	    "''''",
	    "a b  c",
	    "line1\nline2\n",
	    "$(touch PWNED)",
	    "`touch PWNED`",
	    "x; touch PWNED",
	    "x && touch PWNED || touch PWNED",
	    "$HOME ${HOME} $((1+1)) \\$ \\\\",
	    "\"double\" 'single' \\'",
	    "-rf --no-preserve-root",
	    "*",
	    "~",
	    "\t\r\v\f",
	    "\xff\xfe invalid utf-8 \xc3\x28",
	    "| > /dev/null < /etc/passwd &",
	    "#comment",
	    "!history",
	};
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char value[256];
		snprintf(value, sizeof(value), "%s", values[i]);
		char *pw = strstr(value, "PWNED");
		while (pw) { /* point injection attempts into our temp dir */
			char rest[256];
			snprintf(rest, sizeof(rest), "%s", pw + 5);
			snprintf(pw, sizeof(value) - (size_t)(pw - value), "%s%s", pwned, rest);
			pw = strstr(pw + strlen(pwned), "PWNED");
		}
		raw_tag(e, "v", value);
		char *cmd = render("printf '%s' {{tags.v}}; printf '|%s' {{tags.v}} {{tags.v}}", &c, true);
		char *out = run_sh(cmd);
		char want[1024];
		snprintf(want, sizeof(want), "%s|%s|%s", value, value, value);
		if (strcmp(out, want) != 0)
			fail_msg("value #%zu: shell saw \"%s\" for \"%s\" (command %s)", i, out, value, cmd);
		struct stat st;
		if (stat(pwned, &st) == 0)
			fail_msg("value #%zu executed something: %s", i, cmd);
		free(out);
		free(cmd);
	}
	event_free(e);
	rmdir(dir);
}

static void test_shell_empty_refused(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	template *t = compile_ok("rm -rf /var/cache/{{tags.app}}");
	char *out = (char *)1, err[300];
	assert_int_equal(template_render(t, &c, true, &out, err, sizeof(err)), RFX_ERR_INVAL);
	assert_null(out);
	assert_string_equal(err, "field tags.app is missing for this event; refusing to build the command");
	event_tag_set(e, "app", "");
	assert_int_equal(template_render(t, &c, true, &out, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "field tags.app is empty for this event; refusing to build the command");
	/* raw rendering of the same is allowed */
	assert_int_equal(template_render(t, &c, false, &out, err, sizeof(err)), RFX_OK);
	assert_string_equal(out, "rm -rf /var/cache/");
	free(out);
	template_free(t);
	event_free(e);
}

static void test_render_limit(void **state)
{
	event *e = fx_event();
	char *big = malloc(EVENT_MAX_FIELD + 1);
	memset(big, 'a', EVENT_MAX_FIELD);
	big[EVENT_MAX_FIELD] = '\0';
	event_set(&e->title, big);
	eval_ctx c = fx_ctx(e);
	char src[20 * 11 + 1] = "";
	for (int i = 0; i < 20; i++)
		strcat(src, "{{title}}");
	template *t = compile_ok(src);
	char *out, err[300];
	assert_int_equal(template_render(t, &c, false, &out, err, sizeof(err)), RFX_ERR_LIMIT);
	assert_string_equal(err, "rendered template longer than 65536 bytes");
	template_free(t);
	free(big);
	event_free(e);
}

static void test_topology_fields(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_topo_ctx(e, NULL);
	char *s = render("{{topology.dependents}} dependents, role {{topology.role}}", &c, false);
	assert_string_equal(s, "7 dependents, role frontend");
	free(s);
	s = render("echo {{topology.role}}", &c, true);
	assert_string_equal(s, "echo 'frontend'");
	free(s);
	eval_ctx none = fx_ctx(e);
	s = render("[{{topology.role}}]", &none, false);
	assert_string_equal(s, "[]");
	free(s);
	event_free(e);
}

static void expect_target(const char *s, bool ok)
{
	char err[200];
	if (template_valid_target(s, err, sizeof(err)) != ok)
		fail_msg("target \"%s\" should be %s", s, ok ? "valid" : "invalid");
}

static void test_targets(void **state)
{
	expect_target("web-01", true);
	expect_target("web-01.prod.example.com", true);
	expect_target("web_01", true);
	expect_target("10.0.0.5", true);
	expect_target("web-01:2222", true);
	expect_target("10.0.0.5:22", true);
	expect_target("::1", true);
	expect_target("fe80::1", true);
	expect_target("[::1]", true);
	expect_target("[2001:db8::5]:2222", true);
	expect_target("", false);
	expect_target("-oProxyCommand=x", false);
	expect_target("web 01", false);
	expect_target("web-01;reboot", false);
	expect_target("user@web-01", false);
	expect_target("web-01:", false);
	expect_target("web-01:0", false);
	expect_target("web-01:65536", false);
	expect_target("web-01:22x", false);
	expect_target("web-01.", false);
	expect_target(".web", false);
	expect_target("a..b", false);
	expect_target("web-", false);
	expect_target("[::1", false);
	expect_target("[::1]:", false);
	expect_target("[web]:22", false);
	expect_target("1:2:3", false);
	expect_target("$(reboot)", false);
	char label[70];
	memset(label, 'a', 64);
	label[64] = '\0';
	expect_target(label, false);
	label[63] = '\0';
	expect_target(label, true);
}

static void test_render_target(void **state)
{
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	template *t = compile_ok("{{entity}}:{{tags.port}}");
	char *out, err[300];
	event_tag_set(e, "port", "2222");
	assert_int_equal(template_render_target(t, &c, &out, err, sizeof(err)), RFX_OK);
	assert_string_equal(out, "web-01:2222");
	free(out);
	event_tag_set(e, "port", "22; reboot");
	assert_int_equal(template_render_target(t, &c, &out, err, sizeof(err)), RFX_ERR_INVAL);
	assert_null(out);
	assert_string_equal(err, "target \"web-01:22; reboot\" is not a valid host, host:port or IP address");
	template_free(t);
	t = compile_ok("{{tags.host}}");
	assert_int_equal(template_render_target(t, &c, &out, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "target is empty");
	template_free(t);
	event_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compile),	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test(test_render_raw),	    cmocka_unit_test(test_render_quoted_text),
	    cmocka_unit_test(test_shell_roundtrip), cmocka_unit_test(test_shell_empty_refused),
	    cmocka_unit_test(test_render_limit),    cmocka_unit_test(test_topology_fields),
	    cmocka_unit_test(test_targets),	    cmocka_unit_test(test_render_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
