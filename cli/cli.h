/* cli.h -- the `reflex` operator command line: one file per command (cmd_<name>.c), one table in main.c. */
#ifndef REFLEX_CLI_H
#define REFLEX_CLI_H

#include <cjson/cJSON.h>
#include "httpc.h"

typedef struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit status */
	void (*usage)(FILE *out);
} cli_command;

/* Exit statuses. */
#define CLI_OK	  0
#define CLI_FAIL  1 /* the thing checked failed (broken rules, refused request) */
#define CLI_USAGE 2 /* bad command line */

/* Base URL of a service: --url wins, then the environment variable env (e.g. REFLEX_URL), then def. */
const char *cli_service_url(const char *flag, const char *env, const char *def);
/* Reads a bearer token: from file (REFLEX_TOKEN_FILE or --token-file); NULL when none. Caller frees. */
char *cli_token(const char *token_file);
/* Performs a request with a JSON body (may be NULL) and bearer token (may be NULL); prints transport errors
 * to stderr. */
rfx_err cli_request(const char *method, const char *base, const char *path, const char *token,
		    const char *body, size_t body_len, httpc_resp *resp);
/* Prints a JSON error body ({"error":{...}}) or the raw body to stderr as "reflex: <status> <code>:
 * <message>". */
void cli_print_http_error(const httpc_resp *resp);

#endif
