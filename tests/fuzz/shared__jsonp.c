/* shared__jsonp.c -- differential fuzzing of the request body parser: for any input, jsonp_parse accepts
 * exactly what cJSON_ParseWithLengthOpts accepts, builds the same tree and stops at the same offset. */
#include <stdint.h>
#include <stdlib.h>

#include "jsonp_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int accepted;
	if (!jsonp_same((const char *)data, size, &accepted))
		abort();
	return 0;
}
