/* libFuzzer target for the PROXY protocol codec. The input is decoded as a header (under a
 * roomy and a tight limit): the verdict must be a known one, the length within the format's
 * bounds, the addresses well-formed, and every prefix must give "need more" or the same
 * verdict; a decoded address pair must encode and decode again to itself. Then addresses
 * are built from the input bytes, encoded as v1 and v2, and decoded: anything but the same
 * addresses (IPv4-mapped ones as IPv4 when both are) aborts. Built with clang
 * -fsanitize=fuzzer, and with gcc against fuzz/replay.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "net/proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static ssize_t decode_copy(const uint8_t *data, size_t len, size_t max,
			   struct proxyproto_result *ret)
{
	uint8_t *buf = calloc(len ? len : 1, 1);
	require(buf != NULL);
	if (len)
		memcpy(buf, data, len);
	ssize_t r = proxyproto_decode(buf, len, max, ret);
	free(buf);
	return r;
}

/* Family, address and port of a decoded endpoint, IPv4-mapped folded into IPv4. */
struct norm {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

static void normalise(const struct sockaddr_storage *ss, socklen_t len, struct norm *n)
{
	memset(n, 0, sizeof(*n));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		require(len == sizeof(*in));
		n->family = AF_INET;
		memcpy(n->addr, &in->sin_addr, 4);
		n->port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		require(ss->ss_family == AF_INET6 && len == sizeof(*in6));
		n->family = AF_INET6;
		memcpy(n->addr, &in6->sin6_addr, 16);
		n->port = ntohs(in6->sin6_port);
	}
}

static bool is_mapped(const struct norm *n)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return n->family == AF_INET6 && memcmp(n->addr, prefix, 12) == 0;
}

/* What the encoder promises: both IPv4 or mapped -> both IPv4; otherwise both IPv6, with
 * IPv4 mapped. */
static void expected(struct norm *a, struct norm *b)
{
	bool a4 = a->family == AF_INET || is_mapped(a), b4 = b->family == AF_INET || is_mapped(b);
	struct norm *e[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		struct norm *n = e[i];
		if (a4 && b4 && n->family == AF_INET6) {
			memmove(n->addr, n->addr + 12, 4);
			memset(n->addr + 4, 0, 12);
			n->family = AF_INET;
		} else if (!(a4 && b4) && n->family == AF_INET) {
			memmove(n->addr + 12, n->addr, 4);
			memset(n->addr, 0, 10);
			n->addr[10] = n->addr[11] = 0xff;
			n->family = AF_INET6;
		}
	}
}

/* Encode src -> dst in both versions, decode, and compare with what is expected. */
static void round_trip(const struct sockaddr *src, socklen_t sl, const struct sockaddr *dst,
		       socklen_t dl, bool ip)
{
	struct norm ws, wd;
	if (ip) {
		normalise((const struct sockaddr_storage *)src, sl, &ws);
		normalise((const struct sockaddr_storage *)dst, dl, &wd);
		expected(&ws, &wd);
	}
	for (int v = 1; v <= 2; v++) {
		uint8_t out[PROXYPROTO_ENCODE_MAX];
		struct proxyproto_result res;
		ssize_t n = proxyproto_encode(v, src, sl, dst, dl, out, sizeof(out));
		require(n > 0 && (size_t)n <= sizeof(out));
		require(v == 2 || (size_t)n <= PROXYPROTO_V1_MAX - 3);
		require(proxyproto_encode(v, src, sl, dst, dl, out, (size_t)n - 1) == -ENOBUFS);
		require(decode_copy(out, (size_t)n, (size_t)n, &res) == n);
		require(decode_copy(out, (size_t)n - 1, (size_t)n, &res) == 0);
		require(res.version == v && res.proxied == ip);
		if (!ip)
			continue;
		struct norm gs, gd;
		normalise(&res.src, res.src_len, &gs);
		normalise(&res.dst, res.dst_len, &gd);
		require(memcmp(&gs, &ws, sizeof(gs)) == 0 && memcmp(&gd, &wd, sizeof(gd)) == 0);
	}
}

