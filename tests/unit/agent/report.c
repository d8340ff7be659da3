/* report.c -- unit tests for condensing sockets into a report (listeners decide the server side, client ports
 * collapse into counts, loopback and the connection cap), the JSON of full and delta reports, and the
 * session: sequence numbers, full reports every N and after failures, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "session.h"

static void add(sock_list *l, uint8_t state, const char *la, uint16_t lp, const char *ra, uint16_t rp,
		uint64_t ino)
{
	sock_entry e = {.state = state, .lport = lp, .rport = rp, .inode = ino};
	assert_true(sock_addr_parse(la, e.laddr));
	assert_true(sock_addr_parse(ra, e.raddr));
	sock_list_push(l, &e);
}

static const char *owner(void *ud, uint64_t inode)
{
	static const char *const names[] = {NULL,  "nginx", "local", "nginx", "nginx", "app",
					    "app", "cli",   "local", NULL,    "pg"};
	return inode < sizeof(names) / sizeof(names[0]) ? names[inode] : NULL;
}

/* A web host 10.0.0.5: nginx on :80 with two connections from 10.0.0.7, an app with two connections to a
 * database at 10.0.0.9:5432, and a loopback-only service on :9000 with one local client. */
static void host(sock_list *l)
{
	sock_list_init(l, 0);
	add(l, SOCK_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 0, 1);
	add(l, SOCK_TCP_LISTEN, "127.0.0.1", 9000, "0.0.0.0", 0, 2);
	add(l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 80, "10.0.0.7", 40001, 3);
	add(l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 80, "10.0.0.7", 40002, 4);
	add(l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 50000, "10.0.0.9", 5432, 5);
	add(l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 50001, "10.0.0.9", 5432, 6);
	add(l, SOCK_TCP_ESTABLISHED, "127.0.0.1", 40000, "127.0.0.1", 9000, 7);
	add(l, SOCK_TCP_ESTABLISHED, "127.0.0.1", 9000, "127.0.0.1", 40000, 8);
}

static const report_meta meta = {.node = "web-01", .boot_id = "B1", .seq = 7, .interval_ms = 10000};

static cJSON *find_conn(cJSON *report, const char *dir, const char *remote, int port)
{
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(report, "connections"))
	{
		const char *pk = !strcmp(dir, "in") ? "local_port" : "remote_port";
		if (!strcmp(cJSON_GetObjectItem(c, "direction")->valuestring, dir) &&
		    !strcmp(cJSON_GetObjectItem(c, "remote")->valuestring, remote) &&
		    cJSON_GetObjectItem(c, pk)->valueint == port)
			return c;
	}
	return NULL;
}

static void test_condense(void **state)
{
	sock_list l;
	report_state s;
	report_opts o = {0};
	host(&l);
	report_state_build(&s, &l, owner, NULL, &o);
	assert_int_equal(s.nservices, 1); /* the loopback-only listener is not a service others can use */
	assert_int_equal(s.services[0].port, 80);
	assert_string_equal(s.services[0].process, "nginx");
	assert_int_equal(s.nconns, 2);
	cJSON *j = report_json(&s, NULL, &meta);
	assert_string_equal(cJSON_GetObjectItem(j, "node")->valuestring, "web-01");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "full")));
	assert_int_equal(cJSON_GetObjectItem(j, "seq")->valueint, 7);
	assert_int_equal(cJSON_GetObjectItem(j, "interval")->valueint, 10);
	cJSON *in = find_conn(j, "in", "10.0.0.7", 80), *out = find_conn(j, "out", "10.0.0.9", 5432);
	assert_non_null(in);
	assert_int_equal(cJSON_GetObjectItem(in, "count")->valueint, 2);
	assert_string_equal(cJSON_GetObjectItem(in, "process")->valuestring, "nginx");
	assert_non_null(out);
	assert_int_equal(cJSON_GetObjectItem(out, "count")->valueint, 2);
	assert_string_equal(cJSON_GetObjectItem(out, "process")->valuestring, "app");
	assert_null(cJSON_GetObjectItem(out, "local_port")); /* client ports are not reported */
	cJSON_Delete(j);
	report_state_free(&s);
	sock_list_free(&l);
}

