/* parsers.c -- unit tests for the agent's socket sources: /proc/net/tcp{,6} text and netlink sock_diag
 * messages, each also against the live kernel with sockets the test opens itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procnet.h"
#include "sockdiag.h"

static const char tcp4[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 "
    "0 0 "
    "10 0\n"
    "   1: 0500000A:0050 0700000A:9C41 01 00000000:00000000 02:000A7D41 00000000    33        0 4243 2 0 20 "
    "4 "
    "30 10 -1\n"
    "   2: 0500000A:0050 0700000A:9C42 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0\n"
    "   3: garbage line\n";

static const char tcp6[] =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue "
    "tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n"
    "   1: 0000000000000000FFFF00000500000A:0050 0000000000000000FFFF00000900000A:D431 01 00000000:00000000 "
    "00:00000000 00000000  1000        0 778 1 0 100 0 0 10 0\n";

static void expect_addr(const uint8_t a[16], const char *text)
{
	char out[INET6_ADDRSTRLEN];
	sock_addr_format(a, out);
	assert_string_equal(out, text);
}

static void test_procnet_v4(void **state)
{
	sock_list l;
	size_t bad = 0;
	sock_list_init(&l, 0);
	procnet_parse(tcp4, strlen(tcp4), AF_INET, &l, &bad);
	assert_int_equal(l.n, 2); /* TIME_WAIT skipped */
	assert_int_equal(bad, 1);
	assert_int_equal(l.v[0].state, SOCK_TCP_LISTEN);
	assert_int_equal(l.v[0].lport, 80);
	expect_addr(l.v[0].laddr, "0.0.0.0");
	assert_int_equal(l.v[0].inode, 4242);
	assert_int_equal(l.v[1].state, SOCK_TCP_ESTABLISHED);
	expect_addr(l.v[1].laddr, "10.0.0.5");
	expect_addr(l.v[1].raddr, "10.0.0.7");
	assert_int_equal(l.v[1].rport, 0x9C41);
	assert_int_equal(l.v[1].uid, 33);
	sock_list_free(&l);
}

static void test_procnet_v6(void **state)
{
	sock_list l;
	sock_list_init(&l, 0);
	procnet_parse(tcp6, strlen(tcp6), AF_INET6, &l, NULL);
	assert_int_equal(l.n, 2);
	expect_addr(l.v[0].laddr, "::1");
	assert_int_equal(l.v[0].lport, 8080);
	assert_int_equal(l.v[0].uid, 1000);
	/* an IPv4 peer of a dual-stack socket is the IPv4 host */
	expect_addr(l.v[1].raddr, "10.0.0.9");
	assert_true(sock_addr_is_v4(l.v[1].raddr));
	assert_int_equal(l.v[1].inode, 778);
	sock_list_free(&l);
}

static void test_procnet_bounds(void **state)
{
	sock_list l;
	sock_list_init(&l, 1);
	procnet_parse(tcp4, strlen(tcp4), AF_INET, &l, NULL);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.dropped, 1);
	sock_list_reset(&l);
	/* truncated inputs never read past the end */
	for (size_t n = 0; n < sizeof(tcp4) - 1; n += 7)
		procnet_parse(tcp4, n, AF_INET, &l, NULL);
	sock_list_free(&l);
}

/* A listener on loopback and a connection to it, opened by the test. */
typedef struct live {
	int lfd, cfd, afd;
	uint16_t port;
	uint64_t linode, cinode, ainode;
} live;

static uint64_t inode_of(int fd)
{
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	return sb.st_ino;
}

static void live_open(live *lv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	lv->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lv->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lv->lfd, 4), 0);
	assert_int_equal(getsockname(lv->lfd, (struct sockaddr *)&sa, &sl), 0);
	lv->port = ntohs(sa.sin_port);
	lv->cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(lv->cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	lv->afd = accept(lv->lfd, NULL, NULL);
	assert_true(lv->afd >= 0);
	lv->linode = inode_of(lv->lfd);
	lv->cinode = inode_of(lv->cfd);
	lv->ainode = inode_of(lv->afd);
}

