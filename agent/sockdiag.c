/* sockdiag.c -- netlink sock_diag dump of TCP sockets: one request for both families (one per family where
 * the kernel refuses it), records parsed into sock_entry. */
#include "sockdiag.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SOCKDIAG_RECV_BUF  (64 * 1024)
#define SOCKDIAG_RCVBUF	   (1024 * 1024)
#define SOCKDIAG_TIMEOUT_S 5

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

/* The older TCPDIAG_GETSOCK request dumps both families in one pass over the kernel's socket tables (the
 * per-family requests walk them once each, which is a third of a scan's time on a busy host). */
static rfx_err sockdiag_request_both(int fd, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req r;
	} req = {0};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = TCPDIAG_GETSOCK;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = 1;
	req.r.idiag_family = AF_INET;
	req.r.idiag_states = (1u << SOCK_TCP_LISTEN) | (1u << SOCK_TCP_ESTABLISHED);
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "netlink send: %s", strerror(errno));
		return RFX_ERR_UNAVAILABLE;
	}
	return RFX_OK;
}

static rfx_err sockdiag_request(int fd, int family, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {0};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = (uint32_t)family;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = (1u << SOCK_TCP_LISTEN) | (1u << SOCK_TCP_ESTABLISHED);
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "netlink send: %s", strerror(errno));
		return RFX_ERR_UNAVAILABLE;
	}
	return RFX_OK;
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

static rfx_err sockdiag_scan_both(sock_list *out, char *buf, char *err, size_t errlen)
{
	int fd = -1;
	rfx_err rc = sockdiag_open(&fd, err, errlen);
	if (!rc)
		rc = sockdiag_request_both(fd, err, errlen);
	if (!rc)
		rc = sockdiag_receive(fd, buf, out, err, errlen);
	if (fd >= 0)
		close(fd);
	return rc;
}

static rfx_err sockdiag_dump(sock_list *out, char *err, size_t errlen)
{
	static const int families[] = {AF_INET, AF_INET6};
	static bool per_family; /* the kernel refused the single dump once: do not ask again */
	char *buf = rfx_malloc(SOCKDIAG_RECV_BUF);
	size_t start = out->n;
	int fd = -1;
	rfx_err rc = RFX_ERR_UNAVAILABLE;
	if (!per_family) {
		rc = sockdiag_scan_both(out, buf, err, errlen);
		if (rc == RFX_OK)
			goto out;
		per_family = rc == RFX_ERR_UNAVAILABLE;
		out->n = start;
		out->dropped = 0;
	}
	rc = sockdiag_open(&fd, err, errlen);
	if (rc)
		goto out;
	for (size_t i = 0; i < RFX_ARRAY_LEN(families) && !rc; i++) {
		rc = sockdiag_request(fd, families[i], err, errlen);
		if (!rc)
			rc = sockdiag_receive(fd, buf, out, err, errlen);
		/* A kernel without IPv6 refuses the AF_INET6 dump: that host simply has no IPv6 sockets. */
		if (rc == RFX_ERR_UNAVAILABLE && families[i] == AF_INET6)
			rc = RFX_OK;
	}
	close(fd);
out:
	RFX_FREE(buf);
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
 * CAP_DAC_READ_SEARCH never has it). */
rfx_err sockdiag_scan(sock_list *out, char *err, size_t errlen)
{
	bool restore = sockdiag_net_admin(false);
	rfx_err rc = sockdiag_dump(out, err, errlen);
	if (restore)
		sockdiag_net_admin(true);
	return rc;
}
