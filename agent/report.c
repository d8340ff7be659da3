/* report.c -- condenses a socket scan into services and collapsed connections, and writes full or delta
 * reports. */
#include "report.h"

#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int service_cmp(const void *a, const void *b)
{
	const report_service *x = a, *y = b;
	return (int)x->port - (int)y->port;
}

static int conn_key_cmp(const report_conn *a, const report_conn *b)
{
	if (a->dir != b->dir)
		return (int)a->dir - (int)b->dir;
	int c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->dir == REPORT_OUT ? strcmp(a->process, b->process) : 0;
}

static int conn_qsort_cmp(const void *a, const void *b)
{
	return conn_key_cmp(a, b);
}

static int conn_count_desc(const void *a, const void *b)
{
	const report_conn *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return conn_key_cmp(x, y);
}

static void set_process(char dst[REPORT_PROC_MAX], const char *src)
{
	size_t n = src ? strnlen(src, REPORT_PROC_MAX - 1) : 0;
	if (n)
		memmove(dst, src, n);
	dst[n] = '\0';
}

typedef struct listener {
	const sock_entry *s;
	bool any; /* bound to 0.0.0.0 or ::, which also takes IPv4 on a dual-stack socket */
} listener;

typedef struct listeners {
	listener *v; /* sorted by port */
	size_t n;
} listeners;

static int listener_cmp(const void *a, const void *b)
{
	const listener *x = a, *y = b;
	return (int)x->s->lport - (int)y->s->lport;
}

/* Sorted by port with a stable sort (glibc's qsort is one), so that the first listener on a port in dump
 * order names its service. */
static void listeners_collect(listeners *l, const sock_list *socks)
{
	size_t cap = 16;
	l->v = rfx_malloc(cap * sizeof(*l->v));
	l->n = 0;
	for (size_t i = 0; i < socks->n; i++) {
		if (socks->v[i].state != SOCK_TCP_LISTEN)
			continue;
		if (l->n == cap) {
			cap *= 2;
			l->v = rfx_realloc(l->v, cap * sizeof(*l->v));
		}
		l->v[l->n++] = (listener){.s = &socks->v[i], .any = sock_addr_is_any(socks->v[i].laddr)};
	}
	qsort(l->v, l->n, sizeof(*l->v), listener_cmp);
}

/* The listener that accepted an established socket: same port, and the same address or a wildcard one. */
static const sock_entry *listener_for(const listeners *l, const sock_entry *s)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->v[mid].s->lport < s->lport)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < l->n && l->v[i].s->lport == s->lport; i++) {
		if (l->v[i].any || !memcmp(l->v[i].s->laddr, s->laddr, 16))
			return l->v[i].s;
	}
	return NULL;
}

static const char *owner_at(const sock_list *socks, const char *const *owners, const sock_entry *s)
{
	return owners[s - socks->v];
}

static void build_services(report_state *out, const listeners *l, const sock_list *socks,
			   const char *const *owners, const report_opts *o)
{
	out->services = rfx_malloc((l->n + 1) * sizeof(*out->services));
	out->nservices = 0;
	for (size_t i = 0; i < l->n; i++) {
		const sock_entry *s = l->v[i].s;
		const char *proc = owner_at(socks, owners, s);
		if (sock_addr_is_loopback(s->laddr) && !o->include_loopback)
			continue;
		report_service *last = out->nservices ? &out->services[out->nservices - 1] : NULL;
		if (last && last->port == s->lport) {
			if (!last->process[0])
				set_process(last->process, proc);
			continue;
		}
		report_service *svc = &out->services[out->nservices++];
		svc->port = s->lport;
		set_process(svc->process, proc);
	}
}

/* Connection entries collapsed while the sockets are read: a hash of the key (direction, remote host, port)
 * over the few entries a host has, instead of one entry per socket sorted afterwards. */
typedef struct conn_table {
	report_conn *v;	  /* in order of first appearance */
	const char **src; /* per entry: the owner's name its process was copied from, a quick equality test */
	size_t n, cap;
	uint32_t *slots; /* index in v + 1; 0: empty */
	size_t nslots;	 /* power of two, at least twice n */
} conn_table;

/* One established socket's key; proc is the socket's own owner (NULL: unknown). */
typedef struct conn_key {
	uint8_t dir;
	const uint8_t *addr;
	uint16_t port;
	const char *proc;
} conn_key;

static size_t conn_hash(uint8_t dir, const uint8_t addr[16], uint16_t port)
{
	uint64_t a, b;
	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	uint64_t h = (a * 0x9e3779b97f4a7c15ULL) ^ (b + ((uint64_t)port << 1 | dir));
	h *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h ^ (h >> 31));
}

static void conn_table_rehash(conn_table *t, size_t nslots)
{
	free(t->slots);
	t->nslots = nslots;
	t->slots = rfx_calloc(nslots, sizeof(*t->slots));
	for (size_t i = 0; i < t->n; i++) {
		size_t k = conn_hash(t->v[i].dir, t->v[i].addr, t->v[i].port) & (nslots - 1);
		while (t->slots[k])
			k = (k + 1) & (nslots - 1);
		t->slots[k] = (uint32_t)i + 1;
	}
}

