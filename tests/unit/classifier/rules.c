/* rules.c -- unit tests for the rule loader: a full rule, defaults, every validation error with its exact
 * file:line:column, multi-document atomicity, versions, matching (incl. topology hooks), rendering, JSON. */
#include "engine_fixture.h"

#include <unistd.h>

#include "rules.h"

#define FILE_NAME "rules/disk.yaml"

static const char full_rule[] =
    "name: nginx-down-restart          # required, unique\n"
    "description: Restart nginx when Prometheus says it is down\n"
    "enabled: true\n"
    "priority: 100\n"
    "final: false\n"
    "match:\n"
    "  source: alertmanager\n"
    "  state: open\n"
    "  event_type: ServiceDown\n"
    "  entity: {glob: \"web-*\"}\n"
    "  severity: [critical, error]\n"
    "  title: {regex: \"(?i)nginx\"}\n"
    "  tags: {service: nginx, env: [prod, staging]}\n"
    "  topology: {listens: 80}\n"
    "when: 'tags.env != \"prod\" || severity == \"critical\"'\n"
    "action:\n"
    "  type: ssh\n"
    "  targets: [\"{{entity}}\"]\n"
    "  command: \"sudo systemctl restart {{tags.service}}\"\n"
    "  verify: \"systemctl is-active {{tags.service}}\"\n"
    "  user: remediation\n"
    "  timeout: 60s\n"
    "  mode: enforce\n"
    "  on_success: {note: \"Restarted nginx on {{entity}}\", close: true, team: ops-unix}\n"
    "  on_failure: {note: \"Restart failed\", team: ops-oncall}\n"
    "limits:\n"
    "  cooldown: 10m\n"
    "  max_attempts: 3\n"
    "  max_per_hour: 20\n"
    "  max_targets: 5\n";

static rule **parse_ok(const char *text, size_t *n)
{
	rule **v;
	rules_errors errs = {0};
	if (rules_parse(FILE_NAME, text, strlen(text), &v, n, &errs)) {
		char line[600];
		rules_error_format(&errs.v[0], line, sizeof(line));
		fail_msg("parse failed: %s", line);
	}
	assert_int_equal(errs.n, 0);
	return v;
}

static rule *parse_one(const char *text)
{
	size_t n;
	rule **v = parse_ok(text, &n);
	assert_int_equal(n, 1);
	rule *r = v[0];
	free(v);
	return r;
}

/* Parses text expecting failure; returns every error formatted, one per line. */
static char *parse_errors(const char *text, rfx_err want_rc)
{
	rule **v = (rule **)1;
	size_t n = 99;
	rules_errors errs = {0};
	rfx_err rc = rules_parse(FILE_NAME, text, strlen(text), &v, &n, &errs);
	assert_int_equal(rc, want_rc);
	assert_null(v);
	assert_int_equal(n, 0);
	char *out = calloc(1, 8192);
	for (size_t i = 0; i < errs.n; i++) {
		char line[600];
		rules_error_format(&errs.v[i], line, sizeof(line));
		strcat(out, line);
		strcat(out, "\n");
	}
	rules_errors_clear(&errs);
	return out;
}

static void expect_error(const char *text, const char *want)
{
	char *got = parse_errors(text, RFX_ERR_INVAL);
	char wantnl[700];
	snprintf(wantnl, sizeof(wantnl), "%s\n", want);
	if (strcmp(got, wantnl) != 0)
		fail_msg("for:\n%s\n got:  %s want: %s", text, got, wantnl);
	free(got);
}

