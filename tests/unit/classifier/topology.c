/* topology.c -- unit tests for the topology store: merging full and delta reports, sequence rules,
 * validation, joins by address, outside hosts, ageing on an injected clock, problems on nodes and services,
 * dependents, held edges, the rules hooks, entity lookup against a plain scan, and per-event work that does
 * not grow with the number of open problems. */
/* The store itself, for its work counters; before cmocka.h, whose fail() macro would rename its fail(). */
#include "../../../classifier/topology.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t fake_now;

static int64_t clock_fn(void *ud)
{
	return fake_now;
}

static topology_store *store(void)
{
	topology_opts o = {.interval_ms = 30000, .now_ms = clock_fn};
	fake_now = 1700000000000;
	return topology_store_new(&o);
}

static rfx_err post(topology_store *s, const char *node, const char *json, topology_report_info *info,
		    const char **field)
{
	char err[256];
	return topology_report(s, node, json, strlen(json), info, err, sizeof(err), field);
}

static void post_ok(topology_store *s, const char *node, const char *json)
{
	char err[256] = "";
	const char *field = NULL;
	rfx_err rc = topology_report(s, node, json, strlen(json), NULL, err, sizeof(err), &field);
	if (rc)
		fail_msg("report for %s: %s (%s)", node, err, field ? field : "-");
}

#define DB_FULL                                                                                              \
	"{\"node\":\"db\",\"boot_id\":\"B-db\",\"seq\":1,\"full\":true,\"interval\":1,\"addresses\":[\"10."  \
	"0.0.9\"],"                                                                                          \
	"\"services\":[{\"port\":5432,\"proto\":\"tcp\",\"process\":\"postgres\"}],"                         \
	"\"connections\":[{\"direction\":\"in\",\"local_port\":5432,\"remote\":\"10.0.0.5\",\"count\":2,"    \
	"\"process\":\"postgres\"}]}"
#define WEB_FULL                                                                                             \
	"{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":1,\"full\":true,\"interval\":1,\"addresses\":["     \
	"\"10.0.0.5\"],"                                                                                     \
	"\"services\":[{\"port\":80,\"process\":\"nginx\"}],\"connections\":["                               \
	"{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"10.0.0.9\",\"remote_port\":5432,\"count\":" \
	"2},"                                                                                                \
	"{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"198.51.100.1\",\"remote_port\":443,"        \
	"\"count\":1},"                                                                                      \
	"{\"direction\":\"in\",\"local_port\":80,\"remote\":\"203.0.113.7\",\"count\":3,\"process\":"        \
	"\"nginx\"}]}"
#define LB_FULL                                                                                              \
	"{\"node\":\"lb\",\"boot_id\":\"B-lb\",\"seq\":1,\"full\":true,\"interval\":1,\"addresses\":[\"10."  \
	"0.0.2\"],"                                                                                          \
	"\"services\":[],\"connections\":[{\"direction\":\"out\",\"process\":\"haproxy\",\"remote\":\"10.0." \
	"0.5\","                                                                                             \
	"\"remote_port\":80,\"count\":5}]}"

static cJSON *find_by(cJSON *arr, const char *key, const char *value)
{
	cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		cJSON *v = key ? cJSON_GetObjectItem(it, key) : it;
		if (cJSON_IsString(v) && !strcmp(v->valuestring, value))
			return it;
	}
	return NULL;
}

static cJSON *node_of(cJSON *graph, const char *id)
{
	return find_by(cJSON_GetObjectItem(graph, "nodes"), "id", id);
}

static cJSON *edge_of(cJSON *graph, const char *from, const char *to, int port)
{
	cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(graph, "edges"))
	{
		if (!strcmp(cJSON_GetObjectItem(e, "from")->valuestring, from) &&
		    !strcmp(cJSON_GetObjectItem(e, "to")->valuestring, to) &&
		    cJSON_GetObjectItem(e, "port")->valueint == port)
			return e;
	}
	return NULL;
}

static bool has_string(cJSON *arr, const char *s)
{
	cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it) && !strcmp(it->valuestring, s))
			return true;
	}
	return false;
}

