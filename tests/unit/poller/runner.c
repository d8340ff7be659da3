/* runner.c -- unit tests for a feed's poll cycle: what is forwarded (new, changed, resolved, gone) and what
 * is not (unchanged, suppressed, unknown closed problems, absences after an incomplete poll), across
 * restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runner.h"

/* ---- a scripted feed type: each poll reports the problems in `script` (pages split by page_size) ---- */

typedef struct scripted {
	const char *id;
	const char *severity;
	const char *title;
	event_state state;
	bool suppressed;
	bool unchanged; /* reported with rev only, no event */
	const char *rev;
} scripted;

static scripted script[64];
static size_t nscript;
static size_t page_size = 1000;
static rfx_err poll_result;
static bool poll_incomplete;
static size_t pages_seen;

static void set_script(const scripted *s, size_t n)
{
	if (n)
		memcpy(script, s, n * sizeof(*s));
	nscript = n;
}

static rfx_err scripted_poll(feed_poll *p)
{
	feed_page pg;
	feed_page_init(&pg);
	for (size_t i = 0; i < nscript; i++) {
		const scripted *s = &script[i];
		feed_item *it = feed_page_add(&pg, s->id);
		it->suppressed = s->suppressed;
		it->rev = rfx_strdup(s->rev);
		if (!s->unchanged) {
			it->ev = event_new(SRC_DYNATRACE);
			event_set(&it->ev->source_id, s->id);
			event_set(&it->ev->severity, s->severity ? s->severity : "ERROR");
			event_set(&it->ev->title, s->title ? s->title : "a problem");
			event_set(&it->ev->entity, "web-01");
			event_set(&it->ev->event_type, "CPU_SATURATED");
			it->ev->state = s->state;
		}
		if (pg.n == page_size || i + 1 == nscript) {
			pages_seen++;
			rfx_err rc = p->on_page(p, &pg);
			feed_page_reset(&pg);
			if (rc)
				return rc;
		}
	}
	p->incomplete = poll_incomplete;
	if (poll_result)
		snprintf(p->err, sizeof(p->err), "scripted failure");
	return poll_result;
}

static const feed_type scripted_type = {.name = "scripted", .poll = scripted_poll};

/* ---- fixture ---- */

typedef struct fx {
	char *dir;
	feed_cfg cfg;
	outbox *ob;
	runner r;
	atomic_bool stop;
} fx;

static rfx_err commit_of(const char *feed, char out[27], void *ud)
{
	return state_read_commit((const char *)ud, feed, out);
}

static void fx_open(fx *f)
{
	char err[512] = "";
	outbox_opts o = {
	    .dir = f->dir, .max_events = 20, .max_bytes = 1 << 20, .commit_of = commit_of, .ud = f->dir};
	assert_int_equal(outbox_open(&o, &f->ob, err, sizeof(err)), RFX_OK);
	assert_int_equal(runner_init(&f->r, &f->cfg, f->dir, f->ob, &f->stop, err, sizeof(err)), RFX_OK);
}

static void fx_close(fx *f)
{
	runner_free(&f->r);
	outbox_close(f->ob);
}

static int setup(void **state)
{
	fx *f = rfx_calloc(1, sizeof(*f));
	f->dir = rfx_strdup("/tmp/rfx-runner-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->cfg.name = "dt";
	f->cfg.type = "scripted";
	f->cfg.ft = &scripted_type;
	f->cfg.url = "http://127.0.0.1:1";
	f->cfg.interval_ms = 1000;
	f->cfg.backoff_min_ms = 200;
	f->cfg.backoff_max_ms = 5000;
	f->cfg.max_problems = 50;
	nscript = 0;
	page_size = 1000;
	poll_result = RFX_OK;
	poll_incomplete = false;
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	fx_close(f);
	assert_int_equal(tu_rmtree(f->dir), 0);
	free(f->dir);
	free(f);
	return 0;
}

/* Takes everything waiting in the outbox as "source_id:state" words joined by spaces. */
static char *drain(fx *f)
{
	static char out[4096];
	outbox_record rec;
	out[0] = 0;
	while (outbox_peek(f->ob, 10, &rec) == RFX_OK) {
		cJSON *j = cJSON_Parse(rec.json);
		assert_non_null(j);
		const char *sid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "source_id"));
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "state"));
		assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")));
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s:%s", out[0] ? " " : "", sid, st);
		cJSON_Delete(j);
		assert_int_equal(outbox_ack(f->ob, &rec), RFX_OK);
		outbox_record_free(&rec);
	}
	return out;
}

static void test_new_changed_unchanged(void **state)
{
	fx *f = *state;
	scripted s1[] = {{.id = "P-1"}, {.id = "P-2", .severity = "AVAILABILITY"}};
	set_script(s1, 2);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:open P-2:open");
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "");
	/* a new title alone is not a change; a new severity is */
	scripted s2[] = {{.id = "P-1", .title = "CPU at 99%"}, {.id = "P-2", .severity = "ERROR"}};
	set_script(s2, 2);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-2:open");
}

static void test_resolved_and_gone(void **state)
{
	fx *f = *state;
	scripted s1[] = {{.id = "P-1"}, {.id = "P-2"}, {.id = "P-3"}};
	set_script(s1, 3);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:open P-2:open P-3:open");
	/* P-1 reported closed, P-2 no longer reported, an unknown closed problem ignored */
	scripted s2[] = {
	    {.id = "P-1", .state = EV_RESOLVED}, {.id = "P-3"}, {.id = "P-9", .state = EV_RESOLVED}};
	set_script(s2, 3);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:resolved P-2:resolved");
	assert_int_equal(f->r.st.n, 1);
	/* a problem that comes back is new again */
	scripted s3[] = {{.id = "P-2"}, {.id = "P-3"}};
	set_script(s3, 2);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-2:open");
}

