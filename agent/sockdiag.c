/* sockdiag.c -- netlink sock_diag dump of TCP sockets: one request for both families (one per family where
 * the kernel refuses it), whole or in two port partitions dumped at once, records parsed into sock_entry. */
#include "sockdiag.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SOCKDIAG_RECV_BUF  (64 * 1024)
#define SOCKDIAG_RCVBUF	   (1024 * 1024)
#define SOCKDIAG_TIMEOUT_S 5
#define SOCKDIAG_BC_OPS	   8	/* the longest partition filter is 7 ops */
#define SOCKDIAG_SAMPLES   511	/* keys sampled to choose a split */
#define SOCKDIAG_SPLIT_MIN 2000 /* sockets below which a whole dump takes a millisecond or two: not split */
#define SOCKDIAG_PAUSE	   3	/* whole dumps after a split that ran on one core at a time */

static void sockdiag_record(const struct inet_diag_msg *m, sock_list *out)
{
	int family = m->idiag_family;
	sock_entry *e;
	if ((family != AF_INET && family != AF_INET6) || !(e = sock_list_add(out)))
		return;
	sock_addr_set(e->laddr, family, m->id.idiag_src);
	sock_addr_set(e->raddr, family, m->id.idiag_dst);
	e->lport = ntohs(m->id.idiag_sport);
	e->rport = ntohs(m->id.idiag_dport);
	e->state = m->idiag_state;
	e->uid = m->idiag_uid;
	e->inode = m->idiag_inode;
}

rfx_err sockdiag_parse(const void *buf, size_t len, sock_list *out, bool *done)
{
	const uint8_t *p = buf;
	size_t left = len;
	*done = false;
	/* NLMSG_NEXT trusts nlmsg_len; step by hand so a short last message cannot wrap `left` around. */
	while (left >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)p;
		if (h->nlmsg_len < sizeof(struct nlmsghdr) || h->nlmsg_len > left)
			return RFX_ERR_PARSE;
		if (h->nlmsg_type == NLMSG_DONE) {
			*done = true;
			return RFX_OK;
		}
		if (h->nlmsg_type == NLMSG_ERROR)
			return RFX_ERR_IO;
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY || h->nlmsg_type == TCPDIAG_GETSOCK) {
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				return RFX_ERR_PARSE;
			sockdiag_record(NLMSG_DATA(h), out);
		}
		size_t step = NLMSG_ALIGN(h->nlmsg_len);
		if (step >= left)
			return RFX_OK;
		p += step;
		left -= step;
	}
	return left == 0 ? RFX_OK : RFX_ERR_PARSE;
}

static rfx_err sockdiag_open(int *fd_out, char *err, size_t errlen)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return RFX_ERR_UNAVAILABLE;
	}
	int rcvbuf = SOCKDIAG_RCVBUF;
	struct timeval tv = {.tv_sec = SOCKDIAG_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*fd_out = fd;
	return RFX_OK;
}

/* An INET_DIAG_REQ_BYTECODE filter, or none (n == 0). */
typedef struct sockdiag_bc {
	struct inet_diag_bc_op op[SOCKDIAG_BC_OPS];
	size_t n;
} sockdiag_bc;

/* A port comparison takes two ops, the second holding the port; true goes on to the next op, false jumps
 * `no` bytes ahead. */
static void sockdiag_bc_port(sockdiag_bc *bc, uint8_t code, uint16_t port, size_t no)
{
	bc->op[bc->n++] = (struct inet_diag_bc_op){.code = code, .yes = 8, .no = (uint16_t)no};
	bc->op[bc->n++] = (struct inet_diag_bc_op){.no = port};
}

/* The filter of one partition: a socket's key is local port << 16 | remote port (listeners have remote port
 * 0); the lower partition is the keys below split, the upper one the others, so that together they are every
 * socket once. With L and R the split's ports, offsets in bytes, the kernel's program accepting a socket that
 * runs past the end exactly and rejecting one that jumps 4 bytes beyond it:
 *
 *   lower (28 bytes)                             upper (24 bytes)
 *    0 S_GE L  else jump to 28: lport < L, in     0 S_GE L  else jump to 28: lport < L, out
 *    8 S_LE L  else jump to 32: lport > L, out    8 S_LE L  else jump to 24: lport > L, in
 *   16 D_GE R  else jump to 28: rport < R, in    16 D_GE R  else jump to 28: rport < R, out
 *   24 JMP     jump to 32: rport >= R, out                  (runs to 24: rport >= R, in)
 *
 * The kernel's audit (inet_diag_bc_audit) wants every jump on an op boundary of the program, at its end, or
 * 4 bytes beyond it, and the chain of "true" steps to end exactly at the end: hence the unconditional JMP. */
