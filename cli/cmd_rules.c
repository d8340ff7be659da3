/* cmd_rules.c -- `reflex rules check DIR` and `reflex rules test --event FILE`: rules work offline, before
 * deploy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "cli.h"
#include "normalize.h"
#include "rules.h"
#include "rulestore.h"

#define RULES_TEST_MAX_EVENT (16u << 20)

void cmd_rules_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: reflex rules check DIR\n"
	    "       reflex rules test --event FILE [--rules DIR] [--source NAME] [--json]\n\n"
	    "check: validates every rule file in DIR and prints each error as file:line:column: key: "
	    "reason;\n"
	    "       exits 1 when any file is broken (the same check as reflex-classifier --check-rules).\n"
	    "test:  classifies the event in FILE with the rules in DIR (default ./rules) without acting, "
	    "and\n"
	    "       prints which rules fire and the exact commands they would run. --source names the "
	    "payload's\n"
	    "       shape (alertmanager, dynatrace, opsgenie, icinga; default: normalized/generic JSON).\n");
}

static int rules_check(int argc, char **argv)
{
	if (argc != 2) {
		cmd_rules_usage(stderr);
		return CLI_USAGE;
	}
	return rules_check_dir(argv[1], stdout) ? CLI_FAIL : CLI_OK;
}

static rfx_err load_event_file(const char *path, const char *source, event_list *evs)
{
	const normalizer *norm = normalizer_find(source ? source : "generic");
	if (!norm) {
		fprintf(stderr, "reflex: unknown source '%s'\n", source);
		return RFX_ERR_INVAL;
	}
	char *text = NULL, err[300] = "";
	size_t len;
	const char *field = NULL;
	rfx_err rc = rfx_read_file(path, RULES_TEST_MAX_EVENT, &text, &len);
	if (rc) {
		fprintf(stderr, "reflex: cannot read %s: %s\n", path, rfx_strerror(rc));
		return rc;
	}
	cJSON *j = cJSON_ParseWithLength(text, len);
	free(text);
	if (!j) {
		fprintf(stderr, "reflex: %s: not valid JSON\n", path);
		return RFX_ERR_PARSE;
	}
	rc = norm->parse(j, evs, err, sizeof(err), &field);
	cJSON_Delete(j);
	if (rc)
		fprintf(stderr, "reflex: %s: %s%s%s\n", path, err, field ? " (field " : "", field ? ")" : "");
	return rc;
}

static void print_rule_human(const rule *r, const eval_ctx *c)
{
	char err[400];
	printf("  rule %s (priority %d%s, %s, %s:%d)\n", r->name, r->priority, r->final ? ", final" : "",
	       rules_mode_name(r->action.mode), r->file, r->line);
	if (r->action.type == RULE_ACTION_NONE) {
		printf("    action: none\n");
		return;
	}
	cJSON *body = classify_action_body(r, c, "(test)", err, sizeof(err));
	if (!body) {
		printf("    action cannot be rendered: %s\n", err);
		return;
	}
	const cJSON *t;
	printf("    %s action on:", rules_action_type_name(r->action.type));
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(body, "targets"))
	    printf(" %s", t->valuestring);
	printf("\n");
	const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "command"));
	const char *verify = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "verify"));
	const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "url"));
	if (cmd)
		printf("    command: %s\n", cmd);
	if (verify)
		printf("    verify:  %s\n", verify);
	if (url)
		printf("    url:     %s\n", url);
	cJSON_Delete(body);
}

static int rules_test(int argc, char **argv)
{
	static const struct option opts[] = {{"event", required_argument, 0, 'e'},
					     {"rules", required_argument, 0, 'r'},
					     {"source", required_argument, 0, 's'},
					     {"json", no_argument, 0, 'j'},
					     {0}};
	const char *event_file = NULL, *dir = "./rules", *source = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:r:s:j", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			event_file = optarg;
			break;
		case 'r':
			dir = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			cmd_rules_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (!event_file || optind != argc) {
		cmd_rules_usage(stderr);
		return CLI_USAGE;
	}
	int rc = CLI_FAIL;
	event_list evs = {0};
	rulestore *store = rulestore_new(dir);
	rulestore_report rep = {0};
	if (rulestore_reload(store, &rep)) {
		fprintf(stderr, "reflex: cannot read the rules directory %s\n", dir);
		goto out;
	}
	if (rep.errors)
		fprintf(
		    stderr,
		    "reflex: %zu error(s) in the rules of %s (broken files are skipped); see 'reflex rules "
		    "check %s'\n",
		    rep.errors, dir, dir);
	if (load_event_file(event_file, source, &evs))
		goto out;
	ruleset *rs = rulestore_acquire(store);
	cJSON *all = cJSON_CreateArray();
	for (size_t i = 0; i < evs.n; i++) {
		eval_ctx ctx = {.ev = evs.v[i]};
		const rule *fired[CLASSIFY_MAX_FIRED];
		size_t n = rs ? ruleset_match(rs, &ctx, fired, CLASSIFY_MAX_FIRED) : 0;
		cJSON *ej = cJSON_CreateObject();
		cJSON_AddItemToObject(ej, "event", event_to_json(evs.v[i], false));
		cJSON *dj = cJSON_AddArrayToObject(ej, "rules");
		if (!json)
			printf("event %s (%s %s, entity %s, event_type %s)\n", evs.v[i]->source_id,
			       event_source_name(evs.v[i]->source), event_state_name(evs.v[i]->state),
			       evs.v[i]->entity, evs.v[i]->event_type);
		for (size_t k = 0; k < n; k++) {
			char err[400];
			cJSON *d = cJSON_CreateObject();
			cJSON_AddStringToObject(d, "rule", fired[k]->name);
			cJSON *body = fired[k]->action.type == RULE_ACTION_NONE
					  ? NULL
					  : classify_action_body(fired[k], &ctx, "(test)", err, sizeof(err));
			if (body)
				cJSON_AddItemToObject(d, "action", body);
			else if (fired[k]->action.type != RULE_ACTION_NONE)
				cJSON_AddStringToObject(d, "error", err);
			cJSON_AddItemToArray(dj, d);
			if (!json)
				print_rule_human(fired[k], &ctx);
		}
		if (!json && n == 0)
			printf("  no rule matches: decision investigate\n");
		cJSON_AddItemToArray(all, ej);
	}
	if (json) {
		char *s = cJSON_Print(all);
		printf("%s\n", s);
		free(s);
	}
	cJSON_Delete(all);
	if (rs)
		ruleset_release(rs);
	rc = CLI_OK;
out:
	event_list_free(&evs);
	rulestore_free(store);
	return rc;
}

int cmd_rules(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return rules_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "test"))
		return rules_test(argc - 1, argv + 1);
	cmd_rules_usage(stderr);
	return CLI_USAGE;
}
