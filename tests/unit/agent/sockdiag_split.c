/* sockdiag_split.c -- unit tests for the partitioned sock_diag dump: against the live kernel, with listeners
 * and connections the test opens on loopback, the two partitions hold exactly the sockets of one whole dump,
 * each once, for split points inside, between and beyond the test's ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockdiag.h"

#define CONNS	  12 /* connections to each listener */
#define MAX_FDS	  128
#define MAX_SPLIT 16
#define ATTEMPTS  5 /* the kernel's dump is no snapshot: other programs' sockets may move under it */

/* The test's own sockets: listeners (one on a port below 32768, others ephemeral, one on ::1 when the host
 * has IPv6), the connections to them and the accepted ends. */
typedef struct fixture {
	int fd[MAX_FDS];
	uint64_t inode[MAX_FDS];
	size_t n;
	uint16_t low_port;  /* the listener below 32768 */
	uint16_t eph_port;  /* an ephemeral listener */
	uint16_t mid_rport; /* a client port among the connections to low_port */
	uint32_t client_key;
} fixture;

static uint32_t key_of(const sock_entry *e)
{
	return (uint32_t)e->lport << 16 | e->rport;
}

static void fx_add(fixture *fx, int fd)
{
	struct stat sb;
	assert_true(fd >= 0);
	assert_true(fx->n < MAX_FDS);
	assert_int_equal(fstat(fd, &sb), 0);
	fx->fd[fx->n] = fd;
	fx->inode[fx->n++] = sb.st_ino;
}

static uint16_t port_of(int fd, bool peer)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	assert_int_equal(peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
			      : getsockname(fd, (struct sockaddr *)&ss, &sl),
			 0);
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A listener on the family's loopback address at port (0: ephemeral); -1 when that cannot be had. */
static int listener(int family, uint16_t port)
{
	struct sockaddr_in sa4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr *sa = family == AF_INET ? (struct sockaddr *)&sa4 : (struct sockaddr *)&sa6;
	socklen_t sl = family == AF_INET ? sizeof(sa4) : sizeof(sa6);
	sa4.sin_port = sa6.sin6_port = htons(port);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (bind(fd, sa, sl) || listen(fd, CONNS + 4))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A listener and CONNS connections to it; the listener's port. */
static uint16_t fx_listen(fixture *fx, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &sl), 0);
	fx_add(fx, lfd);
	for (int i = 0; i < CONNS; i++) {
		int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(c, (struct sockaddr *)&ss, sl), 0);
		fx_add(fx, c);
		fx_add(fx, accept(lfd, NULL, NULL));
	}
	return port_of(lfd, false);
}

static int fx_setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));
	int lfd = -1;
	for (int i = 0; i < 200 && lfd < 0; i++)
		lfd = listener(AF_INET, (uint16_t)(20000 + (getpid() + i * 37) % 12000));
	assert_true(lfd >= 0);
	fx->low_port = fx_listen(fx, lfd);
	fx->mid_rport = port_of(fx->fd[1 + CONNS], true); /* the peer of an accepted end halfway along */
	fx->eph_port = fx_listen(fx, listener(AF_INET, 0));
	fx->client_key = (uint32_t)port_of(fx->fd[fx->n - 2], false) << 16 | fx->eph_port;
	fx_listen(fx, listener(AF_INET, 0));
	int l6 = listener(AF_INET6, 0);
	if (l6 >= 0)
		fx_listen(fx, l6);
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	fixture *fx = *state;
	for (size_t i = 0; i < fx->n; i++)
		close(fx->fd[i]);
	free(fx);
	return 0;
}

/* Split points inside, between and beyond the test's ports, and the degenerate ones. */
static size_t splits(const fixture *fx, uint32_t *out)
{
	uint32_t low = (uint32_t)fx->low_port << 16, eph = (uint32_t)fx->eph_port << 16;
	uint32_t v[] = {0,
			UINT32_MAX,
			32768u << 16,
			low,
			low | 1,
			low | fx->mid_rport,
			low + (1u << 16),
			eph | 0xffff,
			fx->client_key,
			fx->client_key + 1};
	memcpy(out, v, sizeof(v));
	return sizeof(v) / sizeof(v[0]);
}

static bool same(const sock_entry *a, const sock_entry *b)
{
	return a->inode == b->inode && a->lport == b->lport && a->rport == b->rport && a->state == b->state &&
	       !memcmp(a->laddr, b->laddr, 16) && !memcmp(a->raddr, b->raddr, 16);
}

static size_t count(const sock_list *l, const sock_entry *e)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += same(&l->v[i], e);
	return n;
}

static size_t count_inode(const sock_list *l, uint64_t inode)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += l->v[i].inode == inode;
	return n;
}

/* No socket is in both partitions or twice in one; each socket of both whole dumps (open throughout) is in
 * one of them; each of the test's sockets is in the whole dumps and the partitions exactly once. */