static void sockdiag_bc_build(sockdiag_bc *bc, uint32_t split, bool upper)
{
	uint16_t l = (uint16_t)(split >> 16), r = (uint16_t)(split & 0xffff);
	size_t end = upper ? 24 : 28, reject = end + 4;
	bc->n = 0;
	sockdiag_bc_port(bc, INET_DIAG_BC_S_GE, l, (upper ? reject : end) - 0);
	sockdiag_bc_port(bc, INET_DIAG_BC_S_LE, l, (upper ? end : reject) - 8);
	sockdiag_bc_port(bc, INET_DIAG_BC_D_GE, r, (upper ? reject : end) - 16);
	if (!upper)
		bc->op[bc->n++] = (struct inet_diag_bc_op){
		    .code = INET_DIAG_BC_JMP, .yes = 4, .no = (uint16_t)(reject - 24)};
}

/* Sends a dump request: the fixed part req (reqlen bytes, a multiple of 4), then the filter if any. */
static rfx_err sockdiag_send(int fd, uint16_t type, const void *req, size_t reqlen, const sockdiag_bc *bc,
			     char *err, size_t errlen)
{
	_Alignas(struct nlmsghdr) uint8_t msg[NLMSG_HDRLEN + 64 + NLA_HDRLEN + sizeof(bc->op)];
	size_t bclen = bc ? bc->n * sizeof(bc->op[0]) : 0, off = NLMSG_HDRLEN + NLMSG_ALIGN(reqlen);
	struct nlmsghdr h = {.nlmsg_len = (uint32_t)(off + (bclen ? NLA_HDRLEN + bclen : 0)),
			     .nlmsg_type = type,
			     .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			     .nlmsg_seq = 1};
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + bclen), .nla_type = INET_DIAG_REQ_BYTECODE};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	memset(msg, 0, sizeof(msg));
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + NLMSG_HDRLEN, req, reqlen);
	if (bclen) {
		memcpy(msg + off, &a, sizeof(a));
		memcpy(msg + off + NLA_HDRLEN, bc->op, bclen);
	}
	if (sendto(fd, msg, h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "netlink send: %s", strerror(errno));
		return RFX_ERR_UNAVAILABLE;
	}
	return RFX_OK;
}

/* The older TCPDIAG_GETSOCK request dumps both families in one pass over the kernel's socket tables (the
 * per-family requests walk them once each, which is a third of a scan's time on a busy host). */
static rfx_err sockdiag_request_both(int fd, const sockdiag_bc *bc, char *err, size_t errlen)
{
	struct inet_diag_req r = {.idiag_family = AF_INET,
				  .idiag_states = (1u << SOCK_TCP_LISTEN) | (1u << SOCK_TCP_ESTABLISHED)};
	return sockdiag_send(fd, TCPDIAG_GETSOCK, &r, sizeof(r), bc, err, errlen);
}

static rfx_err sockdiag_request(int fd, int family, const sockdiag_bc *bc, char *err, size_t errlen)
{
	struct inet_diag_req_v2 r = {.sdiag_family = (uint8_t)family,
				     .sdiag_protocol = IPPROTO_TCP,
				     .idiag_states = (1u << SOCK_TCP_LISTEN) | (1u << SOCK_TCP_ESTABLISHED)};
	return sockdiag_send(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), bc, err, errlen);
}

static rfx_err sockdiag_receive(int fd, char *buf, sock_list *out, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = recv(fd, buf, SOCKDIAG_RECV_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "netlink recv: %s", n < 0 ? strerror(errno) : "closed");
			return RFX_ERR_IO;
		}
		bool done = false;
		rfx_err rc = sockdiag_parse(buf, (size_t)n, out, &done);
		if (rc == RFX_ERR_IO) {
			snprintf(err, errlen, "netlink dump refused by the kernel");
			return RFX_ERR_UNAVAILABLE;
		}
		if (rc) {
			snprintf(err, errlen, "netlink dump: malformed message");
			return rc;
		}
		if (done)
			return RFX_OK;
	}
}

