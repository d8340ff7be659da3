/* topology.c -- the estate graph: agent reports merged per node, edges joined by address and aged out, open
 * problems mapped onto nodes and services, dependents (blast radius) for the map, the rules and every
 * decision. */
#include "topology.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPO_NAME_MAX	   253
#define TOPO_BOOT_MAX	   64
#define TOPO_PROC_MAX	   64 /* bytes of a process name, NUL included */
#define TOPO_ADDRS_MAX	   64
#define TOPO_AGE_INTERVALS 3
#define TOPO_MAX_COUNT	   1000000000.0
#define TOPO_EDGE_PROCS	   4
#define TOPO_EXT_SAMPLE	   20
#define TOPO_NONE	   UINT32_MAX
#define TOPO_HOST_MAX	   (TOPO_NAME_MAX + 16) /* a name or address with a port */

typedef enum { DIR_OUT = 0, DIR_IN = 1 } topo_dir;

/* One entry of a node's state; services use dir/addr/port/process with kind SERVICE. */
typedef struct topo_entry {
	uint8_t dir;
	uint8_t addr[16];
	uint16_t port;
	char process[TOPO_PROC_MAX];
	uint32_t count;
	bool current; /* in the node's latest state; otherwise it ages out */
	bool removed; /* parsing only: a delta withdraws it */
	bool held;    /* kept past its age because the peer has an open problem */
	int64_t last_seen;
} topo_entry;

typedef struct topo_list {
	topo_entry *v;
	size_t n;
} topo_list;

typedef struct topo_node {
	char *name;
	char boot_id[TOPO_BOOT_MAX + 1];
	uint64_t seq;
	int64_t interval_ms;
	int64_t last_report;
	uint8_t addrs[TOPO_ADDRS_MAX][16];
	size_t naddrs;
	topo_list services; /* sorted by port */
	topo_list conns;    /* sorted by (dir, addr, port, process for out) */
	/* derived */
	size_t nproblems;
	bool dependents_done;
	uint32_t *dependents; /* node indexes, nearest first */
	size_t ndependents, ndirect;
	bool external_clients;
} topo_node;

typedef struct topo_problem {
	char *strs; /* one block holding the strings below (NULL ones aside) */
	char *source, *source_id, *title, *severity, *event_type, *entity;
	char id[27];
	int64_t started_at, opened;
	int port;			  /* service hint: tags port / instance, 0 when none */
	char *svc_names[3];		  /* service hint: tags service, job, process */
	uint32_t node;			  /* TOPO_NONE when not on the map; kept current while the index is */
	uint64_t hash;			  /* of (source, source_id) */
	struct topo_problem *prev, *next; /* arrival order, the oldest first */
	struct topo_problem *hnext;	  /* the hash bucket's chain */
} topo_problem;

typedef struct topo_addr {
	uint8_t addr[16];
	uint32_t node; /* TOPO_NONE: claimed by several nodes, so useless for joins */
} topo_addr;

/* A node name, or its first label, folded to lower case: how many nodes have it, and one of them. */
typedef struct topo_name {
	const char *key; /* the node's own name; NULL: a free slot */
	uint32_t len, count, node;
	uint64_t hash;
} topo_name;

typedef struct topo_names {
	topo_name *v;
	size_t mask;
} topo_names;

/* Graph vertices beyond the agent nodes: outside servers by address, then one for all outside clients. */
typedef struct topo_ext {
	uint8_t addr[16];
} topo_ext;

typedef struct topo_edge {
	uint32_t from, to; /* vertex ids: nodes first, then externals */
	uint16_t port;
	uint32_t client_count, server_count;
	bool held;
	const char *client_procs[TOPO_EDGE_PROCS];
	const char *server_proc;
} topo_edge;

struct topology_store {
	pthread_mutex_t lock;
	topology_opts o;
	topo_node **nodes; /* sorted by name */
	size_t nnodes;
	topo_problem *phead, *ptail; /* open problems in arrival order */
	size_t nproblems;
	topo_problem **pbuckets; /* by (source, source_id) */
	size_t pmask;
	/* The index of names and addresses changes only with the set of nodes and their addresses; problems
	 * are mapped one by one while it holds, all again when it is rebuilt. */
	bool index_dirty;
	topo_addr *addrs; /* sorted */
	size_t naddrs;
	topo_names by_name, by_label;
	/* edges, ageing and dependents: rebuilt when dirty (a report, a node losing its last problem while
	 * something is held) or when something may have aged out */
	bool dirty;
	int64_t next_expiry;
	size_t nheld; /* entries kept past their age at the last rebuild */
	topo_ext *ext;
	size_t next, next_cap;
	size_t ext_sample_n;
	uint8_t ext_sample[TOPO_EXT_SAMPLE][16];
	bool ext_other, ext_clients;
	topo_edge *edges; /* sorted by (from, to, port) */
	size_t nedges;
	size_t *in_start; /* edges sorted by `to` for dependents: in_order[in_start[v]..in_start[v+1]) */
	uint32_t *in_order;
	/* work done, for tests: rebuilds of edges, full mappings of the problems, entity lookups */
	size_t derives, remaps, lookups;
};

/* ---- small helpers ---- */

static int64_t now_ms(const topology_store *s)
{
	return s->o.now_ms ? s->o.now_ms(s->o.now_ud) : rfx_now_ms();
}

static bool addr_parse(const char *text, uint8_t out[16])
{
	uint8_t tmp[16];
	if (inet_pton(AF_INET, text, tmp) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, tmp, 4);
		return true;
	}
	return inet_pton(AF_INET6, text, out) == 1;
}

static void addr_format(const uint8_t a[16], char out[INET6_ADDRSTRLEN])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!memcmp(a, mapped, 12))
		inet_ntop(AF_INET, a + 12, out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
}

static bool addr_is_loopback(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	return (!memcmp(a, mapped, 12) && a[12] == 127) || !memcmp(a, v6, 16);
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TOPO_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
			return false;
	return true;
}

/* ---- store ---- */

topology_store *topology_store_new(const topology_opts *opts)
{
	topology_store *s = rfx_calloc(1, sizeof(*s));
	if (opts)
		s->o = *opts;
	if (s->o.interval_ms <= 0)
		s->o.interval_ms = 30000;
	if (s->o.node_ttl_ms <= 0)
		s->o.node_ttl_ms = 3600 * 1000;
	if (!s->o.max_nodes)
		s->o.max_nodes = 5000;
	if (!s->o.max_services)
		s->o.max_services = 4096;
	if (!s->o.max_connections)
		s->o.max_connections = 20000;
	if (!s->o.max_problems)
		s->o.max_problems = 10000;
	if (!s->o.max_external)
		s->o.max_external = 200;
	size_t nb = 16;
	while (nb < s->o.max_problems && nb < (1u << 20))
		nb *= 2;
	s->pbuckets = rfx_calloc(nb, sizeof(*s->pbuckets));
	s->pmask = nb - 1;
	pthread_mutex_init(&s->lock, NULL);
	s->dirty = true;
	return s;
}

static void node_free(topo_node *n)
{
	free(n->name);
	free(n->services.v);
	free(n->conns.v);
	free(n->dependents);
	free(n);
}

static void problem_strings_free(topo_problem *p)
{
	RFX_FREE(p->strs);
	p->source = p->source_id = p->title = p->severity = p->event_type = p->entity = NULL;
	for (size_t i = 0; i < RFX_ARRAY_LEN(p->svc_names); i++)
		p->svc_names[i] = NULL;
}

static void derived_free(topology_store *s)
{
	RFX_FREE(s->addrs);
	RFX_FREE(s->by_name.v);
	RFX_FREE(s->by_label.v);
	RFX_FREE(s->ext);
	RFX_FREE(s->edges);
	RFX_FREE(s->in_start);
	RFX_FREE(s->in_order);
	s->naddrs = s->next = s->next_cap = s->nedges = 0;
}

