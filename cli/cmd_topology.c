/* cmd_topology.c -- `reflex topology`: the estate as the classifier maps it (nodes, services, edges, open
 * problems and their blast radius), as tables or as the API's JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "cli.h"

#define TOPOLOGY_DEFAULT_URL "http://127.0.0.1:8080"
#define TOPOLOGY_COLS_MAX    8
#define TOPOLOGY_CELL_MAX    400 /* bytes of one cell; lists stop at whole items before it */
#define TOPOLOGY_LIST_MAX    6	 /* services or addresses shown per node before "+N more" */

typedef struct topology_opts {
	const char *url, *token_file;
	bool json;
} topology_opts;

void cmd_topology_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: reflex topology [--url URL] [--token-file FILE] [--json]\n\n"
	    "Prints the estate from the classifier's GET /v1/topology: the nodes with their addresses and\n"
	    "services, the edges (client -> server:port, with the processes at both ends), and the open\n"
	    "problems with the node and service they are on and the nodes that depend on it.\n\n"
	    "  --json             print the API's JSON as it came\n"
	    "  --url URL          classifier base URL (default $REFLEX_URL or %s)\n"
	    "  --token-file FILE  bearer token file (default $REFLEX_TOKEN_FILE)\n"
	    "exit status: 0 ok, 1 refused or unreachable, 2 usage\n",
	    TOPOLOGY_DEFAULT_URL);
}

/* ---- a table with columns as wide as their widest cell ---- */

typedef struct topology_table {
	size_t ncols, nrows;
	const char *head[TOPOLOGY_COLS_MAX];
	size_t width[TOPOLOGY_COLS_MAX];
	char **cells; /* row after row */
} topology_table;

/* Display width of UTF-8 text: continuation bytes take no column. */
static size_t topology_text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

/* A copy fit for a terminal: control characters (a title may hold escapes) become spaces; text longer than a
 * cell is cut between characters and ends in "...". */
static char *topology_cell_copy(const char *s)
{
	size_t n = strnlen(s, TOPOLOGY_CELL_MAX + 1);
	bool cut = n > TOPOLOGY_CELL_MAX;
	if (cut) {
		n = TOPOLOGY_CELL_MAX - 3;
		while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	char *c = rfx_malloc(n + 4);
	for (size_t i = 0; i < n; i++)
		c[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
	strcpy(c + n, cut ? "..." : "");
	return c;
}

static void topology_table_init(topology_table *t, size_t ncols, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		t->head[i] = head[i];
		t->width[i] = topology_text_width(head[i]);
	}
}

static void topology_table_row(topology_table *t, const char *const *cells)
{
	t->cells = rfx_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	for (size_t i = 0; i < t->ncols; i++) {
		char *c = topology_cell_copy(cells[i] && *cells[i] ? cells[i] : "-");
		size_t w = topology_text_width(c);
		if (w > t->width[i])
			t->width[i] = w;
		t->cells[t->nrows * t->ncols + i] = c;
	}
	t->nrows++;
}

static void topology_table_line(const topology_table *t, const char *const *cells)
{
	for (size_t i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		printf("%s", cells[i]);
		if (!last)
			printf("%*s", (int)(t->width[i] - topology_text_width(cells[i]) + 2), "");
	}
	printf("\n");
}

static void topology_table_print(const topology_table *t)
{
	topology_table_line(t, t->head);
	for (size_t r = 0; r < t->nrows; r++)
		topology_table_line(t, (const char *const *)&t->cells[r * t->ncols]);
}

static void topology_table_free(topology_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	RFX_FREE(t->cells);
}

/* ---- reading the graph ---- */

static const char *topology_str(const cJSON *j, const char *name)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, name));
	return s ? s : "";
}

static const cJSON *topology_arr(const cJSON *j, const char *name)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, name);
	return cJSON_IsArray(a) ? a : NULL;
}

/* Appends ", item" when the cell has room for all of it; false once it is full. */
static bool topology_list_add(rfx_buf *b, const char *item)
{
	return !buf_printf(b, "%s%s", b->len ? ", " : "", item);
}

/* Notes how many items a list left out ("+N more"), dropping one more item when the cell has no room for it.
 */
static void topology_list_more(rfx_buf *b, size_t shown, size_t total)
{
	char more[32];
	if (shown >= total)
		return;
	snprintf(more, sizeof(more), "+%zu more", total - shown);
	if (buf_printf(b, " %s", more)) {
		char *comma = b->data ? strrchr(b->data, ',') : NULL;
		if (comma) {
			b->len = (size_t)(comma - b->data);
			b->data[b->len] = '\0';
			buf_printf(b, " %s", more);
		}
	}
}

static void topology_strings(rfx_buf *b, const cJSON *arr, size_t max)
{
	const cJSON *it;
	size_t shown = 0, total = (size_t)cJSON_GetArraySize(arr);
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cJSON_GetStringValue(it);
		if (!s || (max && shown == max) || !topology_list_add(b, s))
			break;
		shown++;
	}
	topology_list_more(b, shown, total);
}