static void test_full_rule(void **state)
{
	rule *r = parse_one(full_rule);
	assert_string_equal(r->name, "nginx-down-restart");
	assert_string_equal(r->description, "Restart nginx when Prometheus says it is down");
	assert_true(r->enabled);
	assert_int_equal(r->priority, 100);
	assert_false(r->final);
	assert_string_equal(r->file, FILE_NAME);
	assert_int_equal(r->line, 1);
	assert_int_equal(strlen(r->version), RULES_VERSION_LEN);
	assert_non_null(r->match.fields[RULE_MF_SOURCE]);
	assert_non_null(r->match.fields[RULE_MF_TITLE]);
	assert_null(r->match.fields[RULE_MF_SOURCE_ID]);
	assert_int_equal(r->match.ntags, 2);
	assert_string_equal(r->match.tags[1].key, "env");
	assert_int_equal(r->match.ntopology, 1);
	assert_string_equal(r->match.topology[0].key, "listens");
	assert_string_equal(r->match.topology[0].values[0], "80");
	assert_non_null(r->when);
	assert_int_equal(r->action.type, RULE_ACTION_SSH);
	assert_int_equal(r->action.ntargets, 1);
	assert_string_equal(template_source(r->action.command), "sudo systemctl restart {{tags.service}}");
	assert_string_equal(r->action.user, "remediation");
	assert_int_equal(r->action.timeout_ms, 60000);
	assert_int_equal(r->action.mode, RULE_MODE_ENFORCE);
	assert_true(r->action.on_success.close);
	assert_string_equal(r->action.on_success.team, "ops-unix");
	assert_false(r->action.on_failure.close);
	assert_int_equal(r->limits.cooldown_ms, 600000);
	assert_int_equal(r->limits.max_attempts, 3);
	assert_int_equal(r->limits.max_per_hour, 20);
	assert_int_equal(r->limits.max_targets, 5);
	rule_unref(r);
}

static void test_defaults(void **state)
{
	rule *r = parse_one("name: minimal\n");
	assert_true(r->enabled);
	assert_int_equal(r->priority, 0);
	assert_false(r->final);
	assert_string_equal(r->description, "");
	assert_null(r->when);
	assert_int_equal(r->action.type, RULE_ACTION_NONE);
	assert_int_equal(r->action.mode, RULE_MODE_ENFORCE);
	assert_true(matcher_test(r->match.fields[RULE_MF_STATE], "open")); /* state defaults to open */
	assert_false(matcher_test(r->match.fields[RULE_MF_STATE], "resolved"));
	assert_int_equal(r->limits.cooldown_ms, RULES_DEFAULT_COOLDOWN_MS);
	assert_int_equal(r->limits.max_attempts, RULES_DEFAULT_MAX_ATTEMPTS);
	assert_int_equal(r->limits.max_per_hour, RULES_DEFAULT_MAX_PER_HOUR);
	assert_int_equal(r->limits.max_targets, RULES_DEFAULT_MAX_TARGETS);
	rule_unref(r);

	r = parse_one("name: ssh-default\naction: {type: ssh, command: uptime}\n");
	assert_int_equal(r->action.ntargets, 1);
	assert_string_equal(template_source(r->action.targets[0]), "{{entity}}");
	assert_int_equal(r->action.timeout_ms, RULES_DEFAULT_TIMEOUT_MS);
	assert_null(r->action.user);
	rule_unref(r);

	r = parse_one("name: hook\naction: {type: http, url: \"https://hooks.example/x?e={{entity}}\", mode: "
		      "dry-run}\n");
	assert_int_equal(r->action.type, RULE_ACTION_HTTP);
	assert_string_equal(r->action.method, "POST");
	assert_int_equal(r->action.mode, RULE_MODE_DRY_RUN);
	assert_int_equal(r->action.ntargets, 0);
	rule_unref(r);
}

/* The example format of the reference: file:line:col: key.path: reason. */
static void test_error_format(void **state)
{
	expect_error("name: disk-full-clean\n"
		     "description: >\n"
		     "  Clean the cache when the disk fills up.\n"
		     "priority: 10\n"
		     "# the match\n"
		     "\n"
		     "match:\n"
		     "  source: alertmanager\n"
		     "  event_type: DiskFull\n"
		     "  # severities we act on\n"
		     "  severity:\n"
		     "    glob: \"crit*\"\n"
		     "    regex: \"^err\"\n",
		     "rules/disk.yaml:12:5: match.severity: expected a string, a list or a mapping with "
		     "glob/regex/not");
}

