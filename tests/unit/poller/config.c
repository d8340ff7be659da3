/* config.c -- unit tests for the poller's `feeds` parser: defaults, per-type keys, and errors that name the
 * key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poller_config.h"

static yt_node **docs;
static size_t ndocs;

static const yt_node *yaml(const char *text)
{
	yt_error e;
	yt_free_docs(docs, ndocs);
	docs = NULL;
	ndocs = 0;
	assert_int_equal(yt_parse(text, strlen(text), &docs, &ndocs, &e), RFX_OK);
	assert_true(ndocs == 1);
	return docs[0];
}

static rfx_err parse(const char *text, poller_feeds *fs, char *err, size_t errlen)
{
	memset(fs, 0, sizeof(*fs));
	err[0] = 0;
	return poller_config_parse_feeds(yaml(text), fs, err, errlen);
}

static void expect_error(const char *text, const char *needle)
{
	poller_feeds fs;
	char err[512];
	assert_int_equal(parse(text, &fs, err, sizeof(err)), RFX_ERR_INVAL);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
	assert_int_equal(fs.n, 0);
}

static void test_defaults_per_type(void **state)
{
	poller_feeds fs;
	char err[512];
	assert_int_equal(
	    parse("- {name: dt, type: dynatrace, url: 'https://x.live.dynatrace.com', token_file: /t}\n"
		  "- {name: og, type: opsgenie, url: 'https://api.opsgenie.com', token_file: /t,"
		  "   interval: 2m, timeout: 3s, page_size: 50}\n"
		  "- {name: am, type: alertmanager, url: 'http://am:9093', query: '{a=\"b\"}'}\n"
		  "- {name: ic, type: icinga, url: 'https://icinga:5665', username: reflex, token_file: /p,"
		  "   objects: [services]}\n",
		  &fs, err, sizeof(err)),
	    RFX_OK);
	assert_int_equal(fs.n, 4);
	feed_cfg *dt = &fs.v[0], *og = &fs.v[1], *am = &fs.v[2], *ic = &fs.v[3];
	assert_ptr_equal(dt->ft, &feed_dynatrace);
	assert_string_equal(dt->query, "status(\"open\")");
	assert_int_equal(dt->interval_ms, 60000);
	assert_int_equal(dt->timeout_ms, 10000);
	assert_int_equal(dt->max_response, 16 << 20);
	assert_true(dt->enabled);
	assert_string_equal(og->query, "status:open");
	assert_int_equal(og->interval_ms, 120000);
	assert_int_equal(og->timeout_ms, 3000);
	assert_null(am->token_file);
	assert_string_equal(am->query, "{a=\"b\"}");
	assert_ptr_equal(ic->ft, &feed_icinga);
	poller_config_free_feeds(&fs);
	assert_null(fs.v);
}

static void test_errors_name_the_key(void **state)
{
	expect_error("- {name: a, type: nagios, url: 'http://x'}", "unknown feed type 'nagios'");
	expect_error("- {name: a, url: 'http://x'}", "missing key 'type'");
	expect_error("- {name: a, type: alertmanager}", "url: missing");
	expect_error("- {name: a, type: alertmanager, url: 'ftp://x'}", "url: must start with http");
	expect_error("- {type: alertmanager, url: 'http://x'}", "name: missing");
	expect_error("- {name: 'a b', type: alertmanager, url: 'http://x'}", "name: must be");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', intervall: 5s}",
		     "unknown key 'intervall'");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', interval: soon}",
		     "interval: expected a duration");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', interval: 10ms}",
		     "interval: 10 is out of range");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', enabled: maybe}",
		     "enabled: expected true");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', max_response: lots}", "max_response");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', url2: 1}", "unknown key 'url2'");
	/* a key of another type is unknown to this one */
	expect_error("- {name: a, type: alertmanager, url: 'http://x', page_size: 10}",
		     "unknown key 'page_size'");
	expect_error("- {name: a, type: dynatrace, url: 'http://x', token_file: /t, page_size: 501}",
		     "page_size");
	expect_error("- {name: a, type: dynatrace, url: 'http://x'}", "token_file: required");
	expect_error("- {name: a, type: icinga, url: 'https://x', token_file: /t}", "username: required");
	expect_error(
	    "- {name: a, type: icinga, url: 'https://x', username: u, token_file: /t, objects: [vms]}",
	    "'vms' is neither");
	expect_error("- {name: a, type: alertmanager, url: 'http://x'}\n- {name: a, type: alertmanager, url: "
		     "'http://y'}",
		     "name 'a' is used twice");
	expect_error("- {name: a, type: alertmanager, url: 'http://x', backoff_min: 10m, backoff_max: 1m}",
		     "backoff_min is larger");
	expect_error("{name: a}", "expected a list of feeds");
	expect_error("- [a, b]", "a feed must be a mapping");
}

static void test_strlist_and_size(void **state)
{
	poller_feeds fs;
	char err[512];
	long long v = 0;
	assert_int_equal(parse("- {name: ic, type: icinga, url: 'https://i', username: u, token_file: /p,"
			       "   objects: 'hosts, services', max_response: 64MiB}",
			       &fs, err, sizeof(err)),
			 RFX_OK);
	assert_int_equal(fs.v[0].max_response, 64LL << 20);
	poller_config_free_feeds(&fs);
	assert_int_equal(poller_config_parse_size("512KiB", &v), RFX_OK);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(poller_config_parse_size("2048", &v), RFX_OK);
	assert_int_equal(v, 2048);
	assert_int_equal(poller_config_parse_size("1 GB", &v), RFX_OK);
	assert_int_equal(v, 1000000000LL);
	assert_int_equal(poller_config_parse_size("12 parsecs", &v), RFX_ERR_INVAL);
	assert_int_equal(poller_config_parse_size("-1", &v), RFX_ERR_INVAL);
}

static void test_null_is_empty(void **state)
{
	poller_feeds fs;
	char err[512];
	memset(&fs, 0, sizeof(fs));
	const yt_node *n = yt_map_get(yaml("feeds: ~"), "feeds");
	assert_non_null(n);
	assert_int_equal(poller_config_parse_feeds(n, &fs, err, sizeof(err)), RFX_OK);
	assert_int_equal(fs.n, 0);
}

static void test_spec_has_the_documented_keys(void **state)
{
	static const char *const keys[] = {"classifier_url", "classifier_token_file", "state_dir",
					   "feeds",	     "outbox_max_events",     "outbox_max_bytes"};
	for (size_t i = 0; i < RFX_ARRAY_LEN(keys); i++) {
		bool found = false;
		for (const cfg_opt *o = poller_config_spec.opts; o->key; o++)
			found |= strcmp(o->key, keys[i]) == 0;
		if (!found)
			fail_msg("key %s missing", keys[i]);
	}
	assert_int_equal(poller_config_spec.default_port, 8082);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_per_type),
	    cmocka_unit_test(test_errors_name_the_key),
	    cmocka_unit_test(test_strlist_and_size),
	    cmocka_unit_test(test_null_is_empty),
	    cmocka_unit_test(test_spec_has_the_documented_keys),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	yt_free_docs(docs, ndocs);
	return rc;
}
