/* config.c -- unit tests for the option table: defaults, file, environment, errors, command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

struct test_cfg {
	cfg_common common;
	char *rules_dir;
	long long history_size;
	bool watch;
	int64_t interval_ms;
	long long max_output;
	char *mode;
	cfg_strlist targets;
	cfg_strmap labels;
	long long custom; /* sum of a list of ints */
};

static rfx_err parse_sum(const yt_node *n, void *field, char *err, size_t errlen)
{
	long long sum = 0, v;
	if (n->kind != YT_SEQ) {
		snprintf(err, errlen, "expected a list of integers");
		return RFX_ERR_INVAL;
	}
	for (size_t i = 0; i < n->n; i++) {
		if (!yt_as_int(n->items[i], &v)) {
			snprintf(err, errlen, "item %zu is not an integer", i);
			return RFX_ERR_INVAL;
		}
		sum += v;
	}
	*(long long *)field = sum;
	return RFX_OK;
}

static void free_sum(void *field)
{
	*(long long *)field = 0;
}

static const cfg_opt test_opts[] = {
    {"rules_dir", CFG_STRING, offsetof(struct test_cfg, rules_dir), "./rules", 0, 0, NULL, "Rules directory"},
    {"history_size", CFG_INT, offsetof(struct test_cfg, history_size), "1000", 1, 100000, NULL, "History"},
    {"watch", CFG_BOOL, offsetof(struct test_cfg, watch), "true", 0, 0, NULL, "Watch the directory"},
    {"interval", CFG_DURATION, offsetof(struct test_cfg, interval_ms), "30s", 1000, 3600000, NULL,
     "Poll interval"},
    {"max_output", CFG_SIZE, offsetof(struct test_cfg, max_output), "64KiB", 0, 0, NULL, "Output cap"},
    {"mode", CFG_ENUM, offsetof(struct test_cfg, mode), "enforce", 0, 0, "enforce|dry-run", "Mode | pipe"},
    {"targets", CFG_STRLIST, offsetof(struct test_cfg, targets), NULL, 0, 0, NULL, "Allowed targets"},
    {"labels", CFG_STRMAP, offsetof(struct test_cfg, labels), NULL, 0, 0, NULL, "Labels"},
    {"sum", CFG_CUSTOM, offsetof(struct test_cfg, custom), "[1, 2]", 0, 0, NULL, "A sum", parse_sum,
     free_sum},
    {0},
};

static const cfg_spec spec = {
    .service = "testsvc",
    .binary = "reflex-testsvc",
    .summary = "A service for tests",
    .default_port = 8089,
    .opts = test_opts,
};

static const char *env_vars[] = {
    "REFLEX_PORT", "REFLEX_RULES_DIR", "REFLEX_TARGETS",      "REFLEX_LABELS",	  "REFLEX_WATCH",
    "REFLEX_SUM",  "REFLEX_CONFIG",    "REFLEX_HTTP_THREADS", "REFLEX_LOG_LEVEL", "REFLEX_KAFKA_PROPERTIES"};

static int clear_env(void **state)
{
	for (size_t i = 0; i < RFX_ARRAY_LEN(env_vars); i++)
		unsetenv(env_vars[i]);
	return 0;
}