static void test_top_level_errors(void **state)
{
	expect_error("- a\n- b\n",
		     "rules/disk.yaml:1:1: expected a mapping (one rule per document), got a sequence");
	expect_error("description: x\n", "rules/disk.yaml:1:1: name: required");
	expect_error(
	    "name: bad name\n",
	    "rules/disk.yaml:1:7: name: invalid rule name \"bad name\" (1 to 128 of A-Z a-z 0-9 . _ -)");
	expect_error("name: [a]\n", "rules/disk.yaml:1:7: name: expected a string, got a sequence");
	expect_error(
	    "name: x\nprio: 1\n",
	    "rules/disk.yaml:2:1: prio: unknown key (expected one of: name, description, enabled, priority, "
	    "final, match, when, action, limits)");
	expect_error("name: x\nenabled: maybe\n", "rules/disk.yaml:2:10: enabled: expected true or false");
	expect_error("name: x\nenabled: \"true\"\n", "rules/disk.yaml:2:10: enabled: expected true or false");
	expect_error("name: x\nfinal: 1\n", "rules/disk.yaml:2:8: final: expected true or false");
	expect_error("name: x\npriority: high\n", "rules/disk.yaml:2:11: priority: expected an integer");
	expect_error("name: x\npriority: 2000000\n",
		     "rules/disk.yaml:2:11: priority: must be between -1000000 and 1000000");
	expect_error("name: x\ndescription: {a: b}\n",
		     "rules/disk.yaml:2:14: description: expected a string, got a mapping");
	expect_error("name: x\nmatch: [a]\n",
		     "rules/disk.yaml:2:8: match: expected a mapping, got a sequence");
	expect_error("name: x\nmatch: x\n", "rules/disk.yaml:2:8: match: expected a mapping, got a scalar");
}

static void test_match_errors(void **state)
{
	expect_error("name: x\nmatch:\n  host: web-01\n",
		     "rules/disk.yaml:3:3: match.host: unknown key (expected one of: source, state, "
		     "event_type, entity, "
		     "severity, title, source_id, tags, topology)");
	expect_error("name: x\nmatch:\n  source: prometheus\n",
		     "rules/disk.yaml:3:11: match.source: unknown source \"prometheus\" (expected dynatrace, "
		     "opsgenie, "
		     "alertmanager, icinga, nagios or generic)");
	expect_error(
	    "name: x\nmatch:\n  source: [alertmanager, zabbix]\n",
	    "rules/disk.yaml:3:11: match.source: unknown source \"zabbix\" (expected dynatrace, opsgenie, "
	    "alertmanager, icinga, nagios or generic)");
	expect_error(
	    "name: x\nmatch:\n  state: closed\n",
	    "rules/disk.yaml:3:10: match.state: unknown state \"closed\" (expected open or resolved)");
	expect_error("name: x\nmatch:\n  severity: {glob: a, regex: b}\n",
		     "rules/disk.yaml:3:13: match.severity: expected a string, a list or a mapping with "
		     "glob/regex/not");
	expect_error("name: x\nmatch:\n  title: {regex: \"([a-z\"}\n",
		     "rules/disk.yaml:3:18: match.title.regex: invalid regex \"([a-z\": Unmatched [, [^, [:, "
		     "[., or [=");
	expect_error("name: x\nmatch:\n  entity: {like: web}\n",
		     "rules/disk.yaml:3:12: match.entity: unknown key \"like\": expected a string, a list or "
		     "a mapping "
		     "with glob/regex/not");
	expect_error("name: x\nmatch:\n  tags: [service]\n",
		     "rules/disk.yaml:3:9: match.tags: expected a mapping of tag name to matcher");
	expect_error("name: x\nmatch:\n  tags:\n    service: ~\n",
		     "rules/disk.yaml:4:14: match.tags.service: expected a string, a list or a mapping with "
		     "glob/regex/not");
	expect_error(
	    "name: x\nmatch:\n  topology: {Listens: 80}\n",
	    "rules/disk.yaml:3:14: match.topology.Listens: unknown topology key (expected one of: listens, "
	    "has_dependents, known, process, node)");
	expect_error("name: x\nmatch:\n  topology: {listens: http}\n",
		     "rules/disk.yaml:3:23: match.topology.listens: expected a port number (1 to 65535)");
	expect_error("name: x\nmatch:\n  topology: {listens: [80, 70000]}\n",
		     "rules/disk.yaml:3:28: match.topology.listens: expected a port number (1 to 65535)");
	expect_error("name: x\nmatch:\n  topology: {known: maybe}\n",
		     "rules/disk.yaml:3:21: match.topology.known: expected true or false");
	expect_error(
	    "name: x\nmatch:\n  topology: {listens: {port: 80}}\n",
	    "rules/disk.yaml:3:23: match.topology.listens: expected a value or a list of 1 to 1024 values");
	expect_error("name: x\nmatch:\n  topology: 80\n",
		     "rules/disk.yaml:3:13: match.topology: expected a mapping like {listens: 80}");
}

