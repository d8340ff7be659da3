/* poller__opsgenie.c -- fuzzes the poller's OpsGenie feed parsers: GET /v2/alerts list answers and the same
 * bytes as a GET /v2/alerts/{id} details answer. */
#include "poller__common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[FEED_ERR_MAX];
	event *ev = NULL;
	fuzz_parse(fuzz_feed("{name: f, type: opsgenie, url: 'https://api.opsgenie.com', token_file: /t}"),
		   data, size);
	rfx_err rc = feed_opsgenie_parse_detail((const char *)data, size, &ev, err, sizeof(err));
	if (rc ? ev != NULL : ev == NULL)
		abort();
	event_free(ev);
	return 0;
}
