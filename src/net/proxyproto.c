/* PROXY protocol v1 and v2: the encoder ferry uses towards upstreams configured with
 * `proxy-protocol v1|v2`, and the incremental decoder for listeners that accept it from a
 * trusted front. Both follow haproxy's doc/proxy-protocol.txt to the letter: the decoder
 * refuses anything the spec does not describe, since a lenient reader of a header that
 * carries addresses is a way to spoof them.
 *
 * Version 2 layout (all numbers big-endian):
 *   0  12 signature \r\n\r\n\0\r\nQUIT\n
 *   12  1 version (high nibble, 2) | command (low nibble: 0 LOCAL, 1 PROXY)
 *   13  1 family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) | protocol (low: 0, 1 STREAM,
 *         2 DGRAM)
 *   14  2 length of what follows: addresses (12, 36 or 216 bytes), then TLVs
 *         (type 1 byte, length 2 bytes, value) */
#include "net/proxyproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/macro.h"

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
static const char v1_sig[] = "PROXY ";

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_TCP4 0x11
#define V2_TCP6 0x21
#define TLV_CRC32C 0x03

/* ---- encoder ---------------------------------------------------------------------------- */

struct ep {
	int family; /* AF_INET (IPv4 or IPv4-mapped), AF_INET6, or 0 for anything else */
	uint8_t addr[16];
	uint16_t port; /* host order */
};

static void endpoint(const struct sockaddr *sa, socklen_t len, struct ep *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!sa)
		return;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		ret->family = AF_INET;
		memcpy(ret->addr, &in->sin_addr, 4);
		ret->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		ret->port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			ret->family = AF_INET;
			memcpy(ret->addr, &in6->sin6_addr.s6_addr[12], 4);
		} else {
			ret->family = AF_INET6;
			memcpy(ret->addr, &in6->sin6_addr, 16);
		}
	}
}

/* An IPv4 endpoint in a TCP6 header: written as ::ffff:a.b.c.d. */
static void to_v6(struct ep *e)
{
	if (e->family != AF_INET)
		return;
	memmove(e->addr + 12, e->addr, 4);
	memset(e->addr, 0, 10);
	e->addr[10] = e->addr[11] = 0xff;
	e->family = AF_INET6;
}

ssize_t proxyproto_encode(int version, const struct sockaddr *src, socklen_t src_len,
			  const struct sockaddr *dst, socklen_t dst_len, void *buf, size_t size)
{
	struct ep s, d;
	uint8_t out[PROXYPROTO_ENCODE_MAX];
	size_t n = 0;

	if (version != 1 && version != 2)
		return -EINVAL;
	endpoint(src, src_len, &s);
	endpoint(dst, dst_len, &d);
	int family = 0;
	if (s.family && d.family) {
		family = s.family == AF_INET && d.family == AF_INET ? AF_INET : AF_INET6;
		if (family == AF_INET6) {
			to_v6(&s);
			to_v6(&d);
		}
	}

	if (version == 1) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		int r;
		if (!family) {
			r = snprintf((char *)out, sizeof(out), "PROXY UNKNOWN\r\n");
		} else {
			inet_ntop(family, s.addr, a, sizeof(a));
			inet_ntop(family, d.addr, b, sizeof(b));
			r = snprintf((char *)out, sizeof(out), "PROXY %s %s %s %u %u\r\n",
				     family == AF_INET ? "TCP4" : "TCP6", a, b, (unsigned)s.port,
				     (unsigned)d.port);
		}
		if (r < 0 || (size_t)r >= sizeof(out))
			return -EINVAL; /* cannot happen: 104 bytes at most */
		n = (size_t)r;
	} else {
		memcpy(out, v2_sig, sizeof(v2_sig));
		n = sizeof(v2_sig);
		/* LOCAL for what cannot be described: the spec asks receivers to accept it
		 * and use the real endpoints, where PROXY + UNSPEC may be refused. */
		out[n++] = (uint8_t)(0x20 | (family ? V2_CMD_PROXY : V2_CMD_LOCAL));
		out[n++] = family == AF_INET ? V2_TCP4 : family == AF_INET6 ? V2_TCP6 : 0x00;
		size_t alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
		size_t blen = family ? 2 * alen + 4 : 0;
		out[n++] = (uint8_t)(blen >> 8);
		out[n++] = (uint8_t)blen;
		if (family) {
			memcpy(out + n, s.addr, alen);
			n += alen;
			memcpy(out + n, d.addr, alen);
			n += alen;
			out[n++] = (uint8_t)(s.port >> 8);
			out[n++] = (uint8_t)s.port;
			out[n++] = (uint8_t)(d.port >> 8);
			out[n++] = (uint8_t)d.port;
		}
	}
	if (n > size)
		return -ENOBUFS;
	memcpy(buf, out, n);
	return (ssize_t)n;
}

