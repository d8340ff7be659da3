/* writeback.c -- unit tests for write-back planning, the note text and URL encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../action_handler/request.h"
#include "../../../action_handler/writeback.h"
#include "log.h"

static char dir[] = "/tmp/rfx-wb-XXXXXX";
static char *og_sources[] = {"opsgenie", "alertmanager"};
static char *dt_sources[] = {"dynatrace"};

static cJSON *no_snapshot(void *ud, const char *id)
{
	return NULL;
}

static void no_record(void *ud, const char *id, size_t step, wb_state st, int attempts, const wb_attempt *att)
{
}

static const wb_hooks hooks = {no_snapshot, no_record};

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	log_init("test", LOG_LEVEL_ERROR);
	return 0;
}

static int teardown(void **state)
{
	return tu_rmtree(dir);
}

static char *secret(const char *name, const char *value)
{
	char *path = rfx_asprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s\n", value);
	fclose(f);
	return path;
}

static void config(ah_config *c, bool og, bool dt, bool hook)
{
	memset(c, 0, sizeof(*c));
	c->writeback_timeout = 1000;
	c->writeback_backoff = 10;
	c->opsgenie_sources = (cfg_strlist){og_sources, 2};
	c->dynatrace_sources = (cfg_strlist){dt_sources, 1};
	if (og) {
		c->opsgenie_url = "http://127.0.0.1:9/";
		c->opsgenie_api_key_file = secret("og", "k");
	}
	if (dt) {
		c->dynatrace_url = "http://127.0.0.1:9";
		c->dynatrace_token_file = secret("dt", "t");
	}
	if (hook)
		c->webhook_url = "http://127.0.0.1:9/hook";
}

static void config_free_paths(ah_config *c)
{
	free(c->opsgenie_api_key_file);
	free(c->dynatrace_token_file);
}

static action *mk(const char *source, const char *followups, action_state st)
{
	char body[1024];
	snprintf(body, sizeof(body),
		 "{\"action_id\": \"a1\", \"rule\": \"r\", \"type\": \"ssh\", \"command\": \"c\", "
		 "\"targets\": [\"h\"],"
		 " \"source\": \"%s\", \"source_id\": \"s-1\" %s}",
		 source, followups);
	action *a = NULL;
	request_error e;
	assert_int_equal(request_parse(body, strlen(body), &a, &e), RFX_OK);
	a->state = st;
	a->runs[0].state = st;
	return a;
}

static void plan_is(writeback *w, action *a, const char *want)
{
	char got[256] = "";
	writeback_plan(w, a);
	for (size_t i = 0; i < a->nwb; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s/%s", i ? " " : "", a->wb[i].sink,
			 a->wb[i].op);
	assert_string_equal(got, want);
	for (size_t i = 0; i < a->nwb; i++)
		assert_int_equal(a->wb[i].state, WB_PENDING);
	action_free(a);
}

#define FOLLOW                                                                                               \
	", \"on_success\": {\"note\": \"ok\", \"close\": true, \"team\": \"ops\"}, \"on_failure\": "         \
	"{\"note\": \"bad\", \"team\": \"oncall\"}"

static void test_plans(void **state)
{
	ah_config c;
	config(&c, true, true, false);
	writeback *w;
	char err[256];
	assert_int_equal(writeback_open(&c, &hooks, NULL, &w, err, sizeof(err)), RFX_OK);
	plan_is(w, mk("opsgenie", FOLLOW, ACTION_SUCCEEDED), "opsgenie/note opsgenie/team opsgenie/close");
	plan_is(w, mk("opsgenie", FOLLOW, ACTION_FAILED), "opsgenie/note opsgenie/team");
	plan_is(w, mk("opsgenie", FOLLOW, ACTION_INTERRUPTED), "opsgenie/note opsgenie/team");
	plan_is(w, mk("alertmanager", FOLLOW, ACTION_SUCCEEDED),
		"opsgenie/note opsgenie/team opsgenie/close");
	plan_is(w, mk("dynatrace", FOLLOW, ACTION_TIMEOUT), "dynatrace/comment");
	plan_is(w, mk("icinga", FOLLOW, ACTION_SUCCEEDED), ""); /* no sink for this source */
	plan_is(w, mk("opsgenie", "", ACTION_SUCCEEDED), "");	/* no follow-up asked for */
	plan_is(w, mk("opsgenie", FOLLOW, ACTION_REFUSED), "");
	plan_is(w, mk("opsgenie", FOLLOW, ACTION_DRY_RUN), "");
	writeback_close(w);
	config_free_paths(&c);

	config(&c, false, false, true);
	assert_int_equal(writeback_open(&c, &hooks, NULL, &w, err, sizeof(err)), RFX_OK);
	plan_is(w, mk("icinga", "", ACTION_FAILED), "webhook/post");
	plan_is(w, mk("opsgenie", FOLLOW, ACTION_SUCCEEDED), "webhook/post");
	writeback_close(w);
}

static void test_missing_secret_is_an_error(void **state)
{
	ah_config c;
	config(&c, true, false, false);
	free(c.opsgenie_api_key_file);
	c.opsgenie_api_key_file = rfx_asprintf("%s/does-not-exist", dir);
	writeback *w;
	char err[256];
	assert_int_not_equal(writeback_open(&c, &hooks, NULL, &w, err, sizeof(err)), RFX_OK);
	assert_non_null(strstr(err, "opsgenie_api_key_file"));
	config_free_paths(&c);
}

static void test_note_text(void **state)
{
	action *a = mk("opsgenie", FOLLOW, ACTION_FAILED);
	a->runs[0].exit_status = 3;
	a->runs[0].reason = rfx_strdup("exit_status");
	a->runs[0].started_ms = 1000;
	a->runs[0].finished_ms = 2500;
	a->runs[0].duration_ms = 1500;
	action_summarise(a);
	cJSON *j = action_to_json(a, ACTION_VIEW_FULL);
	char *note = writeback_note(j);
	assert_string_equal(
	    note, "bad\n\nReflex: rule r failed (action a1).\nh: failed (exit_status), exit 3, 1.5 s");
	free(note);
	cJSON_Delete(j);
	action_free(a);
}

static void test_urlencode(void **state)
{
	char *s = writeback_urlencode("-58973_17V2/ a?b&c=é");
	assert_string_equal(s, "-58973_17V2%2F%20a%3Fb%26c%3D%C3%A9");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plans),
	    cmocka_unit_test(test_missing_secret_is_an_error),
	    cmocka_unit_test(test_note_text),
	    cmocka_unit_test(test_urlencode),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
