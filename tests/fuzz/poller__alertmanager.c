/* poller__alertmanager.c -- fuzzes the poller's alertmanager feed parser with GET /api/v2/alerts answers (a
 * list of alerts). */
#include "poller__common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(fuzz_feed("{name: f, type: alertmanager, url: 'http://127.0.0.1:9093'}"), data, size);
	return 0;
}