static void live_close(live *lv)
{
	close(lv->afd);
	close(lv->cfd);
	close(lv->lfd);
}

static void expect_live(const sock_list *l, const live *lv)
{
	int found = 0;
	for (size_t i = 0; i < l->n; i++) {
		const sock_entry *e = &l->v[i];
		if (e->inode == lv->linode) {
			assert_int_equal(e->state, SOCK_TCP_LISTEN);
			assert_int_equal(e->lport, lv->port);
			found |= 1;
		} else if (e->inode == lv->cinode) {
			assert_int_equal(e->state, SOCK_TCP_ESTABLISHED);
			assert_int_equal(e->rport, lv->port);
			expect_addr(e->raddr, "127.0.0.1");
			found |= 2;
		} else if (e->inode == lv->ainode) {
			assert_int_equal(e->lport, lv->port);
			found |= 4;
		}
	}
	assert_int_equal(found, 7);
}

static void test_procnet_live(void **state)
{
	live lv;
	sock_list l;
	char err[256];
	live_open(&lv);
	sock_list_init(&l, 0);
	assert_int_equal(procnet_scan("/proc", &l, err, sizeof(err)), RFX_OK);
	expect_live(&l, &lv);
	assert_int_not_equal(procnet_scan("/nonexistent", &l, err, sizeof(err)), RFX_OK);
	sock_list_free(&l);
	live_close(&lv);
}

/* An IPv6 listener on ::1, or -1 when this host has no IPv6. */
static int listen6(uint64_t *inode, uint16_t *port)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*inode = inode_of(fd);
	*port = ntohs(sa.sin6_port);
	return fd;
}

/* The thread's effective capabilities, as /proc shows them. */
static void cap_eff(char out[32])
{
	char line[128];
	FILE *f = fopen("/proc/thread-self/status", "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CapEff:", 7))
			snprintf(out, 32, "%.30s", line + 7);
	}
	fclose(f);
	assert_true(out[0] != '\0');
}

static void test_sockdiag_live(void **state)
{
	char caps[32], caps_after[32];
	live lv;
	sock_list l;
	char err[256] = "";
	uint64_t ino6 = 0;
	uint16_t port6 = 0;
	int fd6 = listen6(&ino6, &port6);
	live_open(&lv);
	sock_list_init(&l, 0);
	cap_eff(caps);
	assert_int_equal(sockdiag_scan(&l, err, sizeof(err)), RFX_OK);
	cap_eff(caps_after);
	assert_string_equal(caps, caps_after); /* CAP_NET_ADMIN, set aside for the dump, is back */
	expect_live(&l, &lv);
	bool seen6 = false;
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].inode == ino6 && fd6 >= 0) {
			expect_addr(l.v[i].laddr, "::1");
			assert_int_equal(l.v[i].lport, port6);
			seen6 = true;
		}
	}
	assert_true(seen6 || fd6 < 0); /* both families come back */
	if (fd6 >= 0)
		close(fd6);
	for (size_t i = 0; i < l.n; i++)
		assert_true(l.v[i].state == SOCK_TCP_LISTEN || l.v[i].state == SOCK_TCP_ESTABLISHED);
	sock_list_free(&l);
	live_close(&lv);
}

/* Lays out netlink messages the way the kernel does: header, inet_diag_msg, 4-byte alignment. */
static size_t put_msg(uint8_t *buf, size_t off, uint16_t type, const void *payload, size_t len)
{
	struct nlmsghdr h = {.nlmsg_len = (uint32_t)NLMSG_LENGTH(len), .nlmsg_type = type};
	memcpy(buf + off, &h, sizeof(h));
	if (payload)
		memcpy(buf + off + NLMSG_HDRLEN, payload, len);
	else
		memset(buf + off + NLMSG_HDRLEN, 0, len);
	return off + NLMSG_ALIGN(h.nlmsg_len);
}

