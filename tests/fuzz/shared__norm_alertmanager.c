/* shared__norm_alertmanager.c -- libFuzzer harness for shared/norm_alertmanager.c. */
#include "shared__norm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_normalizer("alertmanager", data, size);
}