/* ---- decoder, version 1 ----------------------------------------------------------------- */

/* 0..65535 in decimal, no leading zeros, no sign. */
static bool parse_port(const char *s, size_t n, uint16_t *ret)
{
	unsigned v = 0;
	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*ret = (uint16_t)v;
	return true;
}

/* inet_pton (glibc) is as strict as the spec for IPv4: exactly four decimal parts without
 * leading zeros; for IPv6 it takes the usual forms, "::" and a trailing dotted quad too. */
static bool parse_ip(int family, const char *s, size_t n, void *ret)
{
	char tmp[INET6_ADDRSTRLEN];
	/* A NUL inside would end the copy early: "1.2.3.4\0junk" is not an address. */
	if (n == 0 || n >= sizeof(tmp) || memchr(s, '\0', n))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, ret) == 1;
}

static void set_sockaddr(int family, const void *addr, uint16_t port, struct sockaddr_storage *ss,
			 socklen_t *ret_len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, addr, 4);
		*ret_len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, addr, 16);
		*ret_len = sizeof(*in6);
	}
}

/* The fields of "TCP4 a b p q" / "TCP6 ...", between "PROXY " and CRLF. */
static int parse_v1_line(const char *l, size_t n, struct proxyproto_result *ret)
{
	const char *f[5];
	size_t fl[5], nf = 0, s = 0;

	/* "UNKNOWN": the receiver must ignore whatever follows it up to the CRLF. */
	if (n >= 7 && memcmp(l, "UNKNOWN", 7) == 0 && (n == 7 || l[7] == ' ')) {
		ret->proxied = false;
		return 0;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && l[i] != ' ')
			continue;
		if (nf == ARRAY_SIZE(f))
			return -EBADMSG;
		f[nf] = l + s;
		fl[nf++] = i - s;
		s = i + 1;
	}
	if (nf != 5 || fl[0] != 4)
		return -EBADMSG;
	int family;
	if (memcmp(f[0], "TCP4", 4) == 0)
		family = AF_INET;
	else if (memcmp(f[0], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return -EBADMSG;

	uint8_t a[16], b[16];
	uint16_t sp, dp;
	if (!parse_ip(family, f[1], fl[1], a) || !parse_ip(family, f[2], fl[2], b) ||
	    !parse_port(f[3], fl[3], &sp) || !parse_port(f[4], fl[4], &dp))
		return -EBADMSG;
	ret->proxied = true;
	set_sockaddr(family, a, sp, &ret->src, &ret->src_len);
	set_sockaddr(family, b, dp, &ret->dst, &ret->dst_len);
	return 0;
}

static ssize_t decode_v1(const char *b, size_t len, struct proxyproto_result *ret)
{
	size_t i;
	for (i = 0; i < len && i < PROXYPROTO_V1_MAX; i++) {
		if (i < STRLEN(v1_sig)) {
			if (b[i] != v1_sig[i])
				return -EBADMSG;
			continue;
		}
		/* The spec: "The receiver must not tolerate a single CR or LF character to
		 * end the line when a complete CRLF sequence is expected." */
		if (b[i] == '\n')
			return -EBADMSG;
		if (b[i] != '\r')
			continue;
		if (i + 1 >= PROXYPROTO_V1_MAX)
			return -EBADMSG;
		if (i + 1 == len)
			return 0;
		if (b[i + 1] != '\n')
			return -EBADMSG;
		int r = parse_v1_line(b + STRLEN(v1_sig), i - STRLEN(v1_sig), ret);
		if (r < 0)
			return r;
		ret->version = 1;
		return (ssize_t)(i + 2);
	}
	return len >= PROXYPROTO_V1_MAX ? -EBADMSG : 0;
}

/* ---- decoder, version 2 ----------------------------------------------------------------- */

/* CRC32C (Castagnoli, reflected 0x82f63b78) as RFC 4960 Appendix B computes it. Bitwise:
 * a header is short, and a table would be 1 KiB of constants for a rare TLV. */
static uint32_t crc32c_update(uint32_t crc, uint8_t byte)
{
	crc ^= byte;
	for (int k = 0; k < 8; k++)
		crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	return crc;
}

static uint32_t crc32c_header(const uint8_t *b, size_t n, size_t zero_at)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		crc = crc32c_update(crc, i >= zero_at && i < zero_at + 4 ? 0 : b[i]);
	return ~crc;
}

