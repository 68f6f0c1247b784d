/* DNS messages and the hosts file (net/dns.c): queries as the wire format says, answers
 * with compression and CNAME chains, every way a response can fail to answer a query. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "net/dns.h"
#include "test.h"

static void test_query(void)
{
	uint8_t b[DNS_MSG_MAX];
	ssize_t n = dns_build_query(0x1234, "app.internal", DNS_TYPE_A, b, sizeof(b));
	static const uint8_t want[] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
				       3, 'a', 'p', 'p', 8, 'i', 'n', 't', 'e', 'r', 'n', 'a', 'l', 0,
				       0, 1, 0, 1};
	CHECK_EQ_INT(n, sizeof(want));
	CHECK(memcmp(b, want, sizeof(want)) == 0);
	CHECK_EQ_INT(dns_build_query(1, "app.internal.", DNS_TYPE_A, b, sizeof(b)), sizeof(want));
	CHECK_EQ_INT(dns_build_query(1, "", DNS_TYPE_A, b, sizeof(b)), -EINVAL);
	CHECK_EQ_INT(dns_build_query(1, "a..b", DNS_TYPE_A, b, sizeof(b)), -EINVAL);
	CHECK_EQ_INT(dns_build_query(1, ".a", DNS_TYPE_A, b, sizeof(b)), -EINVAL);
	char label[70];
	memset(label, 'x', 64);
	label[64] = '\0';
	CHECK_EQ_INT(dns_build_query(1, label, DNS_TYPE_A, b, sizeof(b)), -EINVAL);
	CHECK_EQ_INT(dns_build_query(1, "app.internal", DNS_TYPE_A, b, 10), -ENOBUFS);
}

/* A response to query (id, "app.internal", qtype) with the given answer bytes. */
static size_t response(uint8_t *b, uint16_t id, uint8_t rcode, uint16_t qtype, unsigned an,
		       const uint8_t *answers, size_t alen)
{
	ssize_t n = dns_build_query(id, "app.internal", qtype, b, DNS_MSG_MAX);
	b[2] = 0x81;
	b[3] = (uint8_t)(0x80 | rcode);
	b[6] = (uint8_t)(an >> 8);
	b[7] = (uint8_t)an;
	if (alen)
		memcpy(b + n, answers, alen);
	return (size_t)n + alen;
}

static void test_response(void)
{
	uint8_t b[1024];
	struct dns_answer a;
	/* Two A records via a pointer to the question, TTLs 300 and 60. */
	static const uint8_t two[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 0, 0, 5,
				      0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 6};
	size_t n = response(b, 7, 0, DNS_TYPE_A, 2, two, sizeof(two));
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "app.internal", DNS_TYPE_A, &a), 0);
	CHECK_EQ_INT(a.n, 2);
	CHECK_EQ_INT(a.ttl, 60);
	char s[64];
	inet_ntop(AF_INET, &((struct sockaddr_in *)&a.addrs[1])->sin_addr, s, sizeof(s));
	CHECK_STREQ(s, "10.0.0.6");
	/* Case-insensitive question match. */
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "APP.Internal", DNS_TYPE_A, &a), 0);
	/* Wrong id, another name, another type, not a response, truncated. */
	CHECK_EQ_INT(dns_parse_response(b, n, 8, "app.internal", DNS_TYPE_A, &a), -EBADMSG);
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "app.other", DNS_TYPE_A, &a), -EBADMSG);
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "app.internal", DNS_TYPE_AAAA, &a), -EBADMSG);
	for (size_t cut = 0; cut < n; cut++) {
		memset(&a, 0, sizeof(a));
		int r = dns_parse_response(b, cut, 7, "app.internal", DNS_TYPE_A, &a);
		CHECK(r == -EBADMSG);
	}
	b[2] = 0x01;
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "app.internal", DNS_TYPE_A, &a), -EBADMSG);
	/* NXDOMAIN, SERVFAIL. */
	n = response(b, 7, 3, DNS_TYPE_A, 0, NULL, 0);
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "app.internal", DNS_TYPE_A, &a), -ENOENT);
	n = response(b, 7, 2, DNS_TYPE_A, 0, NULL, 0);
	CHECK_EQ_INT(dns_parse_response(b, n, 7, "app.internal", DNS_TYPE_A, &a), -EAGAIN);
	/* A CNAME to "x.app.internal" (label + pointer), then its A; an unrelated A ignored. */
	static const uint8_t cname[] = {
	    0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 4, 1, 'x', 0xc0, 12,
	    0xc0, 12 + 0 /* unrelated: the question name again but type A after CNAME */,
	    0, 28, 0, 1, 0, 0, 0, 30, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	};
	n = response(b, 9, 0, DNS_TYPE_AAAA, 2, cname, sizeof(cname));
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n, 9, "app.internal", DNS_TYPE_AAAA, &a), 0);
	CHECK_EQ_INT(a.n, 0); /* the AAAA is for the old name, not the CNAME target */
	/* A pointer loop. */
	static const uint8_t loop[] = {0xc0, 30, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
	n = response(b, 9, 0, DNS_TYPE_A, 1, loop, sizeof(loop));
	CHECK_EQ_INT(dns_parse_response(b, n, 9, "app.internal", DNS_TYPE_A, &a), -EBADMSG);
}

static void test_hosts(void)
{
	static const char hosts[] = "# comment\n127.0.0.1 localhost\n"
				    "10.89.0.7\tapp.internal app # trailing\n"
				    "::1 localhost ip6-localhost\n"
				    "bogus app.internal\n"
				    "10.89.0.8 APP.internal";
	struct dns_answer a;
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), "app.internal", &a), 2);
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), "localhost", &a), 2);
	CHECK_EQ_INT(a.addrs[1].ss_family, AF_INET6);
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), "comment", &a), 0);
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), "trailing", &a), 0);
}

int main(void)
{
	test_query();
	test_response();
	test_hosts();
	TEST_MAIN_END();
}