static void test_loopback_and_cap(void **state)
{
	sock_list l;
	report_state s;
	report_opts o = {.include_loopback = true};
	host(&l);
	report_state_build(&s, &l, owner, NULL, &o);
	assert_int_equal(s.nservices, 2);
	assert_int_equal(s.nconns, 4);
	cJSON *j = report_json(&s, NULL, &meta);
	cJSON *local_in = find_conn(j, "in", "127.0.0.1", 9000);
	assert_non_null(local_in);
	assert_string_equal(cJSON_GetObjectItem(local_in, "process")->valuestring, "local");
	assert_non_null(find_conn(j, "out", "127.0.0.1", 9000));
	cJSON_Delete(j);
	report_state_free(&s);
	o.max_connections = 1;
	o.include_loopback = false;
	add(&l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 80, "10.0.0.7", 40003, 9);
	report_state_build(&s, &l, owner, NULL, &o);
	assert_int_equal(s.nconns, 1);
	assert_int_equal(s.truncated, 1);
	assert_int_equal(s.conns[0].count, 3); /* the busiest entry is kept */
	j = report_json(&s, NULL, &meta);
	assert_int_equal(cJSON_GetObjectItem(j, "truncated")->valueint, 1);
	cJSON_Delete(j);
	report_state_free(&s);
	sock_list_free(&l);
}

static void test_dual_stack_listener(void **state)
{
	sock_list l;
	report_state s;
	report_opts o = {0};
	sock_list_init(&l, 0);
	add(&l, SOCK_TCP_LISTEN, "::", 443, "::", 0, 10);
	add(&l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 443, "10.0.0.8", 51000, 0);
	add(&l, SOCK_TCP_ESTABLISHED, "2001:db8::5", 443, "2001:db8::8", 51000, 0);
	report_state_build(&s, &l, owner, NULL, &o);
	assert_int_equal(s.nconns, 2);
	for (size_t i = 0; i < s.nconns; i++) {
		assert_int_equal(s.conns[i].dir, REPORT_IN);
		assert_string_equal(s.conns[i].process,
				    "pg"); /* unowned accepted socket: the listener's process */
	}
	report_state_free(&s);
	sock_list_free(&l);
}

static void test_delta(void **state)
{
	sock_list l;
	report_state a, b;
	report_opts o = {0};
	host(&l);
	report_state_build(&a, &l, owner, NULL, &o);
	/* one client connection to :80 closes, the database connections go, a new one to a cache appears */
	l.n = 3;
	add(&l, SOCK_TCP_ESTABLISHED, "10.0.0.5", 50002, "10.0.0.10", 6379, 5);
	report_state_build(&b, &l, owner, NULL, &o);
	cJSON *j = report_json(&b, &a, &meta);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "full")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "services")), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "connections")), 3);
	cJSON *in = find_conn(j, "in", "10.0.0.7", 80);
	assert_int_equal(cJSON_GetObjectItem(in, "count")->valueint, 1);
	cJSON *gone = find_conn(j, "out", "10.0.0.9", 5432);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(gone, "removed")));
	assert_null(cJSON_GetObjectItem(gone, "count"));
	assert_non_null(find_conn(j, "out", "10.0.0.10", 6379));
	cJSON_Delete(j);
	/* nothing changed: an empty delta */
	j = report_json(&b, &b, &meta);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "connections")), 0);
	cJSON_Delete(j);
	report_state_free(&a);
	report_state_free(&b);
	sock_list_free(&l);
}

/* The condensing as first written (one entry per socket, sorted, equal keys folded), kept as the reference
 * the hashed version must match exactly. Ties keep dump order, as glibc's stable qsort did. */
typedef struct ref_conn {
	report_conn c;
	size_t seq;
} ref_conn;

static int ref_key_cmp(const report_conn *a, const report_conn *b)
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

