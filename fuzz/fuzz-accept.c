/* libFuzzer target for the Accept-Encoding parser (http/coding.c): any input, weights within
 * 0..1000, nothing written on an error, and the element bound holds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t q[HTTP_CODING_N] = {4242, 4242, 4242};
	int r = http_accept_encoding((const char *)data, size, q);
	if (r < 0) {
		if ((r != -EINVAL && r != -E2BIG) || q[0] != 4242 || q[1] != 4242 || q[2] != 4242)
			abort();
		return 0;
	}
	if (r != 0)
		abort();
	for (int i = 0; i < HTTP_CODING_N; i++)
		if (q[i] > 1000)
			abort();
	return 0;
}
