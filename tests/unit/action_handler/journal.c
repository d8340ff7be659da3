/* journal.c -- unit tests for the durable action journal: append, replay, torn tails, compaction, locking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../action_handler/journal.h"

static char dir[] = "/tmp/rfx-journal-XXXXXX";

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	return tu_rmtree(dir);
}

typedef struct seen {
	char recs[64][64];
	size_t n;
} seen;

static void collect(const char *rec, size_t len, void *ud)
{
	seen *s = ud;
	assert_int_equal(strlen(rec), len);
	if (s->n < 64)
		snprintf(s->recs[s->n++], 64, "%s", rec);
}

static seen replay(journal *j, size_t *skipped)
{
	seen s = {0};
	assert_int_equal(journal_replay(j, collect, &s, skipped), RFX_OK);
	return s;
}

static void test_append_replay(void **state)
{
	char *sub = rfx_asprintf("%s/a", dir);
	journal *j;
	char err[256];
	uint64_t seq;
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	assert_int_equal(journal_append(j, "{\"n\":1}", 7, &seq), RFX_OK);
	assert_int_equal(journal_append(j, "{\"n\":2}", 7, &seq), RFX_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(journal_sync(j, seq), RFX_OK);
	assert_int_equal(journal_append(j, "a\nb", 3, &seq),
			 RFX_ERR_INVAL); /* a newline would split a record */
	assert_int_equal(journal_bytes(j), 16);
	/* Another process (here: another open) cannot take the same spool. */
	journal *j2;
	assert_int_equal(journal_open(sub, &j2, err, sizeof(err)), RFX_ERR_EXISTS);
	journal_close(j);
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	size_t skipped;
	seen s = replay(j, &skipped);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.recs[1], "{\"n\":2}");
	assert_int_equal(skipped, 0);
	journal_close(j);
	free(sub);
}

static void test_torn_tail_and_compaction(void **state)
{
	char *sub = rfx_asprintf("%s/b", dir);
	char *path = rfx_asprintf("%s/" JOURNAL_FILE, sub);
	journal *j;
	char err[256];
	uint64_t seq;
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	journal_append(j, "one", 3, &seq);
	journal_close(j);
	FILE *f = fopen(path, "a");
	fputs("half-written", f); /* no newline: a write cut off by a crash */
	fclose(f);
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	size_t skipped;
	seen s = replay(j, &skipped);
	assert_int_equal(s.n, 1);
	assert_int_equal(skipped, 1);
	/* Compaction replaces everything, the torn tail included. */
	assert_int_equal(journal_rewrite_begin(j), RFX_OK);
	assert_int_equal(journal_rewrite_add(j, "two", 3), RFX_OK);
	assert_int_equal(journal_rewrite_commit(j), RFX_OK);
	assert_int_equal(journal_append(j, "three", 5, &seq), RFX_OK);
	assert_int_equal(journal_sync(j, seq), RFX_OK);
	s = replay(j, &skipped);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.recs[0], "two");
	assert_string_equal(s.recs[1], "three");
	assert_int_equal(skipped, 0);
	journal_close(j);
	free(path);
	free(sub);
}

static void test_pause_flag(void **state)
{
	char *sub = rfx_asprintf("%s/c", dir);
	journal *j;
	char err[256];
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	assert_false(journal_paused(j));
	assert_int_equal(journal_set_paused(j, true), RFX_OK);
	journal_close(j);
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	assert_true(journal_paused(j));
	assert_int_equal(journal_set_paused(j, false), RFX_OK);
	assert_false(journal_paused(j));
	journal_close(j);
	free(sub);
}

typedef struct writer {
	journal *j;
	int id;
} writer;

static void *write_many(void *arg)
{
	writer *w = arg;
	char rec[32];
	for (int i = 0; i < 200; i++) {
		uint64_t seq;
		int n = snprintf(rec, sizeof(rec), "w%d-%d", w->id, i);
		assert_int_equal(journal_append(w->j, rec, (size_t)n, &seq), RFX_OK);
		assert_int_equal(journal_sync(w->j, seq), RFX_OK);
	}
	return NULL;
}

static size_t count_rec;
static void count(const char *rec, size_t len, void *ud)
{
	(void)rec;
	(void)len;
	(void)ud;
	count_rec++;
}

static void test_concurrent_group_commit(void **state)
{
	char *sub = rfx_asprintf("%s/d", dir);
	journal *j;
	char err[256];
	assert_int_equal(journal_open(sub, &j, err, sizeof(err)), RFX_OK);
	pthread_t t[4];
	writer w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (writer){j, i};
		pthread_create(&t[i], NULL, write_many, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	size_t skipped;
	count_rec = 0;
	assert_int_equal(journal_replay(j, count, NULL, &skipped), RFX_OK);
	assert_int_equal(count_rec, 800);
	assert_int_equal(skipped, 0);
	journal_close(j);
	free(sub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_replay),
	    cmocka_unit_test(test_torn_tail_and_compaction),
	    cmocka_unit_test(test_pause_flag),
	    cmocka_unit_test(test_concurrent_group_commit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