static void test_when_errors(void **state)
{
	/* columns point into the expression inside the file */
	expect_error("name: x\nwhen: 'severity = \"critical\"'\n",
		     "rules/disk.yaml:2:17: when: unexpected \"=\" (use \"==\" to compare)");
	expect_error("name: x\nwhen: tags.env == prod\n",
		     "rules/disk.yaml:2:19: when: unknown field \"prod\" (known: source, state, title, "
		     "severity, entity, "
		     "event_type, source_id, url, id, tags.NAME, topology.NAME)");
	expect_error(
	    "name: x\nwhen: \"title =~ \\\"(\\\"\"\n",
	    "rules/disk.yaml:2:7: when: invalid regex \"(\": Unmatched ( or \\( (at column 10 of the value)");
	expect_error("name: x\nwhen: >-\n  severity == \"critical\"\n  && (tags.env == \"prod\"\n",
		     "rules/disk.yaml:2:7: when: expected \")\" to close the \"(\" at column 27, found end "
		     "of expression "
		     "(at column 46 of the value)");
	expect_error("name: x\nwhen: \"\"\n", "rules/disk.yaml:2:8: when: empty expression");
	expect_error("name: x\nwhen: [a]\n", "rules/disk.yaml:2:7: when: expected a string, got a sequence");
}

static void test_action_errors(void **state)
{
	expect_error("name: x\naction:\n  command: uptime\n",
		     "rules/disk.yaml:3:3: action.type: required (ssh, http or none)");
	expect_error("name: x\naction: {type: bash}\n",
		     "rules/disk.yaml:2:16: action.type: expected ssh, http or none");
	expect_error("name: x\naction: ssh\n",
		     "rules/disk.yaml:2:9: action: expected a mapping, got a scalar");
	expect_error("name: x\naction:\n  type: ssh\n  verify: true\n",
		     "rules/disk.yaml:3:3: action.command: required for an action of type ssh");
	expect_error("name: x\naction:\n  type: http\n",
		     "rules/disk.yaml:3:3: action.url: required for an action of type http");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  url: http://x\n",
		     "rules/disk.yaml:5:3: action.url: not allowed for an action of type ssh");
	expect_error("name: x\naction:\n  type: http\n  url: http://x\n  command: uptime\n",
		     "rules/disk.yaml:5:3: action.command: not allowed for an action of type http");
	expect_error("name: x\naction:\n  type: none\n  targets: [a]\n",
		     "rules/disk.yaml:4:3: action.targets: not allowed for an action of type none");
	expect_error("name: x\naction:\n  type: ssh\n  comand: uptime\n",
		     "rules/disk.yaml:4:3: action.comand: unknown key (expected one of: type, targets, "
		     "command, verify, "
		     "user, timeout, mode, on_success, on_failure, url, method, body)");
	expect_error(
	    "name: x\naction:\n  type: ssh\n  command: \"systemctl restart {{service}}\"\n",
	    "rules/disk.yaml:4:33: action.command: unknown field \"service\" (known: source, state, title, "
	    "severity, entity, event_type, source_id, url, id, tags.NAME, topology.NAME)");
	expect_error("name: x\naction:\n  type: ssh\n  command: systemctl restart {{tags.service\n",
		     "rules/disk.yaml:4:30: action.command: unterminated {{ in template");
	expect_error("name: x\naction:\n  type: ssh\n  command: \"\"\n",
		     "rules/disk.yaml:4:12: action.command: must not be empty");
	expect_error(
	    "name: x\naction:\n  type: ssh\n  command: uptime\n  targets: [\"web 01\"]\n",
	    "rules/disk.yaml:5:13: action.targets[0]: target \"web 01\" is not a valid host, host:port or IP "
	    "address");
	expect_error(
	    "name: x\naction:\n  type: ssh\n  command: uptime\n  targets: [\"{{entity}}\", \"{{nope}}\"]\n",
	    "rules/disk.yaml:5:30: action.targets[1]: unknown field \"nope\" (known: source, state, title, "
	    "severity, entity, event_type, source_id, url, id, tags.NAME, topology.NAME)");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  targets: []\n",
		     "rules/disk.yaml:5:12: action.targets: expected a list of 1 to 64 target templates");
	expect_error(
	    "name: x\naction:\n  type: ssh\n  command: uptime\n  timeout: soon\n",
	    "rules/disk.yaml:5:12: action.timeout: expected a duration like 30s, 10m, 2h or a number of "
	    "seconds");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  timeout: 0\n",
		     "rules/disk.yaml:5:12: action.timeout: must be between 1s and 21600s");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  mode: dry\n",
		     "rules/disk.yaml:5:9: action.mode: expected enforce or dry-run");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  user: \"-oProxyCommand=x\"\n",
		     "rules/disk.yaml:5:9: action.user: not a valid user name (letters, digits, . _ -, at "
		     "most 32, not "
		     "starting with -)");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  on_success: {notes: x}\n",
		     "rules/disk.yaml:5:16: action.on_success.notes: unknown key (expected one of: note, "
		     "close, team)");
	expect_error("name: x\naction:\n  type: ssh\n  command: uptime\n  on_failure: {close: sometimes}\n",
		     "rules/disk.yaml:5:23: action.on_failure.close: expected true or false");
	expect_error("name: x\naction:\n  type: none\n  on_success: {note: \"{{tags}}\"}\n",
		     "rules/disk.yaml:4:25: action.on_success.note: unknown field \"tags\" (known: source, "
		     "state, title, "
		     "severity, entity, event_type, source_id, url, id, tags.NAME, topology.NAME)");
	expect_error("name: x\naction:\n  type: http\n  url: \"ftp://x/{{entity}}\"\n",
		     "rules/disk.yaml:4:8: action.url: must start with http:// or https://");
	expect_error("name: x\naction:\n  type: http\n  url: \"{{url}}\"\n",
		     "rules/disk.yaml:4:8: action.url: must start with http:// or https://");
	expect_error("name: x\naction:\n  type: http\n  url: http://x\n  method: post\n",
		     "rules/disk.yaml:5:11: action.method: expected GET, POST, PUT, PATCH or DELETE");
}

