/* DNS messages and the hosts file (net/dns.c): queries as the wire format says, answers
 * with compression and CNAME chains, every way a response can fail to answer a query,
 * truncated answers; resolv.conf as glibc reads it and the candidate names it makes; and the
 * resolver on a real loop against fake UDP nameservers on the same loop: the search order on
 * the wire, rotation past a silent, a refusing and a SERVFAIL server, timeouts, the hosts
 * file and resolv.conf read again when they change, new servers for lookups in flight. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "event/loop.h"
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
	/* A final dot names the same name; a name is matched whole, not as a prefix. */
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), "app.", &a), 1);
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), "app.intern", &a), 0);
	CHECK_EQ_INT(dns_hosts_lookup(hosts, strlen(hosts), ".", &a), 0);
}

/* TC: the addresses that came are used; none is -EMSGSIZE, not NODATA; a record cut by the
 * truncation is dropped, the whole ones before it kept. A malformed message adds nothing. */
static void test_truncated(void)
{
	uint8_t b[1024];
	struct dns_answer a;
	static const uint8_t one[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 5};
	size_t n = response(b, 5, 0, DNS_TYPE_A, 1, one, sizeof(one));
	b[2] |= 0x02;
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n, 5, "app.internal", DNS_TYPE_A, &a), 0);
	CHECK_EQ_INT(a.n, 1);
	/* Claims two records, the second cut in its middle. */
	b[7] = 2;
	static const uint8_t cut[] = {0xc0, 12, 0, 1, 0, 1, 0, 0};
	memcpy(b + n, cut, sizeof(cut));
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n + sizeof(cut), 5, "app.internal", DNS_TYPE_A, &a), 0);
	CHECK_EQ_INT(a.n, 1);
	/* Without TC the same message is malformed, and the answer is left as it was. */
	b[2] &= (uint8_t)~0x02;
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n + sizeof(cut), 5, "app.internal", DNS_TYPE_A, &a),
		     -EBADMSG);
	CHECK_EQ_INT(a.n, 0);
	/* Truncated with no record at all, or only a cut one. */
	n = response(b, 5, 0, DNS_TYPE_A, 0, NULL, 0);
	b[2] |= 0x02;
	memset(&a, 0, sizeof(a));
	CHECK_EQ_INT(dns_parse_response(b, n, 5, "app.internal", DNS_TYPE_A, &a), -EMSGSIZE);
	CHECK_EQ_INT(a.n, 0);
	n = response(b, 5, 0, DNS_TYPE_A, 1, cut, sizeof(cut));
	b[2] |= 0x02;
	CHECK_EQ_INT(dns_parse_response(b, n, 5, "app.internal", DNS_TYPE_A, &a), -EMSGSIZE);
	/* NXDOMAIN stays NXDOMAIN with TC. */
	n = response(b, 5, 3, DNS_TYPE_A, 0, NULL, 0);
	b[2] |= 0x02;
	CHECK_EQ_INT(dns_parse_response(b, n, 5, "app.internal", DNS_TYPE_A, &a), -ENOENT);
}

static const char *ns_str(const struct net_addr *a, char *buf)
{
	return net_addr_format(a, buf, NET_ADDR_STRLEN);
}