static int ref_cmp(const void *a, const void *b)
{
	const ref_conn *x = a, *y = b;
	int c = ref_key_cmp(&x->c, &y->c);
	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static int ref_count_desc(const void *a, const void *b)
{
	const report_conn *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return ref_key_cmp(x, y);
}

static int ref_conn_cmp(const void *a, const void *b)
{
	return ref_key_cmp(a, b);
}

static void ref_name(char dst[REPORT_PROC_MAX], const char *src)
{
	memset(dst, 0, REPORT_PROC_MAX);
	if (src)
		strncpy(dst, src, REPORT_PROC_MAX - 1);
}

static const sock_entry *ref_listener(const sock_list *l, const sock_entry *s, size_t *seq_out)
{
	const sock_entry *best = NULL;
	for (size_t i = 0; i < l->n; i++) {
		const sock_entry *x = &l->v[i];
		if (x->state != SOCK_TCP_LISTEN || x->lport != s->lport)
			continue;
		if (sock_addr_is_any(x->laddr) || !memcmp(x->laddr, s->laddr, 16)) {
			best = x;
			*seq_out = i;
			break;
		}
	}
	return best;
}

static void ref_services(report_state *out, const sock_list *l, report_owner_fn owner, const report_opts *o)
{
	out->services = calloc(l->n + 1, sizeof(*out->services));
	for (unsigned port = 0; port <= 65535; port++) {
		report_service *svc = NULL;
		for (size_t i = 0; i < l->n; i++) {
			const sock_entry *x = &l->v[i];
			if (x->state != SOCK_TCP_LISTEN || x->lport != port)
				continue;
			if (sock_addr_is_loopback(x->laddr) && !o->include_loopback)
				continue;
			if (!svc) {
				svc = &out->services[out->nservices++];
				svc->port = (uint16_t)port;
				ref_name(svc->process, owner(NULL, x->inode));
			} else if (!svc->process[0]) {
				ref_name(svc->process, owner(NULL, x->inode));
			}
		}
	}
}

static void ref_build(report_state *out, const sock_list *l, report_owner_fn owner, const report_opts *o)
{
	ref_conn *v = calloc(l->n + 1, sizeof(*v));
	size_t n = 0, w = 0, seq;
	memset(out, 0, sizeof(*out));
	ref_services(out, l, owner, o);
	for (size_t i = 0; i < l->n; i++) {
		const sock_entry *s = &l->v[i];
		if (s->state != SOCK_TCP_ESTABLISHED ||
		    (sock_addr_is_loopback(s->raddr) && !o->include_loopback))
			continue;
		const sock_entry *lst = ref_listener(l, s, &seq);
		const char *proc = owner(NULL, s->inode);
		report_conn *c = &v[n].c;
		v[n++].seq = i;
		memcpy(c->addr, s->raddr, 16);
		c->count = 1;
		c->dir = lst ? REPORT_IN : REPORT_OUT;
		c->port = lst ? s->lport : s->rport;
		ref_name(c->process, lst && !proc ? owner(NULL, lst->inode) : proc);
	}
	qsort(v, n, sizeof(*v), ref_cmp);
	out->conns = calloc(n + 1, sizeof(*out->conns));
	for (size_t r = 0; r < n; r++) {
		report_conn *d = w ? &out->conns[w - 1] : NULL;
		if (d && !ref_key_cmp(d, &v[r].c)) {
			d->count++;
			if (!d->process[0])
				memcpy(d->process, v[r].c.process, REPORT_PROC_MAX);
			continue;
		}
		out->conns[w++] = v[r].c;
	}
	out->nconns = w;
	if (o->max_connections && w > o->max_connections) {
		qsort(out->conns, w, sizeof(*out->conns), ref_count_desc);
		out->truncated = w - o->max_connections;
		out->nconns = o->max_connections;
		qsort(out->conns, out->nconns, sizeof(*out->conns), ref_conn_cmp);
	}
	free(v);
}

static const char *random_owner(void *ud, uint64_t inode)
{
	static const char *const names[] = {
	    NULL,  "nginx", "", "postgres", "a-very-long-program-name", "a-very-long-program-name-2",
	    "app", NULL};
	return names[(inode * 2654435761u >> 7) % (sizeof(names) / sizeof(names[0]))];
}

static void random_addr(uint8_t out[16], unsigned r)
{
	static const char *const pool[] = {
	    "10.0.0.5", "10.0.0.7",    "10.0.0.9",    "127.0.0.1", "127.0.0.2",	     "0.0.0.0",
	    "::",	"2001:db8::5", "2001:db8::8", "::1",	   "::ffff:10.0.0.7"};
	assert_true(sock_addr_parse(pool[r % (sizeof(pool) / sizeof(pool[0]))], out));
}

static void random_sockets(sock_list *l, unsigned seed, size_t n)
{
	static const uint16_t ports[] = {22, 80, 443, 5432, 6379, 40000, 40001};
	srand(seed);
	sock_list_init(l, 0);
	for (size_t i = 0; i < n; i++) {
		sock_entry e = {0};
		unsigned r = (unsigned)rand();
		e.state = r % 5 == 0 ? SOCK_TCP_LISTEN : r % 11 == 1 ? 8 : SOCK_TCP_ESTABLISHED;
		random_addr(e.laddr, (unsigned)rand());
		random_addr(e.raddr, (unsigned)rand());
		e.lport = ports[(unsigned)rand() % 7];
		e.rport = ports[(unsigned)rand() % 7];
		e.inode = (unsigned)rand() % 4 ? (uint64_t)rand() + 1 : 0;
		sock_list_push(l, &e);
	}
}

static void assert_same_state(const report_state *a, const report_state *b)
{
	assert_int_equal(a->nservices, b->nservices);
	assert_int_equal(a->nconns, b->nconns);
	assert_int_equal(a->truncated, b->truncated);
	for (size_t i = 0; i < a->nservices; i++) {
		assert_int_equal(a->services[i].port, b->services[i].port);
		assert_string_equal(a->services[i].process, b->services[i].process);
	}
	for (size_t i = 0; i < a->nconns; i++) {
		const report_conn *x = &a->conns[i], *y = &b->conns[i];
		assert_int_equal(x->dir, y->dir);
		assert_memory_equal(x->addr, y->addr, 16);
		assert_int_equal(x->port, y->port);
		assert_string_equal(x->process, y->process);
		assert_int_equal(x->count, y->count);
	}
}

/* Random hosts (duplicate listeners, wildcard and dual-stack ones, loopback, unowned sockets, long and empty
 * names, other states), every option: the report state is exactly the reference's. */
static void test_matches_reference(void **state)
{
	static const report_opts opts[] = {{0},
					   {.include_loopback = true},
					   {.max_connections = 3},
					   {.include_loopback = true, .max_connections = 7}};
	for (unsigned seed = 1; seed <= 60; seed++) {
		sock_list l;
		random_sockets(&l, seed, seed < 50 ? 40 + seed * 7 : 3000);
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
			report_state got, want;
			report_state_build(&got, &l, random_owner, NULL, &opts[k]);
			ref_build(&want, &l, random_owner, &opts[k]);
			assert_same_state(&got, &want);
			report_state_free(&got);
			report_state_free(&want);
		}
		sock_list_free(&l);
	}
}

