/* Tests for src/net/cidr.c: the accepted and refused spellings, formatting round trips,
 * prefix boundaries, and matching IPv4, IPv6 and IPv4-mapped peers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "net/cidr.h"
#include "test.h"

static struct sockaddr_storage ss;
static socklen_t ss_len;

static const struct sockaddr *sa(const char *a)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(1234);
		inet_pton(AF_INET6, a, &s->sin6_addr);
		ss_len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(1234);
		inet_pton(AF_INET, a, &s->sin_addr);
		ss_len = sizeof(*s);
	}
	return (const struct sockaddr *)&ss;
}

static void check_valid(const char *in, int want_r, const char *formatted)
{
	struct cidr c, d;
	char buf[CIDR_STRLEN];
	int r = cidr_parse(in, &c);
	CHECK_EQ_INT(r, want_r);
	if (r < 0) {
		fprintf(stderr, "  (input \"%s\")\n", in);
		return;
	}
	CHECK_STREQ(cidr_format(&c, buf, sizeof(buf)), formatted);
	CHECK_EQ_INT(cidr_parse(buf, &d), 0);
	CHECK(memcmp(&c, &d, sizeof(c)) == 0);
}

static void check_invalid(const char *in)
{
	struct cidr c;
	memset(&c, 0x5a, sizeof(c));
	int r = cidr_parse(in, &c);
	CHECK_EQ_INT(r, -EINVAL);
	if (r != -EINVAL)
		fprintf(stderr, "  (input \"%s\" was accepted)\n", in);
	CHECK_EQ_INT(c.prefix, 0x5a);
}

static bool m(const char *range, const char *addr)
{
	struct cidr c;
	if (cidr_parse(range, &c) < 0)
		return false;
	const struct sockaddr *a = sa(addr); /* sets ss_len: evaluate it first */
	return cidr_match(&c, a, ss_len);
}

static bool list_m(const struct cidr *list, size_t n, const char *addr)
{
	const struct sockaddr *a = sa(addr);
	return cidr_list_match(list, n, a, ss_len);
}

static void test_parse(void)
{
	check_valid("10.89.0.0/24", 0, "10.89.0.0/24");
	check_valid("192.168.1.5", 0, "192.168.1.5/32");
	check_valid("192.168.1.5/32", 0, "192.168.1.5/32");
	check_valid("0.0.0.0/0", 0, "0.0.0.0/0");
	check_valid("255.255.255.255/32", 0, "255.255.255.255/32");
	check_valid("::1/128", 0, "::1/128");
	check_valid("::1", 0, "::1/128");
	check_valid("::/0", 0, "::/0");
	check_valid("2001:db8::/32", 0, "2001:db8::/32");
	check_valid("2001:DB8:0:0:0:0:0:0/48", 0, "2001:db8::/48");
	check_valid("fe80::/10", 0, "fe80::/10");
	check_valid("::ffff:10.0.0.0/104", 0, "::ffff:10.0.0.0/104");
	/* Host bits: cleared, and said so. */
	check_valid("10.0.0.7/8", 1, "10.0.0.0/8");
	check_valid("192.168.1.255/25", 1, "192.168.1.128/25");
	check_valid("2001:db8::1/64", 1, "2001:db8::/64");
	check_valid("255.255.255.255/0", 1, "0.0.0.0/0");
	check_valid("10.0.0.1/31", 1, "10.0.0.0/31");

	check_invalid("");
	check_invalid("/8");
	check_invalid("10.0.0.0/");
	check_invalid("10.0.0.0/33");
	check_invalid("10.0.0.0/-1");
	check_invalid("10.0.0.0/+8");
	check_invalid("10.0.0.0/08");
	check_invalid("10.0.0.0/1000");
	check_invalid("10.0.0.0/8/8");
	check_invalid("10.0.0.0/ 8");
	check_invalid("10.0.0.0/8 ");
	check_invalid(" 10.0.0.0/8");
	check_invalid("10.0.0/8");
	check_invalid("10.0.0.0.0/8");
	check_invalid("010.0.0.0/8");
	check_invalid("256.0.0.0/8");
	check_invalid("0x0a.0.0.0/8");
	check_invalid("10.0.0.0/0x8");
	check_invalid("::1/129");
	check_invalid("::1/");
	check_invalid("[::1]/128");
	check_invalid("fe80::1%eth0/64");
	check_invalid("1::2::3");
	check_invalid("localhost");
	check_invalid("*");
	check_invalid("2001:db8::/32x");
	check_invalid("::ffff:1.2.3.4.5");
	check_invalid("12345678901234567890123456789012345678901234567890/8");
}