static void test_limits_errors(void **state)
{
	expect_error(
	    "name: x\nlimits:\n  cooldown: forever\n",
	    "rules/disk.yaml:3:13: limits.cooldown: expected a duration like 30s, 10m, 2h or a number of "
	    "seconds");
	expect_error("name: x\nlimits:\n  cooldown: 8d\n",
		     "rules/disk.yaml:3:13: limits.cooldown: must be between 0s and 604800s");
	expect_error("name: x\nlimits:\n  max_attempts: 0\n",
		     "rules/disk.yaml:3:17: limits.max_attempts: must be between 1 and 1000");
	expect_error("name: x\nlimits:\n  max_per_hour: lots\n",
		     "rules/disk.yaml:3:17: limits.max_per_hour: expected an integer");
	expect_error("name: x\nlimits:\n  max_targets: 1001\n",
		     "rules/disk.yaml:3:16: limits.max_targets: must be between 1 and 1000");
	expect_error(
	    "name: x\nlimits:\n  max_retries: 3\n",
	    "rules/disk.yaml:3:3: limits.max_retries: unknown key (expected one of: cooldown, max_attempts, "
	    "max_per_hour, max_targets)");
	rule *r = parse_one(
	    "name: x\nlimits: {cooldown: 0, max_attempts: 1000, max_per_hour: 1, max_targets: 1}\n");
	assert_int_equal(r->limits.cooldown_ms, 0);
	assert_int_equal(r->limits.max_attempts, 1000);
	rule_unref(r);
	r = parse_one("name: x\nlimits: {cooldown: 90}\n"); /* bare number: seconds */
	assert_int_equal(r->limits.cooldown_ms, 90000);
	rule_unref(r);
}