static event *problem(const char *entity, const char *source_id)
{
	event *e = event_new(SRC_ALERTMANAGER);
	event_set(&e->entity, entity);
	event_set(&e->source_id, source_id);
	event_set(&e->title, "database down");
	event_set(&e->severity, "critical");
	event_set(&e->event_type, "PostgresDown");
	return e;
}

static void test_join_and_externals(void **state)
{
	topology_store *s = store();
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	cJSON *g = topology_graph(s);
	cJSON *e = edge_of(g, "web", "db", 5432);
	assert_non_null(e);
	assert_int_equal(cJSON_GetObjectItem(e, "count")->valueint, 2); /* both ends report it: not doubled */
	assert_string_equal(cJSON_GetObjectItem(e, "server_process")->valuestring, "postgres");
	assert_true(has_string(cJSON_GetObjectItem(e, "client_processes"), "app"));
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(e, "held")));
	assert_non_null(edge_of(g, "web", "ext:198.51.100.1", 443));
	cJSON *clients = edge_of(g, "ext:clients", "web", 80);
	assert_non_null(clients);
	assert_string_equal(cJSON_GetObjectItem(clients, "server_process")->valuestring, "nginx");
	cJSON *ext = node_of(g, "ext:clients");
	assert_string_equal(cJSON_GetObjectItem(ext, "kind")->valuestring, "external");
	assert_true(has_string(cJSON_GetObjectItem(ext, "addresses"), "203.0.113.7"));
	cJSON *db = node_of(g, "db");
	assert_string_equal(cJSON_GetObjectItem(db, "kind")->valuestring, "agent");
	assert_true(has_string(cJSON_GetObjectItem(db, "addresses"), "10.0.0.9"));
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(db, "stale")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "edges")), 3);
	cJSON_Delete(g);
	topology_store_free(s);
}

static void test_sequence(void **state)
{
	topology_store *s = store();
	topology_report_info info;
	const char *field = NULL;
	post_ok(s, "web", WEB_FULL);
	const char *d2 =
	    "{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":2,\"full\":false,\"connections\":["
	    "{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"198.51.100.1\",\"remote_port\":443,"
	    "\"removed\":true}]}";
	assert_int_equal(post(s, "web", d2, &info, &field), RFX_OK);
	assert_true(info.applied);
	assert_false(info.changed); /* a withdrawal ages out; it is no news yet */
	assert_int_equal(info.seq, 2);
	const char *d3 =
	    "{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":3,\"full\":false,\"connections\":["
	    "{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"198.51.100.2\",\"remote_port\":443,"
	    "\"count\":1}]}";
	assert_int_equal(post(s, "web", d3, &info, &field), RFX_OK);
	assert_true(info.applied && info.changed);
	assert_int_equal(info.connections, 4);
	/* the same delta again (a retry after a lost answer): acknowledged, ignored */
	assert_int_equal(post(s, "web", d2, &info, &field), RFX_OK);
	assert_false(info.applied);
	const char *gap = "{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":5,\"full\":false}";
	assert_int_equal(post(s, "web", gap, &info, &field), RFX_ERR_REFUSED);
	assert_string_equal(field, "seq");
	const char *reboot = "{\"node\":\"web\",\"boot_id\":\"B-new\",\"seq\":1,\"full\":false}";
	assert_int_equal(post(s, "web", reboot, &info, &field), RFX_ERR_REFUSED);
	const char *unknown = "{\"node\":\"new\",\"boot_id\":\"x\",\"seq\":5,\"full\":false}";
	assert_int_equal(post(s, "new", unknown, &info, &field), RFX_ERR_REFUSED);
	const char *full = "{\"node\":\"web\",\"boot_id\":\"B-new\",\"seq\":1,\"full\":true,\"services\":[]}";
	assert_int_equal(post(s, "web", full, &info, &field), RFX_OK);
	assert_true(info.applied && info.full);
	topology_store_free(s);
}

static void expect_invalid(topology_store *s, const char *node, const char *json, rfx_err want,
			   const char *field)
{
	const char *f = NULL;
	assert_int_equal(post(s, node, json, NULL, &f), want);
	if (field) {
		assert_non_null(f);
		assert_string_equal(f, field);
	}
}

