/* poller__icinga.c -- fuzzes the poller's icinga feed parser with GET /v1/objects/services|hosts answers. */
#include "poller__common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(
	    fuzz_feed("{name: f, type: icinga, url: 'https://icinga:5665', username: u, token_file: /t}"),
	    data, size);
	return 0;
}
