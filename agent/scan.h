/* scan.h -- one scan of the host: sockets (sock_diag, or /proc/net when netlink is not available), their
 * owners, condensed into a report state; with timings and counters for logs, metrics and the benchmark. */
#ifndef AGENT_SCAN_H
#define AGENT_SCAN_H

#include "procfd.h"
#include "report.h"

typedef enum { SCAN_SOURCE_AUTO = 0, SCAN_SOURCE_NETLINK, SCAN_SOURCE_PROC } scan_source;

typedef struct scan_opts {
	scan_source source;
	const char *proc_root; /* default /proc */
	size_t fd_budget;      /* fd links read per scan, 0: unbounded */
	size_t max_sockets;    /* sockets kept per scan, 0: SOCK_LIST_DEFAULT_MAX */
	report_opts report;
} scan_opts;

typedef struct scan_stats {
	double seconds;	     /* wall time of the whole scan */
	double sock_seconds; /* of which listing sockets */
	double attr_seconds; /* of which attributing them */
	size_t sockets;
	size_t dropped;	    /* sockets beyond max_sockets */
	const char *source; /* "netlink" or "proc" */
	procfd_stats fd;
} scan_stats;

typedef struct scan_ctx scan_ctx;

scan_ctx *scan_new(const scan_opts *opts);
void scan_free(scan_ctx *s);
/* Scans once into out (which the caller frees with report_state_free). RFX_ERR_UNAVAILABLE/IO when neither
 * source could be read. */
rfx_err scan_run(scan_ctx *s, report_state *out, scan_stats *st, char *err, size_t errlen);
/* Re-reads the names of socket-owning processes (call now and then: programs exec). */
void scan_refresh_names(scan_ctx *s);

#endif