static void test_validation(void **state)
{
	topology_store *s = store();
	expect_invalid(s, "web", "{not json", RFX_ERR_PARSE, NULL);
	expect_invalid(s, "web", "[]", RFX_ERR_INVAL, "report");
	expect_invalid(s, "db", WEB_FULL, RFX_ERR_INVAL, "node");
	expect_invalid(s, "we b", "{}", RFX_ERR_INVAL, "node");
	expect_invalid(s, "web", "{\"node\":\"web\",\"seq\":1,\"full\":true}", RFX_ERR_INVAL, "boot_id");
	expect_invalid(s, "web", "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1.5,\"full\":true}",
		       RFX_ERR_INVAL, "seq");
	expect_invalid(s, "web", "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1,\"full\":1}", RFX_ERR_INVAL,
		       "full");
	expect_invalid(
	    s, "web",
	    "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"addresses\":[\"10.0.0.300\"]}",
	    RFX_ERR_INVAL, "addresses[0]");
	expect_invalid(
	    s, "web",
	    "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"services\":[{\"port\":0}]}",
	    RFX_ERR_INVAL, "services[0].port");
	expect_invalid(
	    s, "web",
	    "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"connections\":[{\"direction\":"
	    "\"out\",\"remote\":\"10.0.0.1\",\"remote_port\":80,\"count\":1},{\"direction\":\"out\","
	    "\"remote\":\"nowhere\",\"remote_port\":80,\"count\":1}]}",
	    RFX_ERR_INVAL, "connections[1].remote");
	expect_invalid(
	    s, "web",
	    "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"connections\":[{\"direction\":"
	    "\"in\",\"remote\":\"10.0.0.1\",\"remote_port\":80,\"count\":1}]}",
	    RFX_ERR_INVAL, "connections[0].local_port");
	expect_invalid(
	    s, "web",
	    "{\"node\":\"web\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"connections\":[{\"direction\":"
	    "\"sideways\"}]}",
	    RFX_ERR_INVAL, "connections[0].direction");
	/* nothing of a refused report was applied */
	cJSON *g = topology_graph(s);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g, "nodes")), 0);
	cJSON_Delete(g);
	topology_store_free(s);
}

static void test_limits(void **state)
{
	topology_opts o = {.max_services = 2, .max_nodes = 1, .now_ms = clock_fn};
	topology_store *s = topology_store_new(&o);
	const char *f;
	const char *three =
	    "{\"node\":\"a\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"services\":[{\"port\":1},"
	    "{\"port\":2},{\"port\":3}]}";
	assert_int_equal(post(s, "a", three, NULL, &f), RFX_ERR_LIMIT);
	post_ok(s, "a",
		"{\"node\":\"a\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"services\":[{\"port\":1}]}");
	const char *more =
	    "{\"node\":\"a\",\"boot_id\":\"b\",\"seq\":2,\"full\":false,\"services\":[{\"port\":2},"
	    "{\"port\":3}]}";
	assert_int_equal(post(s, "a", more, NULL, &f), RFX_ERR_LIMIT); /* the merged state would exceed it */
	assert_int_equal(post(s, "b", "{\"node\":\"b\",\"boot_id\":\"b\",\"seq\":1,\"full\":true}", NULL, &f),
			 RFX_ERR_LIMIT);
	topology_store_free(s);
}

