/* cmd_send.c -- `reflex send FILE|-`: posts an event to the classifier and prints the decisions. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define SEND_MAX_BODY (64u << 20)

void cmd_send_usage(FILE *out)
{
	fprintf(out,
		"usage: reflex send [--source NAME] [--url URL] [--token-file FILE] FILE|-\n\n"
		"Posts the event in FILE (or stdin) to the classifier and prints its answer: the event ids "
		"and the\n"
		"decisions taken. Without --source the file is a normalized or generic JSON event (POST "
		"/v1/events);\n"
		"with --source alertmanager|dynatrace|opsgenie|icinga it is that source's own payload.\n\n"
		"  --url URL          classifier base URL (default $REFLEX_URL or http://127.0.0.1:8080)\n"
		"  --token-file FILE  bearer token file (default $REFLEX_TOKEN_FILE)\n"
		"exit status: 0 accepted, 1 refused or unreachable, 2 usage\n");
}

static rfx_err read_input(const char *path, char **out, size_t *len)
{
	if (strcmp(path, "-"))
		return rfx_read_file(path, SEND_MAX_BODY, out, len);
	rfx_buf b;
	buf_init(&b, SEND_MAX_BODY);
	char chunk[65536];
	ssize_t n;
	while ((n = read(0, chunk, sizeof(chunk))) > 0) {
		rfx_err rc = buf_append(&b, chunk, (size_t)n);
		if (rc) {
			buf_free(&b);
			return rc;
		}
	}
	*len = b.len;
	*out = buf_steal(&b);
	return n < 0 ? RFX_ERR_IO : RFX_OK;
}

int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {{"url", required_argument, 0, 'u'},
					     {"token-file", required_argument, 0, 't'},
					     {"source", required_argument, 0, 's'},
					     {0}};
	const char *url = NULL, *token_file = NULL, *source = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:t:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 's':
			source = optarg;
			break;
		default:
			cmd_send_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		cmd_send_usage(stderr);
		return CLI_USAGE;
	}
	char *body = NULL, *token = NULL, *path = NULL;
	size_t len = 0;
	int rc = CLI_FAIL;
	if (read_input(argv[optind], &body, &len)) {
		fprintf(stderr, "reflex: cannot read %s\n", argv[optind]);
		goto out;
	}
	token = cli_token(token_file);
	path = source ? rfx_asprintf("/v1/events/%s", source) : rfx_strdup("/v1/events");
	httpc_resp resp;
	const char *base = cli_service_url(url, "REFLEX_URL", "http://127.0.0.1:8080");
	if (!cli_request("POST", base, path, token, body, len, &resp)) {
		if (resp.status >= 200 && resp.status < 300) {
			cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
			char *pretty = j ? cJSON_Print(j) : NULL;
			printf("%s\n", pretty ? pretty : buf_cstr(&resp.body));
			free(pretty);
			cJSON_Delete(j);
			rc = CLI_OK;
		} else {
			cli_print_http_error(&resp);
		}
	}
	httpc_resp_free(&resp);
out:
	free(body);
	free(token);
	free(path);
	return rc;
}