static void test_conf(void)
{
	struct dns_conf c;
	char s[NET_ADDR_STRLEN];
	/* No file: the defaults. */
	CHECK_EQ_INT(dns_conf_parse(NULL, 0, &c), 0);
	CHECK_EQ_INT(c.n_search, 0);
	CHECK_EQ_INT(c.ndots, 1);
	CHECK_EQ_INT(c.timeout_ms, 1000);
	CHECK_EQ_INT(c.attempts, 3);
	CHECK(!c.rotate);

	/* Four servers (one IPv6, some not addresses): the first three valid, port 53. */
	static const char four[] = "# generated\n"
				   "; also a comment\n"
				   "nameserver 10.89.0.1\n"
				   "nameserver\n"
				   "nameserver not-an-address\n"
				   "nameserver fe80::1%eth0\n"
				   "  nameserver\t2001:db8::53   # trailing comment\n"
				   "nameserverX 10.0.0.9\n"
				   "nameserver 10.89.0.2;comment\n"
				   "nameserver 10.89.0.3\n"
				   "garbage line here\n"
				   "\x01\xff binary\n";
	CHECK_EQ_INT(dns_conf_parse(four, strlen(four), &c), 3);
	CHECK_STREQ(ns_str(&c.ns[0], s), "udp:10.89.0.1:53");
	CHECK_STREQ(ns_str(&c.ns[1], s), "udp:[2001:db8::53]:53");
	CHECK_STREQ(ns_str(&c.ns[2], s), "udp:10.89.0.2:53");
	CHECK_EQ_INT(c.ns[0].type, SOCK_DGRAM);

	/* The last search or domain line wins; search: 6 domains at most, no final dot, no
	 * duplicates, no invalid ones. */
	static const char search[] = "search first.example\n"
				     "domain only.example.\n"
				     "search a.example b.example. A.EXAMPLE x..y c.example d e f g h\n"
				     "search\n";
	CHECK_EQ_INT(dns_conf_parse(search, strlen(search), &c), 0);
	CHECK_EQ_INT(c.n_search, 6);
	CHECK_STREQ(c.search[0], "a.example");
	CHECK_STREQ(c.search[1], "b.example");
	CHECK_STREQ(c.search[2], "c.example");
	CHECK_STREQ(c.search[3], "d");
	CHECK_STREQ(c.search[5], "f");
	static const char domain[] = "search a.example b.example\ndomain podman.\n";
	dns_conf_parse(domain, strlen(domain), &c);
	CHECK_EQ_INT(c.n_search, 1);
	CHECK_STREQ(c.search[0], "podman");
	static const char root[] = "search a.example\nsearch .\n"; /* "no search" */
	dns_conf_parse(root, strlen(root), &c);
	CHECK_EQ_INT(c.n_search, 0);
	char longer[400];
	memset(longer, 'x', 70);
	snprintf(longer + 70, sizeof(longer) - 70, ".example ok.example\n");
	char line[420];
	snprintf(line, sizeof(line), "search %s", longer);
	dns_conf_parse(line, strlen(line), &c);
	CHECK_EQ_INT(c.n_search, 1); /* a 70-byte label is no domain */
	CHECK_STREQ(c.search[0], "ok.example");

	/* Options accumulate over lines; values are capped as glibc caps them. */
	static const char opts[] = "options ndots:3 timeout:2\noptions attempts:4 rotate edns0\n";
	dns_conf_parse(opts, strlen(opts), &c);
	CHECK_EQ_INT(c.ndots, 3);
	CHECK_EQ_INT(c.timeout_ms, 2000);
	CHECK_EQ_INT(c.attempts, 4);
	CHECK(c.rotate);
	static const char big[] = "options ndots:99 timeout:1000000 attempts:77777777777777\n";
	dns_conf_parse(big, strlen(big), &c);
	CHECK_EQ_INT(c.ndots, 15);
	CHECK_EQ_INT(c.timeout_ms, 30000);
	CHECK_EQ_INT(c.attempts, 5);
	static const char zero[] = "options ndots:0 timeout:0 attempts:0\n";
	dns_conf_parse(zero, strlen(zero), &c);
	CHECK_EQ_INT(c.ndots, 0);
	CHECK_EQ_INT(c.timeout_ms, 1000);
	CHECK_EQ_INT(c.attempts, 1);
	static const char bad[] = "options ndots:x ndots: ndots:-1 timeout:1s\n# options ndots:4\n"
				  "options ; ndots:5\n";
	dns_conf_parse(bad, strlen(bad), &c);
	CHECK_EQ_INT(c.ndots, 1);
	CHECK_EQ_INT(c.timeout_ms, 1000);
	/* No final newline; CRLF line ends. */
	static const char crlf[] = "search a.example\r\nnameserver 10.0.0.1\r\noptions ndots:2";
	CHECK_EQ_INT(dns_conf_parse(crlf, strlen(crlf), &c), 1);
	CHECK_STREQ(c.search[0], "a.example");
	CHECK_EQ_INT(c.ndots, 2);
}