void topology_store_free(topology_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nnodes; i++)
		node_free(s->nodes[i]);
	for (topo_problem *p = s->phead, *next; p; p = next) {
		next = p->next;
		problem_strings_free(p);
		free(p);
	}
	free(s->nodes);
	free(s->pbuckets);
	derived_free(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static size_t node_pos(const topology_store *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->nnodes;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->nodes[mid]->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static topo_node *node_get(const topology_store *s, const char *name)
{
	bool found;
	size_t i = node_pos(s, name, &found);
	return found ? s->nodes[i] : NULL;
}

static topo_node *node_add(topology_store *s, const char *name)
{
	bool found;
	size_t i = node_pos(s, name, &found);
	topo_node *n = rfx_calloc(1, sizeof(*n));
	n->name = rfx_strdup(name);
	s->nodes = rfx_realloc(s->nodes, (s->nnodes + 1) * sizeof(*s->nodes));
	memmove(&s->nodes[i + 1], &s->nodes[i], (s->nnodes - i) * sizeof(*s->nodes));
	s->nodes[i] = n;
	s->nnodes++;
	s->index_dirty = true;
	return n;
}

/* ---- entries: ordering and merging ---- */

static int entry_cmp(const topo_entry *a, const topo_entry *b)
{
	if (a->dir != b->dir)
		return (int)a->dir - (int)b->dir;
	int c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->dir == DIR_OUT ? strcmp(a->process, b->process) : 0;
}

static int entry_qsort_cmp(const void *a, const void *b)
{
	return entry_cmp(a, b);
}

typedef struct merge_out {
	topo_list list;
	bool changed;
} merge_out;

/* Merges the sorted report entries r into the sorted old state: upserts refresh an entry, a removal or (for a
 * full report) an absence only stops refreshing it, so it ages out unless seen again. */
static void list_merge(const topo_list *old, const topo_list *r, bool full, int64_t now, merge_out *out)
{
	size_t i = 0, k = 0;
	memset(out, 0, sizeof(*out));
	out->list.v = rfx_malloc((old->n + r->n + 1) * sizeof(topo_entry));
	while (i < old->n || k < r->n) {
		const topo_entry *a = i < old->n ? &old->v[i] : NULL, *b = k < r->n ? &r->v[k] : NULL;
		int c = !a ? 1 : !b ? -1 : entry_cmp(a, b);
		topo_entry e;
		if (c < 0) {
			e = *a;
			e.current = e.current && !full;
		} else {
			e = c == 0 ? *a : *b;
			if (!b->removed) {
				e.count = b->count;
				memcpy(e.process, b->process, sizeof(e.process));
			}
			e.current = !b->removed;
			e.removed = false;
			out->changed |=
			    c > 0 && e.current; /* a new entry; ones that stop being seen age out later */
			if (c > 0 && b->removed) {
				k++;
				continue;
			}
		}
		if (e.current) {
			e.last_seen = now;
			e.held = false;
		}
		out->list.v[out->list.n++] = e;
		i += c <= 0;
		k += c >= 0;
	}
}

/* ---- report parsing ---- */

typedef struct parsed_report {
	const char *boot_id;
	uint64_t seq;
	bool full;
	int64_t interval_ms;
	bool has_addrs;
	uint8_t addrs[TOPO_ADDRS_MAX][16];
	size_t naddrs;
	topo_list services, conns;
} parsed_report;

typedef struct perr {
	char *err;
	size_t errlen;
	const char **field;
	char path[96];
} perr;

static rfx_err fail(perr *pe, rfx_err rc, const char *path, const char *msg)
{
	snprintf(pe->path, sizeof(pe->path), "%s", path);
	if (pe->field)
		*pe->field = NULL;
	snprintf(pe->err, pe->errlen, "%s: %s", path, msg);
	return rc;
}

static bool get_int(const cJSON *j, const char *key, double lo, double hi, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble ||
	    v->valuedouble < lo || v->valuedouble > hi)
		return false;
	*out = v->valuedouble;
	return true;
}

static const char *get_str(const cJSON *j, const char *key, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (!cJSON_IsString(v) || strlen(v->valuestring) > max ||
	    !rfx_utf8_valid(v->valuestring, strlen(v->valuestring)))
		return NULL;
	return v->valuestring;
}

static bool get_removed(const cJSON *j, bool *removed)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "removed");
	*removed = cJSON_IsTrue(v);
	return !v || cJSON_IsBool(v);
}

static rfx_err parse_process(const cJSON *j, topo_entry *e, perr *pe, const char *path)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "process");
	char where[96];
	if (!v || cJSON_IsNull(v))
		return RFX_OK;
	snprintf(where, sizeof(where), "%s.process", path);
	const char *p = get_str(j, "process", TOPO_PROC_MAX - 1);
	if (!p)
		return fail(pe, RFX_ERR_INVAL, where, "a UTF-8 string of at most 63 bytes");
	snprintf(e->process, sizeof(e->process), "%s", p);
	return RFX_OK;
}

static rfx_err parse_service(const cJSON *j, topo_entry *e, perr *pe, const char *path)
{
	double port;
	char where[96];
	snprintf(where, sizeof(where), "%s.port", path);
	if (!cJSON_IsObject(j))
		return fail(pe, RFX_ERR_INVAL, path, "an object");
	if (!get_int(j, "port", 1, 65535, &port))
		return fail(pe, RFX_ERR_INVAL, where, "an integer from 1 to 65535");
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(j, "proto");
	if (proto && !(cJSON_IsString(proto) && !strcmp(proto->valuestring, "tcp"))) {
		snprintf(where, sizeof(where), "%s.proto", path);
		return fail(pe, RFX_ERR_INVAL, where, "\"tcp\"");
	}
	if (!get_removed(j, &e->removed)) {
		snprintf(where, sizeof(where), "%s.removed", path);
		return fail(pe, RFX_ERR_INVAL, where, "a boolean");
	}
	e->dir = DIR_IN;
	e->port = (uint16_t)port;
	return parse_process(j, e, pe, path);
}

static rfx_err parse_conn_ends(const cJSON *j, topo_entry *e, perr *pe, const char *path)
{
	char where[96];
	double port, count = 0;
	const char *portkey = e->dir == DIR_OUT ? "remote_port" : "local_port";
	const char *remote = get_str(j, "remote", INET6_ADDRSTRLEN);
	snprintf(where, sizeof(where), "%s.remote", path);
	if (!remote || !addr_parse(remote, e->addr))
		return fail(pe, RFX_ERR_INVAL, where, "an IPv4 or IPv6 address");
	snprintf(where, sizeof(where), "%s.%s", path, portkey);
	if (!get_int(j, portkey, 1, 65535, &port))
		return fail(pe, RFX_ERR_INVAL, where, "an integer from 1 to 65535");
	e->port = (uint16_t)port;
	snprintf(where, sizeof(where), "%s.count", path);
	if (!e->removed && !get_int(j, "count", 0, TOPO_MAX_COUNT, &count))
		return fail(pe, RFX_ERR_INVAL, where, "an integer from 0 to 1000000000");
	e->count = (uint32_t)count;
	return RFX_OK;
}

static rfx_err parse_conn(const cJSON *j, topo_entry *e, perr *pe, const char *path)
{
	char where[96];
	if (!cJSON_IsObject(j))
		return fail(pe, RFX_ERR_INVAL, path, "an object");
	const char *dir = get_str(j, "direction", 3);
	snprintf(where, sizeof(where), "%s.direction", path);
	if (!dir || (strcmp(dir, "in") && strcmp(dir, "out")))
		return fail(pe, RFX_ERR_INVAL, where, "\"in\" or \"out\"");
	e->dir = !strcmp(dir, "in") ? DIR_IN : DIR_OUT;
	if (!get_removed(j, &e->removed)) {
		snprintf(where, sizeof(where), "%s.removed", path);
		return fail(pe, RFX_ERR_INVAL, where, "a boolean");
	}
	rfx_err rc = parse_conn_ends(j, e, pe, path);
	return rc ? rc : parse_process(j, e, pe, path);
}

typedef rfx_err (*entry_parser)(const cJSON *j, topo_entry *e, perr *pe, const char *path);

