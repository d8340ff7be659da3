/* shared__norm_opsgenie.c -- libFuzzer harness for the opsgenie normalizer (shared/norm_opsgenie.c). */
#include "shared__norm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_normalizer("opsgenie", data, size);
}
