/* cli__report.c -- fuzzes what `reflex report` reads: any bytes, split into lines, as logfmt and audit JSON
 * lines (docker prefixes, broken quotes, huge numbers), then summarised with and without filters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/cmd_report.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	report r = {0};
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		ingest_line(&r, p, len);
		p += len + 1;
	}
	report_opts all = {0}, some = {.since = 1, .until = INT64_MAX, .rule = "r", .entity = "h"};
	summary sm;
	summarise(&r, &all, &sm);
	if (sm.total.actions > r.nacts)
		abort();
	summary_free(&sm);
	summarise(&r, &some, &sm);
	summary_free(&sm);
	report_free(&r);
	return 0;
}
