/* Tests for src/net/proxyproto.c: exact bytes of encoded v1 and v2 headers, decoding what
 * the spec allows (and at every prefix, "need more"), refusing what it does not, TLV bounds,
 * the CRC32C TLV, and encode -> decode round trips. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "net/proxyproto.h"
#include "test.h"

#define BAD_PREFIX 12345

static struct proxyproto_result res;

static void set_ip(struct sockaddr_storage *ss, socklen_t *len, const char *a, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, a, &s->sin6_addr) != 1)
			abort();
		*len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, a, &s->sin_addr) != 1)
			abort();
		*len = sizeof(*s);
	}
}

/* "1.2.3.4:5" / "[::1]:5" of a decoded address. */
static const char *show(const struct sockaddr_storage *ss)
{
	static char out[2][80];
	static int k;
	char a[INET6_ADDRSTRLEN];
	char *o = out[k++ % 2];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(o, 80, "%s:%u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(o, 80, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(o, 80, "family %d", ss->ss_family);
	}
	return o;
}

/* Decode a copy in an exact-size allocation (ASan sees reads past the end). */
static ssize_t dec_copy(const void *p, size_t n, size_t max, struct proxyproto_result *ret)
{
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		abort();
	memcpy(b, p, n);
	ssize_t r = proxyproto_decode(b, n, max, ret);
	free(b);
	return r;
}

/* Decode all of p into res; every prefix must give "need more" or the same verdict. */
static ssize_t dec_max(const void *p, size_t n, size_t max)
{
	ssize_t full = dec_copy(p, n, max, &res);
	for (size_t k = 0; k < n; k++) {
		struct proxyproto_result tmp;
		ssize_t r = dec_copy(p, k, max, &tmp);
		bool ok =
		    full > 0 ? (k < (size_t)full ? r == 0 : r == full) : (r == 0 || r == full);
		if (!ok) {
			fprintf(stderr, "prefix %zu of %zu gives %zd, all %zd\n", k, n, r, full);
			return BAD_PREFIX;
		}
	}
	return full;
}

static ssize_t dec(const void *p, size_t n)
{
	return dec_max(p, n, 65551);
}

#define DEC(lit) dec(lit, sizeof(lit) - 1)