static void test_ageing(void **state)
{
	topology_store *s = store();
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	/* web's app closes its database connections; db reports the same */
	post_ok(s, "web",
		"{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":2,\"full\":false,\"connections\":["
		"{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"10.0.0.9\",\"remote_port\":5432,"
		"\"removed\":true}]}");
	post_ok(s, "db",
		"{\"node\":\"db\",\"boot_id\":\"B-db\",\"seq\":2,\"full\":true,\"services\":[{\"port\":5432,"
		"\"process\":\"postgres\"}],\"connections\":[]}");
	fake_now +=
	    2900; /* less than three intervals of 1 s: the edge stays (short-lived connections flap) */
	cJSON *g = topology_graph(s);
	assert_non_null(edge_of(g, "web", "db", 5432));
	cJSON_Delete(g);
	/* web keeps reporting (an empty delta): what it still has stays fresh */
	post_ok(s, "web", "{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":3,\"full\":false}");
	fake_now += 200;
	g = topology_graph(s);
	assert_null(edge_of(g, "web", "db", 5432));
	cJSON_Delete(g);
	fake_now += 2000;
	g = topology_graph(s);
	assert_non_null(edge_of(g, "ext:clients", "web", 80));
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(node_of(g, "web"), "stale")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(node_of(g, "db"), "stale")));
	/* db went silent: its service ages out too, and after node_ttl the node itself */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(node_of(g, "db"), "services")), 0);
	cJSON_Delete(g);
	fake_now += 3600 * 1000;
	g = topology_graph(s);
	assert_null(node_of(g, "db"));
	cJSON_Delete(g);
	topology_store_free(s);
}

static void test_problems_and_dependents(void **state)
{
	topology_store *s = store();
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	post_ok(s, "lb", LB_FULL);
	event *ev = problem("db", "fp-1");
	event_tag_set(ev, "port", "5432");
	topology_problem_open(s, ev);
	cJSON *g = topology_graph(s);
	cJSON *db = node_of(g, "db");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(db, "problems")), 1);
	cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(db, "problems"), 0);
	assert_string_equal(cJSON_GetObjectItem(p, "source_id")->valuestring, "fp-1");
	assert_string_equal(cJSON_GetObjectItem(p, "title")->valuestring, "database down");
	cJSON *deps = cJSON_GetObjectItem(db, "dependents");
	assert_int_equal(cJSON_GetArraySize(deps), 2);
	assert_string_equal(cJSON_GetArrayItem(deps, 0)->valuestring, "web"); /* nearest first */
	assert_string_equal(cJSON_GetArrayItem(deps, 1)->valuestring, "lb");
	cJSON *svc = cJSON_GetArrayItem(cJSON_GetObjectItem(db, "services"), 0);
	assert_true(has_string(cJSON_GetObjectItem(svc, "problems"), ev->id));
	assert_true(has_string(cJSON_GetObjectItem(node_of(g, "web"), "impacted_by"), "db"));
	assert_true(has_string(cJSON_GetObjectItem(node_of(g, "lb"), "impacted_by"), "db"));
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "problems"), "open")->valueint, 1);
	cJSON_Delete(g);
	cJSON *imp = topology_impact(s, ev);
	assert_string_equal(cJSON_GetObjectItem(imp, "node")->valuestring, "db");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(imp, "dependents")), 2);
	assert_int_equal(cJSON_GetObjectItem(imp, "direct_dependents")->valueint, 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(imp, "services")), 1);
	cJSON_Delete(imp);
	/* web depends on db, and on outside clients coming in */
	event *wev = problem("web", "fp-2");
	imp = topology_impact(s, wev);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(imp, "external_clients")));
	cJSON_Delete(imp);
	topology_problem_resolved(s, ev);
	g = topology_graph(s);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(node_of(g, "db"), "problems")), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(node_of(g, "web"), "impacted_by")), 0);
	cJSON_Delete(g);
	event_free(ev);
	event_free(wev);
	topology_store_free(s);
}

static void test_entity_mapping(void **state)
{
	topology_store *s = store();
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web.prod.example",
		"{\"node\":\"web.prod.example\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,"
		"\"addresses\":[\"10.0.0.5\"]}");
	static const struct {
		const char *entity, *node;
	} cases[] = {{"db", "db"},
		     {"10.0.0.9", "db"},
		     {"10.0.0.9:9187", "db"},
		     {"DB.example.com", "db"},
		     {"web", "web.prod.example"},
		     {"web.prod.example", "web.prod.example"},
		     {"nothere", NULL},
		     {"10.9.9.9", NULL},
		     {"", NULL}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		event *ev = problem(cases[i].entity, "x");
		char buf[256];
		const char *v = topology_field(s, ev, "node", buf, sizeof(buf));
		if (cases[i].node) {
			assert_non_null(v);
			assert_string_equal(v, cases[i].node);
		} else {
			assert_null(v);
		}
		event_free(ev);
	}
	/* a problem whose entity is not on the map is listed as unmapped */
	event *ev = problem("mystery-host", "fp-9");
	topology_problem_open(s, ev);
	cJSON *g = topology_graph(s);
	cJSON *unmapped = cJSON_GetObjectItem(cJSON_GetObjectItem(g, "problems"), "unmapped");
	assert_int_equal(cJSON_GetArraySize(unmapped), 1);
	cJSON_Delete(g);
	event_free(ev);
	topology_store_free(s);
}

