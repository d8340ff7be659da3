/* spool.c -- unit tests for the on-disk FIFO spool: order, persistence, bounds, torn tails, prepend, locking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

static char *tmpdir(void)
{
	char *d = rfx_strdup("/tmp/rfx-spool-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmtree(char *dir)
{
	assert_int_equal(tu_rmtree(dir), 0);
	free(dir);
}

static spool *open_ok(const char *dir, const spool_opts *o)
{
	spool *sp = NULL;
	char err[256] = "";
	assert_int_equal(spool_open(dir, o, &sp, err, sizeof(err)), RFX_OK);
	assert_non_null(sp);
	return sp;
}

static void append_str(spool *sp, const char *s)
{
	assert_int_equal(spool_append(sp, s, strlen(s)), RFX_OK);
}

/* Reads one record and checks its content; returns its position for acknowledging. */
static spool_pos expect_read(spool *sp, const char *want)
{
	spool_rec r;
	assert_int_equal(spool_read(sp, &r), RFX_OK);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.data, want, r.len);
	spool_pos p = r.next;
	spool_rec_free(&r);
	return p;
}

static void expect_empty(spool *sp)
{
	spool_rec r;
	assert_int_equal(spool_read(sp, &r), RFX_ERR_NOTFOUND);
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

static void test_order_and_ack(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL);
	char rec[32];
	for (int i = 0; i < 10; i++) {
		snprintf(rec, sizeof(rec), "record-%d", i);
		append_str(sp, rec);
	}
	assert_int_equal(spool_count(sp), 10);
	assert_int_equal(spool_unread(sp), 10);
	spool_pos p = {0, 0};
	for (int i = 0; i < 4; i++) {
		snprintf(rec, sizeof(rec), "record-%d", i);
		p = expect_read(sp, rec);
	}
	assert_int_equal(spool_unread(sp), 6);
	assert_int_equal(spool_ack(sp, p), RFX_OK);
	assert_int_equal(spool_count(sp), 6);
	/* Acknowledging ahead of what was read is refused. */
	spool_pos ahead = {p.seg, p.off + 1000};
	assert_int_equal(spool_ack(sp, ahead), RFX_ERR_INVAL);
	for (int i = 4; i < 10; i++) {
		snprintf(rec, sizeof(rec), "record-%d", i);
		p = expect_read(sp, rec);
	}
	expect_empty(sp);
	assert_int_equal(spool_ack(sp, p), RFX_OK);
	assert_int_equal(spool_count(sp), 0);
	assert_int_equal(spool_bytes(sp), 0);
	spool_close(sp);
	rmtree(dir);
}

static void test_persist_across_reopen(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL);
	append_str(sp, "a");
	append_str(sp, "b");
	append_str(sp, "c");
	append_str(sp, "d");
	spool_pos p = expect_read(sp, "a");
	expect_read(sp, "b");
	assert_int_equal(spool_ack(sp, p), RFX_OK); /* a acknowledged, b read only */
	assert_int_equal(spool_sync(sp), RFX_OK);
	spool_close(sp);

	sp = open_ok(dir, NULL);
	assert_int_equal(spool_count(sp), 3);
	expect_read(sp, "b"); /* read but not acknowledged: delivered again */
	expect_read(sp, "c");
	expect_read(sp, "d");
	expect_empty(sp);
	append_str(sp, "e");
	expect_read(sp, "e");
	spool_close(sp);
	rmtree(dir);
}

static void test_partial_ack_and_rewind(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL);
	const char *recs[] = {"one", "two", "three", "four", "five"};
	spool_pos pos[5];
	for (int i = 0; i < 5; i++)
		append_str(sp, recs[i]);
	for (int i = 0; i < 5; i++)
		pos[i] = expect_read(sp, recs[i]);
	assert_int_equal(spool_ack(sp, pos[1]), RFX_OK);
	assert_int_equal(spool_count(sp), 3);
	spool_rewind(sp);
	assert_int_equal(spool_unread(sp), 3);
	expect_read(sp, "three");
	/* An old position is a no-op. */
	assert_int_equal(spool_ack(sp, pos[0]), RFX_OK);
	assert_int_equal(spool_count(sp), 3);
	spool_close(sp);
	rmtree(dir);
}

