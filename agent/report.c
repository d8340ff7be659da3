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

typedef struct listeners {
	const sock_entry **v; /* sorted by port */
	size_t n;
} listeners;

static int listener_cmp(const void *a, const void *b)
{
	const sock_entry *x = *(const sock_entry *const *)a, *y = *(const sock_entry *const *)b;
	return (int)x->lport - (int)y->lport;
}

static void listeners_collect(listeners *l, const sock_list *socks)
{
	l->v = rfx_malloc((socks->n + 1) * sizeof(*l->v));
	l->n = 0;
	for (size_t i = 0; i < socks->n; i++) {
		if (socks->v[i].state == SOCK_TCP_LISTEN)
			l->v[l->n++] = &socks->v[i];
	}
	qsort(l->v, l->n, sizeof(*l->v), listener_cmp);
}

/* The listener that accepted an established socket: same port, and the same address or a wildcard one. */
static const sock_entry *listener_for(const listeners *l, const sock_entry *s)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->v[mid]->lport < s->lport)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < l->n && l->v[i]->lport == s->lport; i++) {
		const sock_entry *x = l->v[i];
		bool v4_any_v6_sock = sock_addr_is_any(x->laddr) && !sock_addr_is_v4(x->laddr);
		if (sock_addr_is_any(x->laddr) || v4_any_v6_sock || !memcmp(x->laddr, s->laddr, 16))
			return x;
	}
	return NULL;
}

static void build_services(report_state *out, const listeners *l, report_owner_fn owner, void *ud,
			   const report_opts *o)
{
	out->services = rfx_malloc((l->n + 1) * sizeof(*out->services));
	out->nservices = 0;
	for (size_t i = 0; i < l->n; i++) {
		const sock_entry *s = l->v[i];
		const char *proc = owner(ud, s->inode);
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

static void conn_from_socket(report_conn *c, const sock_entry *s, const sock_entry *listener,
			     report_owner_fn owner, void *ud)
{
	const char *proc = owner(ud, s->inode);
	memset(c, 0, sizeof(*c));
	memcpy(c->addr, s->raddr, 16);
	c->count = 1;
	if (listener) {
		c->dir = REPORT_IN;
		c->port = s->lport;
		set_process(c->process, proc ? proc : owner(ud, listener->inode));
	} else {
		c->dir = REPORT_OUT;
		c->port = s->rport;
		set_process(c->process, proc);
	}
}

/* Sorts by key and folds equal keys into one entry with the summed count. */
static void conns_collapse(report_state *out)
{
	size_t w = 0;
	qsort(out->conns, out->nconns, sizeof(*out->conns), conn_qsort_cmp);
	for (size_t r = 0; r < out->nconns; r++) {
		if (w && !conn_key_cmp(&out->conns[w - 1], &out->conns[r])) {
			report_conn *d = &out->conns[w - 1];
			d->count += out->conns[r].count;
			if (!d->process[0])
				set_process(d->process, out->conns[r].process);
			continue;
		}
		out->conns[w++] = out->conns[r];
	}
	out->nconns = w;
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

static void build_conns(report_state *out, const sock_list *socks, const listeners *l, report_owner_fn owner,
			void *ud, const report_opts *o)
{
	out->conns = rfx_malloc((socks->n + 1) * sizeof(*out->conns));
	out->nconns = 0;
	for (size_t i = 0; i < socks->n; i++) {
		const sock_entry *s = &socks->v[i];
		if (s->state != SOCK_TCP_ESTABLISHED)
			continue;
		if (sock_addr_is_loopback(s->raddr) && !o->include_loopback)
			continue;
		conn_from_socket(&out->conns[out->nconns++], s, listener_for(l, s), owner, ud);
	}
	conns_collapse(out);
	conns_cap(out, o->max_connections);
	/* one entry per socket went in, a few per peer remain: the state is kept until the next report */
	out->conns = rfx_realloc(out->conns, (out->nconns + 1) * sizeof(*out->conns));
}

void report_state_build(report_state *out, const sock_list *socks, report_owner_fn owner, void *ud,
			const report_opts *opts)
{
	listeners l;
	memset(out, 0, sizeof(*out));
	listeners_collect(&l, socks);
	build_services(out, &l, owner, ud, opts);
	qsort(out->services, out->nservices, sizeof(*out->services), service_cmp);
	out->services = rfx_realloc(out->services, (out->nservices + 1) * sizeof(*out->services));
	build_conns(out, socks, &l, owner, ud, opts);
	free(l.v);
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
