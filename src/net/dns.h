/* A small non-blocking stub resolver for upstream names: /etc/hosts first, then A and AAAA
 * queries over UDP to one nameserver (the `resolver` directive, else the first nameserver
 * of /etc/resolv.conf, else 127.0.0.53), answers' TTLs passed on so callers re-resolve
 * when they expire. No search domains, no TCP fallback (a truncated answer's addresses
 * are used as they are), no EDNS: enough for container names on a Podman network.
 *
 * The message builder and parser are pure (buf, len) functions, fuzzed by fuzz-dns. */
#ifndef FERRY_NET_DNS_H
#define FERRY_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/addr.h"

#define DNS_MAX_ADDRS 8
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_MSG_MAX 512 /* UDP without EDNS */

struct dns_answer {
	unsigned n;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS]; /* port 0 */
	socklen_t lens[DNS_MAX_ADDRS];
	uint32_t ttl; /* smallest TTL of the records used */
};

/* The query for name (dot-separated labels of 1..63 bytes, 253 at most) and type, with id.
 * Returns its length or -EINVAL / -ENOBUFS. */
ssize_t dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *buf, size_t size);

/* Parse a response to the query (id, name, qtype): appends the addresses of the answer
 * records of qtype (following CNAMEs in the same message) to *ret, which the caller
 * zeroes. Returns 0 (possibly no addresses: NODATA), -ENOENT for NXDOMAIN, -EAGAIN for
 * another RCODE (SERVFAIL, ...), -EBADMSG for a malformed message or one that does not
 * answer this query (its id, question and QR bit are checked). */
int dns_parse_response(const uint8_t *buf, size_t len, uint16_t id, const char *name,
		       uint16_t qtype, struct dns_answer *ret);

/* Look name up in hosts-file text: the addresses of every line naming it (case-insensitive),
 * IPv4 and IPv6, in file order, into *ret (zeroed by the caller). Returns how many. */
unsigned dns_hosts_lookup(const char *text, size_t len, const char *name, struct dns_answer *ret);

struct loop;
struct dns_resolver;

/* err 0: n >= 1 addresses (port 0) valid for ttl_s seconds; else -errno (-ENOENT: no such
 * name, -ETIMEDOUT: no answer). */
typedef void (*dns_cb)(void *ctx, int err, const struct sockaddr_storage *addrs,
		       const socklen_t *lens, unsigned n, uint32_t ttl_s);

/* server NULL: from /etc/resolv.conf (read now, with /etc/hosts). */
int dns_resolver_new(struct loop *l, const struct net_addr *server, struct dns_resolver **ret);
/* Pending callbacks are dropped. NULL is fine. */
void dns_resolver_free(struct dns_resolver *r);
/* Start a lookup; cb runs later from the loop (never from inside this call). */
int dns_resolve(struct dns_resolver *r, const char *name, dns_cb cb, void *ctx);

#endif