/* An independent CRC32C, checked against the standard check value below. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static const uint8_t SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: ver_cmd, fam, then body bytes. Returns its length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t n)
{
	memcpy(out, SIG, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
	if (n)
		memcpy(out + 16, body, n);
	return 16 + n;
}

static const uint8_t TCP4_ADDRS[12] = {192, 0, 2, 1, 192, 0, 2, 11, 0xdc, 0x04, 0x01, 0xbb};

static void test_encode(void)
{
	struct sockaddr_storage s, d;
	socklen_t sl, dl;
	uint8_t out[PROXYPROTO_ENCODE_MAX + 1];
	ssize_t n;

	set_ip(&s, &sl, "192.0.2.1", 56324);
	set_ip(&d, &dl, "192.0.2.11", 443);
	n = proxyproto_encode(1, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	const char v1[] = "PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\n";
	CHECK_EQ_INT(n, sizeof(v1) - 1);
	CHECK(n > 0 && memcmp(out, v1, (size_t)n) == 0);
	n = proxyproto_encode(2, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	uint8_t want[64];
	size_t wn = v2(want, 0x21, 0x11, TCP4_ADDRS, sizeof(TCP4_ADDRS));
	CHECK_EQ_INT(n, wn);
	CHECK(n > 0 && memcmp(out, want, wn) == 0);

	/* Exactly enough room, and one byte less. */
	CHECK_EQ_INT(proxyproto_encode(2, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
				       wn),
		     wn);
	CHECK_EQ_INT(proxyproto_encode(2, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
				       wn - 1),
		     -ENOBUFS);
	CHECK_EQ_INT(proxyproto_encode(3, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
				       sizeof(out)),
		     -EINVAL);

	/* TCP6, the longest v1 line there is. */
	set_ip(&s, &sl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	set_ip(&d, &dl, "2001:db8::1", 0);
	n = proxyproto_encode(1, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	const char v16[] =
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 2001:db8::1 65535 0\r\n";
	CHECK_EQ_INT(n, sizeof(v16) - 1);
	CHECK(n > 0 && memcmp(out, v16, (size_t)n) == 0);
	n = proxyproto_encode(2, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	CHECK_EQ_INT(n, 16 + 36);
	CHECK(n > 15 && out[12] == 0x21 && out[13] == 0x21 && out[14] == 0 && out[15] == 36);
	CHECK(n > 51 && out[48] == 0xff && out[49] == 0xff && out[50] == 0 && out[51] == 0);

	/* Mixed families: IPv4 mapped into a TCP6 header; both mapped: TCP4. */
	set_ip(&s, &sl, "192.0.2.1", 1);
	set_ip(&d, &dl, "2001:db8::2", 2);
	n = proxyproto_encode(1, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	const char mixed[] = "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n";
	CHECK(n == sizeof(mixed) - 1 && memcmp(out, mixed, (size_t)n) == 0);
	set_ip(&s, &sl, "::ffff:192.0.2.1", 1);
	set_ip(&d, &dl, "::ffff:192.0.2.2", 2);
	n = proxyproto_encode(1, (struct sockaddr *)&s, sl, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	const char mapped[] = "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n";
	CHECK(n == sizeof(mapped) - 1 && memcmp(out, mapped, (size_t)n) == 0);

	/* Unix peers: UNKNOWN / LOCAL. */
	struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/a.sock"};
	n = proxyproto_encode(1, (struct sockaddr *)&un, sizeof(un), (struct sockaddr *)&un,
			      sizeof(un), out, sizeof(out));
	CHECK(n == 15 && memcmp(out, "PROXY UNKNOWN\r\n", 15) == 0);
	n = proxyproto_encode(2, (struct sockaddr *)&un, sizeof(un), (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	wn = v2(want, 0x20, 0x00, NULL, 0);
	CHECK(n == (ssize_t)wn && memcmp(out, want, wn) == 0);
	n = proxyproto_encode(1, NULL, 0, NULL, 0, out, sizeof(out));
	CHECK(n == 15 && memcmp(out, "PROXY UNKNOWN\r\n", 15) == 0);
	/* A short length is no address either. */
	n = proxyproto_encode(1, (struct sockaddr *)&s, 8, (struct sockaddr *)&d, dl, out,
			      sizeof(out));
	CHECK(n == 15 && memcmp(out, "PROXY UNKNOWN\r\n", 15) == 0);
}

static void test_v1(void)
{
	CHECK_EQ_INT(DEC("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 47);
	CHECK(res.version == 1 && res.proxied);
	CHECK_STREQ(show(&res.src), "192.168.0.1:56324");
	CHECK_STREQ(show(&res.dst), "192.168.0.11:443");
	CHECK_EQ_INT(res.src_len, sizeof(struct sockaddr_in));

	/* The application's bytes after it are not part of it. */
	CHECK_EQ_INT(DEC("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\nGET / HTTP/1.1\r\n"), 36);
	CHECK_STREQ(show(&res.dst), "5.6.7.8:65535");

	CHECK_EQ_INT(DEC("PROXY TCP6 2001:db8::1 ::1 1 2\r\n"), 32);
	CHECK_STREQ(show(&res.src), "[2001:db8::1]:1");
	CHECK_STREQ(show(&res.dst), "[::1]:2");
	CHECK_EQ_INT(res.src_len, sizeof(struct sockaddr_in6));
	CHECK_EQ_INT(DEC("PROXY TCP6 ::ffff:1.2.3.4 ABCD::EF 1 2\r\n"), 40);
	CHECK_STREQ(show(&res.dst), "[abcd::ef]:2");
	/* 104 bytes, the longest TCP line. */
	CHECK_EQ_INT(DEC("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
		     104);

	/* UNKNOWN: whatever follows is ignored, up to 107 bytes in all. */
	CHECK_EQ_INT(DEC("PROXY UNKNOWN\r\n"), 15);
	CHECK(res.version == 1 && !res.proxied);
	CHECK_EQ_INT(DEC("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
		     107);
	CHECK_EQ_INT(DEC("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n"),
		     -EBADMSG);
	CHECK_EQ_INT(DEC("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535 x"),
		     -EBADMSG); /* 107 bytes, no CRLF */
	CHECK_EQ_INT(DEC("PROXY UNKNOWN a b c d e f g h\r\n"), 31);
	CHECK_EQ_INT(DEC("PROXY UNKNOWNX\r\n"), -EBADMSG);
	CHECK_EQ_INT(DEC("PROXY UNKNOWN\n"), -EBADMSG);

	/* Incomplete: need more. */
	CHECK_EQ_INT(proxyproto_decode("", 0, 200, &res), 0);
	CHECK_EQ_INT(proxyproto_decode("PROX", 4, 200, &res), 0);
	CHECK_EQ_INT(proxyproto_decode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 31, 200, &res), 0);

	static const char *const bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* bare LF */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",   /* bare CR */
		"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",    /* two spaces */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    /* trailing space */
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       /* a field missing */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   /* one too many */
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",    /* leading zero */
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",         /* family mismatch */
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 [::1] ::1 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",   /* leading zero in a port */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY \r\n",
		"PROXY\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"GET / HTTP/1.1\r\n",
		"\x16\x03\x01\x00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ssize_t r = dec(bad[i], strlen(bad[i]));
		CHECK_EQ_INT(r, -EBADMSG);
		if (r != -EBADMSG)
			fprintf(stderr, "  (input \"%s\")\n", bad[i]);
	}

	CHECK_EQ_INT(DEC("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n"), -EBADMSG);
	CHECK_EQ_INT(DEC("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"), -EBADMSG);

	/* No CRLF within 107 bytes. */
	char longl[200];
	memset(longl, 'a', sizeof(longl));
	memcpy(longl, "PROXY UNKNOWN ", 14);
	CHECK_EQ_INT(proxyproto_decode(longl, 106, 200, &res), 0);
	CHECK_EQ_INT(dec(longl, 107), -EBADMSG);
	CHECK_EQ_INT(dec(longl, 200), -EBADMSG);
	longl[105] = '\r';
	longl[106] = '\n';
	CHECK_EQ_INT(dec(longl, 107), 107);
	longl[105] = 'a';
	longl[106] = '\r';
	longl[107] = '\n';
	CHECK_EQ_INT(dec(longl, 108), -EBADMSG);
}

static void test_v2(void)
{
	uint8_t h[600], body[600];
	size_t n;

	n = v2(h, 0x21, 0x11, TCP4_ADDRS, sizeof(TCP4_ADDRS));
	CHECK_EQ_INT(dec(h, n), n);
	CHECK(res.version == 2 && res.proxied);
	CHECK_STREQ(show(&res.src), "192.0.2.1:56324");
	CHECK_STREQ(show(&res.dst), "192.0.2.11:443");

	/* With application bytes after it. */
	memcpy(h + n, "GET /", 5);
	CHECK_EQ_INT(dec(h, n + 5), n);

	/* TCP6. */
	memset(body, 0, 36);
	body[15] = 1;             /* ::1 */
	body[16] = 0x20;          /* 2001:db8:: */
	body[17] = 0x01;
	body[18] = 0x0d;
	body[19] = 0xb8;
	body[32] = 0x12;          /* port 4660 */
	body[33] = 0x34;
	body[35] = 80;
	n = v2(h, 0x21, 0x21, body, 36);
	CHECK_EQ_INT(dec(h, n), n);
	CHECK_STREQ(show(&res.src), "[::1]:4660");
	CHECK_STREQ(show(&res.dst), "[2001:db8::]:80");

	/* TLVs are skipped: NOOP, AUTHORITY, a zero-length one, a custom one. */
	memcpy(body, TCP4_ADDRS, 12);
	size_t k = 12;
	const uint8_t tlvs[] = {0x04, 0, 2, 0, 0, 0x02, 0, 11, 'e', 'x', 'a', 'm', 'p', 'l',
				'e', '.', 'c', 'o', 'm', 0x05, 0, 0, 0xe0, 0, 1, 0xff};
	memcpy(body + k, tlvs, sizeof(tlvs));
	k += sizeof(tlvs);
	n = v2(h, 0x21, 0x11, body, k);
	CHECK_EQ_INT(dec(h, n), n);
	CHECK(res.proxied);
	CHECK_STREQ(show(&res.src), "192.0.2.1:56324");

	/* A TLV running past the block, or a partial TLV at its end. */
	n = v2(h, 0x21, 0x11, body, k - 1);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	n = v2(h, 0x21, 0x11, body, 12 + 2);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	n = v2(h, 0x21, 0x11, body, 12 + 1);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	body[12] = 0x04;
	body[13] = 0xff;
	body[14] = 0xff;
	n = v2(h, 0x21, 0x11, body, 12 + 3);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);

	/* CRC32C: the independent implementation first meets the standard check value. */
	CHECK_EQ_INT(crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
	memcpy(body, TCP4_ADDRS, 12);
	const uint8_t crc_tlv[] = {0x03, 0, 4, 0, 0, 0, 0, 0x04, 0, 1, 'x'};
	memcpy(body + 12, crc_tlv, sizeof(crc_tlv));
	n = v2(h, 0x21, 0x11, body, 12 + sizeof(crc_tlv));
	uint32_t c = crc32c(h, n);
	h[16 + 15] = (uint8_t)(c >> 24);
	h[16 + 16] = (uint8_t)(c >> 16);
	h[16 + 17] = (uint8_t)(c >> 8);
	h[16 + 18] = (uint8_t)c;
	CHECK_EQ_INT(dec(h, n), n);
	CHECK(res.proxied);
	h[n - 1] ^= 1; /* any other byte changed */
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	h[n - 1] ^= 1;
	h[16 + 18] ^= 1; /* the checksum itself */
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	/* A CRC32C TLV of the wrong length, or two of them. */
	body[14] = 3;
	n = v2(h, 0x21, 0x11, body, 12 + 6);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	const uint8_t two_crc[] = {0x03, 0, 4, 0, 0, 0, 0, 0x03, 0, 4, 0, 0, 0, 0};
	memcpy(body + 12, two_crc, sizeof(two_crc));
	n = v2(h, 0x21, 0x11, body, 12 + sizeof(two_crc));
	CHECK_EQ_INT(dec(h, n), -EBADMSG);

	/* LOCAL: the connection's own addresses; family and block ignored. */
	n = v2(h, 0x20, 0x00, NULL, 0);
	CHECK_EQ_INT(dec(h, n), 16);
	CHECK(res.version == 2 && !res.proxied);
	n = v2(h, 0x20, 0x11, TCP4_ADDRS, sizeof(TCP4_ADDRS));
	CHECK_EQ_INT(dec(h, n), n);
	CHECK(!res.proxied);
	n = v2(h, 0x20, 0xff, TCP4_ADDRS, 3);
	CHECK_EQ_INT(dec(h, n), n);

	/* PROXY with pairs we do not use: UNSPEC, UDP, UNIX -> own addresses. */
	n = v2(h, 0x21, 0x00, NULL, 0);
	CHECK_EQ_INT(dec(h, n), 16);
	CHECK(!res.proxied);
	n = v2(h, 0x21, 0x12, TCP4_ADDRS, 12);
	CHECK_EQ_INT(dec(h, n), n);
	CHECK(!res.proxied);
	memset(body, 'a', 216);
	n = v2(h, 0x21, 0x31, body, 216);
	CHECK_EQ_INT(dec(h, n), n);
	CHECK(!res.proxied);
	n = v2(h, 0x21, 0x32, body, 215);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);

	/* Refused: version, command, family/protocol, short address block. */
	n = v2(h, 0x11, 0x11, TCP4_ADDRS, 12);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	n = v2(h, 0x31, 0x11, TCP4_ADDRS, 12);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	n = v2(h, 0x22, 0x11, TCP4_ADDRS, 12);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	n = v2(h, 0x2f, 0x11, TCP4_ADDRS, 12);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	static const uint8_t bad_fam[] = {0x01, 0x10, 0x13, 0x20, 0x23, 0x30, 0x41, 0xff};
	for (size_t i = 0; i < sizeof(bad_fam); i++) {
		n = v2(h, 0x21, bad_fam[i], TCP4_ADDRS, 12);
		CHECK_EQ_INT(dec(h, n), -EBADMSG);
	}
	n = v2(h, 0x21, 0x11, TCP4_ADDRS, 11);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	n = v2(h, 0x21, 0x21, body, 35);
	CHECK_EQ_INT(dec(h, n), -EBADMSG);
	/* A signature that is almost right. */
	n = v2(h, 0x21, 0x11, TCP4_ADDRS, 12);
	for (size_t i = 0; i < 12; i++) {
		h[i] ^= 0x20;
		CHECK_EQ_INT(dec(h, n), -EBADMSG);
		h[i] ^= 0x20;
	}

	/* The caller's limit. */
	n = v2(h, 0x21, 0x11, TCP4_ADDRS, 12);
	CHECK_EQ_INT(dec_max(h, n, n), n);
	CHECK_EQ_INT(dec_max(h, n, n - 1), -EMSGSIZE);
	CHECK_EQ_INT(proxyproto_decode(h, 16, n - 1, &res), -EMSGSIZE);
	CHECK_EQ_INT(proxyproto_decode(h, 15, n - 1, &res), 0);
	/* The largest header the format allows. */
	uint8_t *big = calloc(1, 16 + 65535);
	if (!big)
		abort();
	memcpy(big, SIG, 12);
	big[12] = 0x21;
	big[13] = 0x11;
	big[14] = big[15] = 0xff;
	memcpy(big + 16, TCP4_ADDRS, 12);
	big[28] = 0xe1;
	big[29] = (uint8_t)((65535 - 15) >> 8);
	big[30] = (uint8_t)(65535 - 15);
	CHECK_EQ_INT(proxyproto_decode(big, 16 + 65535, 16 + 65535, &res), 16 + 65535);
	CHECK_EQ_INT(proxyproto_decode(big, 16 + 65534, 16 + 65535, &res), 0);
	CHECK_EQ_INT(proxyproto_decode(big, 16 + 65535, 16 + 65534, &res), -EMSGSIZE);
	free(big);

	/* The decoder writes *ret only on success. */
	memset(&res, 0x5a, sizeof(res));
	CHECK_EQ_INT(proxyproto_decode("XYZ", 3, 100, &res), -EBADMSG);
	CHECK_EQ_INT(res.version, 0x5a5a5a5a);
}

static void round_trip(const char *a, unsigned ap, const char *b, unsigned bp, const char *sa_want,
		       const char *sb_want)
{
	struct sockaddr_storage s, d;
	socklen_t sl, dl;
	uint8_t out[PROXYPROTO_ENCODE_MAX];
	set_ip(&s, &sl, a, ap);
	set_ip(&d, &dl, b, bp);
	for (int v = 1; v <= 2; v++) {
		const struct sockaddr *src = (struct sockaddr *)&s, *dst = (struct sockaddr *)&d;
		ssize_t n = proxyproto_encode(v, src, sl, dst, dl, out, sizeof(out));
		CHECK(n > 0);
		if (n <= 0)
			continue;
		CHECK_EQ_INT(dec(out, (size_t)n), n);
		CHECK(res.version == v && res.proxied);
		CHECK_STREQ(show(&res.src), sa_want);
		CHECK_STREQ(show(&res.dst), sb_want);
	}
}

static void test_round_trip(void)
{
	round_trip("10.0.0.1", 1, "10.0.0.2", 65535, "10.0.0.1:1", "10.0.0.2:65535");
	round_trip("0.0.0.0", 0, "255.255.255.255", 0, "0.0.0.0:0", "255.255.255.255:0");
	round_trip("2001:db8::1", 443, "::", 8080, "[2001:db8::1]:443", "[::]:8080");
	round_trip("::ffff:10.1.1.1", 5, "::ffff:10.1.1.2", 6, "10.1.1.1:5", "10.1.1.2:6");
	round_trip("10.1.1.1", 5, "fd00::1", 6, "[::ffff:10.1.1.1]:5", "[fd00::1]:6");
	round_trip("1:2:3:4:5:6:7:8", 9, "::ffff:1.2.3.4", 10, "[1:2:3:4:5:6:7:8]:9",
		   "[::ffff:1.2.3.4]:10");
}

int main(void)
{
	test_encode();
	test_v1();
	test_v2();
	test_round_trip();
	TEST_MAIN_END();
}
