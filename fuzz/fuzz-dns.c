/* libFuzzer target for the DNS response parser and the hosts-file reader: the input is read
 * as a response to an A and to an AAAA query for "app.internal" (id from its first bytes)
 * and as hosts-file text. Verdicts must be known ones and answers within their bounds;
 * every prefix of a message must parse without reading past it. Built with clang
 * -fsanitize=fuzzer, and with gcc against fuzz/replay.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void parse(const uint8_t *data, size_t size, uint16_t qtype)
{
	uint8_t *copy = malloc(size ? size : 1);
	require(copy != NULL);
	memcpy(copy, data, size);
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	struct dns_answer a;
	memset(&a, 0, sizeof(a));
	int r = dns_parse_response(copy, size, id, "app.internal", qtype, &a);
	require(r == 0 || r == -ENOENT || r == -EAGAIN || r == -EBADMSG);
	require(a.n <= DNS_MAX_ADDRS);
	for (unsigned i = 0; i < a.n; i++)
		require(a.addrs[i].ss_family == (qtype == DNS_TYPE_A ? AF_INET : AF_INET6));
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size, DNS_TYPE_A);
	parse(data, size, DNS_TYPE_AAAA);
	char *text = malloc(size ? size : 1);
	require(text != NULL);
	memcpy(text, data, size);
	struct dns_answer a;
	memset(&a, 0, sizeof(a));
	require(dns_hosts_lookup(text, size, "app.internal", &a) <= DNS_MAX_ADDRS);
	free(text);
	return 0;
}
