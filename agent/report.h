/* report.h -- a host's layer-4 view condensed into a report: listening services, and connections collapsed by
 * remote host and server port (client ports become counts), as full reports or deltas against the last one
 * sent. */
#ifndef AGENT_REPORT_H
#define AGENT_REPORT_H

#include <cjson/cJSON.h>
#include "sock.h"

#define REPORT_PROC_MAX 16

typedef enum { REPORT_OUT = 0, REPORT_IN = 1 } report_dir;

typedef struct report_service {
	uint16_t port;
	char process[REPORT_PROC_MAX]; /* "" when unknown */
} report_service;

/* Key: (dir, addr, port) and, for outbound connections, the process. */
typedef struct report_conn {
	uint8_t dir;
	uint8_t addr[16]; /* the remote host */
	uint16_t port;	  /* out: the remote (server) port; in: the local (server) port */
	char process[REPORT_PROC_MAX];
	uint32_t count;
} report_conn;

typedef struct report_state {
	report_service *services; /* sorted by port */
	size_t nservices;
	report_conn *conns; /* sorted by key */
	size_t nconns;
	size_t truncated; /* connection entries left out by max_connections */
} report_state;

typedef struct report_opts {
	bool include_loopback;	/* report loopback listeners and connections (a host talking to itself) */
	size_t max_connections; /* most connection entries in a report; the busiest are kept. 0: unbounded */
} report_opts;

/* The owner (process name) of a socket inode, or NULL when unknown. */
typedef const char *(*report_owner_fn)(void *ud, uint64_t inode);

/* Condenses one scan: listeners decide which side of an established connection is the server. */
void report_state_build(report_state *out, const sock_list *socks, report_owner_fn owner, void *ud,
			const report_opts *opts);
/* The same with the owners looked up beforehand: owners[i] is the process name of socks->v[i], or NULL. */
void report_state_build_owners(report_state *out, const sock_list *socks, const char *const *owners,
			       const report_opts *opts);
void report_state_free(report_state *s);
/* Hands src's contents to dst (dst freed first); src is left empty. */
void report_state_move(report_state *dst, report_state *src);

typedef struct report_meta {
	const char *node;
	const char *boot_id;
	uint64_t seq;
	int64_t interval_ms;
	const char *const *addresses;
	size_t naddresses;
} report_meta;

/* The report document (DESIGN.md "Topology"). base NULL: a full report; else a delta against base, where an
 * entry is an upsert and `"removed": true` withdraws one. Caller owns the result. */
cJSON *report_json(const report_state *cur, const report_state *base, const report_meta *meta);

/* The host's own addresses (not loopback, not link-local), formatted; at most max. Caller frees each and the
 * array. */
size_t report_host_addresses(char ***out, size_t max);

#endif