static rfx_err sockdiag_dump_both(sock_list *out, char *buf, const sockdiag_bc *bc, char *err, size_t errlen)
{
	int fd = -1;
	rfx_err rc = sockdiag_open(&fd, err, errlen);
	if (!rc)
		rc = sockdiag_request_both(fd, bc, err, errlen);
	if (!rc)
		rc = sockdiag_receive(fd, buf, out, err, errlen);
	if (fd >= 0)
		close(fd);
	return rc;
}

static rfx_err sockdiag_dump_families(sock_list *out, char *buf, const sockdiag_bc *bc, char *err,
				      size_t errlen)
{
	static const int families[] = {AF_INET, AF_INET6};
	int fd = -1;
	rfx_err rc = sockdiag_open(&fd, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < RFX_ARRAY_LEN(families) && !rc; i++) {
		rc = sockdiag_request(fd, families[i], bc, err, errlen);
		if (!rc)
			rc = sockdiag_receive(fd, buf, out, err, errlen);
		/* A kernel without IPv6 refuses the AF_INET6 dump: that host simply has no IPv6 sockets. */
		if (rc == RFX_ERR_UNAVAILABLE && families[i] == AF_INET6)
			rc = RFX_OK;
	}
	close(fd);
	return rc;
}

/* The kernel refused the single dump once: do not ask again (read by both partitions' threads). */
static atomic_bool sockdiag_per_family;

/* One dump, filtered by bc when not NULL, received into buf (SOCKDIAG_RECV_BUF bytes; NULL: one of its own).
 * Only an unfiltered dump that fails tries (and on a refusal, settles on) the per-family requests: a refused
 * filter says nothing about the single request. */
static rfx_err sockdiag_dump(sock_list *out, const sockdiag_bc *bc, char *buf_in, char *err, size_t errlen)
{
	char *buf = buf_in ? buf_in : rfx_malloc(SOCKDIAG_RECV_BUF);
	size_t start = out->n, dropped = out->dropped;
	rfx_err rc;
	if (!atomic_load(&sockdiag_per_family)) {
		rc = sockdiag_dump_both(out, buf, bc, err, errlen);
		if (rc == RFX_OK || bc)
			goto out;
		if (rc == RFX_ERR_UNAVAILABLE)
			atomic_store(&sockdiag_per_family, true);
		out->n = start;
		out->dropped = dropped;
	}
	rc = sockdiag_dump_families(out, buf, bc, err, errlen);
out:
	if (!buf_in)
		free(buf);
	return rc;
}

/* Sets CAP_NET_ADMIN in or out of the calling thread's effective set (it stays permitted); false when the
 * thread does not have it in effect (or may not change it). */
static bool sockdiag_net_admin(bool on)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	uint32_t bit = 1u << CAP_NET_ADMIN;
	if (syscall(SYS_capget, &h, d) != 0 || !(d[0].permitted & bit) || !(d[0].effective & bit) == !on)
		return false;
	d[0].effective = on ? d[0].effective | bit : d[0].effective & ~bit;
	return syscall(SYS_capset, &h, d) == 0;
}

/* The kernel adds each socket's mark to its record for a caller with CAP_NET_ADMIN in effect, and the agent
 * has no use for marks: the scanning thread sets the capability aside during the dump, which spares the
 * kernel a read of every socket and 8 of its 124 bytes (an agent deployed with only CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH never has it). A partition's thread is made meanwhile and inherits the set without it.
 */
rfx_err sockdiag_scan(sock_list *out, char *err, size_t errlen)
{
	bool restore = sockdiag_net_admin(false);
	rfx_err rc = sockdiag_dump(out, NULL, NULL, err, errlen);
	if (restore)
		sockdiag_net_admin(true);
	return rc;
}