/* Parses an array of entries, sorts it and folds duplicates (the last one wins). */
static rfx_err parse_entries(const cJSON *root, const char *key, size_t max, entry_parser fn, topo_list *out,
			     perr *pe)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, key), *it;
	size_t i = 0;
	if (!arr || cJSON_IsNull(arr))
		return RFX_OK;
	if (!cJSON_IsArray(arr))
		return fail(pe, RFX_ERR_INVAL, key, "an array");
	if ((size_t)cJSON_GetArraySize(arr) > max)
		return fail(pe, RFX_ERR_LIMIT, key, "more entries than the store keeps for one node");
	out->v = rfx_calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(topo_entry));
	cJSON_ArrayForEach(it, arr)
	{
		char path[64];
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		rfx_err rc = fn(it, &out->v[i++], pe, path);
		if (rc)
			return rc;
	}
	out->n = i;
	qsort(out->v, out->n, sizeof(topo_entry), entry_qsort_cmp);
	size_t w = 0;
	for (size_t r = 0; r < out->n; r++) {
		if (w && !entry_cmp(&out->v[w - 1], &out->v[r]))
			w--;
		out->v[w++] = out->v[r];
	}
	out->n = w;
	return RFX_OK;
}

static rfx_err parse_addresses(const cJSON *root, parsed_report *r, perr *pe)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "addresses"), *it;
	if (!arr)
		return RFX_OK;
	if (!cJSON_IsArray(arr))
		return fail(pe, RFX_ERR_INVAL, "addresses", "an array of addresses");
	if (cJSON_GetArraySize(arr) > TOPO_ADDRS_MAX)
		return fail(pe, RFX_ERR_LIMIT, "addresses", "at most 64 addresses");
	r->has_addrs = true;
	cJSON_ArrayForEach(it, arr)
	{
		char path[32];
		snprintf(path, sizeof(path), "addresses[%zu]", r->naddrs);
		if (!cJSON_IsString(it) || !addr_parse(it->valuestring, r->addrs[r->naddrs]))
			return fail(pe, RFX_ERR_INVAL, path, "an IPv4 or IPv6 address");
		r->naddrs++;
	}
	return RFX_OK;
}

static rfx_err parse_header(const cJSON *root, const char *node, parsed_report *r, perr *pe)
{
	double seq, interval;
	const char *name = get_str(root, "node", TOPO_NAME_MAX);
	if (!name || strcmp(name, node))
		return fail(pe, RFX_ERR_INVAL, "node", "must be the node name of the URL");
	r->boot_id = get_str(root, "boot_id", TOPO_BOOT_MAX);
	if (!r->boot_id || !*r->boot_id)
		return fail(pe, RFX_ERR_INVAL, "boot_id", "a string of 1 to 64 bytes");
	if (!get_int(root, "seq", 0, 9007199254740991.0, &seq))
		return fail(pe, RFX_ERR_INVAL, "seq", "a non-negative integer");
	r->seq = (uint64_t)seq;
	const cJSON *full = cJSON_GetObjectItemCaseSensitive(root, "full");
	if (!cJSON_IsBool(full))
		return fail(pe, RFX_ERR_INVAL, "full", "a boolean");
	r->full = cJSON_IsTrue(full);
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(root, "interval");
	if (iv && (!cJSON_IsNumber(iv) || iv->valuedouble < 0.05 || iv->valuedouble > 86400))
		return fail(pe, RFX_ERR_INVAL, "interval", "seconds between reports, 0.05 to 86400");
	interval = iv ? iv->valuedouble : 0;
	r->interval_ms = (int64_t)(interval * 1000.0);
	return RFX_OK;
}

static rfx_err parse_report(const topology_store *s, const char *node, const cJSON *root, parsed_report *r,
			    perr *pe)
{
	if (!cJSON_IsObject(root))
		return fail(pe, RFX_ERR_INVAL, "report", "a JSON object");
	rfx_err rc = parse_header(root, node, r, pe);
	if (!rc)
		rc = parse_addresses(root, r, pe);
	if (!rc)
		rc = parse_entries(root, "services", s->o.max_services, parse_service, &r->services, pe);
	if (!rc)
		rc = parse_entries(root, "connections", s->o.max_connections, parse_conn, &r->conns, pe);
	return rc;
}

/* ---- applying a report ---- */

static rfx_err check_sequence(const topo_node *n, const parsed_report *r, topology_report_info *info,
			      perr *pe)
{
	bool same_boot = n && !strcmp(n->boot_id, r->boot_id);
	if (same_boot && r->seq <= n->seq) {
		info->applied = false; /* a retry of something already applied, or overtaken */
		return RFX_OK;
	}
	if (!r->full && (!same_boot || r->seq != n->seq + 1))
		return fail(pe, RFX_ERR_REFUSED, "seq",
			    "a delta that does not follow the last report: send a full report");
	info->applied = true;
	return RFX_OK;
}

static void node_apply(topology_store *s, topo_node *n, parsed_report *r, merge_out *svc, merge_out *conn,
		       int64_t now)
{
	snprintf(n->boot_id, sizeof(n->boot_id), "%s", r->boot_id);
	n->seq = r->seq;
	if (r->interval_ms)
		n->interval_ms = r->interval_ms;
	n->last_report = now;
	if (r->has_addrs) {
		if (n->naddrs != r->naddrs || memcmp(n->addrs, r->addrs, r->naddrs * sizeof(r->addrs[0])))
			s->index_dirty = true;
		memcpy(n->addrs, r->addrs, sizeof(n->addrs));
		n->naddrs = r->naddrs;
	}
	free(n->services.v);
	free(n->conns.v);
	n->services = svc->list;
	n->conns = conn->list;
}

static rfx_err store_apply(topology_store *s, const char *node, parsed_report *r, topology_report_info *info,
			   perr *pe)
{
	topo_node *n = node_get(s, node);
	rfx_err rc = check_sequence(n, r, info, pe);
	if (rc || !info->applied)
		return rc;
	if (!n && s->nnodes >= s->o.max_nodes)
		return fail(pe, RFX_ERR_LIMIT, "node", "the map holds as many nodes as it may");
	int64_t now = now_ms(s);
	static const topo_list empty;
	merge_out svc, conn;
	list_merge(n ? &n->services : &empty, &r->services, r->full, now, &svc);
	list_merge(n ? &n->conns : &empty, &r->conns, r->full, now, &conn);
	if (svc.list.n > s->o.max_services || conn.list.n > s->o.max_connections) {
		free(svc.list.v);
		free(conn.list.v);
		return fail(pe, RFX_ERR_LIMIT, svc.list.n > s->o.max_services ? "services" : "connections",
			    "more entries than the store keeps for one node");
	}
	if (!n)
		n = node_add(s, node);
	node_apply(s, n, r, &svc, &conn, now);
	info->changed = svc.changed || conn.changed;
	info->services = n->services.n;
	info->connections = n->conns.n;
	s->dirty = true;
	return RFX_OK;
}

rfx_err topology_report(topology_store *s, const char *node, const char *body, size_t len,
			topology_report_info *info, char *err, size_t errlen, const char **field)
{
	static __thread char field_buf[96];
	topology_report_info dummy;
	parsed_report r = {0};
	perr pe = {.err = err, .errlen = errlen, .field = field};
	rfx_err rc;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	if (field)
		*field = NULL;
	if (!node || !name_ok(node)) {
		rc = fail(&pe, RFX_ERR_INVAL, "node", "a node name of letters, digits, '.', '-' and '_'");
		goto out;
	}
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!root) {
		snprintf(err, errlen, "the report is not valid JSON");
		rc = RFX_ERR_PARSE;
		goto out;
	}
	rc = parse_report(s, node, root, &r, &pe);
	if (!rc) {
		pthread_mutex_lock(&s->lock);
		rc = store_apply(s, node, &r, info, &pe);
		pthread_mutex_unlock(&s->lock);
	}
	info->full = r.full;
	info->seq = r.seq;
	cJSON_Delete(root);
out:
	if (rc && field && pe.path[0]) {
		snprintf(field_buf, sizeof(field_buf), "%s", pe.path);
		*field = field_buf;
	}
	free(r.services.v);
	free(r.conns.v);
	return rc;
}

/* ---- index: addresses and names of the nodes, for joins and for mapping entities ---- */

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(((const topo_addr *)a)->addr, ((const topo_addr *)b)->addr, 16);
}

