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
	    cmocka_unit_test(test_session_sequence),
	    cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
