/* scan.c -- one scan: list sockets, attribute them to processes, condense them into a report state. */
#include "scan.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "procnet.h"
#include "sockdiag.h"

struct scan_ctx {
	scan_opts o;
	char *proc_root;
	sock_list socks;
	sockdiag *diag;
	procfd_cache *fds;
	const char **owners; /* per socket of the last scan */
	size_t capowners;
	bool netlink_failed; /* auto mode fell back to /proc/net for good */
};

scan_ctx *scan_new(const scan_opts *opts)
{
	scan_ctx *s = rfx_calloc(1, sizeof(*s));
	s->o = *opts;
	s->proc_root = rfx_strdup(opts->proc_root ? opts->proc_root : "/proc");
	s->o.proc_root = s->proc_root;
	sock_list_init(&s->socks, opts->max_sockets);
	s->diag = sockdiag_new();
	s->fds = procfd_new(s->proc_root, opts->fd_budget);
	return s;
}

void scan_free(scan_ctx *s)
{
	if (!s)
		return;
	sock_list_free(&s->socks);
	sockdiag_free(s->diag);
	procfd_free(s->fds);
	free(s->owners);
	free(s->proc_root);
	free(s);
}

static rfx_err list_sockets(scan_ctx *s, scan_stats *st, char *err, size_t errlen)
{
	bool netlink =
	    s->o.source == SCAN_SOURCE_NETLINK || (s->o.source == SCAN_SOURCE_AUTO && !s->netlink_failed);
	sock_list_reset(&s->socks);
	if (netlink) {
		rfx_err rc = sockdiag_scan_split(s->diag, &s->socks, err, errlen);
		st->source = "netlink";
		if (rc != RFX_ERR_UNAVAILABLE || s->o.source == SCAN_SOURCE_NETLINK)
			return rc;
		LOG_WARN("netlink sock_diag unavailable, reading /proc/net instead", "reason", err);
		s->netlink_failed = true;
		sock_list_reset(&s->socks);
	}
	st->source = "proc";
	return procnet_scan(s->proc_root, &s->socks, err, errlen);
}

/* The owner of each socket, by position (kept between scans: about as many sockets each time). */
static const char *const *owners(scan_ctx *s)
{
	size_t n = s->socks.n;
	if (n > s->capowners || (s->capowners > 4096 && n * 4 < s->capowners)) {
		s->capowners = n + n / 4 + 64;
		s->owners = rfx_realloc(s->owners, s->capowners * sizeof(*s->owners));
	}
	procfd_owners(s->fds, s->socks.n, s->owners);
	return s->owners;
}

rfx_err scan_run(scan_ctx *s, report_state *out, scan_stats *st, char *err, size_t errlen)
{
	double t0 = rfx_mono_sec();
	memset(st, 0, sizeof(*st));
	memset(out, 0, sizeof(*out));
	rfx_err rc = list_sockets(s, st, err, errlen);
	if (rc)
		return rc;
	double t1 = rfx_mono_sec();
	procfd_refresh(s->fds, &s->socks, &st->fd);
	double t2 = rfx_mono_sec();
	report_state_build_owners(out, &s->socks, owners(s), &s->o.report);
	st->sockets = s->socks.n;
	st->dropped = s->socks.dropped;
	st->sock_seconds = t1 - t0;
	st->attr_seconds = t2 - t1;
	st->seconds = rfx_mono_sec() - t0;
	return RFX_OK;
}

void scan_refresh_names(scan_ctx *s)
{
	procfd_refresh_names(s->fds);
}