static void test_match(void)
{
	CHECK(m("10.89.0.0/24", "10.89.0.0"));
	CHECK(m("10.89.0.0/24", "10.89.0.255"));
	CHECK(!m("10.89.0.0/24", "10.89.1.0"));
	CHECK(!m("10.89.0.0/24", "10.88.255.255"));
	CHECK(m("192.168.1.5", "192.168.1.5"));
	CHECK(!m("192.168.1.5", "192.168.1.4"));
	CHECK(m("0.0.0.0/0", "203.0.113.9"));
	CHECK(!m("0.0.0.0/0", "2001:db8::1")); /* every IPv4 address, no IPv6 one */
	CHECK(m("128.0.0.0/1", "200.0.0.1"));
	CHECK(!m("128.0.0.0/1", "127.255.255.255"));
	CHECK(m("10.0.0.0/31", "10.0.0.1"));
	CHECK(!m("10.0.0.0/31", "10.0.0.2"));

	/* IPv4-mapped peers (a dual-stack listener) match IPv4 ranges, and the reverse. */
	CHECK(m("10.89.0.0/24", "::ffff:10.89.0.7"));
	CHECK(!m("10.89.0.0/24", "::ffff:10.89.1.7"));
	CHECK(m("::ffff:10.89.0.0/120", "10.89.0.7"));
	CHECK(m("::ffff:0:0/96", "1.2.3.4"));
	CHECK(!m("10.89.0.0/24", "::10.89.0.7")); /* IPv4-compatible is not mapped */

	CHECK(m("::1/128", "::1"));
	CHECK(!m("::1/128", "::2"));
	CHECK(!m("::1/128", "127.0.0.1"));
	CHECK(m("::/0", "2001:db8::1"));
	CHECK(m("::/0", "192.0.2.1"));
	CHECK(m("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	CHECK(!m("2001:db8::/32", "2001:db9::"));
	CHECK(m("fe80::/10", "febf::1"));
	CHECK(!m("fe80::/10", "fec0::1"));

	/* Unix peers, other families and short lengths match nothing. */
	struct cidr all;
	cidr_parse("::/0", &all);
	struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/x"};
	CHECK(!cidr_match(&all, (const struct sockaddr *)&un, sizeof(un)));
	CHECK(!cidr_match(&all, sa("1.2.3.4"), 8));
	CHECK(!cidr_match(&all, sa("::1"), sizeof(struct sockaddr_in)));
	CHECK(!cidr_match(&all, NULL, 0));

	/* Lists. */
	struct cidr list[3];
	CHECK_EQ_INT(cidr_parse("10.0.0.0/8", &list[0]), 0);
	CHECK_EQ_INT(cidr_parse("192.168.0.0/16", &list[1]), 0);
	CHECK_EQ_INT(cidr_parse("fd00::/8", &list[2]), 0);
	CHECK(list_m(list, 3, "10.1.2.3"));
	CHECK(list_m(list, 3, "192.168.7.7"));
	CHECK(list_m(list, 3, "fd12::1"));
	CHECK(list_m(list, 3, "::ffff:192.168.0.1"));
	CHECK(!list_m(list, 3, "172.16.0.1"));
	CHECK(!list_m(list, 3, "fe80::1"));
	CHECK(!list_m(list, 0, "10.1.2.3"));
	CHECK(!cidr_list_match(list, 3, (const struct sockaddr *)&un, sizeof(un)));

	/* Every prefix length agrees with a bit-by-bit comparison. */
	bool all_ok = true;
	for (int p = 0; p <= 128; p++) {
		char s[64];
		struct cidr c;
		snprintf(s, sizeof(s), "2001:db8:aaaa:5555:ffff:0:ff00:ff/%d", p);
		cidr_parse(s, &c);
		/* Flip each bit of the address: inside the prefix the match must fail. */
		for (int bit = 0; bit < 128; bit++) {
			struct sockaddr_in6 a = {.sin6_family = AF_INET6};
			inet_pton(AF_INET6, "2001:db8:aaaa:5555:ffff:0:ff00:ff", &a.sin6_addr);
			a.sin6_addr.s6_addr[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			bool got = cidr_match(&c, (const struct sockaddr *)&a, sizeof(a));
			all_ok = all_ok && got == (bit >= p);
		}
	}
	CHECK(all_ok);

	/* Truncated formatting stays inside the buffer. */
	char small[6];
	cidr_format(&list[1], small, sizeof(small));
	CHECK_STREQ(small, "192.1");
}

int main(void)
{
	test_parse();
	test_match();
	TEST_MAIN_END();
}