static void test_ambiguous_address(void **state)
{
	topology_store *s = store();
	/* every Docker host has 172.17.0.1: it identifies none of them */
	post_ok(s, "h1",
		"{\"node\":\"h1\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"addresses\":[\"10.0.1.1\","
		"\"172.17.0.1\"],\"services\":[{\"port\":22}]}");
	post_ok(s, "h2",
		"{\"node\":\"h2\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"addresses\":[\"10.0.1.2\","
		"\"172.17.0.1\"],\"connections\":[{\"direction\":\"out\",\"remote\":\"172.17.0.1\","
		"\"remote_port\":22,\"count\":1},{\"direction\":\"out\",\"remote\":\"10.0.1.1\","
		"\"remote_port\":22,\"count\":1}]}");
	cJSON *g = topology_graph(s);
	assert_non_null(edge_of(g, "h2", "h1", 22));
	assert_non_null(edge_of(g, "h2", "ext:172.17.0.1", 22));
	cJSON_Delete(g);
	topology_store_free(s);
}

static void test_held_edges(void **state)
{
	topology_store *s = store();
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	event *ev = problem("db", "fp-1");
	topology_problem_open(s, ev);
	/* db dies: its agent goes silent, web's connections to it go away */
	post_ok(s, "web",
		"{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":2,\"full\":false,\"connections\":["
		"{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"10.0.0.9\",\"remote_port\":5432,"
		"\"removed\":true}]}");
	fake_now += 10000;
	post_ok(s, "web", "{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":3,\"full\":false}");
	cJSON *g = topology_graph(s);
	cJSON *e = edge_of(g, "web", "db", 5432);
	assert_non_null(e); /* held while db has an open problem: the blast radius stays visible */
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "held")));
	assert_true(has_string(cJSON_GetObjectItem(node_of(g, "db"), "dependents"), "web"));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(node_of(g, "db"), "stale")));
	cJSON_Delete(g);
	fake_now += 3600 * 1000 + 1; /* a node with an open problem is never dropped */
	post_ok(s, "web", "{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":4,\"full\":false}");
	g = topology_graph(s);
	assert_non_null(node_of(g, "db"));
	cJSON_Delete(g);
	topology_problem_resolved(s, ev);
	g = topology_graph(s);
	assert_null(edge_of(g, "web", "db", 5432));
	assert_null(node_of(g, "db"));
	cJSON_Delete(g);
	event_free(ev);
	topology_store_free(s);
}

/* The last problem on db resolves well before node_ttl: what was held for it goes at once. */
static void test_held_edges_released(void **state)
{
	topology_store *s = store();
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	event *ev = problem("db", "fp-1");
	topology_problem_open(s, ev);
	post_ok(s, "web",
		"{\"node\":\"web\",\"boot_id\":\"B-web\",\"seq\":2,\"full\":false,\"connections\":["
		"{\"direction\":\"out\",\"process\":\"app\",\"remote\":\"10.0.0.9\",\"remote_port\":5432,"
		"\"removed\":true}]}");
	fake_now += 10000;
	cJSON *g = topology_graph(s);
	assert_non_null(edge_of(g, "web", "db", 5432));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(edge_of(g, "web", "db", 5432), "held")));
	cJSON_Delete(g);
	topology_problem_resolved(s, ev);
	g = topology_graph(s);
	assert_null(edge_of(g, "web", "db", 5432));
	assert_non_null(node_of(g, "db"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(node_of(g, "db"), "services")), 0);
	cJSON_Delete(g);
	event_free(ev);
	topology_store_free(s);
}

