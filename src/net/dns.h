/* A small non-blocking stub resolver for upstream names, read like glibc reads its files:
 * /etc/hosts first (the name as given), then A and AAAA queries over UDP to the nameservers
 * of /etc/resolv.conf (up to 3, or the one `resolver` of the config), for each candidate
 * name its search domains and ndots make; answers' TTLs passed on so callers re-resolve
 * when they expire. Both files are looked at again (stat) at each lookup. No TCP fallback
 * (a truncated answer's addresses are used; one without any fails), no EDNS: enough for
 * container names on a Podman network and for the names of a host's own resolv.conf.
 *
 * The message builder and parser, the resolv.conf reader and the candidate names are pure
 * (buf, len) functions, fuzzed by fuzz-dns. */
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
#define DNS_NAME_MAX 253   /* a name's text, without the final dot */
#define DNS_MAX_NS 3       /* nameservers used, as glibc's MAXNS */
#define DNS_MAX_SEARCH 6   /* search domains, as glibc's MAXDNSRCH */
#define DNS_MAX_NDOTS 15   /* as glibc's RES_MAXNDOTS */
#define DNS_MAX_CANDIDATES (DNS_MAX_SEARCH + 1)

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
 * another RCODE (SERVFAIL, REFUSED...), -EMSGSIZE for a truncated answer (TC) that brought
 * no address (there is no TCP fallback; a truncated one with addresses returns 0), -EBADMSG
 * for a malformed message or one that does not answer this query (its id, question and QR
 * bit are checked). */
int dns_parse_response(const uint8_t *buf, size_t len, uint16_t id, const char *name,
		       uint16_t qtype, struct dns_answer *ret);

/* Look name up in hosts-file text: the addresses of every line naming it (case-insensitive,
 * a final dot ignored), IPv4 and IPv6, in file order, into *ret (zeroed by the caller).
 * Returns how many. */
unsigned dns_hosts_lookup(const char *text, size_t len, const char *name, struct dns_answer *ret);

/* What resolv.conf(5) says, as far as ferry uses it. */
struct dns_conf {
	struct net_addr ns[DNS_MAX_NS]; /* `nameserver`: UDP, port 53, in file order */
	unsigned n_ns;
	char search[DNS_MAX_SEARCH][DNS_NAME_MAX + 1]; /* `search` or `domain`, no final dot */
	unsigned n_search;
	unsigned ndots;      /* `options ndots:N`: 1 by default, at most 15 */
	unsigned timeout_ms; /* `options timeout:N` (seconds, 1..30): per try; default 1 s */
	unsigned attempts;   /* `options attempts:N` (1..5): rounds over the servers; default 3 */
	bool rotate;         /* `options rotate`: start each query at the next server */
};

/* Read resolv.conf text into *ret (always fully written: the defaults, then what the text
 * says). As glibc: the first 3 valid nameservers; the last `search` or `domain` line wins
 * (search: its first 6 valid domains); options accumulate, out-of-range values capped;
 * anything else is ignored. Returns the number of nameservers. */
int dns_conf_parse(const char *text, size_t len, struct dns_conf *ret);

/* The i-th name to ask for name (i from 0), in glibc's order: a name ending in '.' is
 * absolute and only itself; a name with at least ndots dots is asked as it is, then with
 * each search domain; a shorter one with each search domain first, then as it is. A
 * candidate longer than 253 is left out. Writes it (no final dot) into out, which holds
 * DNS_NAME_MAX + 1 bytes, and returns its length; -ENOENT when there is no i-th; -EINVAL
 * when name is no valid name (empty label, label over 63, over 253 in all). */
int dns_candidate(const struct dns_conf *c, const char *name, unsigned i, char *out);

struct loop;
struct dns_resolver;

/* err 0: n >= 1 addresses (port 0) valid for ttl_s seconds; else -errno: -ENOENT no such
 * name (or no address) under any candidate, -ETIMEDOUT or -ECONNREFUSED no server answered,
 * -EAGAIN only SERVFAIL-like answers, -EMSGSIZE a truncated answer without an address. */
typedef void (*dns_cb)(void *ctx, int err, const struct sockaddr_storage *addrs,
		       const socklen_t *lens, unsigned n, uint32_t ttl_s);

/* Where a resolver's settings come from. Zeroed members mean the defaults. */
struct dns_setup {
	const struct net_addr *servers; /* the servers to ask (`resolver`), at most DNS_MAX_NS */
	unsigned n_servers;             /* 0: the nameservers of resolv_conf */
	const char *resolv_conf;        /* its search, ndots, options; default /etc/resolv.conf */
	const char *hosts;              /* default /etc/hosts */
};

/* Reads both files now, and opens one connected UDP socket per server. */
int dns_resolver_new(struct loop *l, const struct dns_setup *s, struct dns_resolver **ret);
/* Replace the servers of s->servers (a reload changed `resolver`; n 0: back to resolv.conf's).
 * Lookups in flight are sent again, to the new servers. Unchanged servers: nothing happens.
 * -errno when none of the new ones can be opened: the old ones stay. */
int dns_resolver_set_servers(struct dns_resolver *r, const struct net_addr *servers, unsigned n);
/* Only once the loop has stopped (answers are delivered through loop_defer): pending
 * callbacks are dropped. NULL is fine. */
void dns_resolver_free(struct dns_resolver *r);
/* Start a lookup; cb runs later from the loop (never from inside this call). -EINVAL for a
 * name no query can carry. */
int dns_resolve(struct dns_resolver *r, const char *name, dns_cb cb, void *ctx);

#endif
