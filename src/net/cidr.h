/* Address ranges in CIDR notation, for `trusted-proxies` and the like:
 *
 *   10.89.0.0/24   192.168.1.5 (= /32)   ::1/128   2001:db8::/32   fe80::1 (= /128)
 *
 * Pure: parsing does no DNS and no allocation. IPv4 ranges are kept as IPv4-mapped IPv6
 * (10.0.0.0/8 is ::ffff:10.0.0.0/104), so a peer that reaches a dual-stack listener as
 * ::ffff:10.1.2.3 matches an IPv4 range, and ::ffff:0:0/96 written out in IPv6 means "every
 * IPv4 address". Unix-socket and other non-IP peers match nothing. */
#ifndef FERRY_NET_CIDR_H
#define FERRY_NET_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	uint8_t addr[16]; /* network address, IPv6 or IPv4-mapped, host bits cleared */
	uint8_t prefix;   /* 0 .. 128, counted over the 16 bytes (IPv4: 96 + the /N written) */
	bool v4;          /* written as IPv4: formats back that way */
};

#define CIDR_STRLEN 50 /* enough for any formatted range, NUL included */

/* Parse ADDR or ADDR/PREFIX: ADDR an IPv4 dotted quad (no leading zeros) or an IPv6 address
 * (no brackets, no zone), PREFIX decimal without leading zeros, 0..32 or 0..128; without it
 * the range is the one host. Returns 0, or 1 when ADDR had bits set past the prefix (they
 * are cleared: "10.0.0.7/8" is 10.0.0.0/8; a config check may warn), or -EINVAL for
 * anything else (empty, spaces, "1.2.3.4/33", "/8", "::1/", "10.0.0.0/08", ...). *ret is
 * written only on success. */
int cidr_parse(const char *s, struct cidr *ret);

/* Does the range contain this socket address (AF_INET or AF_INET6; anything else, or a
 * short len: false)? */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa, socklen_t len);

/* Does any of the n ranges contain it? */
bool cidr_list_match(const struct cidr *list, size_t n, const struct sockaddr *sa,
		     socklen_t len);

/* "10.89.0.0/24", "::1/128": what cidr_parse() reads back to the same range. Returns buf,
 * truncated to size (which must be at least 1). */
char *cidr_format(const struct cidr *c, char *buf, size_t size);

#endif