/* A silent node is kept for its open problem past node_ttl, and dropped once that resolves. */
static void test_silent_node_dropped_after_problem(void **state)
{
	topology_store *s = store();
	post_ok(s, "lonely", "{\"node\":\"lonely\",\"boot_id\":\"b\",\"seq\":1,\"full\":true}");
	event *ev = problem("lonely", "fp-1");
	topology_problem_open(s, ev);
	fake_now += 3600 * 1000 + 1;
	cJSON *g = topology_graph(s);
	assert_non_null(node_of(g, "lonely"));
	cJSON_Delete(g);
	topology_problem_resolved(s, ev);
	g = topology_graph(s);
	assert_null(node_of(g, "lonely"));
	cJSON_Delete(g);
	event_free(ev);
	topology_store_free(s);
}

static void test_rules_hooks(void **state)
{
	topology_store *s = store();
	char buf[256];
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	event *db = problem("db", "1"), *web = problem("web", "2"), *none = problem("elsewhere", "3");
	assert_string_equal(topology_field(s, db, "dependents", buf, sizeof(buf)), "1");
	assert_string_equal(topology_field(s, db, "topology.dependents", buf, sizeof(buf)), "1");
	assert_string_equal(topology_field(s, web, "dependents", buf, sizeof(buf)), "0");
	assert_string_equal(topology_field(s, db, "listens", buf, sizeof(buf)), "5432");
	assert_string_equal(topology_field(s, db, "dependent_nodes", buf, sizeof(buf)), "web");
	assert_string_equal(topology_field(s, db, "processes", buf, sizeof(buf)), "postgres");
	assert_string_equal(topology_field(s, db, "addresses", buf, sizeof(buf)), "10.0.0.9");
	assert_null(topology_field(s, db, "no_such_field", buf, sizeof(buf)));
	assert_null(topology_field(s, none, "dependents", buf, sizeof(buf)));
	/* a small buffer keeps whole items */
	post_ok(s, "many",
		"{\"node\":\"many\",\"boot_id\":\"b\",\"seq\":1,\"full\":true,\"services\":[{\"port\":80},"
		"{\"port\":443},{\"port\":8080}]}");
	event *many = problem("many", "4");
	char small[9];
	assert_string_equal(topology_field(s, many, "listens", small, sizeof(small)), "80,443");
	assert_true(topology_match(s, db, "listens", "5432"));
	assert_false(topology_match(s, db, "listens", "80"));
	assert_false(topology_match(s, db, "listens", "junk"));
	assert_true(topology_match(s, db, "has_dependents", "true"));
	assert_true(topology_match(s, web, "has_dependents", "false"));
	assert_true(topology_match(s, db, "process", "postgres"));
	assert_true(topology_match(s, web, "process", "app")); /* a connecting process counts too */
	assert_false(topology_match(s, web, "process", "postgres"));
	assert_true(topology_match(s, db, "known", "true"));
	assert_true(topology_match(s, none, "known", "false"));
	assert_false(topology_match(s, none, "listens", "80"));
	assert_true(topology_match(s, web, "node", "w*"));
	assert_false(topology_match(s, web, "bogus", "x"));
	assert_null(topology_impact(s, none));
	event_free(db);
	event_free(web);
	event_free(none);
	event_free(many);
	topology_store_free(s);
}

/* The lookup rules by a plain scan over the names: the exact name, else the host part (no port) matched
 * case-insensitively in full or by a first label on either side, when exactly one node matches. */
static const char *scan_short_name(const char *const *names, size_t n, const char *host)
{
	const char *hit = NULL;
	size_t el = strcspn(host, "."), elen = strlen(host);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strcspn(names[i], "."), nlen = strlen(names[i]);
		bool same = nlen == elen && !strcasecmp(names[i], host);
		bool short_match = (el == elen || nl == nlen) && el == nl && !strncasecmp(names[i], host, el);
		if (same || short_match) {
			if (hit)
				return NULL;
			hit = names[i];
		}
	}
	return hit;
}