/* Addresses claimed by two nodes (docker0's 172.17.0.1 on every Docker host) identify neither. */
static void build_addr_index(topology_store *s)
{
	size_t n = 0, w = 0;
	for (size_t i = 0; i < s->nnodes; i++)
		n += s->nodes[i]->naddrs;
	s->addrs = rfx_realloc(s->addrs, (n + 1) * sizeof(*s->addrs));
	for (size_t i = 0; i < s->nnodes; i++) {
		for (size_t k = 0; k < s->nodes[i]->naddrs; k++) {
			memcpy(s->addrs[w].addr, s->nodes[i]->addrs[k], 16);
			s->addrs[w++].node = (uint32_t)i;
		}
	}
	qsort(s->addrs, n, sizeof(*s->addrs), addr_cmp);
	w = 0;
	for (size_t r = 0; r < n; r++) {
		if (w && !memcmp(s->addrs[w - 1].addr, s->addrs[r].addr, 16)) {
			if (s->addrs[w - 1].node != s->addrs[r].node)
				s->addrs[w - 1].node = TOPO_NONE;
			continue;
		}
		s->addrs[w++] = s->addrs[r];
	}
	s->naddrs = w;
}

static uint32_t node_by_addr(const topology_store *s, const uint8_t addr[16])
{
	topo_addr key;
	memcpy(key.addr, addr, 16);
	const topo_addr *hit =
	    s->naddrs ? bsearch(&key, s->addrs, s->naddrs, sizeof(*s->addrs), addr_cmp) : NULL;
	return hit ? hit->node : TOPO_NONE;
}

static size_t first_label_len(const char *s)
{
	const char *dot = strchr(s, '.');
	return dot ? (size_t)(dot - s) : strlen(s);
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* FNV-1a over the ASCII-folded bytes: names compare case-insensitively. */
static uint64_t name_hash(const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)ascii_lower((unsigned char)key[i])) * 1099511628211ull;
	return h;
}

static bool name_equal(const topo_name *e, const char *key, size_t len, uint64_t h)
{
	if (e->hash != h || e->len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ascii_lower((unsigned char)e->key[i]) != ascii_lower((unsigned char)key[i]))
			return false;
	return true;
}

/* Open addressing at most half full, so a free slot always ends the probe. */
static topo_name *names_slot(const topo_names *t, const char *key, size_t len, uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		topo_name *e = &t->v[i];
		if (!e->key || name_equal(e, key, len, h))
			return e;
	}
}

static void names_add(topo_names *t, const char *key, size_t len, uint32_t node)
{
	uint64_t h = name_hash(key, len);
	topo_name *e = names_slot(t, key, len, h);
	if (!e->key)
		*e = (topo_name){.key = key, .len = (uint32_t)len, .node = node, .hash = h};
	e->count++;
}

static const topo_name *names_get(const topo_names *t, const char *key, size_t len)
{
	if (!t->v)
		return NULL;
	const topo_name *e = names_slot(t, key, len, name_hash(key, len));
	return e->key ? e : NULL;
}

static void names_reset(topo_names *t, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n + 2)
		cap *= 2;
	free(t->v);
	t->v = rfx_calloc(cap, sizeof(*t->v));
	t->mask = cap - 1;
}

/* Keys point into the nodes' names: rebuilt whenever a node is added or dropped. */
static void build_name_index(topology_store *s)
{
	names_reset(&s->by_name, s->nnodes);
	names_reset(&s->by_label, s->nnodes);
	for (size_t i = 0; i < s->nnodes; i++) {
		const char *name = s->nodes[i]->name;
		names_add(&s->by_name, name, strlen(name), (uint32_t)i);
		names_add(&s->by_label, name, first_label_len(name), (uint32_t)i);
	}
}

static size_t name_count(const topo_name *e)
{
	return e ? e->count : 0;
}

/* "web-01" against "web-01.example.com", either way round, case-insensitively; must be unique. A host without
 * a dot matches every node whose first label it is; a host with dots matches the node of that whole name and
 * a dotless node named as its first label. */
static uint32_t node_by_short_name(const topology_store *s, const char *host)
{
	size_t el = first_label_len(host), elen = strlen(host);
	if (el == elen) {
		const topo_name *e = names_get(&s->by_label, host, el);
		return name_count(e) == 1 ? e->node : TOPO_NONE;
	}
	const topo_name *full = names_get(&s->by_name, host, elen), *bare = names_get(&s->by_name, host, el);
	if (name_count(full) + name_count(bare) != 1)
		return TOPO_NONE;
	return full ? full->node : bare->node;
}

/* The host part of an entity: "[::1]:80" -> "::1", "10.0.0.5:9100" -> "10.0.0.5" (a single colon only). */
static void entity_host(char *host)
{
	char *colon = strchr(host, ':');
	if (host[0] == '[' && strchr(host, ']')) {
		*strchr(host, ']') = '\0';
		memmove(host, host + 1, strlen(host));
	} else if (colon && colon == strrchr(host, ':')) {
		*colon = '\0';
	}
}

/* An entity as a node: its name, an address of it ("10.0.0.5", "[::1]:80", "10.0.0.5:9100"), or a short name.
 * The index must be current. */
static uint32_t node_for_entity(topology_store *s, const char *entity)
{
	bool found;
	uint8_t a[16];
	char host[TOPO_HOST_MAX];
	size_t len = entity ? strlen(entity) : 0;
	s->lookups++;
	if (!s->nnodes || len == 0 || len >= sizeof(host))
		return TOPO_NONE;
	size_t i = node_pos(s, entity, &found);
	if (found)
		return (uint32_t)i;
	memcpy(host, entity, len + 1);
	entity_host(host);
	if (addr_parse(host, a))
		return node_by_addr(s, a);
	if (strcmp(host, entity) && (i = node_pos(s, host, &found), found))
		return (uint32_t)i;
	return node_by_short_name(s, host);
}

/* ---- problems ---- */

static int64_t node_interval(const topology_store *s, const topo_node *n)
{
	return n->interval_ms > 0 ? n->interval_ms : s->o.interval_ms;
}

static void note_expiry(topology_store *s, int64_t t)
{
	if (!s->next_expiry || t < s->next_expiry)
		s->next_expiry = t;
}

static uint64_t problem_hash(const char *source, const char *source_id)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *c = source; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull; /* no source name holds this byte: keeps the two parts apart */
	for (const char *c = source_id; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	return h;
}

/* The bucket link that points at the problem, or at the chain's end when there is none. */
static topo_problem **problem_slot(const topology_store *s, const char *source, const char *source_id,
				   uint64_t h)
{
	topo_problem **slot = &s->pbuckets[h & s->pmask];
	while (*slot && ((*slot)->hash != h || strcmp((*slot)->source_id, source_id) ||
			 strcmp((*slot)->source, source)))
		slot = &(*slot)->hnext;
	return slot;
}

static int port_of_instance(const char *inst)
{
	const char *colon = inst ? strrchr(inst, ':') : NULL;
	char *end;
	if (!colon || colon[1] == '\0')
		return 0;
	long v = strtol(colon + 1, &end, 10);
	return (*end || v < 1 || v > 65535) ? 0 : (int)v;
}

/* The problem's strings and service hints, copied from the event into one block (one allocation, not nine);
 * made before the store's lock is taken. Empty service names count as none. */
static void problem_strings_set(topo_problem *p, const event *ev, bool hints_only)
{
	static const char *const names[] = {"service", "job", "process"};
	const char *v[9] = {0};
	char **dst[9] = {&p->source, &p->source_id,    &p->title,	 &p->severity,	  &p->event_type,
			 &p->entity, &p->svc_names[0], &p->svc_names[1], &p->svc_names[2]};
	if (!hints_only) {
		v[0] = event_source_name(ev->source);
		v[1] = ev->source_id;
		v[2] = ev->title;
		v[3] = ev->severity;
		v[4] = ev->event_type;
		v[5] = ev->entity;
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(names); i++) {
		const char *n = event_tag_get(ev, names[i]);
		v[6 + i] = n && *n ? n : NULL;
	}
	size_t len[9], total = 0;
	for (size_t i = 0; i < 9; i++)
		total += len[i] = v[i] ? strlen(v[i]) + 1 : 0;
	char *blk = rfx_malloc(total ? total : 1), *at = blk;
	for (size_t i = 0; i < 9; i++) {
		*dst[i] = v[i] ? memcpy(at, v[i], len[i]) : NULL;
		at += len[i];
	}
	p->strs = blk;
	const char *port = event_tag_get(ev, "port");
	char *end;
	long n = port ? strtol(port, &end, 10) : 0;
	p->port = (port && !*end && n >= 1 && n <= 65535) ? (int)n
							  : port_of_instance(event_tag_get(ev, "instance"));
}