static bool parts_match(const fixture *fx, const sock_list *d1, const sock_list *d2, const sock_list *lo,
			const sock_list *hi)
{
	for (size_t i = 0; i < lo->n; i++)
		if (count(lo, &lo->v[i]) != 1 || count(hi, &lo->v[i]) != 0)
			return false;
	for (size_t i = 0; i < hi->n; i++)
		if (count(hi, &hi->v[i]) != 1)
			return false;
	for (size_t i = 0; i < d1->n; i++)
		if (count(d2, &d1->v[i]) && count(lo, &d1->v[i]) + count(hi, &d1->v[i]) != 1)
			return false;
	for (size_t i = 0; i < fx->n; i++)
		if (count_inode(d1, fx->inode[i]) != 1 ||
		    count_inode(lo, fx->inode[i]) + count_inode(hi, fx->inode[i]) != 1)
			return false;
	return true;
}

/* The kernel's filters themselves (no race there): the lower partition's keys are below the split, the upper
 * one's are not. */
static void expect_keys(const sock_list *lo, const sock_list *hi, uint32_t split)
{
	for (size_t i = 0; i < lo->n; i++)
		assert_true(key_of(&lo->v[i]) < split);
	for (size_t i = 0; i < hi->n; i++)
		assert_true(key_of(&hi->v[i]) >= split);
}

static void whole(sock_list *l)
{
	char err[256];
	sock_list_reset(l);
	assert_int_equal(sockdiag_scan(l, err, sizeof(err)), RFX_OK);
}

static void test_partitions(void **state)
{
	const fixture *fx = *state;
	uint32_t sp[MAX_SPLIT];
	size_t nsp = splits(fx, sp);
	char err[256];
	sock_list d1, d2, lo, hi;
	sock_list_init(&d1, 0);
	sock_list_init(&d2, 0);
	sock_list_init(&lo, 0);
	sock_list_init(&hi, 0);
	for (size_t s = 0; s < nsp; s++) {
		bool ok = false;
		for (int a = 0; a < ATTEMPTS && !ok; a++) {
			whole(&d1);
			sock_list_reset(&lo);
			sock_list_reset(&hi);
			assert_int_equal(sockdiag_scan_part(&lo, sp[s], false, err, sizeof(err)), RFX_OK);
			assert_int_equal(sockdiag_scan_part(&hi, sp[s], true, err, sizeof(err)), RFX_OK);
			whole(&d2);
			expect_keys(&lo, &hi, sp[s]);
			ok = parts_match(fx, &d1, &d2, &lo, &hi);
		}
		assert_true(ok);
		if (sp[s] == 0)
			assert_int_equal(lo.n, 0);
		if (sp[s] == UINT32_MAX)
			assert_int_equal(count_inode(&hi, fx->inode[0]) + count_inode(&hi, fx->inode[1]), 0);
		if (sp[s] ==
		    ((uint32_t)fx->low_port << 16 | 1u)) { /* the listener below, its accepted ends above */
			assert_int_equal(count_inode(&lo, fx->inode[0]), 1);
			assert_int_equal(count_inode(&hi, fx->inode[2]), 1);
		}
	}
	sock_list_free(&d1);
	sock_list_free(&d2);
	sock_list_free(&lo);
	sock_list_free(&hi);
}

/* Where the merged list passes from the lower partition to the upper one; SIZE_MAX when it does not keep
 * them apart. */
static size_t boundary(const sock_list *l, uint32_t split)
{
	size_t k = 0;
	while (k < l->n && key_of(&l->v[k]) < split)
		k++;
	for (size_t i = k; i < l->n; i++)
		if (key_of(&l->v[i]) < split)
			return SIZE_MAX;
	return k;
}

/* The test's sockets in the order a list holds them. */
static void our_order(const fixture *fx, const sock_list *l, uint64_t *out)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		for (size_t j = 0; j < fx->n; j++)
			if (l->v[i].inode == fx->inode[j] && n < MAX_FDS)
				out[n++] = fx->inode[j];
}

/* On one core the agent dumps all at once: nothing to split. */
static void skip_on_one_core(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < 2)
		skip();
}

