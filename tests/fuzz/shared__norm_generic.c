/* shared__norm_generic.c -- libFuzzer harness for the generic normalizer (shared/norm_generic.c). */
#include "shared__norm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_normalizer("generic", data, size);
}