static void test_sockdiag_parse(void **state)
{
	static uint32_t storage[256];
	uint8_t *buf = (uint8_t *)storage;
	struct inet_diag_msg m = {.idiag_family = AF_INET, .idiag_state = SOCK_TCP_ESTABLISHED};
	m.id.idiag_sport = htons(80);
	m.id.idiag_dport = htons(40000);
	inet_pton(AF_INET, "10.0.0.5", m.id.idiag_src);
	inet_pton(AF_INET, "10.0.0.7", m.id.idiag_dst);
	m.idiag_inode = 99;
	m.idiag_uid = 33;
	struct inet_diag_msg m6 = {
	    .idiag_family = AF_INET6, .idiag_state = SOCK_TCP_LISTEN, .idiag_inode = 100};
	m6.id.idiag_sport = htons(443);
	size_t off = put_msg(buf, 0, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
	off = put_msg(buf, off, SOCK_DIAG_BY_FAMILY, &m6, sizeof(m6));
	size_t before_done = off;
	off = put_msg(buf, off, NLMSG_DONE, NULL, 4);
	sock_list l;
	bool done;
	sock_list_init(&l, 0);
	assert_int_equal(sockdiag_parse(buf, off, &l, &done), RFX_OK);
	assert_true(done);
	assert_int_equal(l.n, 2);
	expect_addr(l.v[0].laddr, "10.0.0.5");
	expect_addr(l.v[0].raddr, "10.0.0.7");
	assert_int_equal(l.v[0].lport, 80);
	assert_int_equal(l.v[0].rport, 40000);
	assert_int_equal(l.v[0].uid, 33);
	assert_int_equal(l.v[1].lport, 443);
	expect_addr(l.v[1].laddr, "::");
	/* the older single-dump request answers with TCPDIAG_GETSOCK records of the same layout */
	sock_list_reset(&l);
	off = put_msg(buf, 0, TCPDIAG_GETSOCK, &m, sizeof(m));
	off = put_msg(buf, off, NLMSG_DONE, NULL, 4);
	assert_int_equal(sockdiag_parse(buf, off, &l, &done), RFX_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].lport, 80);
	off = put_msg(buf, 0, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
	off = put_msg(buf, off, SOCK_DIAG_BY_FAMILY, &m6, sizeof(m6));
	before_done = off;
	off = put_msg(buf, off, NLMSG_DONE, NULL, 4);
	/* without DONE: more to come */
	sock_list_reset(&l);
	assert_int_equal(sockdiag_parse(buf, before_done, &l, &done), RFX_OK);
	assert_false(done);
	/* a record too short for inet_diag_msg, and a cut-off buffer */
	size_t bad = put_msg(buf, 0, SOCK_DIAG_BY_FAMILY, &m, 8);
	assert_int_equal(sockdiag_parse(buf, bad, &l, &done), RFX_ERR_PARSE);
	off = put_msg(buf, 0, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
	assert_int_equal(sockdiag_parse(buf, off - 3, &l, &done), RFX_ERR_PARSE);
	/* an error record */
	int errcode = -2;
	off = put_msg(buf, 0, NLMSG_ERROR, &errcode, sizeof(errcode));
	assert_int_equal(sockdiag_parse(buf, off, &l, &done), RFX_ERR_IO);
	sock_list_free(&l);
}

static void test_addr_helpers(void **state)
{
	uint8_t a[16];
	char out[INET6_ADDRSTRLEN];
	assert_true(sock_addr_parse("127.0.0.8", a));
	assert_true(sock_addr_is_loopback(a));
	assert_true(sock_addr_parse("::1", a));
	assert_true(sock_addr_is_loopback(a));
	assert_true(sock_addr_parse("::", a));
	assert_true(sock_addr_is_any(a));
	assert_true(sock_addr_parse("2001:db8::5", a));
	assert_false(sock_addr_is_loopback(a) || sock_addr_is_v4(a));
	sock_addr_format(a, out);
	assert_string_equal(out, "2001:db8::5");
	assert_false(sock_addr_parse("10.0.0", a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_procnet_v4),	   cmocka_unit_test(test_procnet_v6),
	    cmocka_unit_test(test_procnet_bounds), cmocka_unit_test(test_procnet_live),
	    cmocka_unit_test(test_sockdiag_live),  cmocka_unit_test(test_sockdiag_parse),
	    cmocka_unit_test(test_addr_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