static const char *scan_entity(const char *const *names, size_t n, const char *entity)
{
	char host[300];
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], entity))
			return names[i];
	snprintf(host, sizeof(host), "%s", entity);
	char *colon = strchr(host, ':');
	if (colon && colon == strrchr(host, ':'))
		*colon = '\0';
	for (size_t i = 0; strcmp(host, entity) && i < n; i++)
		if (!strcmp(names[i], host))
			return names[i];
	return scan_short_name(names, n, host);
}

static void test_lookup_matches_scan(void **state)
{
	static const char *const names[] = {"db",  "DB2.x",	   "web.prod.example", "web.test.example",
					    "api", "api.prod",	   "cache-1.a.b",      "Mail",
					    "x.y", "solo.only.one"};
	static const char *const entities[] = {"db",
					       "DB",
					       "db.example",
					       "db2",
					       "DB2",
					       "db2.x",
					       "db2.y",
					       "web",
					       "WEB.prod.example",
					       "web.prod",
					       "web.other",
					       "api",
					       "API",
					       "api.prod",
					       "Api.Prod",
					       "api.foo",
					       "cache-1",
					       "cache-1.a.b",
					       "cache-1.c",
					       "mail",
					       "MAIL.example.com",
					       "mail:25",
					       "x",
					       "x.y",
					       "x.z",
					       "solo",
					       "solo:9100",
					       "solo.only",
					       "nothing",
					       ".",
					       "..",
					       "a.",
					       ".db",
					       "web.prod.example:443",
					       "db:5432"};
	topology_store *s = store();
	for (size_t i = 0; i < RFX_ARRAY_LEN(names); i++) {
		char body[512];
		snprintf(body, sizeof(body), "{\"node\":\"%s\",\"boot_id\":\"b\",\"seq\":1,\"full\":true}",
			 names[i]);
		post_ok(s, names[i], body);
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(entities); i++) {
		event *ev = problem(entities[i], "x");
		char buf[256];
		const char *got = topology_field(s, ev, "node", buf, sizeof(buf));
		const char *want = scan_entity(names, RFX_ARRAY_LEN(names), entities[i]);
		if (!want != !got || (want && strcmp(want, got)))
			fail_msg("entity %s: store says %s, the scan %s", entities[i], got ? got : "(none)",
				 want ? want : "(none)");
		event_free(ev);
	}
	topology_store_free(s);
}

static void open_problem(topology_store *s, const char *entity, const char *source_id)
{
	event *ev = problem(entity, source_id);
	topology_problem_open(s, ev);
	event_free(ev);
}

/* What the classifier does for one new problem: open it, the rules hooks, the impact. */
static void classify_like(topology_store *s, const char *entity, const char *source_id)
{
	char buf[64];
	event *ev = problem(entity, source_id);
	topology_problem_open(s, ev);
	topology_field(s, ev, "dependents", buf, sizeof(buf));
	topology_match(s, ev, "known", "true");
	cJSON_Delete(topology_impact(s, ev));
	event_free(ev);
}

static int graph_open(topology_store *s, int *unmapped)
{
	cJSON *g = topology_graph(s), *p = cJSON_GetObjectItem(g, "problems");
	int open = cJSON_GetObjectItem(p, "open")->valueint;
	*unmapped = cJSON_GetArraySize(cJSON_GetObjectItem(p, "unmapped"));
	cJSON_Delete(g);
	return open;
}

/* 10,000 open problems: a new one neither re-maps the others nor rebuilds the edges, and looks its entity up
 * a fixed number of times. */