/* Every candidate of name under c, joined with spaces ("-EINVAL" if name is refused). */
static const char *candidates(const struct dns_conf *c, const char *name)
{
	static char all[(DNS_NAME_MAX + 2) * (DNS_MAX_CANDIDATES + 1)];
	char one[DNS_NAME_MAX + 1];
	size_t o = 0;
	all[0] = '\0';
	for (unsigned i = 0;; i++) {
		int n = dns_candidate(c, name, i, one);
		if (n == -EINVAL)
			return "-EINVAL";
		if (n < 0)
			break;
		CHECK(i < DNS_MAX_CANDIDATES);
		CHECK_EQ_INT(n, strlen(one));
		o += (size_t)snprintf(all + o, sizeof(all) - o, "%s%s", o ? " " : "", one);
	}
	return all;
}

static void test_candidates(void)
{
	struct dns_conf c;
	static const char rc[] = "search test.internal example.com\n";
	dns_conf_parse(rc, strlen(rc), &c);
	/* Fewer dots than ndots (1): the search domains first, then the name as it is. */
	CHECK_STREQ(candidates(&c, "backend"), "backend.test.internal backend.example.com backend");
	/* As many as ndots: as it is first. */
	CHECK_STREQ(candidates(&c, "app.internal"),
		    "app.internal app.internal.test.internal app.internal.example.com");
	/* A final dot: absolute, only itself, even with no dot inside. */
	CHECK_STREQ(candidates(&c, "backend."), "backend");
	CHECK_STREQ(candidates(&c, "app.internal."), "app.internal");
	/* ndots 2 turns "app.internal" into a short name; ndots 0 makes every name long. */
	c.ndots = 2;
	CHECK_STREQ(candidates(&c, "app.internal"),
		    "app.internal.test.internal app.internal.example.com app.internal");
	CHECK_STREQ(candidates(&c, "a.b.c"), "a.b.c a.b.c.test.internal a.b.c.example.com");
	c.ndots = 0;
	CHECK_STREQ(candidates(&c, "backend"), "backend backend.test.internal backend.example.com");
	/* No search list: the name alone. */
	dns_conf_parse(NULL, 0, &c);
	CHECK_STREQ(candidates(&c, "backend"), "backend");
	/* Names no query can carry. */
	dns_conf_parse(rc, strlen(rc), &c);
	CHECK_STREQ(candidates(&c, ""), "-EINVAL");
	CHECK_STREQ(candidates(&c, "."), "-EINVAL");
	CHECK_STREQ(candidates(&c, ".backend"), "-EINVAL");
	CHECK_STREQ(candidates(&c, "a..b"), "-EINVAL");
	CHECK_STREQ(candidates(&c, "backend.."), "-EINVAL");
	char name[300];
	memset(name, 'x', 64);
	name[64] = '\0';
	CHECK_STREQ(candidates(&c, name), "-EINVAL");
	/* 253 is the longest name: with a search domain it would be longer, so it is asked
	 * alone; one of 240 takes the short domain only. */
	for (int i = 0; i < 253; i++)
		name[i] = i % 4 == 3 ? '.' : 'a';
	name[253] = '\0';
	CHECK_STREQ(candidates(&c, name), name);
	name[253] = '.';
	name[254] = '\0';
	CHECK_EQ_INT(strlen(candidates(&c, name)), 253);
	name[254] = 'a';
	name[255] = '\0';
	CHECK_STREQ(candidates(&c, name), "-EINVAL");
	static const char rc2[] = "search a-very-long-domain-name-that-is-sixty-characters-long.example x\n";
	dns_conf_parse(rc2, strlen(rc2), &c);
	memset(name, 'a', 240);
	for (int i = 0; i < 240; i += 60)
		name[i] = '.';
	name[0] = 'a';
	name[240] = '\0';
	char want[620];
	snprintf(want, sizeof(want), "%s %s.x", name, name);
	CHECK_STREQ(candidates(&c, name), want);
}


/* ---- the resolver on a loop ------------------------------------------------------------ */

static struct loop lp;

