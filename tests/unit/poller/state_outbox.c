/* state_outbox.c -- unit tests for the feed state file and the outbox: persistence, the commit point, crash
 * cuts, bounds, order and compaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbox.h"
#include "state.h"

static char *tmpdir(void)
{
	char *d = rfx_strdup("/tmp/rfx-poller-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmtree(char *dir)
{
	assert_int_equal(tu_rmtree(dir), 0);
	free(dir);
}

static event *mk_event(const char *sid, const char *sev, const char *title)
{
	event *e = event_new(SRC_DYNATRACE);
	event_set(&e->source_id, sid);
	event_set(&e->severity, sev);
	event_set(&e->title, title);
	event_set(&e->entity, "web-01");
	event_set(&e->event_type, "CPU_SATURATED");
	event_tag_set(e, "env", "prod");
	return e;
}

/* ---- state ---- */

static void test_digest_ignores_title(void **st)
{
	event *a = mk_event("P-1", "ERROR", "CPU 91%"), *b = mk_event("P-1", "ERROR", "CPU 97%");
	event *c = mk_event("P-1", "AVAILABILITY", "CPU 91%");
	assert_true(state_digest(a) == state_digest(b));
	assert_true(state_digest(a) != state_digest(c));
	event_tag_set(b, "env", "staging");
	assert_true(state_digest(a) != state_digest(b));
	b->state = EV_RESOLVED;
	assert_true(state_digest(a) != state_digest(b));
	char *j = state_event_json(a);
	assert_null(strstr(j, "\"id\""));
	assert_non_null(strstr(j, "\"source_id\":\"P-1\""));
	free(j);
	event_free(a);
	event_free(b);
	event_free(c);
}

static void test_state_roundtrip(void **st)
{
	char *dir = tmpdir(), err[512] = "";
	feed_state s;
	assert_int_equal(state_open(&s, dir, "dt", "dynatrace", err, sizeof(err)), RFX_OK);
	assert_int_equal(s.n, 0);
	for (int i = 0; i < 1000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "P-%d", i);
		state_entry *e = state_put(&s, id);
		e->digest = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
		e->json = rfx_asprintf("{\"source_id\":\"%s\",\"title\":\"t\\\"q\\n\"}", id);
		if (i % 2)
			e->rev = rfx_asprintf("2026-11-22T01:0%d:00Z", i % 10);
	}
	state_remove(&s, "P-7");
	state_remove(&s, "missing");
	snprintf(s.commit, sizeof(s.commit), "01JD3Z0000000000000000000A");
	assert_int_equal(state_save(&s, err, sizeof(err)), RFX_OK);
	state_close(&s);

	char commit[27];
	assert_int_equal(state_read_commit(dir, "dt", commit), RFX_OK);
	assert_string_equal(commit, "01JD3Z0000000000000000000A");
	assert_int_equal(state_read_commit(dir, "nope", commit), RFX_OK);
	assert_string_equal(commit, "");

	assert_int_equal(state_open(&s, dir, "dt", "dynatrace", err, sizeof(err)), RFX_OK);
	assert_int_equal(s.n, 999);
	assert_null(state_get(&s, "P-7"));
	state_entry *e = state_get(&s, "P-501");
	assert_non_null(e);
	assert_true(e->digest == 501ULL * 0x9e3779b97f4a7c15ULL);
	assert_string_equal(e->rev, "2026-11-22T01:01:00Z");
	assert_string_equal(e->json, "{\"source_id\":\"P-501\",\"title\":\"t\\\"q\\n\"}");
	assert_null(state_get(&s, "P-500")->rev);
	assert_string_equal(s.commit, "01JD3Z0000000000000000000A");
	state_close(&s);

	/* A state written for another feed type is set aside, not misread. */
	assert_int_equal(state_open(&s, dir, "dt", "opsgenie", err, sizeof(err)), RFX_OK);
	assert_int_equal(s.n, 0);
	state_close(&s);
	char *old = rfx_asprintf("%s/dt.state.old", dir);
	struct stat sb;
	assert_int_equal(stat(old, &sb), 0);
	free(old);

	/* A damaged state file is an error, not an empty state (which would forward everything again). */
	char *path = rfx_asprintf("%s/bad.state", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"reflex_poller_state\":1,\"feed\":\"bad\",\"type\":\"icinga\",\"commit\":\"\"}\nnot json\n",
	      f);
	fclose(f);
	assert_int_equal(state_open(&s, dir, "bad", "icinga", err, sizeof(err)), RFX_ERR_PARSE);
	assert_non_null(strstr(err, "line 2"));
	state_close(&s);
	free(path);
	rmtree(dir);
}