static void test_many_problems_per_event_work(void **state)
{
	topology_store *s = store();
	char id[32], entity[32];
	int unmapped;
	post_ok(s, "db", DB_FULL);
	post_ok(s, "web", WEB_FULL);
	post_ok(s, "lb", LB_FULL);
	for (int i = 0; i < 9999; i++) {
		snprintf(id, sizeof(id), "old-%d", i);
		snprintf(entity, sizeof(entity), "host-%d", i);
		open_problem(s, entity, id);
	}
	open_problem(s, "10.0.0.9:9187", "db-down");
	assert_int_equal(graph_open(s, &unmapped), 10000);
	assert_int_equal(unmapped, 9999);
	size_t derives = s->derives, remaps = s->remaps, lookups = s->lookups;
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "new-%d", i);
		snprintf(entity, sizeof(entity), i % 10 ? "new-host-%d" : "web", i);
		classify_like(s, entity, id); /* each evicts the oldest open problem */
		if (i % 10 == 0) {
			event *ev = problem("web", id);
			topology_problem_resolved(s, ev); /* web loses its only problem again */
			event_free(ev);
		}
	}
	assert_int_equal(s->derives, derives);
	assert_int_equal(s->remaps, remaps);
	assert_true(s->lookups - lookups <= 4 * 1000);
	/* and the answers still hold: 900 of the oldest went, db's problem is mapped, its dependents known */
	assert_int_equal(graph_open(s, &unmapped), 10000);
	assert_int_equal(unmapped, 9999);
	event *ev = problem("db", "db-down");
	cJSON *imp = topology_impact(s, ev);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(imp, "dependents")), 2);
	cJSON_Delete(imp);
	char buf[16];
	assert_string_equal(topology_field(s, ev, "problems", buf, sizeof(buf)), "1");
	event_free(ev);
	topology_store_free(s);
}

/* No agent has reported: events cost no derivation and no lookup beyond the problem's own. */
static void test_empty_map_per_event_work(void **state)
{
	topology_store *s = store();
	char id[32];
	int unmapped;
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "p-%d", i);
		classify_like(s, "web-01:9100", id);
	}
	assert_int_equal(s->derives, 0);
	assert_int_equal(s->remaps, 0);
	assert_int_equal(s->lookups, 10000);
	assert_int_equal(graph_open(s, &unmapped), 10000);
	assert_int_equal(unmapped, 10000);
	topology_store_free(s);
}

/* Nodes that appear or go re-map every problem once, when next needed, and counts stay right across it. */
static void test_new_node_remaps_once(void **state)
{
	topology_store *s = store();
	char id[32];
	int unmapped;
	post_ok(s, "web", WEB_FULL);
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "late-%d", i);
		open_problem(s, "late.example.com", id);
	}
	open_problem(s, "web", "w1");
	size_t remaps = s->remaps;
	/* "late" sorts before "web": every node index moves */
	post_ok(s, "late", "{\"node\":\"late\",\"boot_id\":\"b\",\"seq\":1,\"full\":true}");
	event *ev = problem("web", "w1");
	topology_problem_resolved(s, ev); /* before anything re-mapped */
	event_free(ev);
	open_problem(s, "web", "w2");
	assert_int_equal(s->remaps, remaps);
	for (int i = 0; i < 10; i++)
		classify_like(s, "late", "late-0");
	assert_int_equal(s->remaps, remaps + 1);
	char buf[16];
	ev = problem("web", "w2");
	assert_string_equal(topology_field(s, ev, "problems", buf, sizeof(buf)), "1");
	event_free(ev);
	ev = problem("late", "x");
	assert_string_equal(topology_field(s, ev, "problems", buf, sizeof(buf)), "100");
	event_free(ev);
	assert_int_equal(graph_open(s, &unmapped), 101);
	assert_int_equal(unmapped, 0);
	topology_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_join_and_externals),
	    cmocka_unit_test(test_sequence),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_ageing),
	    cmocka_unit_test(test_problems_and_dependents),
	    cmocka_unit_test(test_entity_mapping),
	    cmocka_unit_test(test_ambiguous_address),
	    cmocka_unit_test(test_held_edges),
	    cmocka_unit_test(test_held_edges_released),
	    cmocka_unit_test(test_silent_node_dropped_after_problem),
	    cmocka_unit_test(test_rules_hooks),
	    cmocka_unit_test(test_lookup_matches_scan),
	    cmocka_unit_test(test_many_problems_per_event_work),
	    cmocka_unit_test(test_empty_map_per_event_work),
	    cmocka_unit_test(test_new_node_remaps_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