static void problem_hints(topo_problem *p, const event *ev)
{
	problem_strings_set(p, ev, true);
}

/* Gives p the data made in from (strings, hints, id, times); p keeps its place in the store (hash, links,
 * node). p's old strings go to from, for freeing. */
static void problem_take(topo_problem *p, topo_problem *from)
{
	topo_problem keep = *p;
	*p = *from;
	p->node = keep.node;
	p->hash = keep.hash;
	p->prev = keep.prev;
	p->next = keep.next;
	p->hnext = keep.hnext;
	from->strs = keep.strs;
}

/* A node lost its last open problem: what was held past its age for one may go now (a rebuild only when
 * something is held), and the node itself once silent past node_ttl. */
static void node_problems_cleared(topology_store *s, const topo_node *n)
{
	if (s->nheld)
		s->dirty = true;
	note_expiry(s, n->last_report + s->o.node_ttl_ms);
}

/* While the index is being rebuilt, node indexes are stale: remap_problems counts everything again. */
static void problem_map(topology_store *s, topo_problem *p)
{
	p->node = s->index_dirty ? TOPO_NONE : node_for_entity(s, p->entity);
	if (p->node != TOPO_NONE)
		s->nodes[p->node]->nproblems++;
}

static void problem_unmap(topology_store *s, topo_problem *p)
{
	uint32_t idx = p->node;
	p->node = TOPO_NONE;
	if (idx == TOPO_NONE || s->index_dirty)
		return;
	if (--s->nodes[idx]->nproblems == 0)
		node_problems_cleared(s, s->nodes[idx]);
}

static void problem_remove(topology_store *s, topo_problem *p)
{
	problem_unmap(s, p);
	*problem_slot(s, p->source, p->source_id, p->hash) = p->hnext;
	if (p->prev)
		p->prev->next = p->next;
	else
		s->phead = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		s->ptail = p->prev;
	s->nproblems--;
	problem_strings_free(p);
	free(p);
}

static topo_problem *problem_add(topology_store *s, uint64_t h)
{
	if (s->nproblems >= s->o.max_problems)
		problem_remove(s, s->phead); /* the oldest */
	topo_problem *p = rfx_calloc(1, sizeof(*p));
	p->hash = h;
	p->node = TOPO_NONE;
	p->hnext = s->pbuckets[h & s->pmask];
	s->pbuckets[h & s->pmask] = p;
	p->prev = s->ptail;
	if (s->ptail)
		s->ptail->next = p;
	else
		s->phead = p;
	s->ptail = p;
	s->nproblems++;
	return p;
}

static void remap_problems(topology_store *s)
{
	for (size_t i = 0; i < s->nnodes; i++)
		s->nodes[i]->nproblems = 0;
	for (topo_problem *p = s->phead; p; p = p->next)
		problem_map(s, p);
	s->remaps++;
}

/* After nodes were added or dropped or changed addresses: the index, every problem's node, and what hangs on
 * them (held entries, nodes kept for their problems) again. */
static void ensure_index(topology_store *s)
{
	if (!s->index_dirty)
		return;
	build_addr_index(s);
	build_name_index(s);
	s->index_dirty = false;
	remap_problems(s);
	s->dirty = true;
}

void topology_problem_open(topology_store *s, const event *ev)
{
	if (!s || !ev)
		return;
	const char *source = event_source_name(ev->source);
	uint64_t h = problem_hash(source, ev->source_id);
	topo_problem fresh = {.started_at = ev->started_at_ms};
	problem_strings_set(&fresh, ev, false);
	memcpy(fresh.id, ev->id, sizeof(fresh.id));
	pthread_mutex_lock(&s->lock);
	topo_problem *p = *problem_slot(s, source, ev->source_id, h);
	if (p)
		problem_unmap(s, p); /* the entity may have changed */
	else
		p = problem_add(s, h);
	fresh.opened = now_ms(s);
	problem_take(p, &fresh);
	problem_map(s, p);
	pthread_mutex_unlock(&s->lock);
	free(fresh.strs); /* the replaced strings, outside the lock */
}

void topology_problem_resolved(topology_store *s, const event *ev)
{
	if (!s || !ev)
		return;
	const char *source = event_source_name(ev->source);
	uint64_t h = problem_hash(source, ev->source_id);
	pthread_mutex_lock(&s->lock);
	topo_problem *p = *problem_slot(s, source, ev->source_id, h);
	if (p)
		problem_remove(s, p);
	pthread_mutex_unlock(&s->lock);
}

/* ---- derived state: ageing, edges, dependents ---- */

/* Drops nodes silent past node_ttl (never one with an open problem: a dead host is the map's point then). */
static bool drop_silent_nodes(topology_store *s, int64_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < s->nnodes; i++) {
		topo_node *n = s->nodes[i];
		int64_t until = n->last_report + s->o.node_ttl_ms;
		if (!n->nproblems && now >= until) {
			node_free(n);
			continue;
		}
		if (!n->nproblems)
			note_expiry(s, until);
		s->nodes[w++] = n;
	}
	bool dropped = w != s->nnodes;
	s->nnodes = w;
	s->index_dirty |= dropped;
	return dropped;
}

/* An entry is held past its age while the host at its other end (or its own node, for a server side) has an
 * open problem: the connection most likely went away because of the problem, and its blast radius is what
 * matters. */
static bool entry_held(const topology_store *s, const topo_node *n, const topo_entry *e)
{
	uint32_t peer = node_by_addr(s, e->addr);
	if (e->dir == DIR_OUT)
		return peer != TOPO_NONE && s->nodes[peer]->nproblems;
	return n->nproblems > 0;
}

static void age_list(topology_store *s, topo_node *n, topo_list *l, bool services, int64_t now)
{
	int64_t age = TOPO_AGE_INTERVALS * node_interval(s, n);
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		topo_entry *e = &l->v[i];
		e->held = false;
		if (now >= e->last_seen + age) {
			if (services ? !n->nproblems : !entry_held(s, n, e))
				continue;
			e->held = true;
			s->nheld++;
		} else {
			note_expiry(s, e->last_seen + age);
		}
		l->v[w++] = *e;
	}
	l->n = w;
}

static void age_entries(topology_store *s, int64_t now)
{
	s->nheld = 0;
	for (size_t i = 0; i < s->nnodes; i++) {
		age_list(s, s->nodes[i], &s->nodes[i]->services, true, now);
		age_list(s, s->nodes[i], &s->nodes[i]->conns, false, now);
	}
}

/* ---- edges ---- */

static int ext_cmp(const void *a, const void *b)
{
	return memcmp(((const topo_ext *)a)->addr, ((const topo_ext *)b)->addr, 16);
}

/* Vertex ids: nodes 0..nnodes-1, then outside servers by address, then "other outside servers", then "outside
 * clients". */
static uint32_t ext_other_id(const topology_store *s)
{
	return (uint32_t)(s->nnodes + s->next);
}

static uint32_t ext_clients_id(const topology_store *s)
{
	return (uint32_t)(s->nnodes + s->next + 1);
}

static void collect_ext(topology_store *s)
{
	s->next = 0;
	s->ext_other = s->ext_clients = false;
	s->ext_sample_n = 0;
	for (size_t i = 0; i < s->nnodes; i++) {
		const topo_list *l = &s->nodes[i]->conns;
		for (size_t k = 0; k < l->n; k++) {
			if (l->v[k].dir != DIR_OUT || node_by_addr(s, l->v[k].addr) != TOPO_NONE ||
			    addr_is_loopback(l->v[k].addr))
				continue;
			if (s->next == s->next_cap) {
				s->next_cap = s->next_cap ? s->next_cap * 2 : 16;
				s->ext = rfx_realloc(s->ext, s->next_cap * sizeof(*s->ext));
			}
			memcpy(s->ext[s->next++].addr, l->v[k].addr, 16);
		}
	}
	if (s->next)
		qsort(s->ext, s->next, sizeof(*s->ext), ext_cmp);
	size_t w = 0;
	for (size_t r = 0; r < s->next; r++)
		if (!w || memcmp(s->ext[w - 1].addr, s->ext[r].addr, 16))
			s->ext[w++] = s->ext[r];
	s->next = w > s->o.max_external ? s->o.max_external : w;
	s->ext_other = w > s->o.max_external;
}