rfx_err sockdiag_scan_part(sock_list *out, uint32_t split, bool upper, char *err, size_t errlen)
{
	sockdiag_bc bc;
	sockdiag_bc_build(&bc, split, upper);
	bool restore = sockdiag_net_admin(false);
	rfx_err rc = sockdiag_dump(out, &bc, NULL, err, errlen);
	if (restore)
		sockdiag_net_admin(true);
	return rc;
}

/* The upper partition's dump, on a thread of its own. */
typedef struct sockdiag_part {
	sock_list l; /* a window on the scan's list: never reallocated (cap == max) */
	char *buf;
	sockdiag_bc bc;
	rfx_err rc;
	double cpu; /* the thread's CPU seconds for the dump */
	char err[160];
} sockdiag_part;

struct sockdiag {
	sockdiag_part upper;
	char *buf; /* the lower partition's */
	uint32_t split;
	size_t nlower, nupper; /* sockets on either side of the split in the last scan */
	bool chosen;	       /* a split was chosen (from a whole dump) or set */
	bool forced;	       /* set: used by the next scan whatever the rules below */
	bool single;	       /* one whole dump per scan: one core, or the kernel refused a filtered dump */
	unsigned pause;	       /* whole dumps to go before the split is tried again */
	bool was_split;	       /* the last scan */
};

/* Two dumps cost about a third more CPU time than one (each walks every socket): on one core they would only
 * take longer. */
static bool sockdiag_one_core(void)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < 2;
}

sockdiag *sockdiag_new(void)
{
	sockdiag *d = rfx_calloc(1, sizeof(*d));
	d->upper.buf = rfx_malloc(SOCKDIAG_RECV_BUF);
	d->buf = rfx_malloc(SOCKDIAG_RECV_BUF);
	d->single = sockdiag_one_core();
	return d;
}

void sockdiag_free(sockdiag *d)
{
	if (!d)
		return;
	free(d->upper.buf);
	free(d->buf);
	free(d);
}

bool sockdiag_was_split(const sockdiag *d)
{
	return d->was_split;
}

uint32_t sockdiag_split(const sockdiag *d)
{
	return d->split;
}

void sockdiag_set_split(sockdiag *d, uint32_t split)
{
	d->split = split;
	d->chosen = d->forced = true;
}

static double sockdiag_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sockdiag_worker(void *arg)
{
	sockdiag_part *p = arg;
	double c0 = sockdiag_cpu();
	p->rc = sockdiag_dump(&p->l, &p->bc, p->buf, p->err, sizeof(p->err));
	p->cpu = sockdiag_cpu() - c0;
	return NULL;
}

