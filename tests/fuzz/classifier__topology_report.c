/* classifier__topology_report.c -- fuzzes the topology store with agent reports: parsing and validation,
 * merging into a store that lives across inputs (small limits, a clock that moves), then the graph, impact
 * and hooks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../classifier/topology.h"

static int64_t now = 1700000000000;

static int64_t clock_fn(void *ud)
{
	return now;
}

static topology_store *store(void)
{
	static topology_store *s;
	static unsigned uses;
	if (s && ++uses % 5000 == 0) {
		topology_store_free(s);
		s = NULL;
	}
	if (!s) {
		topology_opts o = {.max_nodes = 16,
				   .max_services = 64,
				   .max_connections = 256,
				   .max_problems = 16,
				   .max_external = 8,
				   .now_ms = clock_fn};
		s = topology_store_new(&o);
	}
	return s;
}

static void touch(topology_store *s, const char *entity)
{
	event *ev = event_new(SRC_GENERIC);
	char buf[64];
	event_set(&ev->entity, entity);
	event_set(&ev->source_id, entity);
	event_tag_set(ev, "port", "5432");
	topology_problem_open(s, ev);
	cJSON_Delete(topology_impact(s, ev));
	topology_field(s, ev, "dependents", buf, sizeof(buf));
	topology_field(s, ev, "listens", buf, sizeof(buf));
	topology_match(s, ev, "listens", "5432");
	topology_match(s, ev, "process", "postgres");
	if (entity[0] & 1)
		topology_problem_resolved(s, ev);
	event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	topology_store *s = store();
	char err[256];
	const char *field;
	topology_report_info info;
	/* the node of the URL: taken from the body when it names one, so most inputs get past that check */
	char node[64] = "n";
	const char *k = memmem(data, size, "\"node\":\"", 8);
	if (k) {
		size_t i = 0;
		for (k += 8; k < (const char *)data + size && *k != '"' && i < sizeof(node) - 1; k++)
			node[i++] = *k;
		node[i] = '\0';
	}
	topology_report(s, node, (const char *)data, size, &info, err, sizeof(err), &field);
	now += size * 37;
	touch(s, node);
	touch(s, "10.0.0.9");
	cJSON_Delete(topology_graph(s));
	return 0;
}