/* A nameserver on the test's own loop: answers A queries for the names it knows (AAAA:
 * NODATA), NXDOMAIN for the others, or misbehaves as its mode says; logs what it was asked. */
enum fake_mode { F_ANSWER, F_SILENT, F_SERVFAIL, F_TC_EMPTY, F_TC_ADDR };

struct fake_ns {
	struct watcher w;
	enum fake_mode mode;
	const char *const *names; /* name, IPv4, name, IPv4, ..., NULL */
	unsigned n_asked;
	char asked[64][DNS_NAME_MAX + 8]; /* "A name", "AAAA name" */
	struct net_addr addr;
};

static void on_fake_readable(struct loop *l, struct watcher *w, uint32_t events)
{
	struct fake_ns *f = (struct fake_ns *)w;
	uint8_t m[512], out[600];
	struct sockaddr_storage peer;
	for (;;) {
		socklen_t pl = sizeof(peer);
		ssize_t n = recvfrom(w->fd, m, sizeof(m), 0, (struct sockaddr *)&peer, &pl);
		if (n < 0)
			return;
		char name[DNS_NAME_MAX + 1];
		size_t o = 0, i = 12;
		while (i < (size_t)n && m[i]) {
			if (o)
				name[o++] = '.';
			memcpy(name + o, m + i + 1, m[i]);
			o += m[i];
			i += 1 + m[i];
		}
		name[o] = '\0';
		uint16_t qtype = (uint16_t)(m[i + 1] << 8 | m[i + 2]);
		size_t qend = i + 5;
		if (f->n_asked < 64)
			snprintf(f->asked[f->n_asked], sizeof(f->asked[0]), "%s %s",
				 qtype == DNS_TYPE_A ? "A" : "AAAA", name);
		f->n_asked++;
		if (f->mode == F_SILENT)
			continue;
		const char *ip = NULL;
		for (const char *const *p = f->names; p && *p; p += 2)
			if (strcmp(p[0], name) == 0)
				ip = p[1];
		memcpy(out, m, qend);
		out[2] = 0x81;
		out[3] = 0x80;
		out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
		size_t len = qend;
		bool addr = ip && qtype == DNS_TYPE_A && f->mode != F_TC_EMPTY;
		if (f->mode == F_SERVFAIL)
			out[3] |= 2;
		else if (!ip && f->mode == F_ANSWER)
			out[3] |= 3;
		if (f->mode == F_TC_EMPTY || f->mode == F_TC_ADDR)
			out[2] |= 0x02;
		if (addr && f->mode != F_SERVFAIL) {
			static const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4};
			memcpy(out + len, rr, sizeof(rr));
			len += sizeof(rr);
			inet_pton(AF_INET, ip, out + len);
			len += 4;
			out[7] = 1;
		}
		sendto(w->fd, out, len, 0, (struct sockaddr *)&peer, pl);
	}
}

static void fake_start(struct fake_ns *f, enum fake_mode mode, const char *const *names)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->names = names;
	f->w.cb = on_fake_readable;
	f->w.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(bind(f->w.fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	f->addr.family = AF_INET;
	f->addr.type = SOCK_DGRAM;
	f->addr.len = sizeof(sin);
	CHECK(getsockname(f->w.fd, (struct sockaddr *)&f->addr.sa, &f->addr.len) == 0);
	CHECK_EQ_INT(loop_add(&lp, &f->w, EPOLLIN | EPOLLET), 0);
}

static void fake_stop(struct fake_ns *f)
{
	close(f->w.fd);
}

/* An address where nothing listens: the port of a socket closed again (ICMP refuses). */
static struct net_addr closed_port(void)
{
	struct fake_ns f;
	fake_start(&f, F_SILENT, NULL);
	fake_stop(&f);
	return f.addr;
}

struct result {
	bool called;
	int err;
	unsigned n;
	uint32_t ttl;
	char addr[INET6_ADDRSTRLEN];
	uint64_t ms;
};

static uint64_t t_start;

static void on_result(void *ctx, int err, const struct sockaddr_storage *addrs,
		      const socklen_t *lens, unsigned n, uint32_t ttl)
{
	struct result *res = ctx;
	res->called = true;
	res->err = err;
	res->n = n;
	res->ttl = ttl;
	res->ms = time_now_ms() - t_start;
	if (n > 0)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&addrs[0])->sin_addr, res->addr,
			  sizeof(res->addr));
	lp.stop = true;
}