/* "5432/postgres", or "5432" when the process is not known. */
static void topology_service_name(const cJSON *svc, char *out, size_t len)
{
	const char *proc = topology_str(svc, "process");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(svc, "port");
	int p = cJSON_IsNumber(port) ? port->valueint : 0;
	if (*proc)
		snprintf(out, len, "%d/%s", p, proc);
	else
		snprintf(out, len, "%d", p);
}

static void topology_services(rfx_buf *b, const cJSON *node)
{
	const cJSON *svc, *arr = topology_arr(node, "services");
	size_t shown = 0, total = (size_t)cJSON_GetArraySize(arr);
	cJSON_ArrayForEach(svc, arr)
	{
		char name[128];
		topology_service_name(svc, name, sizeof(name));
		if (cJSON_GetArraySize(topology_arr(svc, "problems")) > 0)
			strncat(name, " (problem)", sizeof(name) - strlen(name) - 1);
		if (shown == TOPOLOGY_LIST_MAX || !topology_list_add(b, name))
			break;
		shown++;
	}
	topology_list_more(b, shown, total);
}

static void topology_state(rfx_buf *b, const cJSON *node)
{
	if (cJSON_GetArraySize(topology_arr(node, "problems")) > 0)
		topology_list_add(b, "problem");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "stale")))
		topology_list_add(b, "stale");
	if (cJSON_GetArraySize(topology_arr(node, "impacted_by")) > 0)
		topology_list_add(b, "impacted");
	if (!b->len)
		buf_puts(b, "ok");
}

static void topology_node_row(topology_table *t, const cJSON *node)
{
	rfx_buf state, addrs, svcs;
	bool agent = !strcmp(topology_str(node, "kind"), "agent");
	buf_init(&state, TOPOLOGY_CELL_MAX);
	buf_init(&addrs, TOPOLOGY_CELL_MAX);
	buf_init(&svcs, TOPOLOGY_CELL_MAX);
	if (agent) {
		topology_state(&state, node);
		topology_services(&svcs, node);
	}
	topology_strings(&addrs, topology_arr(node, "addresses"), TOPOLOGY_LIST_MAX);
	if (!addrs.len)
		buf_puts(&addrs, topology_str(node, "label"));
	const char *cells[] = {topology_str(node, "id"), topology_str(node, "kind"), buf_cstr(&state),
			       buf_cstr(&addrs), buf_cstr(&svcs)};
	topology_table_row(t, cells);
	buf_free(&state);
	buf_free(&addrs);
	buf_free(&svcs);
}

static void topology_edge_row(topology_table *t, const cJSON *e)
{
	char edge[600], count[24] = "";
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(e, "port"),
		    *n = cJSON_GetObjectItemCaseSensitive(e, "count");
	rfx_buf clients;
	buf_init(&clients, TOPOLOGY_CELL_MAX);
	snprintf(edge, sizeof(edge), "%s -> %s:%d", topology_str(e, "from"), topology_str(e, "to"),
		 cJSON_IsNumber(port) ? port->valueint : 0);
	if (cJSON_IsNumber(n))
		snprintf(count, sizeof(count), "%.0f", n->valuedouble);
	topology_strings(&clients, topology_arr(e, "client_processes"), 0);
	const char *cells[] = {edge, buf_cstr(&clients), topology_str(e, "server_process"), count,
			       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "held")) ? "held" : ""};
	topology_table_row(t, cells);
	buf_free(&clients);
}

/* The service of node whose "problems" lists the problem's id. */
static void topology_problem_service(const cJSON *node, const char *id, char *out, size_t len)
{
	const cJSON *svc, *pid;
	out[0] = '\0';
	cJSON_ArrayForEach(svc, topology_arr(node, "services"))
	{
		cJSON_ArrayForEach(pid, topology_arr(svc, "problems"))
		{
			if (cJSON_GetStringValue(pid) && !strcmp(pid->valuestring, id)) {
				topology_service_name(svc, out, len);
				return;
			}
		}
	}
}

/* node is NULL for an unmapped problem. */
static void topology_problem_row(topology_table *t, const cJSON *p, const cJSON *node)
{
	char problem[300], service[128] = "";
	rfx_buf deps;
	buf_init(&deps, TOPOLOGY_CELL_MAX);
	snprintf(problem, sizeof(problem), "%s/%s", topology_str(p, "source"), topology_str(p, "source_id"));
	if (node) {
		topology_problem_service(node, topology_str(p, "id"), service, sizeof(service));
		topology_strings(&deps, topology_arr(node, "dependents"), 0);
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "external_clients")))
			topology_list_add(&deps, "outside clients");
	}
	const char *cells[] = {problem,
			       topology_str(p, "entity"),
			       node ? topology_str(node, "id") : "(unmapped)",
			       service,
			       topology_str(p, "severity"),
			       buf_cstr(&deps),
			       topology_str(p, "title")};
	topology_table_row(t, cells);
	buf_free(&deps);
}

/* ---- printing ---- */