/* ---- outbox ---- */

typedef struct commit_ctx {
	char dir[128];
	char feed[32];
	rfx_err fail;
	char last[27];
} commit_ctx;

/* Stands in for a feed's state write: records the commit id in <dir>/<feed>.state like state_save does. */
static rfx_err write_commit(void *ud, const char *commit)
{
	commit_ctx *c = ud;
	if (c->fail)
		return c->fail;
	feed_state s;
	char err[256];
	assert_int_equal(state_open(&s, c->dir, c->feed, "alertmanager", err, sizeof(err)), RFX_OK);
	snprintf(s.commit, sizeof(s.commit), "%s", commit);
	assert_int_equal(state_save(&s, err, sizeof(err)), RFX_OK);
	state_close(&s);
	snprintf(c->last, sizeof(c->last), "%s", commit);
	return RFX_OK;
}

static rfx_err commit_of(const char *feed, char out[27], void *ud)
{
	return state_read_commit((const char *)ud, feed, out);
}

static outbox *open_ob(const char *dir, long long max_events, long long max_bytes)
{
	outbox *ob = NULL;
	char err[512] = "";
	outbox_opts o = {.dir = dir,
			 .max_events = max_events,
			 .max_bytes = max_bytes,
			 .commit_of = commit_of,
			 .ud = (void *)dir};
	assert_int_equal(outbox_open(&o, &ob, err, sizeof(err)), RFX_OK);
	return ob;
}

static FILE *stage_of(int first, int n, size_t *bytes)
{
	FILE *f = tmpfile();
	*bytes = 0;
	for (int i = first; i < first + n; i++)
		*bytes += (size_t)fprintf(f, "{\"source_id\":\"p%d\",\"title\":\"problem %d\"}\n", i, i);
	return f;
}

static rfx_err commit_range(outbox *ob, commit_ctx *c, int first, int n)
{
	size_t bytes;
	char err[512];
	FILE *f = stage_of(first, n, &bytes);
	rfx_err rc = outbox_commit(ob, c->feed, f, (size_t)n, bytes, write_commit, c, err, sizeof(err));
	fclose(f);
	return rc;
}

static void expect_next(outbox *ob, int i, bool ack)
{
	outbox_record rec;
	char want[64];
	assert_int_equal(outbox_peek(ob, 100, &rec), RFX_OK);
	snprintf(want, sizeof(want), "{\"source_id\":\"p%d\",\"title\":\"problem %d\"}", i, i);
	assert_string_equal(rec.json, want);
	if (ack)
		assert_int_equal(outbox_ack(ob, &rec), RFX_OK);
	outbox_record_free(&rec);
}

static void expect_empty(outbox *ob)
{
	outbox_record rec;
	assert_int_equal(outbox_peek(ob, 20, &rec), RFX_ERR_NOTFOUND);
}

static void test_outbox_order_and_persistence(void **st)
{
	char *dir = tmpdir();
	commit_ctx a = {0}, b = {0};
	snprintf(a.dir, sizeof(a.dir), "%s", dir);
	snprintf(a.feed, sizeof(a.feed), "feed-a");
	b = a;
	snprintf(b.feed, sizeof(b.feed), "feed-b");
	outbox *ob = open_ob(dir, 1000, 1 << 20);
	expect_empty(ob);
	assert_int_equal(commit_range(ob, &a, 0, 3), RFX_OK);
	assert_int_equal(commit_range(ob, &b, 3, 2), RFX_OK);
	assert_int_equal(outbox_pending(ob), 5);
	expect_next(ob, 0, true);
	expect_next(ob, 1, false); /* peeked, not acknowledged: comes again */
	expect_next(ob, 1, true);
	outbox_close(ob);

	/* After a restart delivery resumes where it was, in order, nothing twice. */
	ob = open_ob(dir, 1000, 1 << 20);
	assert_int_equal(outbox_pending(ob), 3);
	outbox_record rec;
	assert_int_equal(outbox_peek(ob, 100, &rec), RFX_OK);
	assert_string_equal(rec.feed, "feed-a");
	outbox_record_free(&rec);
	expect_next(ob, 2, true);
	expect_next(ob, 3, true);
	expect_next(ob, 4, true);
	expect_empty(ob);
	assert_int_equal(outbox_pending(ob), 0);
	outbox_close(ob);
	rmtree(dir);
}