static void test_split_scan(void **state)
{
	const fixture *fx = *state;
	uint32_t sp[MAX_SPLIT];
	size_t nsp = splits(fx, sp);
	char err[256];
	sock_list d1, d2, out, again;
	skip_on_one_core();
	sockdiag *d = sockdiag_new();
	sock_list_init(&d1, 0);
	sock_list_init(&d2, 0);
	sock_list_init(&out, 0);
	sock_list_init(&again, 0);
	for (size_t s = 0; s < nsp; s++) {
		bool ok = false, same_order = false;
		for (int a = 0; a < ATTEMPTS && !(ok && same_order); a++) {
			uint64_t o1[MAX_FDS] = {0}, o2[MAX_FDS] = {0};
			whole(&d1);
			sock_list_reset(&out);
			sockdiag_set_split(d, sp[s]);
			assert_int_equal(sockdiag_scan_split(d, &out, err, sizeof(err)), RFX_OK);
			whole(&d2);
			size_t k = boundary(&out, sp[s]);
			assert_int_not_equal(k, SIZE_MAX);
			sock_list lo = {.v = out.v, .n = k}, hi = {.v = out.v + k, .n = out.n - k};
			ok = parts_match(fx, &d1, &d2, &lo, &hi);
			/* the same split on unchanged sockets: the same order */
			sock_list_reset(&again);
			sockdiag_set_split(d, sp[s]);
			assert_int_equal(sockdiag_scan_split(d, &again, err, sizeof(err)), RFX_OK);
			our_order(fx, &out, o1);
			our_order(fx, &again, o2);
			same_order = !memcmp(o1, o2, sizeof(o1));
		}
		assert_true(ok);
		assert_true(same_order);
	}
	sockdiag_free(d);
	sock_list_free(&d1);
	sock_list_free(&d2);
	sock_list_free(&out);
	sock_list_free(&again);
}

/* From a split that leaves everything in one partition, the next scan's split halves the sockets. */
static void test_split_adapts(void **state)
{
	char err[256];
	sock_list l, lo, hi;
	skip_on_one_core();
	sockdiag *d = sockdiag_new();
	sock_list_init(&l, 0);
	sock_list_init(&lo, 0);
	sock_list_init(&hi, 0);
	sockdiag_set_split(d, 0);
	assert_int_equal(sockdiag_scan_split(d, &l, err, sizeof(err)), RFX_OK);
	uint32_t split = sockdiag_split(d);
	assert_int_not_equal(split, 0);
	assert_int_equal(sockdiag_scan_part(&lo, split, false, err, sizeof(err)), RFX_OK);
	assert_int_equal(sockdiag_scan_part(&hi, split, true, err, sizeof(err)), RFX_OK);
	size_t small = lo.n < hi.n ? lo.n : hi.n;
	assert_true(small * 10 >=
		    (lo.n + hi.n) * 3); /* the test's own ~100 sockets keep the host's changes small */
	sockdiag_free(d);
	sock_list_free(&l);
	sock_list_free(&lo);
	sock_list_free(&hi);
}

/* The list's maximum holds (a split that cannot fit in it gives way to one whole dump). */
static void test_split_max(void **state)
{
	char err[256];
	sock_list l;
	sockdiag *d = sockdiag_new();
	sock_list_init(&l, 5);
	sockdiag_set_split(d, 0);
	assert_int_equal(sockdiag_scan_split(d, &l, err, sizeof(err)), RFX_OK);
	assert_int_equal(l.n, 5);
	assert_true(l.dropped > 0);
	sock_list_reset(&l);
	sockdiag_set_split(d, 32768u << 16);
	assert_int_equal(sockdiag_scan_split(d, &l, err, sizeof(err)), RFX_OK);
	assert_int_equal(l.n, 5);
	assert_true(l.dropped > 0);
	sockdiag_free(d);
	sock_list_free(&l);
}

/* A partition that outgrows the room kept for it (its size at the last scan and a quarter more) is dumped
 * again: from a fresh context that has seen no scan, a listener and its 300 accepted connections in the upper
 * partition, their clients on either side. */
static void test_split_outgrows(void **state)
{
	enum { N = 300 };
	int fds[2 * N + 1];
	uint64_t inodes[2 * N + 1];
	char err[256];
	sock_list l;
	skip_on_one_core();
	fds[0] = listener(AF_INET, 0);
	assert_true(fds[0] >= 0);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(fds[0], (struct sockaddr *)&sa, &sl), 0);
	for (int i = 0; i < N; i++) {
		fds[1 + 2 * i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(fds[1 + 2 * i], (struct sockaddr *)&sa, sl), 0);
		fds[2 + 2 * i] = accept(fds[0], NULL, NULL);
		assert_true(fds[2 + 2 * i] >= 0);
	}
	for (int i = 0; i < 2 * N + 1; i++) {
		struct stat sb;
		assert_int_equal(fstat(fds[i], &sb), 0);
		inodes[i] = sb.st_ino;
	}
	sockdiag *d = sockdiag_new();
	sock_list_init(&l, 0);
	uint32_t split = (uint32_t)ntohs(sa.sin_port) << 16;
	sockdiag_set_split(d, split);
	assert_int_equal(sockdiag_scan_split(d, &l, err, sizeof(err)), RFX_OK);
	assert_int_not_equal(boundary(&l, split), SIZE_MAX); /* partitioned: not a whole dump instead */
	for (int i = 0; i < 2 * N + 1; i++)
		assert_int_equal(count_inode(&l, inodes[i]), 1);
	sockdiag_free(d);
	sock_list_free(&l);
	for (int i = 0; i < 2 * N + 1; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_partitions),	   cmocka_unit_test(test_split_scan),
	    cmocka_unit_test(test_split_adapts),   cmocka_unit_test(test_split_max),
	    cmocka_unit_test(test_split_outgrows),
	};
	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