static uint32_t ext_server_id(const topology_store *s, const uint8_t addr[16])
{
	topo_ext key;
	memcpy(key.addr, addr, 16);
	const topo_ext *hit = s->next ? bsearch(&key, s->ext, s->next, sizeof(*s->ext), ext_cmp) : NULL;
	return hit ? (uint32_t)(s->nnodes + (size_t)(hit - s->ext)) : ext_other_id(s);
}

static void note_ext_client(topology_store *s, const uint8_t addr[16])
{
	s->ext_clients = true;
	for (size_t i = 0; i < s->ext_sample_n; i++)
		if (!memcmp(s->ext_sample[i], addr, 16))
			return;
	if (s->ext_sample_n < TOPO_EXT_SAMPLE)
		memcpy(s->ext_sample[s->ext_sample_n++], addr, 16);
}

static int edge_cmp(const void *a, const void *b)
{
	const topo_edge *x = a, *y = b;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return (int)x->port - (int)y->port;
}

static const topo_entry *service_on(const topo_node *n, uint16_t port)
{
	for (size_t i = 0; i < n->services.n; i++)
		if (n->services.v[i].port == port)
			return &n->services.v[i];
	return NULL;
}

/* One contribution per connection entry: the client side counts client_count, the server side server_count.
 */
static bool edge_from_entry(topology_store *s, uint32_t self, const topo_entry *e, topo_edge *out)
{
	uint32_t peer = node_by_addr(s, e->addr);
	memset(out, 0, sizeof(*out));
	out->port = e->port;
	out->held = e->held;
	if (peer == self || (peer == TOPO_NONE && addr_is_loopback(e->addr)))
		return false; /* a host talking to itself */
	if (e->dir == DIR_OUT) {
		out->from = self;
		out->to = peer != TOPO_NONE ? peer : ext_server_id(s, e->addr);
		out->client_count = e->count;
		out->client_procs[0] = e->process[0] ? e->process : NULL;
	} else {
		if (peer == TOPO_NONE)
			note_ext_client(s, e->addr);
		out->from = peer != TOPO_NONE ? peer : ext_clients_id(s);
		out->to = self;
		out->server_count = e->count;
		out->server_proc = e->process[0] ? e->process : NULL;
	}
	return true;
}

static void edge_add_proc(topo_edge *d, const char *p)
{
	for (size_t i = 0; p && i < TOPO_EDGE_PROCS; i++) {
		if (!d->client_procs[i]) {
			d->client_procs[i] = p;
			return;
		}
		if (!strcmp(d->client_procs[i], p))
			return;
	}
}

/* Both ends of one connection may report it: counts are the larger side, not the sum. */
static void edges_collapse(topology_store *s)
{
	qsort(s->edges, s->nedges, sizeof(*s->edges), edge_cmp);
	size_t w = 0;
	for (size_t r = 0; r < s->nedges; r++) {
		topo_edge *e = &s->edges[r];
		if (w && !edge_cmp(&s->edges[w - 1], e)) {
			topo_edge *d = &s->edges[w - 1];
			d->client_count += e->client_count;
			d->server_count += e->server_count;
			d->held = d->held && e->held;
			edge_add_proc(d, e->client_procs[0]);
			if (!d->server_proc)
				d->server_proc = e->server_proc;
			continue;
		}
		s->edges[w++] = *e;
	}
	s->nedges = w;
	for (size_t i = 0; i < s->nedges; i++) {
		topo_edge *e = &s->edges[i];
		const topo_entry *svc = e->to < s->nnodes ? service_on(s->nodes[e->to], e->port) : NULL;
		if (svc && svc->process[0])
			e->server_proc = svc->process; /* the join: the remote node's service on that port */
	}
}

static void build_edges(topology_store *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nnodes; i++)
		n += s->nodes[i]->conns.n;
	collect_ext(s);
	s->edges = rfx_realloc(s->edges, (n + 1) * sizeof(*s->edges));
	s->nedges = 0;
	for (size_t i = 0; i < s->nnodes; i++) {
		const topo_list *l = &s->nodes[i]->conns;
		for (size_t k = 0; k < l->n; k++)
			s->nedges += edge_from_entry(s, (uint32_t)i, &l->v[k], &s->edges[s->nedges]);
	}
	edges_collapse(s);
}

/* in_order lists edge indexes grouped by their `to` vertex, for walking dependents. */
static void build_in_index(topology_store *s)
{
	size_t nv = s->nnodes + s->next + 2;
	s->in_start = rfx_realloc(s->in_start, (nv + 1) * sizeof(*s->in_start));
	s->in_order = rfx_realloc(s->in_order, (s->nedges + 1) * sizeof(*s->in_order));
	memset(s->in_start, 0, (nv + 1) * sizeof(*s->in_start));
	for (size_t i = 0; i < s->nedges; i++)
		s->in_start[s->edges[i].to + 1]++;
	for (size_t v = 0; v < nv; v++)
		s->in_start[v + 1] += s->in_start[v];
	size_t *fill = rfx_malloc((nv + 1) * sizeof(*fill));
	memcpy(fill, s->in_start, (nv + 1) * sizeof(*fill));
	for (size_t i = 0; i < s->nedges; i++)
		s->in_order[fill[s->edges[i].to]++] = (uint32_t)i;
	free(fill);
}

static void reset_dependents(topology_store *s)
{
	for (size_t i = 0; i < s->nnodes; i++) {
		topo_node *n = s->nodes[i];
		RFX_FREE(n->dependents);
		n->ndependents = n->ndirect = 0;
		n->dependents_done = false;
		n->external_clients = false;
	}
}

/* Problems stay mapped as they come and go; edges and dependents are rebuilt only after a report, a change in
 * the index, or when something may have aged out. */
static void derive(topology_store *s)
{
	ensure_index(s);
	int64_t now = now_ms(s);
	if (!s->dirty && (!s->next_expiry || now < s->next_expiry))
		return;
	s->next_expiry = 0;
	if (drop_silent_nodes(s, now))
		ensure_index(s);
	s->derives++;
	age_entries(s, now);
	build_edges(s);
	build_in_index(s);
	reset_dependents(s);
	s->dirty = false;
}

/* Breadth-first over incoming edges: every node that reaches n, nearest first. */
static void compute_dependents(topology_store *s, uint32_t idx)
{
	topo_node *n = s->nodes[idx];
	if (n->dependents_done)
		return;
	size_t nv = s->nnodes + s->next + 2, head = 0, tail = 0;
	uint8_t *seen = rfx_calloc(nv, 1);
	uint32_t *queue = rfx_malloc(nv * sizeof(*queue));
	n->dependents = rfx_malloc((s->nnodes + 1) * sizeof(*n->dependents));
	seen[idx] = 1;
	queue[tail++] = idx;
	while (head < tail) {
		uint32_t v = queue[head++];
		for (size_t k = s->in_start[v]; k < s->in_start[v + 1]; k++) {
			uint32_t from = s->edges[s->in_order[k]].from;
			if (seen[from])
				continue;
			seen[from] = 1;
			if (from >= s->nnodes) {
				n->external_clients = true;
				continue;
			}
			queue[tail++] = from;
			n->dependents[n->ndependents++] = from;
			n->ndirect += v == idx;
		}
	}
	free(seen);
	free(queue);
	n->dependents_done = true;
}

/* ---- output: graph, impact ---- */

static void add_time(cJSON *j, const char *key, int64_t ms)
{
	char t[32];
	rfx_iso8601(ms, t);
	cJSON_AddStringToObject(j, key, t);
}

static bool problem_on_service(const topo_problem *p, const topo_entry *svc)
{
	if (p->port)
		return p->port == svc->port;
	for (size_t i = 0; i < RFX_ARRAY_LEN(p->svc_names); i++)
		if (p->svc_names[i] && svc->process[0] && !strcmp(p->svc_names[i], svc->process))
			return true;
	return false;
}

