/* shared__norm_dynatrace.c -- libFuzzer harness for the dynatrace normalizer (shared/norm_dynatrace.c). */
#include "shared__norm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_normalizer("dynatrace", data, size);
}