static void on_guard(struct loop *l, struct timer *t)
{
	l->stop = true;
}

static void on_kick(struct loop *l, struct timer *t)
{
}

static struct timer_list t_guard, t_kick;
static struct timer guard = {.cb = on_guard}, kick = {.cb = on_kick};
static struct timer at_once;

/* Look name up and run the loop until the answer (or 10 s). */
static int resolve(struct dns_resolver *r, const char *name, struct result *res)
{
	memset(res, 0, sizeof(*res));
	t_start = time_now_ms();
	int e = dns_resolve(r, name, on_result, res);
	if (e < 0)
		return e;
	CHECK(!res->called); /* never from inside dns_resolve */
	timer_arm(&lp, &t_guard, &guard);
	/* The proxy calls dns_resolve from the loop, which runs what was deferred at the end
	 * of that iteration; here the loop must first wake up to do so. */
	timer_arm(&lp, &t_kick, &kick);
	lp.stop = false;
	CHECK_EQ_INT(loop_run(&lp), 0);
	timer_cancel(&guard);
	timer_cancel(&at_once);
	CHECK(res->called);
	return 0;
}

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[2][128];
	static int k;
	char *p = path[k++ % 2];
	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	FILE *f = fopen(tmp, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	CHECK(rename(tmp, p) == 0); /* a new inode, as most editors leave it */
	return p;
}

static struct dns_resolver *new_resolver(const struct net_addr *servers, unsigned n,
					 const char *resolv_conf, const char *hosts)
{
	struct dns_setup s = {
	    .servers = servers,
	    .n_servers = n,
	    .resolv_conf = write_file("resolv.conf", resolv_conf),
	    .hosts = write_file("hosts", hosts),
	};
	struct dns_resolver *r = NULL;
	CHECK_EQ_INT(dns_resolver_new(&lp, &s, &r), 0);
	return r;
}

static const char *const known[] = {"backend.example.com", "10.0.0.7", "app.internal",
				    "10.0.0.8", "backend", "10.0.0.9", NULL};

/* The search order as the server sees it, and the result. */
static void test_search_on_the_wire(void)
{
	struct fake_ns f;
	fake_start(&f, F_ANSWER, known);
	struct dns_resolver *r =
	    new_resolver(&f.addr, 1, "search test.internal example.com\noptions ndots:1\n", "");
	struct result res;
	CHECK_EQ_INT(resolve(r, "backend", &res), 0);
	CHECK_EQ_INT(res.err, 0);
	CHECK_STREQ(res.addr, "10.0.0.7"); /* backend.example.com, before "backend" itself */
	CHECK_EQ_INT(res.ttl, 30);
	CHECK_EQ_INT(f.n_asked, 4);
	CHECK_STREQ(f.asked[0], "A backend.test.internal");
	CHECK_STREQ(f.asked[1], "AAAA backend.test.internal");
	CHECK_STREQ(f.asked[2], "A backend.example.com");
	CHECK_STREQ(f.asked[3], "AAAA backend.example.com");
	/* Absolute: only itself. */
	f.n_asked = 0;
	CHECK_EQ_INT(resolve(r, "backend.", &res), 0);
	CHECK_STREQ(res.addr, "10.0.0.9");
	CHECK_EQ_INT(f.n_asked, 2);
	CHECK_STREQ(f.asked[0], "A backend");
	/* Enough dots: as it is first, found there. */
	f.n_asked = 0;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_STREQ(res.addr, "10.0.0.8");
	CHECK_EQ_INT(f.n_asked, 2);
	/* Nowhere: every candidate asked, then -ENOENT. */
	f.n_asked = 0;
	CHECK_EQ_INT(resolve(r, "nothing", &res), 0);
	CHECK_EQ_INT(res.err, -ENOENT);
	CHECK_EQ_INT(res.n, 0);
	CHECK_EQ_INT(f.n_asked, 6);
	CHECK_STREQ(f.asked[4], "A nothing");
	/* A name no query can carry: refused at once. */
	CHECK_EQ_INT(resolve(r, "a..b", &res), -EINVAL);

	/* resolv.conf edited: the next lookup reads it again. */
	write_file("resolv.conf", "search example.com\n");
	f.n_asked = 0;
	CHECK_EQ_INT(resolve(r, "backend", &res), 0);
	CHECK_STREQ(res.addr, "10.0.0.7");
	CHECK_EQ_INT(f.n_asked, 2);
	CHECK_STREQ(f.asked[0], "A backend.example.com");
	dns_resolver_free(r);
	fake_stop(&f);
}