/* Whether a stored (truncated) process name is the one proc would be stored as. */
static bool process_is(const char stored[REPORT_PROC_MAX], const char *stored_src, const char *proc)
{
	if (proc == stored_src)
		return true;
	if (!proc)
		return stored[0] == '\0';
	size_t n = strnlen(proc, REPORT_PROC_MAX - 1);
	return stored[n] == '\0' && !memcmp(stored, proc, n);
}

static bool conn_matches(const conn_table *t, uint32_t i, const conn_key *k)
{
	const report_conn *e = &t->v[i];
	return e->dir == k->dir && e->port == k->port && !memcmp(e->addr, k->addr, 16) &&
	       (k->dir == REPORT_IN || process_is(e->process, t->src[i], k->proc));
}

/* Counts one socket: a new key is appended; an existing one counts it, and an inbound entry without a process
 * takes this socket's (the first named in dump order, as a stable sort by key would give). An inbound
 * socket without a known owner is named after the listener's. */
static void conn_table_add(conn_table *t, const conn_key *key, const char *listener_proc)
{
	const char *proc = key->dir == REPORT_IN && !key->proc ? listener_proc : key->proc;
	size_t mask = t->nslots - 1, k = conn_hash(key->dir, key->addr, key->port) & mask;
	for (; t->slots[k]; k = (k + 1) & mask) {
		uint32_t i = t->slots[k] - 1;
		if (!conn_matches(t, i, key))
			continue;
		t->v[i].count++;
		if (!t->v[i].process[0]) {
			set_process(t->v[i].process, proc);
			t->src[i] = proc;
		}
		return;
	}
	if (t->n == t->cap) {
		t->cap *= 2;
		t->v = rfx_realloc(t->v, t->cap * sizeof(*t->v));
		t->src = rfx_realloc(t->src, t->cap * sizeof(*t->src));
	}
	report_conn *e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	e->dir = key->dir;
	memcpy(e->addr, key->addr, 16);
	e->port = key->port;
	e->count = 1;
	set_process(e->process, proc);
	t->src[t->n] = proc;
	t->slots[k] = (uint32_t)++t->n;
	if (t->n * 2 > t->nslots)
		conn_table_rehash(t, t->nslots * 2);
}

static void conns_cap(report_state *out, size_t max)
{
	if (!max || out->nconns <= max)
		return;
	qsort(out->conns, out->nconns, sizeof(*out->conns), conn_count_desc);
	out->truncated = out->nconns - max;
	out->nconns = max;
	qsort(out->conns, out->nconns, sizeof(*out->conns), conn_qsort_cmp);
}

static void build_conns(report_state *out, const sock_list *socks, const listeners *l,
			const char *const *owners, const report_opts *o)
{
	conn_table t = {.cap = 64};
	t.v = rfx_malloc(t.cap * sizeof(*t.v));
	t.src = rfx_malloc(t.cap * sizeof(*t.src));
	conn_table_rehash(&t, 128);
	for (size_t i = 0; i < socks->n; i++) {
		const sock_entry *s = &socks->v[i];
		if (s->state != SOCK_TCP_ESTABLISHED)
			continue;
		if (!o->include_loopback && sock_addr_is_loopback(s->raddr))
			continue;
		const sock_entry *listener = listener_for(l, s);
		conn_key k = {.dir = listener ? REPORT_IN : REPORT_OUT,
			      .addr = s->raddr,
			      .port = listener ? s->lport : s->rport,
			      .proc = owners[i]};
		conn_table_add(&t, &k, listener ? owner_at(socks, owners, listener) : NULL);
	}
	free(t.slots);
	free(t.src);
	out->conns = t.v;
	out->nconns = t.n;
	qsort(out->conns, out->nconns, sizeof(*out->conns), conn_qsort_cmp);
	conns_cap(out, o->max_connections);
	/* the state is kept until the next report */
	out->conns = rfx_realloc(out->conns, (out->nconns + 1) * sizeof(*out->conns));
}

void report_state_build_owners(report_state *out, const sock_list *socks, const char *const *owners,
			       const report_opts *opts)
{
	listeners l;
	memset(out, 0, sizeof(*out));
	listeners_collect(&l, socks);
	build_services(out, &l, socks, owners, opts);
	qsort(out->services, out->nservices, sizeof(*out->services), service_cmp);
	out->services = rfx_realloc(out->services, (out->nservices + 1) * sizeof(*out->services));
	build_conns(out, socks, &l, owners, opts);
	free(l.v);
}

void report_state_build(report_state *out, const sock_list *socks, report_owner_fn owner, void *ud,
			const report_opts *opts)
{
	const char **owners = rfx_malloc((socks->n + 1) * sizeof(*owners));
	for (size_t i = 0; i < socks->n; i++)
		owners[i] = owner(ud, socks->v[i].inode);
	report_state_build_owners(out, socks, owners, opts);
	free(owners);
}

void report_state_free(report_state *s)
{
	RFX_FREE(s->services);
	RFX_FREE(s->conns);
	s->nservices = s->nconns = s->truncated = 0;
}