static cJSON *problem_json(const topo_problem *p)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", p->id);
	cJSON_AddStringToObject(j, "source", p->source);
	cJSON_AddStringToObject(j, "source_id", p->source_id);
	cJSON_AddStringToObject(j, "title", p->title);
	cJSON_AddStringToObject(j, "severity", p->severity);
	cJSON_AddStringToObject(j, "event_type", p->event_type);
	cJSON_AddStringToObject(j, "entity", p->entity);
	if (p->started_at)
		add_time(j, "started_at", p->started_at);
	add_time(j, "opened_at", p->opened);
	if (p->port)
		cJSON_AddNumberToObject(j, "port", p->port);
	return j;
}

static cJSON *addrs_json(const uint8_t (*addrs)[16], size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		char text[INET6_ADDRSTRLEN];
		addr_format(addrs[i], text);
		cJSON_AddItemToArray(arr, cJSON_CreateString(text));
	}
	return arr;
}

/* The open problems grouped by node once per graph, in arrival order: node i's are v[start[i]..start[i+1]).
 */
typedef struct problem_groups {
	const topo_problem **v;
	size_t *start;
} problem_groups;

static void group_problems(const topology_store *s, problem_groups *g)
{
	size_t *fill = rfx_calloc(s->nnodes + 1, sizeof(*fill));
	g->start = rfx_calloc(s->nnodes + 1, sizeof(*g->start));
	g->v = rfx_malloc((s->nproblems + 1) * sizeof(*g->v));
	for (const topo_problem *p = s->phead; p; p = p->next)
		if (p->node != TOPO_NONE)
			g->start[p->node + 1]++;
	for (size_t i = 0; i < s->nnodes; i++)
		g->start[i + 1] += g->start[i];
	memcpy(fill, g->start, (s->nnodes + 1) * sizeof(*fill));
	for (const topo_problem *p = s->phead; p; p = p->next)
		if (p->node != TOPO_NONE)
			g->v[fill[p->node]++] = p;
	free(fill);
}

static void problem_groups_free(problem_groups *g)
{
	RFX_FREE(g->v);
	RFX_FREE(g->start);
}

static cJSON *services_json(const topology_store *s, uint32_t idx, const problem_groups *g)
{
	const topo_node *n = s->nodes[idx];
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n->services.n; i++) {
		const topo_entry *svc = &n->services.v[i];
		cJSON *j = cJSON_CreateObject(), *ids = NULL;
		cJSON_AddNumberToObject(j, "port", svc->port);
		cJSON_AddStringToObject(j, "proto", "tcp");
		cJSON_AddStringToObject(j, "process", svc->process);
		for (size_t k = g->start[idx]; k < g->start[idx + 1]; k++) {
			if (!problem_on_service(g->v[k], svc))
				continue;
			if (!ids)
				ids = cJSON_AddArrayToObject(j, "problems");
			cJSON_AddItemToArray(ids, cJSON_CreateString(g->v[k]->id));
		}
		cJSON_AddItemToArray(arr, j);
	}
	return arr;
}

static cJSON *dependents_json(const topology_store *s, const topo_node *n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n->ndependents; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(s->nodes[n->dependents[i]]->name));
	return arr;
}

static void node_problems_json(const topology_store *s, uint32_t idx, const problem_groups *g, cJSON *j)
{
	topo_node *n = s->nodes[idx];
	cJSON *arr = cJSON_AddArrayToObject(j, "problems");
	for (size_t k = g->start[idx]; k < g->start[idx + 1]; k++)
		cJSON_AddItemToArray(arr, problem_json(g->v[k]));
	if (!n->nproblems)
		return;
	cJSON_AddItemToObject(j, "dependents", dependents_json(s, n));
	cJSON_AddBoolToObject(j, "external_clients", n->external_clients);
}

static cJSON *node_json(topology_store *s, uint32_t idx, const problem_groups *g, int64_t now)
{
	topo_node *n = s->nodes[idx];
	cJSON *j = cJSON_CreateObject();
	int64_t interval = node_interval(s, n);
	cJSON_AddStringToObject(j, "id", n->name);
	cJSON_AddStringToObject(j, "kind", "agent");
	cJSON_AddItemToObject(j, "addresses", addrs_json((const uint8_t(*)[16])n->addrs, n->naddrs));
	add_time(j, "last_report", n->last_report);
	cJSON_AddNumberToObject(j, "interval", (double)interval / 1000.0);
	cJSON_AddBoolToObject(j, "stale", now >= n->last_report + TOPO_AGE_INTERVALS * interval);
	cJSON_AddItemToObject(j, "services", services_json(s, idx, g));
	if (n->nproblems)
		compute_dependents(s, idx);
	node_problems_json(s, idx, g, j);
	cJSON_AddItemToObject(j, "impacted_by", cJSON_CreateArray());
	return j;
}

static cJSON *ext_json(const char *id, const char *label, const uint8_t (*addrs)[16], size_t n)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddStringToObject(j, "kind", "external");
	cJSON_AddStringToObject(j, "label", label);
	cJSON_AddItemToObject(j, "addresses", addrs_json(addrs, n));
	return j;
}

static void vertex_id(const topology_store *s, uint32_t v, char *out, size_t outlen)
{
	if (v < s->nnodes) {
		snprintf(out, outlen, "%s", s->nodes[v]->name);
	} else if (v < s->nnodes + s->next) {
		char text[INET6_ADDRSTRLEN];
		addr_format(s->ext[v - s->nnodes].addr, text);
		snprintf(out, outlen, "ext:%s", text);
	} else {
		snprintf(out, outlen, "%s", v == ext_other_id(s) ? "ext:other-servers" : "ext:clients");
	}
}

static void add_external_nodes(topology_store *s, cJSON *nodes)
{
	for (size_t i = 0; i < s->next; i++) {
		char id[INET6_ADDRSTRLEN + 8], text[INET6_ADDRSTRLEN];
		vertex_id(s, (uint32_t)(s->nnodes + i), id, sizeof(id));
		addr_format(s->ext[i].addr, text);
		cJSON_AddItemToArray(nodes, ext_json(id, text, (const uint8_t(*)[16])s->ext[i].addr, 1));
	}
	if (s->ext_other)
		cJSON_AddItemToArray(nodes, ext_json("ext:other-servers", "other outside servers", NULL, 0));
	if (s->ext_clients)
		cJSON_AddItemToArray(nodes, ext_json("ext:clients", "outside clients",
						     (const uint8_t(*)[16])s->ext_sample, s->ext_sample_n));
}

static cJSON *edge_json(const topology_store *s, const topo_edge *e)
{
	char id[TOPO_NAME_MAX + 8];
	cJSON *j = cJSON_CreateObject(), *procs;
	vertex_id(s, e->from, id, sizeof(id));
	cJSON_AddStringToObject(j, "from", id);
	vertex_id(s, e->to, id, sizeof(id));
	cJSON_AddStringToObject(j, "to", id);
	cJSON_AddNumberToObject(j, "port", e->port);
	cJSON_AddNumberToObject(j, "count",
				e->client_count > e->server_count ? e->client_count : e->server_count);
	procs = cJSON_AddArrayToObject(j, "client_processes");
	for (size_t i = 0; i < TOPO_EDGE_PROCS && e->client_procs[i]; i++)
		cJSON_AddItemToArray(procs, cJSON_CreateString(e->client_procs[i]));
	cJSON_AddStringToObject(j, "server_process", e->server_proc ? e->server_proc : "");
	cJSON_AddBoolToObject(j, "held", e->held);
	return j;
}

/* Each problem node's dependents learn which problem nodes impact them, for the map's highlighting. */
/* items[i] is node i's JSON object. */
static void mark_impacted(topology_store *s, cJSON **items)
{
	for (size_t i = 0; i < s->nnodes; i++) {
		topo_node *n = s->nodes[i];
		for (size_t k = 0; n->nproblems && k < n->ndependents; k++)
			cJSON_AddItemToArray(cJSON_GetObjectItem(items[n->dependents[k]], "impacted_by"),
					     cJSON_CreateString(n->name));
	}
}