static void test_segments_roll_and_delete(void **state)
{
	char *dir = tmpdir();
	spool_opts o = {.max_bytes = 1 << 20, .segment_bytes = 256, .max_record = 1024};
	spool *sp = open_ok(dir, &o);
	char rec[64];
	for (int i = 0; i < 100; i++) {
		snprintf(rec, sizeof(rec), "segment-record-%03d-padding-padding", i);
		append_str(sp, rec);
	}
	assert_true(count_segments(dir) > 10);
	spool_pos p = {0, 0};
	for (int i = 0; i < 100; i++) {
		snprintf(rec, sizeof(rec), "segment-record-%03d-padding-padding", i);
		p = expect_read(sp, rec);
		if (i == 49)
			assert_int_equal(spool_ack(sp, p), RFX_OK);
	}
	assert_int_equal(spool_count(sp), 50);
	assert_int_equal(spool_ack(sp, p), RFX_OK);
	assert_int_equal(spool_count(sp), 0);
	assert_int_equal(count_segments(dir), 1);
	assert_true(spool_disk_bytes(sp) <= 256);
	assert_int_equal(spool_sync(sp), RFX_OK);
	spool_close(sp);
	sp = open_ok(dir, &o);
	assert_int_equal(spool_count(sp), 0);
	expect_empty(sp);
	spool_close(sp);
	rmtree(dir);
}

static void test_bounds(void **state)
{
	char *dir = tmpdir();
	spool_opts o = {.max_bytes = 200, .segment_bytes = 100, .max_record = 64};
	spool *sp = open_ok(dir, &o);
	char big[65];
	memset(big, 'x', sizeof(big));
	assert_int_equal(spool_append(sp, big, sizeof(big)), RFX_ERR_LIMIT);
	int n = 0;
	while (spool_append(sp, "0123456789012345678901234567890123456789", 40) == RFX_OK)
		n++;
	assert_int_equal(n, 4); /* 4 frames of 48 bytes fit in 200 */
	assert_true(spool_disk_bytes(sp) <= 200);
	spool_pos p = {0, 0};
	for (int i = 0; i < 2; i++)
		p = expect_read(sp, "0123456789012345678901234567890123456789");
	assert_int_equal(spool_ack(sp, p), RFX_OK); /* the first segment is freed */
	assert_int_equal(spool_append(sp, "after", 5), RFX_OK);
	spool_close(sp);
	rmtree(dir);
}

static char *last_segment_path(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *best = NULL;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".seg"))
			continue;
		if (!best || strcmp(e->d_name, best) > 0) {
			free(best);
			best = rfx_strdup(e->d_name);
		}
	}
	closedir(d);
	assert_non_null(best);
	char *path = rfx_asprintf("%s/%s", dir, best);
	free(best);
	return path;
}

static void test_torn_tail_cut(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL);
	append_str(sp, "alpha");
	append_str(sp, "beta");
	spool_close(sp);
	/* A crash in the middle of a write leaves half a frame. */
	char *seg = last_segment_path(dir);
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x20\x00\x00\x00\x01\x02", 6), 6);
	close(fd);
	sp = open_ok(dir, NULL);
	assert_int_equal(spool_count(sp), 2);
	assert_int_equal(spool_lost(sp), 1);
	append_str(sp, "gamma");
	expect_read(sp, "alpha");
	expect_read(sp, "beta");
	expect_read(sp, "gamma");
	expect_empty(sp);
	spool_close(sp);
	free(seg);
	rmtree(dir);
}

static void test_crc_mismatch(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL);
	append_str(sp, "first");
	append_str(sp, "second");
	append_str(sp, "third");
	spool_close(sp);
	char *seg = last_segment_path(dir);
	int fd = open(seg, O_WRONLY);
	assert_true(fd >= 0);
	/* Flip a byte inside "second" (frame 2 starts at 8 + 5). */
	assert_int_equal(pwrite(fd, "X", 1, 13 + 8 + 2), 1);
	close(fd);
	sp = open_ok(dir, NULL);
	assert_int_equal(spool_count(sp), 1);
	assert_int_equal(spool_lost(sp), 1);
	expect_read(sp, "first");
	expect_empty(sp);
	spool_close(sp);
	free(seg);
	rmtree(dir);
}

