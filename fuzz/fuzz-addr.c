/* libFuzzer target for net_addr_parse and net_addr_format: whatever parses must format to a
 * string that parses back to the very same bytes, and formatting must stay inside its buffer.
 * Also builds with gcc against fuzz/replay.c. */
#include "net/addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_addr a, b;
	char in[512], out[NET_ADDR_STRLEN], host[NET_ADDR_STRLEN], small[12];

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';

	if (net_addr_parse(in, &a) < 0)
		return 0;
	net_addr_format(&a, out, sizeof(out));
	if (strlen(out) + 1 >= sizeof(out))
		abort(); /* NET_ADDR_STRLEN too small: the result may have been cut */
	if (net_addr_parse(out, &b) < 0)
		abort();
	if (memcmp(&a, &b, sizeof(a)) != 0 || !net_addr_equal(&a, &b))
		abort();

	/* Truncating buffers and the log helper must not overrun either. */
	for (size_t n = 1; n <= sizeof(small); n++) {
		net_addr_format(&a, small, n);
		if (strlen(small) >= n || strncmp(small, out, n - 1) != 0)
			abort();
	}
	net_addr_host((const struct sockaddr *)&a.sa, a.len, host, sizeof(host));
	return 0;
}