/* The thread blocks every signal: the process's signals are for its own threads. */
static bool sockdiag_start(pthread_t *t, sockdiag_part *p)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	bool ok = pthread_create(t, NULL, sockdiag_worker, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

static uint32_t sockdiag_key(const sock_entry *e)
{
	return (uint32_t)e->lport << 16 | e->rport;
}

static int sockdiag_cmp_key(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The split for the next scan: the median key of this one (of evenly spaced samples), chosen again only when
 * the smaller partition fell under 45% of the sockets, so that the merged order, which the owner cache
 * follows from one scan to the next, stays put while the host's sockets do. */
static void sockdiag_next_split(sockdiag *d, const sock_entry *v, size_t n, size_t nlower)
{
	uint32_t keys[SOCKDIAG_SAMPLES];
	size_t small = nlower < n - nlower ? nlower : n - nlower;
	d->nlower = nlower;
	d->nupper = n - nlower;
	if (small * 20 >= n * 9)
		return;
	size_t k = n < SOCKDIAG_SAMPLES ? n : SOCKDIAG_SAMPLES;
	for (size_t i = 0; i < k; i++)
		keys[i] = sockdiag_key(&v[i * n / k]);
	qsort(keys, k, sizeof(keys[0]), sockdiag_cmp_key);
	d->split = keys[k / 2];
	d->chosen = true;
	d->nlower = 0;
	for (size_t i = 0; i < n; i++)
		d->nlower += sockdiag_key(&v[i]) < d->split;
	d->nupper = n - d->nlower;
}

/* Room for a partition: as many sockets as last time and a quarter more. */
static size_t sockdiag_room(size_t last)
{
	return last + last / 4 + 256;
}

/* The partitions are dumped straight into out, the lower one on this thread at its end, the upper one on a
 * second thread further on, each in a window of room for it; the upper one is then moved down to follow the
 * lower one. A partition that outgrew its window is dumped again with room for what it had (*retry).
 * *started is false when no thread could be made (then nothing was dumped). */
static rfx_err sockdiag_dump_split(sockdiag *d, sock_list *out, bool *started, bool *retry, char *err,
				   size_t errlen)
{
	size_t start = out->n, rlo = sockdiag_room(d->nlower), rup = sockdiag_room(d->nupper);
	sockdiag_bc lower;
	pthread_t t;
	if (start + rlo + rup > out->max)
		return RFX_ERR_LIMIT;
	if (out->cap < start + rlo + rup) {
		out->cap = start + rlo + rup;
		out->v = rfx_realloc(out->v, out->cap * sizeof(*out->v));
	}
	sock_list lo = {.v = out->v + start, .cap = rlo, .max = rlo};
	d->upper.l = (sock_list){.v = lo.v + rlo, .cap = rup, .max = rup};
	sockdiag_bc_build(&lower, d->split, false);
	sockdiag_bc_build(&d->upper.bc, d->split, true);
	double t0 = rfx_mono_sec(), c0 = sockdiag_cpu();
	*started = sockdiag_start(&t, &d->upper);
	if (!*started)
		return RFX_ERR_UNAVAILABLE;
	rfx_err rc = sockdiag_dump(&lo, &lower, d->buf, err, errlen);
	double cpu = sockdiag_cpu() - c0;
	pthread_join(t, NULL);
	/* Two dumps take about 1.4 times the CPU time of one: unless they ran on two cores at once for most
	 * of the time, one dump would have been as quick, and cheaper. */
	if (cpu + d->upper.cpu < 1.4 * (rfx_mono_sec() - t0))
		d->pause = SOCKDIAG_PAUSE;
	if (!rc && d->upper.rc) {
		rc = d->upper.rc;
		snprintf(err, errlen, "%s", d->upper.err);
	}
	*retry = !rc && (lo.dropped || d->upper.l.dropped);
	if (rc || *retry) {
		d->nlower = lo.n + lo.dropped;
		d->nupper = d->upper.l.n + d->upper.l.dropped;
		return rc ? rc : RFX_ERR_LIMIT;
	}
	memmove(lo.v + lo.n, d->upper.l.v, d->upper.l.n * sizeof(*lo.v));
	out->n = start + lo.n + d->upper.l.n;
	sockdiag_next_split(d, lo.v, out->n - start, lo.n);
	return RFX_OK;
}

/* Of a kernel's dump of 20,000 sockets (11 to 19 ms of one core), about a third is the walk of its hash
 * table, reading each socket, and two thirds filling and copying each socket's record. Each partition's
 * request walks the whole table but fills only its own records: on two cores at once, about two thirds of the
 * wall time of one dump, for about a third more CPU time. The first scan is a whole dump, which the split is
 * chosen from. */
rfx_err sockdiag_scan_split(sockdiag *d, sock_list *out, char *err, size_t errlen)
{
	if (d->single)
		return sockdiag_scan(out, err, errlen);
	bool restore = sockdiag_net_admin(false), started = false, retry = false;
	size_t start = out->n, dropped = out->dropped;
	rfx_err rc = RFX_ERR_LIMIT;
	if (d->forced || (d->chosen && !d->pause && d->nlower + d->nupper >= SOCKDIAG_SPLIT_MIN))
		rc = sockdiag_dump_split(d, out, &started, &retry, err, errlen);
	else if (d->pause)
		d->pause--;
	d->forced = false;
	d->was_split = rc == RFX_OK;
	if (retry)
		rc = sockdiag_dump_split(d, out, &started, &retry, err, errlen);
	if (rc == RFX_ERR_UNAVAILABLE || rc == RFX_ERR_LIMIT) {
		/* a refused filter is refused for good; a thread that could not be made, for this scan */
		d->single = rc == RFX_ERR_UNAVAILABLE && started;
		out->n = start;
		out->dropped = dropped;
		rc = sockdiag_dump(out, NULL, d->buf, err, errlen);
		if (!rc)
			sockdiag_next_split(d, out->v + start, out->n - start, 0);
	}
	if (restore)
		sockdiag_net_admin(true);
	return rc;
}
