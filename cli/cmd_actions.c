/* cmd_actions.c -- `reflex actions list|show`: what the action handler ran, refused, or is about to run. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define ACTIONS_DEFAULT_URL "http://127.0.0.1:8081"

typedef struct actions_opts {
	const char *url, *token_file, *state, *rule, *target, *limit;
	bool json;
} actions_opts;

void cmd_actions_usage(FILE *out)
{
	fprintf(out,
		"usage: reflex actions list [--state S] [--rule R] [--target T] [--limit N] [options]\n"
		"       reflex actions show ID [options]\n\n"
		"Lists the action handler's recent actions, newest first, or shows one with its per-target\n"
		"results, captured output and write-back.\n\n"
		"  --state S          queued, running, succeeded, failed, timeout, refused, dry-run, "
		"interrupted\n"
		"  --rule R           only actions of rule R\n"
		"  --target T         only actions on target T (as written, or host:port)\n"
		"  --limit N          at most N actions (1-1000, default 100)\n"
		"  --json             print the API's JSON instead of text\n"
		"  --url URL          action handler base URL (default $REFLEX_ACTIONS_URL or %s)\n"
		"  --token-file FILE  bearer token file (default $REFLEX_TOKEN_FILE)\n"
		"exit status: 0 ok, 1 not found or unreachable, 2 usage\n",
		ACTIONS_DEFAULT_URL);
}

static const char *actions_str(const cJSON *j, const char *name)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, name));
	return s ? s : "";
}

static void actions_query_add(rfx_buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!value)
		return;
	buf_printf(b, "%c%s=", b->len ? '&' : '?', name);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (isalnum(*p) || strchr("-_.~:", *p))
			buf_putc(b, (char)*p);
		else
			buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}

/* GETs path; on success returns the parsed body, else prints the error and returns NULL. */
static cJSON *actions_get(const actions_opts *o, const char *path)
{
	char *token = cli_token(o->token_file);
	const char *base = cli_service_url(o->url, "REFLEX_ACTIONS_URL", ACTIONS_DEFAULT_URL);
	httpc_resp resp;
	cJSON *j = NULL;
	if (!cli_request("GET", base, path, token, NULL, 0, &resp)) {
		if (resp.status == 200)
			j = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "", resp.body.len);
		else
			cli_print_http_error(&resp);
		if (resp.status == 200 && !j)
			fprintf(stderr, "reflex: the action handler answered something that is not JSON\n");
	}
	httpc_resp_free(&resp);
	free(token);
	return j;
}

static void actions_print_json(const cJSON *j)
{
	char *s = cJSON_Print(j);
	printf("%s\n", s);
	free(s);
}

static void actions_targets(const cJSON *a, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(a, "targets"))
	{
		const char *s = cJSON_GetStringValue(t);
		if (s && n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "," : "", s);
	}
}

static int actions_list(const actions_opts *o)
{
	rfx_buf path;
	buf_init(&path, 4096);
	actions_query_add(&path, "state", o->state);
	actions_query_add(&path, "rule", o->rule);
	actions_query_add(&path, "target", o->target);
	actions_query_add(&path, "limit", o->limit);
	char *p = rfx_asprintf("/v1/actions%s", buf_cstr(&path));
	buf_free(&path);
	cJSON *j = actions_get(o, p);
	free(p);
	if (!j)
		return CLI_FAIL;
	if (o->json) {
		actions_print_json(j);
		cJSON_Delete(j);
		return CLI_OK;
	}
	printf("%-28s %-11s %-24s %-24s %-24s %s\n", "ACTION", "STATE", "RULE", "TARGETS", "RECEIVED",
	       "REASON");
	const cJSON *a;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(j, "actions"))
	{
		char targets[256];
		actions_targets(a, targets, sizeof(targets));
		printf("%-28s %-11s %-24s %-24s %-24s %s\n", actions_str(a, "action_id"),
		       actions_str(a, "state"), actions_str(a, "rule"), targets,
		       actions_str(a, "received_at"), actions_str(a, "reason"));
	}
	cJSON_Delete(j);
	return CLI_OK;
}

static void actions_print_output(const char *label, const cJSON *r, const char *name)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, name));
	char tname[48];
	snprintf(tname, sizeof(tname), "%s_truncated", name);
	if (!s || !*s)
		return;
	printf("  %s%s:\n", label,
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, tname)) ? " (truncated)" : "");
	for (const char *line = s; *line;) {
		const char *nl = strchr(line, '\n');
		int n = nl ? (int)(nl - line) : (int)strlen(line);
		printf("    %.*s\n", n, line);
		line += n + (nl ? 1 : 0);
	}
}

static void actions_print_number(const char *prefix, const cJSON *v, const char *suffix)
{
	if (cJSON_IsNumber(v))
		printf("%s%g%s", prefix, v->valuedouble, suffix);
}

