/* libFuzzer target for the DNS response parser, the hosts-file reader, the resolv.conf reader
 * and the candidate names: the input is read as a response to an A and to an AAAA query for
 * "app.internal" (id from its first bytes), as hosts-file text and as resolv.conf text; its
 * first line, and a few fixed names, are then expanded into candidates under that resolv.conf.
 * Verdicts must be known ones and answers within their bounds; every prefix of a message
 * must parse without reading past it; the settings stay in their ranges; candidates are few,
 * valid names of at most 253 bytes, distinct, the name itself among them exactly once, and
 * an absolute name is alone. Built with clang -fsanitize=fuzzer, and with gcc against
 * fuzz/replay.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	require(r == 0 || r == -ENOENT || r == -EAGAIN || r == -EMSGSIZE || r == -EBADMSG);
	require(a.n <= DNS_MAX_ADDRS);
	require(r == 0 || a.n == 0); /* only an answer adds addresses */
	for (unsigned i = 0; i < a.n; i++)
		require(a.addrs[i].ss_family == (qtype == DNS_TYPE_A ? AF_INET : AF_INET6));
	free(copy);
}

static void check_conf(const struct dns_conf *c)
{
	require(c->n_ns <= DNS_MAX_NS);
	for (unsigned i = 0; i < c->n_ns; i++) {
		const struct net_addr *a = &c->ns[i];
		require(a->type == SOCK_DGRAM);
		if (a->family == AF_INET)
			require(((const struct sockaddr_in *)&a->sa)->sin_port == htons(53));
		else
			require(a->family == AF_INET6 &&
				((const struct sockaddr_in6 *)&a->sa)->sin6_port == htons(53));
	}
	require(c->n_search <= DNS_MAX_SEARCH);
	uint8_t msg[DNS_MSG_MAX];
	for (unsigned i = 0; i < c->n_search; i++) {
		size_t n = strnlen(c->search[i], DNS_NAME_MAX + 1);
		require(n >= 1 && n <= DNS_NAME_MAX && c->search[i][n - 1] != '.');
		require(dns_build_query(1, c->search[i], DNS_TYPE_A, msg, sizeof(msg)) > 0);
		for (unsigned j = 0; j < i; j++)
			require(strcasecmp(c->search[i], c->search[j]) != 0);
	}
	require(c->ndots <= DNS_MAX_NDOTS);
	require(c->timeout_ms >= 1000 && c->timeout_ms <= 30000 && c->timeout_ms % 1000 == 0);
	require(c->attempts >= 1 && c->attempts <= 5);
}

static void check_candidates(const struct dns_conf *c, const char *name)
{
	static char seen[DNS_MAX_CANDIDATES][DNS_NAME_MAX + 1];
	char out[DNS_NAME_MAX + 1];
	size_t nl = strlen(name);
	bool absolute = nl > 0 && name[nl - 1] == '.';
	size_t bare = absolute ? nl - 1 : nl;
	unsigned n = 0, as_is = 0;
	uint8_t msg[DNS_MSG_MAX];
	for (unsigned i = 0;; i++) {
		int r = dns_candidate(c, name, i, out);
		if (r == -EINVAL) {
			require(i == 0); /* a name is refused whole, not halfway through */
			return;
		}
		if (r == -ENOENT)
			break;
		require(r > 0 && r <= DNS_NAME_MAX && (size_t)r == strlen(out));
		require(i < DNS_MAX_CANDIDATES && i <= c->n_search);
		require(dns_build_query(1, out, DNS_TYPE_A, msg, sizeof(msg)) > 0);
		require(out[r - 1] != '.');
		/* The name itself, or the name, a dot and one of the search domains. */
		require((size_t)r >= bare && strncmp(out, name, bare) == 0);
		if ((size_t)r == bare) {
			as_is++;
		} else {
			require(out[bare] == '.');
			bool found = false;
			for (unsigned k = 0; k < c->n_search && !found; k++)
				found = strcmp(out + bare + 1, c->search[k]) == 0;
			require(found);
		}
		for (unsigned k = 0; k < n; k++)
			require(strcmp(seen[k], out) != 0);
		memcpy(seen[n++], out, (size_t)r + 1);
	}
	require(as_is == 1); /* a valid name is always asked as it is, once */
	if (absolute)
		require(n == 1);
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

	struct dns_conf c, again;
	int n = dns_conf_parse(text, size, &c);
	require(n >= 0 && (unsigned)n == c.n_ns);
	check_conf(&c);
	dns_conf_parse(text, size, &again);
	require(memcmp(&c, &again, sizeof(c)) == 0); /* fully written, padding included */

	/* The first line as a name (NUL bytes end it early), then a few fixed ones. */
	char name[DNS_NAME_MAX + 8];
	size_t nl = 0;
	while (nl < size && nl < sizeof(name) - 1 && data[nl] != '\n')
		nl++;
	memcpy(name, data, nl);
	name[nl] = '\0';
	check_candidates(&c, name);
	static const char *const fixed[] = {"backend", "app.internal", "a.b.c.d.e", "backend.",
					    "x.", "a..b", ""};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_candidates(&c, fixed[i]);
	char longest[DNS_NAME_MAX + 1];
	memset(longest, 'a', DNS_NAME_MAX);
	for (size_t i = 63; i < DNS_NAME_MAX; i += 64)
		longest[i] = '.';
	longest[DNS_NAME_MAX] = '\0';
	check_candidates(&c, longest);
	free(text);
	return 0;
}