static void test_rotation(void)
{
	struct fake_ns silent, live, servfail;
	fake_start(&silent, F_SILENT, NULL);
	fake_start(&live, F_ANSWER, known);
	fake_start(&servfail, F_SERVFAIL, NULL);

	/* A server that does not answer: the try after the timeout goes to the next one. */
	struct net_addr two[2] = {silent.addr, live.addr};
	struct dns_resolver *r = new_resolver(two, 2, "options timeout:1\n", "");
	struct result res;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, 0);
	CHECK_STREQ(res.addr, "10.0.0.8");
	CHECK_EQ_INT(silent.n_asked, 2);
	CHECK_EQ_INT(live.n_asked, 2);
	CHECK(res.ms >= 900 && res.ms < 3000);
	/* The next lookup starts at the server that answered. */
	CHECK_EQ_INT(resolve(r, "backend", &res), 0);
	CHECK_STREQ(res.addr, "10.0.0.9");
	CHECK_EQ_INT(silent.n_asked, 2);
	CHECK(res.ms < 900);
	dns_resolver_free(r);

	/* A closed port (ICMP): on to the next one at once. */
	struct net_addr refused_first[2] = {closed_port(), live.addr};
	r = new_resolver(refused_first, 2, "", "");
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, 0);
	CHECK(res.ms < 900);
	dns_resolver_free(r);

	/* SERVFAIL: another server may know. */
	struct net_addr sf_first[2] = {servfail.addr, live.addr};
	servfail.n_asked = 0;
	r = new_resolver(sf_first, 2, "", "");
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, 0);
	CHECK(servfail.n_asked >= 1);
	CHECK(res.ms < 900);
	dns_resolver_free(r);

	/* Only SERVFAIL: -EAGAIN, quickly; only refused: -ECONNREFUSED, quickly. */
	r = new_resolver(&servfail.addr, 1, "", "");
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, -EAGAIN);
	CHECK(res.ms < 900);
	dns_resolver_free(r);
	struct net_addr refused = closed_port();
	r = new_resolver(&refused, 1, "", "");
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, -ECONNREFUSED);
	CHECK(res.ms < 900);
	dns_resolver_free(r);

	/* Nobody answers: attempts x servers tries, a timeout each, then -ETIMEDOUT. */
	silent.n_asked = 0;
	r = new_resolver(&silent.addr, 1, "options timeout:1 attempts:1\n", "");
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, -ETIMEDOUT);
	CHECK_EQ_INT(silent.n_asked, 2);
	CHECK(res.ms >= 900 && res.ms < 3000);
	dns_resolver_free(r);
	fake_stop(&silent);
	fake_stop(&live);
	fake_stop(&servfail);
}

/* Truncated answers over the wire: an address in one is used; none fails the lookup without
 * going on to the next candidate (the name is there, its answer too big for UDP). */
static void test_truncated_on_the_wire(void)
{
	struct fake_ns tc;
	fake_start(&tc, F_TC_ADDR, known);
	struct dns_resolver *r = new_resolver(&tc.addr, 1, "search example.com\n", "");
	struct result res;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, 0);
	CHECK_STREQ(res.addr, "10.0.0.8");
	tc.mode = F_TC_EMPTY;
	tc.n_asked = 0;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, -EMSGSIZE);
	CHECK_EQ_INT(tc.n_asked, 2); /* not app.internal.example.com */
	dns_resolver_free(r);
	fake_stop(&tc);
}