static void check_decode(const uint8_t *data, size_t size, size_t max)
{
	struct proxyproto_result res;
	ssize_t r = decode_copy(data, size, max, &res);

	if (r > 0) {
		require((size_t)r <= size);
		require(res.version == 1 || res.version == 2);
		require(res.version == 1 || (size_t)r <= max); /* max bounds v2 only */
		if (res.version == 1) {
			require(r >= 15 && r <= PROXYPROTO_V1_MAX);
			require(memcmp(data, "PROXY ", 6) == 0);
			require(data[r - 2] == '\r' && data[r - 1] == '\n');
			require(!memchr(data, '\n', (size_t)r - 1));
		} else {
			require(r >= PROXYPROTO_V2_MIN &&
				(size_t)r == 16u + (data[14] << 8 | data[15]));
		}
		if (res.proxied) {
			require(res.src.ss_family == res.dst.ss_family);
			round_trip((const struct sockaddr *)&res.src, res.src_len,
				   (const struct sockaddr *)&res.dst, res.dst_len, true);
		}
	} else {
		require(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
	}

	size_t probes[3] = {size / 2, size ? size - 1 : 0, r > 0 ? (size_t)r - 1 : 0};
	for (size_t i = 0; i < 3; i++) {
		if (probes[i] >= size)
			continue;
		struct proxyproto_result tmp;
		ssize_t p = decode_copy(data, probes[i], max, &tmp);
		if (r > 0)
			require(probes[i] >= (size_t)r ? p == r : p == 0);
		else
			require(p == 0 || p == r);
	}
}

/* Addresses from the bytes: a selector, then 16 + 16 address bytes and 2 + 2 port bytes. */
static void check_encode(const uint8_t *data, size_t size)
{
	uint8_t in[37] = {0};
	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));
	struct sockaddr_storage s, d;
	socklen_t sl = 0, dl = 0;
	struct sockaddr_storage *e[2] = {&s, &d};
	socklen_t *el[2] = {&sl, &dl};
	bool ip = true;

	for (int i = 0; i < 2; i++) {
		const uint8_t *a = in + 1 + 16 * i;
		uint16_t port = (uint16_t)(in[33 + 2 * i] << 8 | in[34 + 2 * i]);
		memset(e[i], 0, sizeof(*e[i]));
		switch ((in[0] >> (2 * i)) & 3) {
		case 0: {
			struct sockaddr_in *x = (struct sockaddr_in *)e[i];
			x->sin_family = AF_INET;
			x->sin_port = htons(port);
			memcpy(&x->sin_addr, a, 4);
			*el[i] = sizeof(*x);
			break;
		}
		case 1: {
			struct sockaddr_in6 *x = (struct sockaddr_in6 *)e[i];
			x->sin6_family = AF_INET6;
			x->sin6_port = htons(port);
			memcpy(&x->sin6_addr, a, 16);
			*el[i] = sizeof(*x);
			break;
		}
		case 2: { /* IPv4-mapped */
			struct sockaddr_in6 *x = (struct sockaddr_in6 *)e[i];
			x->sin6_family = AF_INET6;
			x->sin6_port = htons(port);
			x->sin6_addr.s6_addr[10] = x->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&x->sin6_addr.s6_addr[12], a, 4);
			*el[i] = sizeof(*x);
			break;
		}
		default: {
			struct sockaddr_un *x = (struct sockaddr_un *)e[i];
			x->sun_family = AF_UNIX;
			memcpy(x->sun_path, "/x", 3);
			*el[i] = sizeof(*x);
			ip = false;
			break;
		}
		}
	}
	round_trip((const struct sockaddr *)&s, sl, (const struct sockaddr *)&d, dl, ip);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size, 16 + 65535);
	check_decode(data, size, 16 + size % 251);
	check_encode(data, size);
	return 0;
}