static cJSON *problems_summary(const topology_store *s)
{
	cJSON *j = cJSON_CreateObject(), *unmapped;
	cJSON_AddNumberToObject(j, "open", (double)s->nproblems);
	unmapped = cJSON_AddArrayToObject(j, "unmapped");
	for (const topo_problem *p = s->phead; p; p = p->next)
		if (p->node == TOPO_NONE)
			cJSON_AddItemToArray(unmapped, problem_json(p));
	return j;
}

static void add_agent_nodes(topology_store *s, cJSON *nodes, int64_t now)
{
	problem_groups g;
	cJSON **items = rfx_malloc((s->nnodes + 1) * sizeof(*items));
	group_problems(s, &g);
	for (size_t i = 0; i < s->nnodes; i++) {
		items[i] = node_json(s, (uint32_t)i, &g, now);
		cJSON_AddItemToArray(nodes, items[i]);
	}
	mark_impacted(s, items);
	problem_groups_free(&g);
	free(items);
}

cJSON *topology_graph(topology_store *s)
{
	cJSON *j = cJSON_CreateObject(), *nodes, *edges;
	pthread_mutex_lock(&s->lock);
	derive(s);
	int64_t now = now_ms(s);
	add_time(j, "generated_at", now);
	nodes = cJSON_AddArrayToObject(j, "nodes");
	add_agent_nodes(s, nodes, now);
	add_external_nodes(s, nodes);
	edges = cJSON_AddArrayToObject(j, "edges");
	for (size_t i = 0; i < s->nedges; i++)
		cJSON_AddItemToArray(edges, edge_json(s, &s->edges[i]));
	cJSON_AddItemToObject(j, "problems", problems_summary(s));
	pthread_mutex_unlock(&s->lock);
	return j;
}

/* The node of an event's entity with its dependents computed; TOPO_NONE when not on the map. Lock held. With
 * no agent reporting there is nothing to derive or look up. */
static uint32_t event_node(topology_store *s, const event *ev)
{
	if (!s->nnodes)
		return TOPO_NONE;
	derive(s);
	uint32_t idx = node_for_entity(s, ev ? ev->entity : NULL);
	if (idx != TOPO_NONE)
		compute_dependents(s, idx);
	return idx;
}

static cJSON *impact_services(const topology_store *s, uint32_t idx, const event *ev)
{
	cJSON *arr = cJSON_CreateArray();
	topo_problem p = {0};
	problem_hints(&p, ev);
	const topo_list *l = &s->nodes[idx]->services;
	for (size_t i = 0; i < l->n; i++) {
		if (!problem_on_service(&p, &l->v[i]))
			continue;
		cJSON *svc = cJSON_CreateObject();
		cJSON_AddNumberToObject(svc, "port", l->v[i].port);
		cJSON_AddStringToObject(svc, "process", l->v[i].process);
		cJSON_AddItemToArray(arr, svc);
	}
	problem_strings_free(&p);
	return arr;
}

cJSON *topology_impact(topology_store *s, const event *ev)
{
	cJSON *j = NULL;
	/* With no agent reporting there is no impact: skip the lock (a report racing this event is as if it
	 * came just after it). */
	if (!s || !__atomic_load_n(&s->nnodes, __ATOMIC_RELAXED))
		return NULL;
	pthread_mutex_lock(&s->lock);
	uint32_t idx = event_node(s, ev);
	if (idx != TOPO_NONE) {
		topo_node *n = s->nodes[idx];
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "node", n->name);
		cJSON_AddItemToObject(j, "services", impact_services(s, idx, ev));
		cJSON_AddItemToObject(j, "dependents", dependents_json(s, n));
		cJSON_AddNumberToObject(j, "direct_dependents", (double)n->ndirect);
		cJSON_AddBoolToObject(j, "external_clients", n->external_clients);
	}
	pthread_mutex_unlock(&s->lock);
	return j;
}

/* ---- rules hooks ---- */

/* Appends item to a comma list in buf; stops (keeping whole items) when the buffer is full. */
static void list_append(char *buf, size_t buflen, const char *item)
{
	size_t used = strlen(buf), need = strlen(item) + (used ? 1 : 0);
	if (used + need + 1 > buflen)
		return;
	snprintf(buf + used, buflen - used, "%s%s", used ? "," : "", item);
}

static void field_listens(const topo_node *n, char *buf, size_t buflen)
{
	for (size_t i = 0; i < n->services.n; i++) {
		char port[8];
		snprintf(port, sizeof(port), "%u", n->services.v[i].port);
		list_append(buf, buflen, port);
	}
}

static void field_processes(const topo_node *n, char *buf, size_t buflen)
{
	for (size_t i = 0; i < n->services.n; i++) {
		const char *p = n->services.v[i].process;
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++)
			dup = !strcmp(n->services.v[k].process, p);
		if (*p && !dup)
			list_append(buf, buflen, p);
	}
}

static void field_value(const topology_store *s, uint32_t idx, const char *name, char *buf, size_t buflen)
{
	const topo_node *n = s->nodes[idx];
	if (!strcmp(name, "node"))
		snprintf(buf, buflen, "%s", n->name);
	else if (!strcmp(name, "dependents"))
		snprintf(buf, buflen, "%zu", n->ndependents);
	else if (!strcmp(name, "direct_dependents"))
		snprintf(buf, buflen, "%zu", n->ndirect);
	else if (!strcmp(name, "problems"))
		snprintf(buf, buflen, "%zu", n->nproblems);
	else if (!strcmp(name, "listens"))
		field_listens(n, buf, buflen);
	else if (!strcmp(name, "processes"))
		field_processes(n, buf, buflen);
	else if (!strcmp(name, "dependent_nodes"))
		for (size_t i = 0; i < n->ndependents; i++)
			list_append(buf, buflen, s->nodes[n->dependents[i]]->name);
	else if (!strcmp(name, "addresses"))
		for (size_t i = 0; i < n->naddrs; i++) {
			char text[INET6_ADDRSTRLEN];
			addr_format(n->addrs[i], text);
			list_append(buf, buflen, text);
		}
}

const char *topology_field(void *ud, const event *ev, const char *name, char *buf, size_t buflen)
{
	topology_store *s = ud;
	if (!s || !name || !buf || !buflen)
		return NULL;
	if (!strncmp(name, "topology.", 9))
		name += 9;
	buf[0] = '\0';
	pthread_mutex_lock(&s->lock);
	uint32_t idx = event_node(s, ev);
	if (idx != TOPO_NONE)
		field_value(s, idx, name, buf, buflen);
	pthread_mutex_unlock(&s->lock);
	return buf[0] ? buf : NULL;
}

static bool parse_bool_word(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(v, "false") || !strcasecmp(v, "no")) {
		*out = false;
		return true;
	}
	return false;
}

static bool node_has_process(const topo_node *n, const char *name)
{
	for (size_t i = 0; i < n->services.n; i++)
		if (!strcmp(n->services.v[i].process, name))
			return true;
	for (size_t i = 0; i < n->conns.n; i++)
		if (!strcmp(n->conns.v[i].process, name))
			return true;
	return false;
}

static bool match_node(const topology_store *s, uint32_t idx, const char *key, const char *value)
{
	const topo_node *n = s->nodes[idx];
	bool want;
	if (!strcmp(key, "listens")) {
		char *end;
		long port = strtol(value, &end, 10);
		return *value && !*end && port >= 1 && port <= 65535 && service_on(n, (uint16_t)port);
	}
	if (!strcmp(key, "has_dependents"))
		return parse_bool_word(value, &want) && want == (n->ndependents > 0);
	if (!strcmp(key, "process"))
		return node_has_process(n, value);
	if (!strcmp(key, "node"))
		return rfx_glob(value, n->name);
	return false;
}

bool topology_match(void *ud, const event *ev, const char *key, const char *value)
{
	topology_store *s = ud;
	bool want, hit = false;
	if (!s || !key || !value)
		return false;
	pthread_mutex_lock(&s->lock);
	uint32_t idx = event_node(s, ev);
	if (!strcmp(key, "known"))
		hit = parse_bool_word(value, &want) && want == (idx != TOPO_NONE);
	else if (idx != TOPO_NONE)
		hit = match_node(s, idx, key, value);
	pthread_mutex_unlock(&s->lock);
	return hit;
}