static size_t v2_addr_len(uint8_t fam)
{
	switch (fam) {
	case 0x00:
		return 0;
	case 0x11:
	case 0x12:
		return 12;
	case 0x21:
	case 0x22:
		return 36;
	case 0x31:
	case 0x32:
		return 216;
	}
	return SIZE_MAX; /* not a pair the spec lists */
}

static ssize_t decode_v2(const uint8_t *b, size_t len, size_t max, struct proxyproto_result *ret)
{
	for (size_t i = 0; i < sizeof(v2_sig); i++) {
		if (i == len)
			return 0;
		if (b[i] != v2_sig[i])
			return -EBADMSG;
	}
	if (len < 13)
		return 0;
	const unsigned cmd = b[12] & 0x0f;
	if ((b[12] >> 4) != 2 || (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY))
		return -EBADMSG;
	if (len < 14)
		return 0;
	/* LOCAL: "discard the protocol block including the family which is ignored". */
	const size_t alen = cmd == V2_CMD_PROXY ? v2_addr_len(b[13]) : 0;
	if (alen == SIZE_MAX)
		return -EBADMSG;
	if (len < PROXYPROTO_V2_MIN)
		return 0;
	const size_t blen = (size_t)b[14] << 8 | b[15];
	const size_t total = PROXYPROTO_V2_MIN + blen;
	if (total > max)
		return -EMSGSIZE;
	if (blen < alen)
		return -EBADMSG;
	if (len < total)
		return 0;
	if (cmd == V2_CMD_LOCAL) {
		ret->proxied = false;
		ret->version = 2;
		return (ssize_t)total;
	}

	/* TLVs fill the rest exactly: a length running past the block, or a partial TLV at
	 * its end, means the sender and we disagree on the layout. */
	size_t p = PROXYPROTO_V2_MIN + alen, crc_at = 0;
	while (p < total) {
		if (total - p < 3)
			return -EBADMSG;
		const size_t tl = (size_t)b[p + 1] << 8 | b[p + 2];
		if (tl > total - p - 3)
			return -EBADMSG;
		if (b[p] == TLV_CRC32C) {
			if (tl != 4 || crc_at)
				return -EBADMSG;
			crc_at = p + 3;
		}
		p += 3 + tl;
	}
	if (crc_at) {
		uint32_t want = (uint32_t)b[crc_at] << 24 | (uint32_t)b[crc_at + 1] << 16 |
				(uint32_t)b[crc_at + 2] << 8 | b[crc_at + 3];
		if (crc32c_header(b, total, crc_at) != want)
			return -EBADMSG;
	}

	const uint8_t *a = b + PROXYPROTO_V2_MIN;
	if (b[13] == V2_TCP4) {
		ret->proxied = true;
		set_sockaddr(AF_INET, a, (uint16_t)(a[8] << 8 | a[9]), &ret->src, &ret->src_len);
		set_sockaddr(AF_INET, a + 4, (uint16_t)(a[10] << 8 | a[11]), &ret->dst,
			     &ret->dst_len);
	} else if (b[13] == V2_TCP6) {
		ret->proxied = true;
		set_sockaddr(AF_INET6, a, (uint16_t)(a[32] << 8 | a[33]), &ret->src, &ret->src_len);
		set_sockaddr(AF_INET6, a + 16, (uint16_t)(a[34] << 8 | a[35]), &ret->dst,
			     &ret->dst_len);
	} else {
		/* UNSPEC, UDP and AF_UNIX: the spec lets a receiver that does not implement a
		 * pair fall back to UNSPEC, i.e. the connection's own addresses. */
		ret->proxied = false;
	}
	ret->version = 2;
	return (ssize_t)total;
}

ssize_t proxyproto_decode(const void *buf, size_t len, size_t max, struct proxyproto_result *ret)
{
	const uint8_t *b = buf;
	struct proxyproto_result res;
	ssize_t r;

	memset(&res, 0, sizeof(res));
	if (len == 0)
		return 0;
	if (b[0] == v1_sig[0])
		r = decode_v1(buf, len, &res);
	else if (b[0] == v2_sig[0])
		r = decode_v2(b, len, max, &res);
	else
		return -EBADMSG;
	if (r > 0)
		*ret = res;
	return r;
}
