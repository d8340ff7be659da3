/* shared__norm_icinga.c -- libFuzzer harness for the icinga normalizer (shared/norm_icinga.c). */
#include "shared__norm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_normalizer("icinga", data, size);
}