static void test_outbox_commit_point(void **st)
{
	char *dir = tmpdir();
	commit_ctx a = {0};
	snprintf(a.dir, sizeof(a.dir), "%s", dir);
	snprintf(a.feed, sizeof(a.feed), "feed-a");
	outbox *ob = open_ob(dir, 1000, 1 << 20);
	assert_int_equal(commit_range(ob, &a, 0, 2), RFX_OK);

	/* The state write fails: the append is undone and nothing of it is ever delivered. */
	a.fail = RFX_ERR_IO;
	assert_int_equal(commit_range(ob, &a, 2, 3), RFX_ERR_IO);
	assert_int_equal(outbox_pending(ob), 2);
	a.fail = RFX_OK;
	assert_int_equal(commit_range(ob, &a, 5, 1), RFX_OK);
	expect_next(ob, 0, true);
	expect_next(ob, 1, true);
	expect_next(ob, 5, true);
	expect_empty(ob);
	assert_int_equal(commit_range(ob, &a, 6, 2), RFX_OK);
	outbox_close(ob);

	/* A crash between the append and the state write: the log holds a commit the state never recorded.
	 * Simulate by appending a commit whose id the state file does not have. */
	char *log = rfx_asprintf("%s/outbox.log", dir);
	FILE *f = fopen(log, "a");
	fputs("R 01JD3ZZZZZZZZZZZZZZZZZZZZZ feed-a {\"source_id\":\"p8\",\"title\":\"problem 8\"}\n", f);
	fputs("R 01JD3ZZZZZZZZZZZZZZZZZZZZZ feed-a {\"source_id\":\"p9\",\"title\":\"problem 9\"}\n", f);
	fputs("R 01JD3ZZZZZZZZZZZZZZZZZZZZZ feed-a {\"source_id\":\"p10\",\"tit", f); /* torn */
	fclose(f);
	ob = open_ob(dir, 1000, 1 << 20);
	assert_int_equal(outbox_pending(ob), 2);
	expect_next(ob, 6, true);
	expect_next(ob, 7, true);
	expect_empty(ob);
	outbox_close(ob);
	free(log);
	rmtree(dir);
}

static void test_outbox_bounds(void **st)
{
	char *dir = tmpdir();
	commit_ctx a = {0};
	snprintf(a.dir, sizeof(a.dir), "%s", dir);
	snprintf(a.feed, sizeof(a.feed), "f");
	outbox *ob = open_ob(dir, 5, 1 << 20);
	assert_int_equal(commit_range(ob, &a, 0, 4), RFX_OK);
	assert_int_equal(commit_range(ob, &a, 4, 2), RFX_ERR_LIMIT); /* all or nothing */
	assert_int_equal(outbox_pending(ob), 4);
	expect_next(ob, 0, true);
	assert_int_equal(commit_range(ob, &a, 4, 2), RFX_OK);
	outbox_close(ob);
	rmtree(dir);

	dir = tmpdir();
	snprintf(a.dir, sizeof(a.dir), "%s", dir);
	ob = open_ob(dir, 100000, 4096);
	assert_int_equal(commit_range(ob, &a, 0, 40), RFX_OK);
	assert_int_equal(commit_range(ob, &a, 40, 40), RFX_ERR_LIMIT);
	outbox_close(ob);
	rmtree(dir);
}

static void test_outbox_compaction(void **st)
{
	char *dir = tmpdir();
	commit_ctx a = {0};
	struct stat sb;
	snprintf(a.dir, sizeof(a.dir), "%s", dir);
	snprintf(a.feed, sizeof(a.feed), "f");
	char *log = rfx_asprintf("%s/outbox.log", dir);
	outbox *ob = open_ob(dir, 100000, 64 << 20);
	/* Enough delivered records to pass the compaction threshold, then one more waiting. */
	assert_int_equal(commit_range(ob, &a, 0, 3000), RFX_OK);
	for (int i = 0; i < 3000; i++)
		expect_next(ob, i, true);
	assert_int_equal(stat(log, &sb), 0);
	assert_true(sb.st_size < 100); /* drained: rewritten down to its header */
	assert_int_equal(commit_range(ob, &a, 3000, 1), RFX_OK);
	outbox_close(ob);
	ob = open_ob(dir, 100000, 64 << 20);
	expect_next(ob, 3000, true);
	expect_empty(ob);
	outbox_close(ob);
	free(log);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_digest_ignores_title),
	    cmocka_unit_test(test_state_roundtrip),
	    cmocka_unit_test(test_outbox_order_and_persistence),
	    cmocka_unit_test(test_outbox_commit_point),
	    cmocka_unit_test(test_outbox_bounds),
	    cmocka_unit_test(test_outbox_compaction),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