static void test_yaml_errors(void **state)
{
	char *got = parse_errors("name: x\nmatch: {source: [a\n", RFX_ERR_PARSE);
	assert_non_null(strstr(got, "rules/disk.yaml:3:1: "));
	free(got);
	got = parse_errors("name: x\nname: y\n", RFX_ERR_PARSE);
	assert_string_equal(got, "rules/disk.yaml:2:1: duplicate key \"name\"\n");
	free(got);
	got = parse_errors("name: &a x\ndescription: *a\n", RFX_ERR_PARSE);
	assert_string_equal(got, "rules/disk.yaml:2:14: aliases are not allowed\n");
	free(got);
}

static void test_multi_document(void **state)
{
	size_t n;
	rule **v = parse_ok(
	    "---\nname: a\n---\n# comment only document\n---\nname: b\npriority: 3\n...\n---\nname: c\n", &n);
	assert_int_equal(n, 3);
	assert_string_equal(v[0]->name, "a");
	assert_int_equal(v[0]->line, 2);
	assert_string_equal(v[1]->name, "b");
	assert_int_equal(v[1]->priority, 3);
	assert_int_equal(v[1]->line, 6);
	assert_string_equal(v[2]->name, "c");
	rules_release_all(v, n);

	/* one bad document fails the whole file, and every bad document is reported */
	char *got = parse_errors("name: a\n---\nname: b\npriority: x\n---\nname: c\n---\nname: d\nfinal: 2\n",
				 RFX_ERR_INVAL);
	assert_string_equal(got, "rules/disk.yaml:4:11: priority: expected an integer\n"
				 "rules/disk.yaml:9:8: final: expected true or false\n");
	free(got);

	/* duplicate names in one file: the later document is the error */
	expect_error(
	    "name: a\n---\nname: b\n---\nname: a\n",
	    "rules/disk.yaml:5:7: name: duplicate rule name \"a\" (already defined at rules/disk.yaml:1)");

	v = parse_ok("", &n);
	assert_int_equal(n, 0);
	rules_release_all(v, n);
	v = parse_ok("# nothing\n---\n---\n", &n);
	assert_int_equal(n, 0);
	rules_release_all(v, n);
}

