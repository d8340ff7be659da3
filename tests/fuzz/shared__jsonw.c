/* shared__jsonw.c -- fuzzes the JSON writer: for any document cJSON parses, jsonw prints exactly the text
 * cJSON_PrintUnformatted prints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *v = cJSON_ParseWithLength((const char *)data, size);
	if (!v)
		return 0;
	char *want = cJSON_PrintUnformatted(v);
	char *got = jsonw_print(v);
	if (!want || strcmp(want, got))
		abort();
	free(want);
	free(got);
	cJSON_Delete(v);
	return 0;
}
