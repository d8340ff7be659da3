/* topology.h -- the estate graph: agents' reports merged per node, connections joined to the remote node's
 * services by address, edges aged out, open problems mapped onto nodes and services, and each node's
 * dependents.
 *
 * Thread-safe: every function takes the store's lock. Bounded: nodes, services and connections per node, open
 * problems (the oldest are dropped), addresses. Time comes from opts->now_ms (tests) or the wall clock. */
#ifndef CLASSIFIER_TOPOLOGY_H
#define CLASSIFIER_TOPOLOGY_H

#include <cjson/cJSON.h>
#include "event.h"
#include "http.h"
#include "rfx.h"

typedef struct topology_store topology_store;

typedef struct topology_opts {
	int64_t interval_ms; /* a node's report interval when its reports do not say; default 30 s */
	int64_t node_ttl_ms; /* a node silent this long (and with no open problem) is dropped; default 1 h */
	size_t max_nodes;    /* default 5000 */
	size_t max_services; /* per node, default 4096 */
	size_t max_connections; /* per node, default 20000 */
	size_t max_problems;	/* open problems kept, default 10000 */
	size_t max_external; /* outside hosts drawn one by one before they are folded together, default 200 */
	int64_t (*now_ms)(void *ud); /* clock for tests; NULL: rfx_now_ms */
	void *now_ud;
} topology_opts;

topology_store *topology_store_new(const topology_opts *opts); /* opts may be NULL */
void topology_store_free(topology_store *s);		       /* NULL is fine */

/* What one accepted report changed, for logs and the topology.updated audit record. */
typedef struct topology_report_info {
	bool applied; /* false: a duplicate or stale report, ignored */
	bool full;
	bool changed; /* a service or connection the store did not hold appeared (counts, withdrawals and
		       * ageing do not count: a flapping connection is not news) */
	uint64_t seq;
	size_t services, connections; /* of the node after the merge */
} topology_report_info;

/* Merges an agent report (DESIGN.md "Topology") for node (the {node} of the URL, which the body's "node" must
 * equal). The whole report is validated before anything is applied.
 *   RFX_ERR_PARSE   not JSON
 *   RFX_ERR_INVAL   a field is missing, of the wrong type or out of range (*field names it, e.g.
 * "connections[3].remote") RFX_ERR_LIMIT   more services, connections or addresses than the store keeps
 *   RFX_ERR_REFUSED a delta that does not follow the last report applied (other boot_id or a gap in seq): the
 * agent must send a full report (HTTP 409) A full report, or a delta with seq = last + 1 and the same
 * boot_id, is applied; a report whose seq was already applied is acknowledged and ignored. info and field may
 * be NULL; *field points to static storage. */
rfx_err topology_report(topology_store *s, const char *node, const char *body, size_t len,
			topology_report_info *info, char *err, size_t errlen, const char **field);

/* Open problems, keyed by (source, source_id); the classifier calls these for every event it accepts, and
 * their cost does not grow with the number of open problems. A problem is mapped onto the node whose name or
 * address equals the event's entity (also a short host name against a fully qualified one) when it opens, and
 * again when nodes appear, go or change addresses; at read time onto that node's service whose port equals
 * tags port (or the port of tags instance), or whose process equals tags service, job or process. */
void topology_problem_open(topology_store *s, const event *ev);
void topology_problem_resolved(topology_store *s, const event *ev);

/* GET /v1/topology: {"generated_at", "nodes": [...], "edges": [...], "problems": {"open", "unmapped":
 * [...]}}. See docs/topology.md for every field. Caller owns the result. */
cJSON *topology_graph(topology_store *s);

/* The blast radius of ev's entity: {"node", "services": [ports with a problem], "dependents": [names, nearest
 * first], "direct_dependents": n, "external_clients": bool}. NULL when the entity is not on the map. Caller
 * owns it. */
cJSON *topology_impact(topology_store *s, const event *ev);

/* Rules hooks (eval_ctx.topo_field / topo_match, with ud = the store). name is the part after "topology.":
 *   node        the mapped node's name, "" when the entity is not on the map
 *   dependents  how many nodes depend on it, directly or through others ("0" when on the map without any)
 *   direct_dependents, dependent_nodes (comma list), listens (comma list of ports, ascending),
 *   processes (comma list of listening processes), addresses (comma list), problems (open problems on the
 * node) Unknown names and unmapped entities give "" (NULL). */
const char *topology_field(void *ud, const event *ev, const char *name, char *buf, size_t buflen);
/* match.topology keys: listens: PORT; has_dependents: true|false; process: NAME (a listening or connecting
 * process); known: true|false (the entity is on the map); node: NAME (glob). Unknown keys never match. */
bool topology_match(void *ud, const event *ev, const char *key, const char *value);

/* ---- HTTP handlers (topology_api.c); ud is the classifier_app, reached through classifier_app_topology().
 * ----
 *   {"POST", "/v1/topology/{node}", HTTP_AUTH_TOKEN, topology_api_report},
 *   {"GET", "/v1/topology", HTTP_AUTH_TOKEN, topology_api_graph},
 *   {"GET", "/map", HTTP_AUTH_NONE, topology_api_map},
 *   {"GET", "/map/(anything)", HTTP_AUTH_NONE, topology_api_map}, */
void topology_api_report(const http_req *req, http_resp *resp, void *ud);
void topology_api_graph(const http_req *req, http_resp *resp, void *ud);
/* Serves the /map page's files from web_dir (classifier config), GET /map being web_dir/index.html. */
void topology_api_map(const http_req *req, http_resp *resp, void *ud);
/* Largest file served under /map. */
#define TOPOLOGY_MAP_MAX_FILE (8u * 1024 * 1024)

#endif