static char *write_tmp(const char *content)
{
	char *path = rfx_strdup("/tmp/rfx-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

/* Loads content as the config file; returns the status and leaves the message in err. */
static rfx_err load_text(struct test_cfg *c, const char *content, char *err, size_t errlen)
{
	char *path = write_tmp(content);
	memset(c, 0, sizeof(*c));
	rfx_err rc = config_load(&spec, c, path, false, err, errlen);
	unlink(path);
	free(path);
	return rc;
}

static void test_defaults(void **state)
{
	struct test_cfg c = {0};
	char err[512] = "";
	assert_int_equal(config_load(&spec, &c, NULL, true, err, sizeof(err)), RFX_OK);
	assert_string_equal(c.common.bind, "127.0.0.1");
	assert_int_equal(c.common.port, 8089);
	assert_null(c.common.api_tokens_file);
	assert_null(c.common.admin_tokens_file);
	assert_string_equal(c.common.log_level, "info");
	assert_null(c.common.audit_file);
	assert_null(c.common.kafka_brokers);
	assert_string_equal(c.common.kafka_audit_topic, "reflex.audit");
	assert_int_equal(c.common.kafka_properties.n, 0);
	assert_null(c.common.audit_spool_dir);
	assert_int_equal(c.common.max_body_bytes, 1048576);
	assert_int_equal(c.common.http_threads, 4);
	assert_string_equal(c.rules_dir, "./rules");
	assert_int_equal(c.history_size, 1000);
	assert_true(c.watch);
	assert_int_equal(c.interval_ms, 30000);
	assert_int_equal(c.max_output, 65536);
	assert_string_equal(c.mode, "enforce");
	assert_int_equal(c.targets.n, 0);
	assert_int_equal(c.custom, 3);
	config_free(&spec, &c);
	assert_null(c.common.bind);
	assert_null(c.rules_dir);
	/* a missing optional file is fine, a missing required one is not */
	assert_int_equal(config_load(&spec, &c, "/nonexistent/x.yaml", true, err, sizeof(err)), RFX_OK);
	config_free(&spec, &c);
	assert_int_equal(config_load(&spec, &c, "/nonexistent/x.yaml", false, err, sizeof(err)),
			 RFX_ERR_NOTFOUND);
	assert_non_null(strstr(err, "/nonexistent/x.yaml"));
	config_free(&spec, &c);
}

static void test_file(void **state)
{
	struct test_cfg c;
	char err[512] = "";
	rfx_err rc =
	    load_text(&c,
		      "# comment\nbind: 0.0.0.0\nport: 9000\nlog_level: debug\nmax_body_bytes: 2MiB\n"
		      "kafka_properties: {compression.type: lz4, linger.ms: 5}\napi_tokens_file: ~\n"
		      "rules_dir: /srv/rules\nwatch: no\ninterval: 5m\nmax_output: 1048576\nmode: dry-run\n"
		      "targets: [web-*, \"db-01\"]\nlabels: {env: prod}\nsum: [10, 20, 30]\n",
		      err, sizeof(err));
	assert_int_equal(rc, RFX_OK);
	assert_string_equal(c.common.bind, "0.0.0.0");
	assert_int_equal(c.common.port, 9000);
	assert_string_equal(c.common.log_level, "debug");
	assert_int_equal(c.common.max_body_bytes, 2 * 1048576);
	assert_int_equal(c.common.kafka_properties.n, 2);
	assert_string_equal(c.common.kafka_properties.keys[1], "linger.ms");
	assert_string_equal(c.common.kafka_properties.values[1], "5");
	assert_null(c.common.api_tokens_file);
	assert_string_equal(c.rules_dir, "/srv/rules");
	assert_false(c.watch);
	assert_int_equal(c.interval_ms, 300000);
	assert_int_equal(c.max_output, 1048576);
	assert_string_equal(c.mode, "dry-run");
	assert_int_equal(c.targets.n, 2);
	assert_string_equal(c.targets.v[0], "web-*");
	assert_string_equal(c.targets.v[1], "db-01");
	assert_int_equal(c.labels.n, 1);
	assert_int_equal(c.custom, 60);
	config_free(&spec, &c);

	/* empty file: defaults */
	assert_int_equal(load_text(&c, "# nothing\n", err, sizeof(err)), RFX_OK);
	assert_int_equal(c.common.port, 8089);
	config_free(&spec, &c);
}

static void test_env(void **state)
{
	struct test_cfg c;
	char err[512] = "";
	setenv("REFLEX_PORT", "9100", 1);
	setenv("REFLEX_RULES_DIR", "./my rules", 1);
	setenv("REFLEX_TARGETS", "a, b ,c", 1);
	setenv("REFLEX_LABELS", "x=1,y=2", 1);
	setenv("REFLEX_KAFKA_PROPERTIES", "{acks: all}", 1);
	setenv("REFLEX_WATCH", "false", 1);
	setenv("REFLEX_SUM", "[5, 5]", 1);
	setenv("REFLEX_HTTP_THREADS", "", 1); /* empty: unset */
	assert_int_equal(load_text(&c, "port: 9000\nrules_dir: /srv/rules\ntargets: [z]\n", err, sizeof(err)),
			 RFX_OK);
	assert_int_equal(c.common.port, 9100);
	assert_int_equal(c.common.http_threads, 4);
	assert_string_equal(c.rules_dir, "./my rules");
	assert_int_equal(c.targets.n, 3);
	assert_string_equal(c.targets.v[1], "b");
	assert_int_equal(c.labels.n, 2);
	assert_string_equal(c.labels.values[1], "2");
	assert_string_equal(c.common.kafka_properties.values[0], "all");
	assert_false(c.watch);
	assert_int_equal(c.custom, 10);
	config_free(&spec, &c);

	setenv("REFLEX_PORT", "http", 1);
	assert_int_equal(load_text(&c, "", err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "REFLEX_PORT: port: expected an integer, got \"http\"");
	config_free(&spec, &c);
	setenv("REFLEX_PORT", "70000", 1);
	assert_int_equal(load_text(&c, "", err, sizeof(err)), RFX_ERR_INVAL);
	assert_string_equal(err, "REFLEX_PORT: port: 70000 is out of range (0..65535)");
	config_free(&spec, &c);
	clear_env(NULL);
}

static void expect_error(const char *content, const char *want_suffix)
{
	struct test_cfg c;
	char err[512] = "";
	assert_int_not_equal(load_text(&c, content, err, sizeof(err)), RFX_OK);
	config_free(&spec, &c);
	const char *colon = strchr(err, ':'); /* skip the temp file name */
	assert_non_null(colon);
	if (strcmp(colon + 1, want_suffix) != 0)
		fail_msg("error \"%s\" does not end in \"%s\"", err, want_suffix);
}

static void test_errors(void **state)
{
	expect_error("port: 80\nprot: 81\n", "2:1: unknown key \"prot\"");
	expect_error("port: eighty\n", "1:7: port: expected an integer, got \"eighty\"");
	expect_error("port: [80]\n", "1:7: port: expected an integer, got a sequence");
	expect_error("port: 70000\n", "1:7: port: 70000 is out of range (0..65535)");
	expect_error("max_body_bytes: 128MiB\n",
		     "1:17: max_body_bytes: 128MiB is out of range (1KiB..64MiB)");
	expect_error("max_body_bytes: lots\n",
		     "1:17: max_body_bytes: expected a size (like 512KiB or 1MiB), got \"lots\"");
	expect_error("http_threads: 0\n", "1:15: http_threads: 0 is out of range (1..64)");
	expect_error("log_level: loud\n",
		     "1:12: log_level: expected one of debug|info|warn|error, got \"loud\"");
	expect_error("bind: {a: 1}\n", "1:7: bind: expected a string, got a mapping");
	expect_error("watch: maybe\n", "1:8: watch: expected true or false, got \"maybe\"");
	expect_error("interval: 10ms\n", "1:11: interval: 10ms is out of range (1s..1h)");
	expect_error("interval: soon\n",
		     "1:11: interval: expected a duration (like 250ms, 10s, 5m, 2h), got \"soon\"");
	expect_error("targets: [a, {b: 1}]\n", "1:14: targets: expected a string in the list, got a mapping");
	expect_error("sum: [1, x]\n", "1:6: sum: item 1 is not an integer");
	expect_error("- a\n- b\n", "1:1: expected a mapping of keys at the top level, got a sequence");
	expect_error("port: 1\nport: 2\n", "2:1: duplicate key \"port\"");
	expect_error("port: 1\n---\nport: 2\n", "3:1: only one YAML document is allowed");
	expect_error("port: [1\n", "2:1: did not find expected ',' or ']' while parsing a flow sequence");
}

/* Runs config_init with stdout/stderr captured into out. */
static cfg_action run_init(struct test_cfg *c, const char *const *args, char *out, size_t outlen,
			   int *rest_argc, char ***rest_argv)
{
	char *argv[16];
	int argc = 0;
	for (; args[argc]; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	char path[] = "/tmp/rfx-config-out-XXXXXX";
	int fd = mkstemp(path);
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	memset(c, 0, sizeof(*c));
	cfg_action a = config_init(&spec, c, argc, argv, rest_argc, rest_argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	ssize_t n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return a;
}

static void test_cli(void **state)
{
	struct test_cfg c;
	static char out[65536];
	int rargc;
	char **rargv;
	const char *version[] = {"reflex-testsvc", "--version", NULL};
	assert_int_equal(run_init(&c, version, out, sizeof(out), &rargc, &rargv), CFG_EXIT_OK);
	assert_string_equal(out, "reflex-testsvc " REFLEX_VERSION "\n");

	const char *help[] = {"reflex-testsvc", "--help", NULL};
	assert_int_equal(run_init(&c, help, out, sizeof(out), &rargc, &rargv), CFG_EXIT_OK);
	assert_non_null(strstr(out, "Usage: reflex-testsvc"));
	assert_non_null(strstr(out, "  port (int, 0..65535; default 8089; env REFLEX_PORT)"));
	assert_non_null(
	    strstr(out, "  max_body_bytes (size, 1KiB..64MiB; default 1MiB; env REFLEX_MAX_BODY_BYTES)"));
	assert_non_null(strstr(
	    out, "  rules_dir (string; default ./rules; env REFLEX_RULES_DIR)\n      Rules directory"));
	assert_non_null(strstr(out, "  api_tokens_file (string; default unset;"));

	const char *ref[] = {"reflex-testsvc", "--config-reference", NULL};
	assert_int_equal(run_init(&c, ref, out, sizeof(out), &rargc, &rargv), CFG_EXIT_OK);
	assert_non_null(strstr(
	    out, "| `log_level` | one of debug\\|info\\|warn\\|error | `info` | `REFLEX_LOG_LEVEL` |"));
	assert_non_null(strstr(out, "| Mode \\| pipe |"));

	char *path = write_tmp("port: 9001\nrules_dir: /srv/rules dir\n");
	const char *check[] = {"reflex-testsvc", "--config", path, "--check-config", NULL};
	assert_int_equal(run_init(&c, check, out, sizeof(out), &rargc, &rargv), CFG_EXIT_OK);
	assert_true(strncmp(out, "config ok\n", 10) == 0);
	assert_non_null(strstr(out, "\nport: 9001\n"));
	assert_non_null(strstr(out, "\nrules_dir: /srv/rules dir\n"));
	assert_non_null(strstr(out, "\napi_tokens_file: ~\n"));
	assert_non_null(strstr(out, "\nmax_body_bytes: 1MiB\n"));
	assert_non_null(strstr(out, "\ninterval: 30s\n"));
	assert_non_null(strstr(out, "\nkafka_properties: {}\n"));
	config_free(&spec, &c);

	const char *run[] = {"reflex-testsvc", "--check-rules", "dir", "--config=", NULL};
	char *arg = rfx_asprintf("--config=%s", path);
	run[3] = arg;
	assert_int_equal(run_init(&c, run, out, sizeof(out), &rargc, &rargv), CFG_RUN);
	assert_int_equal(rargc, 3);
	assert_string_equal(rargv[0], "reflex-testsvc");
	assert_string_equal(rargv[1], "--check-rules");
	assert_string_equal(rargv[2], "dir");
	assert_null(rargv[3]);
	assert_int_equal(c.common.port, 9001);
	config_free(&spec, &c);
	free(arg);
	unlink(path);
	free(path);

	const char *bad[] = {"reflex-testsvc", "--config", "/nonexistent/testsvc.yaml", "--check-config",
			     NULL};
	assert_int_equal(run_init(&c, bad, out, sizeof(out), &rargc, &rargv), CFG_EXIT_FAIL);
	assert_string_equal(out, "reflex-testsvc: /nonexistent/testsvc.yaml: no such file\n");
	config_free(&spec, &c);

	setenv("REFLEX_LOG_LEVEL", "warn", 1);
	const char *plain[] = {"reflex-testsvc", NULL};
	assert_int_equal(run_init(&c, plain, out, sizeof(out), &rargc, &rargv), CFG_RUN);
	assert_int_equal(log_min_level, LOG_LEVEL_WARN);
	config_free(&spec, &c);
	clear_env(NULL);
}

static void test_size_parse(void **state)
{
	long long v;
	assert_int_equal(config_parse_size("1048576", &v), RFX_OK);
	assert_int_equal(v, 1048576);
	assert_int_equal(config_parse_size("512KiB", &v), RFX_OK);
	assert_int_equal(v, 524288);
	assert_int_equal(config_parse_size("1.5MiB", &v), RFX_OK);
	assert_int_equal(v, 1572864);
	assert_int_equal(config_parse_size("2GB", &v), RFX_OK);
	assert_int_equal(v, 2000000000LL);
	assert_int_equal(config_parse_size("4k", &v), RFX_OK);
	assert_int_equal(v, 4096);
	assert_int_not_equal(config_parse_size("1.5", &v), RFX_OK);
	assert_int_not_equal(config_parse_size("-1", &v), RFX_OK);
	assert_int_not_equal(config_parse_size("1XB", &v), RFX_OK);
	assert_int_not_equal(config_parse_size("", &v), RFX_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_defaults, clear_env), cmocka_unit_test_setup(test_file, clear_env),
	    cmocka_unit_test_setup(test_env, clear_env),      cmocka_unit_test_setup(test_errors, clear_env),
	    cmocka_unit_test_setup(test_cli, clear_env),      cmocka_unit_test(test_size_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