static void test_versions(void **state)
{
	size_t n1, n2, n3;
	rule **a = parse_ok("name: a\npriority: 1\n---\nname: b\n", &n1);
	rule **b = parse_ok("name: a\npriority: 1\n---\nname: b\ndescription: changed\n", &n2);
	rule **c = parse_ok("name: a\npriority: 2\n---\nname: b\n\n\n", &n3);
	for (size_t i = 0; i < RULES_VERSION_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", a[0]->version[i]));
	assert_string_equal(a[0]->version, b[0]->version); /* untouched document: same version */
	assert_string_not_equal(a[1]->version, b[1]->version);
	assert_string_not_equal(a[0]->version, c[0]->version);
	assert_string_equal(a[1]->version, c[1]->version); /* trailing blank lines do not count */
	assert_string_not_equal(a[0]->version, a[1]->version);
	rules_release_all(a, n1);
	rules_release_all(b, n2);
	rules_release_all(c, n3);
}

static void test_names(void **state)
{
	assert_true(rules_name_valid("nginx-down.restart_2"));
	assert_false(rules_name_valid(""));
	assert_false(rules_name_valid("a/b"));
	assert_false(rules_name_valid("a b"));
	assert_false(rules_name_valid("é"));
	char longname[RULES_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(rules_name_valid(longname));
	longname[RULES_NAME_MAX] = '\0';
	assert_true(rules_name_valid(longname));
}

static void test_matches(void **state)
{
	rule *r = parse_one(full_rule);
	event *e = fx_event();
	int calls = 0;
	eval_ctx topo = fx_topo_ctx(e, &calls);
	eval_ctx plain = fx_ctx(e);
	assert_true(rule_matches(r, &topo));
	assert_int_equal(calls, 1);
	assert_false(rule_matches(r, &plain)); /* match.topology without a topology store never matches */
	event_set(&e->entity, "db-01");
	assert_false(rule_matches(r, &topo));
	event_set(&e->entity, "web-01");
	e->state = EV_RESOLVED;
	assert_false(rule_matches(r, &topo));
	e->state = EV_OPEN;
	event_tag_set(e, "env", "dev");
	assert_false(rule_matches(r, &topo)); /* tags.env not in [prod, staging] */
	event_tag_set(e, "env", "staging");
	event_set(&e->severity, "error");
	assert_true(rule_matches(r, &topo)); /* when: env != prod */
	event_tag_set(e, "env", "prod");
	assert_false(rule_matches(r, &topo)); /* when: prod needs critical */
	event_free(e);
	rule_unref(r);

	r = parse_one("name: t\nmatch:\n  tags: {team: {not: db}}\n"
		      "  topology: {listens: [8080, 443], known: true, process: nginx, node: \"web-*\"}\n");
	e = fx_event();
	topo = fx_topo_ctx(e, NULL);
	assert_false(rule_matches(r, &topo)); /* a named tag must exist, even under not */
	event_tag_set(e, "team", "web");
	assert_true(rule_matches(r, &topo));
	event_tag_set(e, "team", "db");
	assert_false(rule_matches(r, &topo));
	event_free(e);
	rule_unref(r);
}

static void test_render(void **state)
{
	rule *r =
	    parse_one("name: multi\n"
		      "action:\n"
		      "  type: ssh\n"
		      "  targets: [\"{{entity}}\", \"{{tags.peer}}\", \"{{entity}}\", \"backup-01:2222\"]\n"
		      "  command: \"sudo rm -rf /var/cache/{{tags.app}}/*\"\n"
		      "  verify: \"test -d /var/cache/{{tags.app}}\"\n"
		      "  on_success: {note: \"Cleaned {{tags.app}} on {{entity}}\", close: true}\n"
		      "  on_failure: {note: \"Could not clean {{tags.app}}\", team: ops}\n"
		      "limits: {max_targets: 3}\n");
	event *e = fx_event();
	event_tag_set(e, "peer", "web-02");
	event_tag_set(e, "app", "it's");
	eval_ctx c = fx_ctx(e);
	rule_rendered rr;
	char err[300];
	assert_int_equal(rule_render(r, &c, &rr, err, sizeof(err)), RFX_OK);
	assert_int_equal(rr.ntargets, 3); /* the repeated entity is dropped */
	assert_string_equal(rr.targets[0], "web-01");
	assert_string_equal(rr.targets[1], "web-02");
	assert_string_equal(rr.targets[2], "backup-01:2222");
	assert_string_equal(rr.command, "sudo rm -rf /var/cache/'it'\\''s'/*");
	assert_string_equal(rr.verify, "test -d /var/cache/'it'\\''s'");
	assert_string_equal(rr.success_note, "Cleaned it's on web-01");
	assert_string_equal(rr.failure_note, "Could not clean it's");
	assert_null(rr.url);

	cJSON *j = rule_action_json(r, &rr);
	assert_string_equal(cJSON_GetObjectItem(j, "rule")->valuestring, "multi");
	assert_string_equal(cJSON_GetObjectItem(j, "rule_version")->valuestring, r->version);
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "ssh");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "targets")), 3);
	assert_string_equal(cJSON_GetObjectItem(j, "command")->valuestring, rr.command);
	assert_null(cJSON_GetObjectItem(j, "user"));
	assert_true(cJSON_GetObjectItem(j, "timeout")->valuedouble == 60);
	assert_string_equal(cJSON_GetObjectItem(j, "mode")->valuestring, "enforce");
	cJSON *lim = cJSON_GetObjectItem(j, "limits");
	assert_true(cJSON_GetObjectItem(lim, "cooldown")->valuedouble == 600);
	assert_true(cJSON_GetObjectItem(lim, "max_targets")->valuedouble == 3);
	cJSON *ok = cJSON_GetObjectItem(j, "on_success");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ok, "close")));
	assert_string_equal(cJSON_GetObjectItem(ok, "note")->valuestring, "Cleaned it's on web-01");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "on_failure"), "team")->valuestring,
			    "ops");
	cJSON_Delete(j);
	rule_rendered_clear(&rr);

	/* too many distinct targets */
	event_tag_set(e, "peer", "web-03");
	event_set(&e->entity, "web-04");
	rule *r2 = parse_one("name: many\naction:\n  type: ssh\n  command: uptime\n"
			     "  targets: [a, b, c, \"{{entity}}\"]\nlimits: {max_targets: 3}\n");
	assert_int_equal(rule_render(r2, &c, &rr, err, sizeof(err)), RFX_ERR_LIMIT);
	assert_string_equal(err, "action.targets: 4 targets, more than limits.max_targets (3)");
	assert_null(rr.targets);
	rule_unref(r2);

	/* a bad rendered target and a missing command value */
	event_tag_set(e, "peer", "$(reboot)");
	assert_int_equal(rule_render(r, &c, &rr, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(
	    err, "action.targets[1]: target \"$(reboot)\" is not a valid host, host:port or IP address");
	event_tag_set(e, "peer", "web-02");
	event_tag_set(e, "app", "");
	assert_int_equal(rule_render(r, &c, &rr, err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(
	    err, "action.command: field tags.app is empty for this event; refusing to build the command");
	event_free(e);
	rule_unref(r);
}

static void test_render_http(void **state)
{
	rule *r = parse_one("name: hook\n"
			    "action:\n"
			    "  type: http\n"
			    "  url: \"https://hooks.example/restart?host={{entity}}\"\n"
			    "  method: PUT\n"
			    "  body: '{\"service\": \"{{tags.service}}\"}'\n");
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	rule_rendered rr;
	char err[300];
	assert_int_equal(rule_render(r, &c, &rr, err, sizeof(err)), RFX_OK);
	assert_int_equal(rr.ntargets, 0);
	assert_null(rr.command);
	assert_string_equal(rr.url, "https://hooks.example/restart?host=web-01");
	assert_string_equal(rr.body, "{\"service\": \"nginx\"}");
	cJSON *j = rule_action_json(r, &rr);
	assert_string_equal(cJSON_GetObjectItem(j, "method")->valuestring, "PUT");
	assert_string_equal(cJSON_GetObjectItem(j, "url")->valuestring, rr.url);
	cJSON_Delete(j);
	rule_rendered_clear(&rr);
	event_free(e);
	rule_unref(r);
}

static void test_to_json(void **state)
{
	rule *r = parse_one(full_rule);
	cJSON *j = rule_to_json(r);
	assert_string_equal(cJSON_GetObjectItem(j, "name")->valuestring, "nginx-down-restart");
	assert_string_equal(cJSON_GetObjectItem(j, "file")->valuestring, FILE_NAME);
	assert_string_equal(cJSON_GetObjectItem(j, "version")->valuestring, r->version);
	assert_true(cJSON_GetObjectItem(j, "priority")->valuedouble == 100);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "enabled")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "final")));
	assert_string_equal(cJSON_GetObjectItem(j, "mode")->valuestring, "enforce");
	assert_string_equal(cJSON_GetObjectItem(j, "action_type")->valuestring, "ssh");
	cJSON *m = cJSON_GetObjectItem(j, "match");
	assert_string_equal(cJSON_GetObjectItem(m, "severity")->valuestring, "[critical, error]");
	assert_string_equal(cJSON_GetObjectItem(m, "entity")->valuestring, "{glob: web-*}");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "tags"), "env")->valuestring,
			    "[prod, staging]");
	assert_string_equal(cJSON_GetObjectItem(j, "when")->valuestring,
			    "tags.env != \"prod\" || severity == \"critical\"");
	cJSON_Delete(j);
	rule_unref(r);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/reflex-rules-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "name: from-file\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rule **v;
	size_t n;
	rules_errors errs = {0};
	assert_int_equal(rules_load_file(path, &v, &n, &errs), RFX_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0]->file, path);
	rules_release_all(v, n);
	unlink(path);
	assert_int_equal(rules_load_file(path, &v, &n, &errs), RFX_ERR_NOTFOUND);
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 0);
	char line[600];
	rules_error_format(&errs.v[0], line, sizeof(line));
	assert_non_null(strstr(line, ": cannot read the file"));
	rules_errors_clear(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_rule),	  cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_error_format),  cmocka_unit_test(test_top_level_errors),
	    cmocka_unit_test(test_match_errors),  cmocka_unit_test(test_when_errors),
	    cmocka_unit_test(test_action_errors), cmocka_unit_test(test_limits_errors),
	    cmocka_unit_test(test_yaml_errors),	  cmocka_unit_test(test_multi_document),
	    cmocka_unit_test(test_versions),	  cmocka_unit_test(test_names),
	    cmocka_unit_test(test_matches),	  cmocka_unit_test(test_render),
	    cmocka_unit_test(test_render_http),	  cmocka_unit_test(test_to_json),
	    cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