static report_state state_with(size_t conns)
{
	report_state s = {0};
	s.conns = calloc(conns + 1, sizeof(*s.conns));
	s.nconns = conns;
	for (size_t i = 0; i < conns; i++) {
		s.conns[i].port = (uint16_t)(1000 + i);
		s.conns[i].count = 1;
		sock_addr_parse("10.1.1.1", s.conns[i].addr);
	}
	return s;
}

static bool send_one(session *s, size_t conns, session_outcome out, int64_t now)
{
	bool full;
	report_state cur = state_with(conns);
	cJSON *j = session_report(s, &cur, NULL, 0, &full);
	assert_int_equal(cJSON_GetObjectItem(j, "seq")->valueint, (int)s->seq);
	assert_string_equal(cJSON_GetObjectItem(j, "boot_id")->valuestring, s->boot_id);
	cJSON_Delete(j);
	session_result(s, out, &cur, now);
	report_state_free(&cur);
	return full;
}

static void test_session_sequence(void **state)
{
	session s;
	session_init(&s, "web-01", 1000, 3, 60000);
	assert_int_equal(strlen(s.boot_id), 26);
	assert_true(send_one(&s, 1, SESSION_SENT, 0)); /* the first report is full */
	assert_int_equal(s.seq, 1);
	assert_int_equal(s.acked.nconns, 1);
	assert_false(send_one(&s, 2, SESSION_SENT, 0));
	assert_false(send_one(&s, 2, SESSION_SENT, 0));
	assert_true(send_one(&s, 2, SESSION_SENT, 0)); /* every third */
	assert_false(send_one(&s, 2, SESSION_SENT, 0));
	/* a failure: back off, and the next report is full */
	assert_false(send_one(&s, 2, SESSION_FAILED, 1000));
	assert_int_equal(s.failures, 1);
	assert_false(session_may_send(&s, 1000));
	assert_true(session_may_send(&s, 1000 + 1000));
	assert_true(send_one(&s, 2, SESSION_SENT, 2000));
	assert_int_equal(s.failures, 0);
	assert_true(session_may_send(&s, 2000));
	/* the classifier lost track (409): full at once, no backoff */
	assert_false(send_one(&s, 2, SESSION_FULL_NEEDED, 3000));
	assert_true(session_may_send(&s, 3000));
	assert_true(send_one(&s, 2, SESSION_SENT, 3000));
	assert_int_equal(s.seq, 9);
	session_free(&s);
}

static void test_backoff(void **state)
{
	assert_int_equal(session_backoff_ms(1, 1000, 60000, 0), 500);
	assert_int_equal(session_backoff_ms(1, 1000, 60000, 500), 1000);
	assert_int_equal(session_backoff_ms(3, 1000, 60000, 0), 2000);
	assert_int_equal(session_backoff_ms(3, 1000, 60000, 2000), 4000);
	assert_int_equal(session_backoff_ms(40, 1000, 60000, 30000), 60000); /* capped, no overflow */
	for (uint32_t r = 0; r < 1000; r += 37) {
		int64_t d = session_backoff_ms(5, 1000, 60000, r * 7919);
		assert_true(d >= 8000 && d <= 16000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_condense),
	    cmocka_unit_test(test_loopback_and_cap),
	    cmocka_unit_test(test_dual_stack_listener),
	    cmocka_unit_test(test_delta),
	    cmocka_unit_test(test_matches_reference),
	    cmocka_unit_test(test_session_sequence),
	    cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
