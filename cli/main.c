/* main.c -- `reflex`: dispatches to the operator commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Each command lives in cmd_<name>.c. */
int cmd_rules(int argc, char **argv);
void cmd_rules_usage(FILE *out);
int cmd_send(int argc, char **argv);
void cmd_send_usage(FILE *out);
int cmd_report(int argc, char **argv);
void cmd_report_usage(FILE *out);
int cmd_actions(int argc, char **argv);
void cmd_actions_usage(FILE *out);
int cmd_topology(int argc, char **argv);
void cmd_topology_usage(FILE *out);

static const cli_command commands[] = {
    {"rules", "check a rules directory, or classify an event file without acting", cmd_rules,
     cmd_rules_usage},
    {"send", "post an event (file or -) to the classifier and print the decisions", cmd_send, cmd_send_usage},
    {"report", "what Reflex has been doing, from logs or the Kafka audit topic", cmd_report,
     cmd_report_usage},
    {"actions", "list or show the action handler's actions", cmd_actions, cmd_actions_usage},
    {"topology", "the estate: nodes, services, edges, open problems and who depends on them", cmd_topology,
     cmd_topology_usage},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: reflex <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < RFX_ARRAY_LEN(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nenvironment:\n"
		     "  REFLEX_URL         classifier base URL (default http://127.0.0.1:8080)\n"
		     "  REFLEX_TOKEN_FILE  file holding the API bearer token\n"
		     "\n'reflex <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("reflex %s\n", REFLEX_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			commands[i].usage(stdout);
			return CLI_OK;
		}
		httpc_global_init();
		return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "reflex: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