static void actions_print_result(const cJSON *r)
{
	printf("\ntarget %s: %s", actions_str(r, "target"), actions_str(r, "state"));
	if (*actions_str(r, "reason"))
		printf(" (%s)", actions_str(r, "reason"));
	actions_print_number(", exit ", cJSON_GetObjectItemCaseSensitive(r, "exit_status"), "");
	actions_print_number(", verify exit ", cJSON_GetObjectItemCaseSensitive(r, "verify_exit_status"), "");
	actions_print_number(", ", cJSON_GetObjectItemCaseSensitive(r, "duration_ms"), " ms");
	printf("\n");
	if (*actions_str(r, "error"))
		printf("  error: %s\n", actions_str(r, "error"));
	actions_print_output("stdout", r, "stdout");
	actions_print_output("stderr", r, "stderr");
	actions_print_output("verify output", r, "verify_output");
}

static void actions_print_limits(const cJSON *a)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "limits"), *v;
	printf("limits    ");
	int n = 0;
	cJSON_ArrayForEach(v, l)
	{
		printf("%s%s %g", n++ ? ", " : "", v->string, v->valuedouble);
	}
	printf("%s\n", n ? "" : "none");
}

static void actions_print_action(const cJSON *a)
{
	printf("action    %s\n", actions_str(a, "action_id"));
	printf("state     %s", actions_str(a, "state"));
	if (*actions_str(a, "reason"))
		printf(" (%s)", actions_str(a, "reason"));
	printf("\n");
	if (*actions_str(a, "error"))
		printf("error     %s\n", actions_str(a, "error"));
	printf("rule      %s (version %s)\n", actions_str(a, "rule"), actions_str(a, "rule_version"));
	printf("event     %s from %s, problem %s\n", actions_str(a, "event_id"), actions_str(a, "source"),
	       actions_str(a, "source_id"));
	printf("mode      %s, user %s", actions_str(a, "mode"), actions_str(a, "user"));
	actions_print_number(", timeout ", cJSON_GetObjectItemCaseSensitive(a, "timeout"), " s");
	printf("\ncommand   %s\n", actions_str(a, "command"));
	if (*actions_str(a, "verify"))
		printf("verify    %s\n", actions_str(a, "verify"));
	actions_print_limits(a);
	printf("received  %s\n", actions_str(a, "received_at"));
	if (*actions_str(a, "started_at"))
		printf("started   %s\n", actions_str(a, "started_at"));
	if (*actions_str(a, "finished_at"))
		printf("finished  %s\n", actions_str(a, "finished_at"));
}

static void actions_print_writeback(const cJSON *a)
{
	const cJSON *w, *wb = cJSON_GetObjectItemCaseSensitive(a, "writeback");
	if (!cJSON_GetArraySize(wb))
		return;
	printf("\nwrite-back:\n");
	cJSON_ArrayForEach(w, wb)
	{
		printf("  %s/%s: %s", actions_str(w, "sink"), actions_str(w, "op"), actions_str(w, "state"));
		actions_print_number(", HTTP ", cJSON_GetObjectItemCaseSensitive(w, "status"), "");
		actions_print_number(", ", cJSON_GetObjectItemCaseSensitive(w, "attempts"), " attempt(s)");
		if (*actions_str(w, "error"))
			printf(": %s", actions_str(w, "error"));
		printf("\n");
	}
}

static int actions_show(const actions_opts *o, const char *id)
{
	char *path = rfx_asprintf("/v1/actions/%s", id);
	for (char *p = path + strlen("/v1/actions/"); *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._:-", *p)) {
			fprintf(stderr, "reflex: '%s' is not an action id\n", id);
			free(path);
			return CLI_USAGE;
		}
	cJSON *j = actions_get(o, path);
	free(path);
	if (!j)
		return CLI_FAIL;
	if (o->json) {
		actions_print_json(j);
	} else {
		actions_print_action(j);
		const cJSON *r;
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "results"))
		{
			actions_print_result(r);
		}
		actions_print_writeback(j);
	}
	cJSON_Delete(j);
	return CLI_OK;
}

static bool actions_parse(int argc, char **argv, actions_opts *o)
{
	static const struct option opts[] = {
	    {"url", required_argument, 0, 'u'},	   {"token-file", required_argument, 0, 't'},
	    {"state", required_argument, 0, 's'},  {"rule", required_argument, 0, 'r'},
	    {"target", required_argument, 0, 'T'}, {"limit", required_argument, 0, 'n'},
	    {"json", no_argument, 0, 'j'},	   {0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:t:s:r:T:n:j", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->url = optarg;
			break;
		case 't':
			o->token_file = optarg;
			break;
		case 's':
			o->state = optarg;
			break;
		case 'r':
			o->rule = optarg;
			break;
		case 'T':
			o->target = optarg;
			break;
		case 'n':
			o->limit = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* argv[0] is "actions", argv[1] the subcommand. */
int cmd_actions(int argc, char **argv)
{
	actions_opts o = {0};
	if (argc < 2 || argv[1][0] == '-') {
		cmd_actions_usage(stderr);
		return CLI_USAGE;
	}
	const char *sub = argv[1];
	if (!actions_parse(argc - 1, argv + 1, &o)) {
		cmd_actions_usage(stderr);
		return CLI_USAGE;
	}
	int rest = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (!strcmp(sub, "list") && rest == 0)
		return actions_list(&o);
	if (!strcmp(sub, "show") && rest == 1 && !o.state && !o.rule && !o.target && !o.limit)
		return actions_show(&o, args[0]);
	cmd_actions_usage(stderr);
	return CLI_USAGE;
}