static size_t topology_print_nodes(const cJSON *g, size_t *agents)
{
	static const char *const head[] = {"NODE", "KIND", "STATE", "ADDRESSES", "SERVICES"};
	topology_table t;
	const cJSON *node;
	topology_table_init(&t, RFX_ARRAY_LEN(head), head);
	*agents = 0;
	cJSON_ArrayForEach(node, topology_arr(g, "nodes"))
	{
		*agents += !strcmp(topology_str(node, "kind"), "agent");
		topology_node_row(&t, node);
	}
	if (t.nrows)
		topology_table_print(&t);
	else
		printf("no nodes: no agent has reported yet\n");
	size_t n = t.nrows;
	topology_table_free(&t);
	return n;
}

static size_t topology_print_edges(const cJSON *g)
{
	static const char *const head[] = {"EDGE", "CLIENT PROCESSES", "SERVER PROCESS", "CONNECTIONS",
					   "HELD"};
	topology_table t;
	const cJSON *e;
	topology_table_init(&t, RFX_ARRAY_LEN(head), head);
	cJSON_ArrayForEach(e, topology_arr(g, "edges"))
	{
		topology_edge_row(&t, e);
	}
	if (t.nrows) {
		printf("\n");
		topology_table_print(&t);
	}
	size_t n = t.nrows;
	topology_table_free(&t);
	return n;
}

static void topology_print_problems(const cJSON *g)
{
	static const char *const head[] = {"PROBLEM",  "ENTITY",     "NODE", "SERVICE",
					   "SEVERITY", "DEPENDENTS", "TITLE"};
	topology_table t;
	const cJSON *node, *p;
	topology_table_init(&t, RFX_ARRAY_LEN(head), head);
	cJSON_ArrayForEach(node, topology_arr(g, "nodes"))
	{
		cJSON_ArrayForEach(p, topology_arr(node, "problems"))
		{
			topology_problem_row(&t, p, node);
		}
	}
	cJSON_ArrayForEach(p, topology_arr(cJSON_GetObjectItemCaseSensitive(g, "problems"), "unmapped"))
	{
		topology_problem_row(&t, p, NULL);
	}
	if (t.nrows) {
		printf("\n");
		topology_table_print(&t);
	}
	topology_table_free(&t);
}

static void topology_print(const cJSON *g)
{
	size_t agents, edges, nodes = topology_print_nodes(g, &agents);
	edges = topology_print_edges(g);
	topology_print_problems(g);
	const cJSON *probs = cJSON_GetObjectItemCaseSensitive(g, "problems");
	const cJSON *open = cJSON_GetObjectItemCaseSensitive(probs, "open");
	printf(
	    "\nnodes: %zu (%zu with an agent); edges: %zu; open problems: %.0f (%d unmapped); generated %s\n",
	    nodes, agents, edges, cJSON_IsNumber(open) ? open->valuedouble : 0.0,
	    cJSON_GetArraySize(topology_arr(probs, "unmapped")), topology_str(g, "generated_at"));
}

/* GETs the graph: its body on 200, else the error printed and CLI_FAIL. */
static int topology_fetch(const topology_opts *o, httpc_resp *resp)
{
	char *token = cli_token(o->token_file);
	const char *base = cli_service_url(o->url, "REFLEX_URL", TOPOLOGY_DEFAULT_URL);
	rfx_err rc = cli_request("GET", base, "/v1/topology", token, NULL, 0, resp);
	free(token);
	if (rc)
		return CLI_FAIL;
	if (resp->status != 200) {
		cli_print_http_error(resp);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int topology_run(const topology_opts *o)
{
	httpc_resp resp;
	cJSON *g = NULL;
	int status = topology_fetch(o, &resp);
	if (status)
		goto out;
	if (o->json) {
		fwrite(buf_cstr(&resp.body), 1, resp.body.len, stdout);
		if (!resp.body.len || resp.body.data[resp.body.len - 1] != '\n')
			printf("\n");
		goto out;
	}
	g = cJSON_ParseWithLength(buf_cstr(&resp.body), resp.body.len);
	if (!cJSON_IsObject(g)) {
		fprintf(stderr, "reflex: the classifier answered something that is not a topology graph\n");
		status = CLI_FAIL;
		goto out;
	}
	topology_print(g);
out:
	cJSON_Delete(g);
	httpc_resp_free(&resp);
	return status;
}

static bool topology_parse(int argc, char **argv, topology_opts *o)
{
	static const struct option opts[] = {{"url", required_argument, 0, 'u'},
					     {"token-file", required_argument, 0, 't'},
					     {"json", no_argument, 0, 'j'},
					     {0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:t:j", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->url = optarg;
			break;
		case 't':
			o->token_file = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			return false;
		}
	}
	return optind == argc;
}

/* argv[0] is "topology". */
int cmd_topology(int argc, char **argv)
{
	topology_opts o = {0};
	if (!topology_parse(argc, argv, &o)) {
		cmd_topology_usage(stderr);
		return CLI_USAGE;
	}
	return topology_run(&o);
}