void report_state_move(report_state *dst, report_state *src)
{
	report_state_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

static cJSON *service_json(const report_service *s, bool removed)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "port", s->port);
	cJSON_AddStringToObject(j, "proto", "tcp");
	if (removed)
		cJSON_AddBoolToObject(j, "removed", true);
	else if (s->process[0])
		cJSON_AddStringToObject(j, "process", s->process);
	return j;
}

static cJSON *conn_json(const report_conn *c, bool removed)
{
	char addr[INET6_ADDRSTRLEN];
	cJSON *j = cJSON_CreateObject();
	sock_addr_format(c->addr, addr);
	cJSON_AddStringToObject(j, "direction", c->dir == REPORT_IN ? "in" : "out");
	if (c->process[0] && (c->dir == REPORT_OUT || !removed))
		cJSON_AddStringToObject(j, "process", c->process);
	if (c->dir == REPORT_IN)
		cJSON_AddNumberToObject(j, "local_port", c->port);
	cJSON_AddStringToObject(j, "remote", addr);
	if (c->dir == REPORT_OUT)
		cJSON_AddNumberToObject(j, "remote_port", c->port);
	if (removed)
		cJSON_AddBoolToObject(j, "removed", true);
	else
		cJSON_AddNumberToObject(j, "count", c->count);
	return j;
}

static void services_diff(cJSON *arr, const report_state *cur, const report_state *base)
{
	size_t i = 0, k = 0;
	while (i < cur->nservices || k < base->nservices) {
		const report_service *a = i < cur->nservices ? &cur->services[i] : NULL;
		const report_service *b = k < base->nservices ? &base->services[k] : NULL;
		int c = !a ? 1 : !b ? -1 : service_cmp(a, b);
		if (c < 0 || (c == 0 && strcmp(a->process, b->process)))
			cJSON_AddItemToArray(arr, service_json(a, false));
		else if (c > 0)
			cJSON_AddItemToArray(arr, service_json(b, true));
		i += c <= 0;
		k += c >= 0;
	}
}

static void conns_diff(cJSON *arr, const report_state *cur, const report_state *base)
{
	size_t i = 0, k = 0;
	while (i < cur->nconns || k < base->nconns) {
		const report_conn *a = i < cur->nconns ? &cur->conns[i] : NULL;
		const report_conn *b = k < base->nconns ? &base->conns[k] : NULL;
		int c = !a ? 1 : !b ? -1 : conn_key_cmp(a, b);
		bool changed = c == 0 && (a->count != b->count || strcmp(a->process, b->process));
		if (c < 0 || changed)
			cJSON_AddItemToArray(arr, conn_json(a, false));
		else if (c > 0)
			cJSON_AddItemToArray(arr, conn_json(b, true));
		i += c <= 0;
		k += c >= 0;
	}
}

static void add_meta(cJSON *j, const report_meta *m, bool full)
{
	cJSON_AddStringToObject(j, "node", m->node);
	cJSON_AddStringToObject(j, "boot_id", m->boot_id);
	cJSON_AddNumberToObject(j, "seq", (double)m->seq);
	cJSON_AddBoolToObject(j, "full", full);
	cJSON_AddNumberToObject(j, "interval", (double)m->interval_ms / 1000.0);
	cJSON *addrs = cJSON_AddArrayToObject(j, "addresses");
	for (size_t i = 0; i < m->naddresses; i++)
		cJSON_AddItemToArray(addrs, cJSON_CreateString(m->addresses[i]));
}

cJSON *report_json(const report_state *cur, const report_state *base, const report_meta *meta)
{
	static const report_state empty;
	cJSON *j = cJSON_CreateObject();
	add_meta(j, meta, base == NULL);
	services_diff(cJSON_AddArrayToObject(j, "services"), cur, base ? base : &empty);
	conns_diff(cJSON_AddArrayToObject(j, "connections"), cur, base ? base : &empty);
	if (cur->truncated)
		cJSON_AddNumberToObject(j, "truncated", (double)cur->truncated);
	return j;
}

static bool host_address_wanted(const struct sockaddr *sa, uint8_t out[16])
{
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return false;
	if (sa->sa_family == AF_INET)
		sock_addr_set(out, AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	else
		sock_addr_set(out, AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	bool link_local = !sock_addr_is_v4(out) && out[0] == 0xfe && (out[1] & 0xc0) == 0x80;
	return !sock_addr_is_loopback(out) && !sock_addr_is_any(out) && !link_local;
}

size_t report_host_addresses(char ***out, size_t max)
{
	struct ifaddrs *ifs = NULL;
	size_t n = 0;
	*out = rfx_calloc(max + 1, sizeof(**out));
	if (getifaddrs(&ifs) != 0)
		return 0;
	for (struct ifaddrs *i = ifs; i && n < max; i = i->ifa_next) {
		uint8_t a[16];
		char text[INET6_ADDRSTRLEN];
		if (!host_address_wanted(i->ifa_addr, a))
			continue;
		sock_addr_format(a, text);
		(*out)[n++] = rfx_strdup(text);
	}
	freeifaddrs(ifs);
	return n;
}
