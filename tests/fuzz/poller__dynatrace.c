/* poller__dynatrace.c -- fuzzes the poller's dynatrace feed parser with GET /api/v2/problems answers (a page
 * of problems). */
#include "poller__common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(
	    fuzz_feed("{name: f, type: dynatrace, url: 'https://x.live.dynatrace.com', token_file: /t}"),
	    data, size);
	return 0;
}