static void test_suppressed_and_incomplete(void **state)
{
	fx *f = *state;
	scripted s1[] = {{.id = "P-1"}, {.id = "P-2", .suppressed = true}};
	set_script(s1, 2);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:open"); /* silenced from the start: never forwarded */
	scripted s2[] = {{.id = "P-1", .suppressed = true}, {.id = "P-2", .suppressed = true}};
	set_script(s2, 2);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), ""); /* silenced later: not resolved either */
	/* an incomplete poll proves nothing about absent problems */
	set_script(NULL, 0);
	poll_incomplete = true;
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "");
	poll_incomplete = false;
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:resolved");
}

static void test_rev_unchanged_items(void **state)
{
	fx *f = *state;
	scripted s1[] = {{.id = "A-1", .rev = "r1"}};
	set_script(s1, 1);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "A-1:open");
	assert_string_equal(state_get(&f->r.st, "A-1")->rev, "r1");
	scripted s2[] = {{.id = "A-1", .rev = "r1", .unchanged = true},
			 {.id = "A-2", .rev = "r1", .unchanged = true}};
	set_script(s2, 2);
	/* A-2 claims to be unchanged yet was never seen: absences are not trusted this time, A-1 stays */
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "");
	set_script(NULL, 0);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "A-1:resolved");
}

static void test_failures_commit_nothing(void **state)
{
	fx *f = *state;
	scripted s1[] = {{.id = "P-1"}, {.id = "P-2"}, {.id = "P-3"}};
	set_script(s1, 3);
	page_size = 2;
	poll_result = RFX_ERR_UNAVAILABLE; /* fails after both pages were handed over */
	assert_int_equal(runner_cycle(&f->r), RFX_ERR_UNAVAILABLE);
	assert_string_equal(f->r.err, "scripted failure");
	assert_int_equal(f->r.failures, 1);
	assert_string_equal(drain(f), "");
	assert_int_equal(f->r.st.n, 0); /* reloaded: nothing half-remembered */
	poll_result = RFX_OK;
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_int_equal(f->r.failures, 0);
	assert_string_equal(drain(f), "P-1:open P-2:open P-3:open");
}

static void test_outbox_full_retries_later(void **state)
{
	fx *f = *state;
	scripted s[25];
	char ids[25][8];
	for (int i = 0; i < 25; i++) {
		snprintf(ids[i], sizeof(ids[i]), "P-%d", i);
		s[i] = (scripted){.id = ids[i]};
	}
	set_script(s, 25); /* the outbox holds 20 */
	assert_int_equal(runner_cycle(&f->r), RFX_ERR_LIMIT);
	assert_non_null(strstr(f->r.err, "outbox full"));
	assert_int_equal(f->r.st.n, 0);
	set_script(s, 15);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	drain(f);
	set_script(s, 25);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-15:open P-16:open P-17:open P-18:open P-19:open P-20:open P-21:open "
				      "P-22:open P-23:open P-24:open");
}

static void test_max_problems(void **state)
{
	fx *f = *state;
	scripted s[3] = {{.id = "P-1"}, {.id = "P-2"}, {.id = "P-3"}};
	f->cfg.max_problems = 2;
	set_script(s, 3);
	assert_int_equal(runner_cycle(&f->r), RFX_ERR_LIMIT);
	assert_non_null(strstr(f->r.err, "max_problems"));
	assert_string_equal(drain(f), "");
}

static void test_restart_forwards_nothing_twice(void **state)
{
	fx *f = *state;
	scripted s1[] = {{.id = "P-1"}, {.id = "P-2"}};
	set_script(s1, 2);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	fx_close(f);
	fx_open(f); /* restart before delivery: the two wait in the outbox, the state remembers them */
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:open P-2:open");
	scripted s2[] = {{.id = "P-2"}};
	set_script(s2, 1);
	fx_close(f);
	fx_open(f);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:resolved");
}

static void test_duplicates_within_a_poll(void **state)
{
	fx *f = *state;
	scripted s[] = {{.id = "P-1"}, {.id = "P-1"}, {.id = "P-2", .state = EV_OPEN}};
	page_size = 1;
	set_script(s, 3);
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "P-1:open P-2:open");
	assert_int_equal(runner_cycle(&f->r), RFX_OK);
	assert_string_equal(drain(f), "");
}

static void test_next_delay(void **state)
{
	feed_cfg c = {.interval_ms = 1000, .backoff_min_ms = 2000, .backoff_max_ms = 16000};
	assert_int_equal(runner_next_delay(&c, 0, -1), 1000);
	for (int i = 0; i < 50; i++) {
		int64_t d1 = runner_next_delay(&c, 1, -1), d3 = runner_next_delay(&c, 3, -1);
		int64_t d9 = runner_next_delay(&c, 9, -1);
		assert_true(d1 >= 1000 && d1 <= 2000);
		assert_true(d3 >= 4000 && d3 <= 8000);
		assert_true(d9 >= 8000 && d9 <= 16000);
	}
	assert_int_equal(runner_next_delay(&c, 1, 30000), 30000); /* Retry-After wins when longer */
	assert_int_equal(runner_next_delay(&c, 0, 5000), 5000);
	assert_int_equal(runner_next_delay(&c, 0, 99999999), 3600000);
}

int main(void)
{
	log_init("poller", LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_changed_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolved_and_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suppressed_and_incomplete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rev_unchanged_items, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures_commit_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_full_retries_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_problems, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_forwards_nothing_twice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates_within_a_poll, setup, teardown),
	    cmocka_unit_test(test_next_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