/* The hosts file: first, the name as given only, and read again when it changes. */
static void test_hosts_reread(void)
{
	struct fake_ns f;
	fake_start(&f, F_ANSWER, known);
	struct dns_resolver *r = new_resolver(&f.addr, 1, "search example.com\n",
					      "10.1.0.1 app.internal app\n");
	struct result res;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_STREQ(res.addr, "10.1.0.1");
	CHECK_EQ_INT(res.ttl, 5);
	CHECK_EQ_INT(f.n_asked, 0);
	/* "backend" is in the hosts file only as backend.example.com: not matched through the
	 * search list (glibc's files backend does not either); DNS answers. */
	write_file("hosts", "10.1.0.2 backend.example.com\n");
	CHECK_EQ_INT(resolve(r, "backend", &res), 0);
	CHECK_STREQ(res.addr, "10.0.0.7");
	CHECK(f.n_asked > 0);
	/* Replaced by a rename (a new inode), then edited in place (same inode, longer). */
	write_file("hosts", "10.1.0.3 app.internal\n");
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_STREQ(res.addr, "10.1.0.3");
	char path[128];
	snprintf(path, sizeof(path), "%s/hosts", dir);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0);
	static const char edited[] = "10.1.0.44 app.internal\n";
	CHECK_EQ_INT(write(fd, edited, strlen(edited)), strlen(edited));
	close(fd);
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_STREQ(res.addr, "10.1.0.44");
	/* Gone: DNS again. */
	unlink(path);
	f.n_asked = 0;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_STREQ(res.addr, "10.0.0.8");
	CHECK_EQ_INT(f.n_asked, 2);
	dns_resolver_free(r);
	fake_stop(&f);
}

static struct dns_resolver *switch_r;
static struct net_addr switch_to;

static void on_switch(struct loop *l, struct timer *t)
{
	CHECK_EQ_INT(dns_resolver_set_servers(switch_r, &switch_to, 1), 0);
}

/* A reload's new `resolver`: the lookup in flight is sent again to it at once. */
static void test_set_servers(void)
{
	struct fake_ns silent, live;
	fake_start(&silent, F_SILENT, NULL);
	fake_start(&live, F_ANSWER, known);
	struct dns_resolver *r = new_resolver(&silent.addr, 1, "options timeout:3\n", "");
	switch_r = r;
	switch_to = live.addr;
	struct timer_list t_100;
	loop_timer_list_init(&lp, &t_100, 100);
	at_once.cb = on_switch;
	timer_arm(&lp, &t_100, &at_once);
	struct result res;
	CHECK_EQ_INT(resolve(r, "app.internal", &res), 0);
	CHECK_EQ_INT(res.err, 0);
	CHECK_STREQ(res.addr, "10.0.0.8");
	CHECK(res.ms < 1500);
	CHECK_EQ_INT(silent.n_asked, 2);
	/* The same servers again: nothing happens; none (the resolv.conf's, here none: the
	 * fallback) is accepted. */
	CHECK_EQ_INT(dns_resolver_set_servers(r, &live.addr, 1), 0);
	CHECK_EQ_INT(dns_resolver_set_servers(r, NULL, 0), 0);
	dns_resolver_free(r);
	for (struct timer_list **pp = &lp.lists; *pp; pp = &(*pp)->next_list)
		if (*pp == &t_100) {
			*pp = t_100.next_list;
			break;
		}
	fake_stop(&silent);
	fake_stop(&live);
}

int main(void)
{
	test_query();
	test_response();
	test_hosts();
	test_truncated();
	test_conf();
	test_candidates();

	CHECK_EQ_INT(loop_init(&lp), 0);
	loop_timer_list_init(&lp, &t_guard, 10000);
	loop_timer_list_init(&lp, &t_kick, 0);
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-dns.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	test_search_on_the_wire();
	test_rotation();
	test_truncated_on_the_wire();
	test_hosts_reread();
	test_set_servers();
	char path[128];
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	unlink(path);
	rmdir(dir);
	loop_done(&lp);
	TEST_MAIN_END();
}
