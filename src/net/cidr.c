/* CIDR ranges: parsing "ADDR[/PREFIX]" and matching socket addresses against one range or a
 * list, everything compared as 16 bytes so IPv4 and IPv4-mapped IPv6 are one case. */
#include "net/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Clear the bits past prefix; true when any was set. */
static bool mask(uint8_t a[16], unsigned prefix)
{
	bool had = false;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
		uint8_t m = (uint8_t)(0xff00u >> keep);
		had |= (a[i] & (uint8_t)~m) != 0;
		a[i] &= m;
	}
	return had;
}

int cidr_parse(const char *s, struct cidr *ret)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	struct cidr c = {0};
	unsigned max, prefix;

	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	/* inet_pton is strict here (glibc): four decimal parts without leading zeros for
	 * IPv4; no brackets, zones or spaces for IPv6. */
	if (inet_pton(AF_INET, host, c.addr + 12) == 1) {
		memcpy(c.addr, v4_mapped, sizeof(v4_mapped));
		c.v4 = true;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c.addr) == 1) {
		max = 128;
	} else {
		return -EINVAL;
	}

	prefix = max;
	if (slash) {
		const char *p = slash + 1;
		size_t len = strlen(p);
		/* Decimal, no sign, no leading zero ("08" is not read as octal by anyone). */
		if (len == 0 || len > 3 || (p[0] == '0' && len > 1))
			return -EINVAL;
		prefix = 0;
		for (size_t i = 0; i < len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -EINVAL;
			prefix = prefix * 10 + (unsigned)(p[i] - '0');
		}
		if (prefix > max)
			return -EINVAL;
	}
	c.prefix = (uint8_t)(c.v4 ? prefix + 96 : prefix);
	bool host_bits = mask(c.addr, c.prefix);
	*ret = c;
	return host_bits ? 1 : 0;
}

/* The peer as 16 bytes (IPv4 mapped into IPv6); false for anything else. */
static bool sockaddr_bytes(const struct sockaddr *sa, socklen_t len, uint8_t ret[16])
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(ret, v4_mapped, sizeof(v4_mapped));
		memcpy(ret + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		memcpy(ret, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool match_bytes(const struct cidr *c, const uint8_t a[16])
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t m = (uint8_t)(0xff00u >> rest);
	return (a[full] & m) == c->addr[full];
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa, socklen_t len)
{
	uint8_t a[16];
	return sockaddr_bytes(sa, len, a) && match_bytes(c, a);
}

bool cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr *sa,
		     socklen_t len)
{
	uint8_t a[16];
	if (!sockaddr_bytes(sa, len, a))
		return false;
	for (size_t i = 0; i < n; i++)
		if (match_bytes(&list[i], a))
			return true;
	return false;
}

char *cidr_format(const struct cidr *c, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (c->v4)
		inet_ntop(AF_INET, c->addr + 12, a, sizeof(a));
	else
		inet_ntop(AF_INET6, c->addr, a, sizeof(a));
	snprintf(buf, size, "%s/%u", a, c->v4 ? c->prefix - 96u : (unsigned)c->prefix);
	return buf;
}