static void test_prepend(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL);
	append_str(sp, "a");
	append_str(sp, "b");
	append_str(sp, "c");
	spool_pos p = expect_read(sp, "a");
	assert_int_equal(spool_ack(sp, p), RFX_OK);
	expect_read(sp, "b");
	const char *front[] = {"x", "y"};
	size_t lens[] = {1, 1};
	assert_int_equal(spool_prepend(sp, front, lens, 2), RFX_OK);
	assert_int_equal(spool_count(sp), 4);
	append_str(sp, "d");
	expect_read(sp, "x");
	expect_read(sp, "y");
	expect_read(sp, "b");
	spool_close(sp);

	sp = open_ok(dir, NULL);
	assert_int_equal(spool_count(sp), 5);
	expect_read(sp, "x");
	expect_read(sp, "y");
	expect_read(sp, "b");
	expect_read(sp, "c");
	p = expect_read(sp, "d");
	expect_empty(sp);
	assert_int_equal(spool_ack(sp, p), RFX_OK);
	assert_int_equal(spool_count(sp), 0);
	spool_close(sp);
	rmtree(dir);
}

static void test_prepend_many_segments(void **state)
{
	char *dir = tmpdir();
	spool_opts o = {.max_bytes = 1 << 20, .segment_bytes = 64, .max_record = 64};
	spool *sp = open_ok(dir, &o);
	char rec[32];
	for (int i = 0; i < 20; i++) {
		snprintf(rec, sizeof(rec), "r%02d-xxxxxxxxxx", i);
		append_str(sp, rec);
	}
	spool_pos p = expect_read(sp, "r00-xxxxxxxxxx");
	assert_int_equal(spool_ack(sp, p), RFX_OK);
	const char *front[] = {"p1", "p2", "p3"};
	size_t lens[] = {2, 2, 2};
	assert_int_equal(spool_prepend(sp, front, lens, 3), RFX_OK);
	assert_int_equal(spool_count(sp), 22);
	spool_close(sp);
	sp = open_ok(dir, &o);
	assert_int_equal(spool_count(sp), 22);
	expect_read(sp, "p1");
	expect_read(sp, "p2");
	expect_read(sp, "p3");
	for (int i = 1; i < 20; i++) {
		snprintf(rec, sizeof(rec), "r%02d-xxxxxxxxxx", i);
		expect_read(sp, rec);
	}
	expect_empty(sp);
	spool_close(sp);
	rmtree(dir);
}

static void test_lock(void **state)
{
	char *dir = tmpdir();
	spool *sp = open_ok(dir, NULL), *other = NULL;
	char err[256] = "";
	assert_int_equal(spool_open(dir, NULL, &other, err, sizeof(err)), RFX_ERR_EXISTS);
	assert_null(other);
	assert_non_null(strstr(err, "in use"));
	spool_close(sp);
	sp = open_ok(dir, NULL);
	spool_close(sp);
	rmtree(dir);
}

struct writer {
	spool *sp;
	int id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char rec[64];
	for (int i = 0; i < 500; i++) {
		int n = snprintf(rec, sizeof(rec), "w%d-%04d", w->id, i);
		if (spool_append(w->sp, rec, (size_t)n))
			return (void *)1;
		if (i % 50 == 0 && spool_sync(w->sp))
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	char *dir = tmpdir();
	spool_opts o = {.max_bytes = 1 << 24, .segment_bytes = 4096, .max_record = 256};
	spool *sp = open_ok(dir, &o);
	pthread_t t[4];
	struct writer w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){sp, i};
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		assert_null(ret);
	}
	assert_int_equal(spool_count(sp), 2000);
	int next[4] = {0};
	spool_rec r;
	while (spool_read(sp, &r) == RFX_OK) {
		int id, seq;
		assert_int_equal(sscanf(r.data, "w%d-%d", &id, &seq), 2);
		assert_int_equal(seq, next[id]); /* each writer's records stay in its order */
		next[id]++;
		spool_rec_free(&r);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(next[i], 500);
	spool_close(sp);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_ack),
	    cmocka_unit_test(test_persist_across_reopen),
	    cmocka_unit_test(test_partial_ack_and_rewind),
	    cmocka_unit_test(test_segments_roll_and_delete),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_torn_tail_cut),
	    cmocka_unit_test(test_crc_mismatch),
	    cmocka_unit_test(test_prepend),
	    cmocka_unit_test(test_prepend_many_segments),
	    cmocka_unit_test(test_lock),
	    cmocka_unit_test(test_concurrent_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
