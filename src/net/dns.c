/* The stub resolver: DNS messages (pure), the hosts file (pure), and lookups on the event
 * loop: one connected UDP socket per resolver, an A and an AAAA query per name, resent
 * after a second, given up after three tries. */
#include "net/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "loop.h"

#define DNS_RETRY_MS 1000
#define DNS_TRIES 3
#define DNS_FILE_MAX (256 * 1024)

/* ---- messages -------------------------------------------------------------------------- */

ssize_t dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *buf, size_t size)
{
	size_t nl = strlen(name);
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (nl == 0 || nl > 253)
		return -EINVAL;
	size_t need = 12 + nl + 2 + 4;
	if (size < need)
		return -ENOBUFS;
	uint8_t *p = buf;
	*p++ = (uint8_t)(id >> 8), *p++ = (uint8_t)id;
	*p++ = 0x01, *p++ = 0x00; /* RD */
	*p++ = 0, *p++ = 1;       /* QDCOUNT */
	memset(p, 0, 6), p += 6;
	size_t start = 0;
	for (size_t i = 0; i <= nl; i++) {
		if (i < nl && name[i] != '.')
			continue;
		size_t ll = i - start;
		if (ll == 0 || ll > 63)
			return -EINVAL;
		*p++ = (uint8_t)ll;
		memcpy(p, name + start, ll);
		p += ll;
		start = i + 1;
	}
	*p++ = 0;
	*p++ = (uint8_t)(qtype >> 8), *p++ = (uint8_t)qtype;
	*p++ = 0, *p++ = 1; /* IN */
	return p - buf;
}

/* Read the (possibly compressed) name at *off into out (lower-case, dotted, no final dot);
 * advance *off past it in the message. */
static int read_name(const uint8_t *buf, size_t len, size_t *off, char *out, size_t outsize)
{
	size_t pos = *off, o = 0;
	bool jumped = false;
	unsigned hops = 0;
	for (;;) {
		if (pos >= len)
			return -EBADMSG;
		uint8_t l = buf[pos];
		if (l == 0) {
			if (!jumped)
				*off = pos + 1;
			break;
		}
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > 32)
				return -EBADMSG;
			size_t to = (size_t)(l & 0x3f) << 8 | buf[pos + 1];
			if (!jumped)
				*off = pos + 2;
			jumped = true;
			pos = to;
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG;
		if (pos + 1 + l > len || o + l + 2 > outsize)
			return -EBADMSG;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++)
			out[o++] = ascii_lower((char)buf[pos + 1 + i]);
		pos += 1 + l;
	}
	out[o] = '\0';
	return 0;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool name_eq(const char *a, const char *b)
{
	size_t bl = strlen(b);
	if (bl > 0 && b[bl - 1] == '.')
		bl--;
	return str_ieqn(a, strlen(a), b, bl);
}

int dns_parse_response(const uint8_t *buf, size_t len, uint16_t id, const char *name,
		       uint16_t qtype, struct dns_answer *ret)
{
	char qn[256], rn[256], target[256];
	if (len < 12 || get16(buf) != id || !(buf[2] & 0x80) || get16(buf + 4) != 1)
		return -EBADMSG;
	size_t off = 12;
	if (read_name(buf, len, &off, qn, sizeof(qn)) < 0 || off + 4 > len)
		return -EBADMSG;
	if (!name_eq(qn, name) || get16(buf + off) != qtype || get16(buf + off + 2) != 1)
		return -EBADMSG;
	off += 4;
	unsigned rcode = buf[3] & 0x0f;
	if (rcode == 3)
		return -ENOENT;
	if (rcode != 0)
		return -EAGAIN;
	unsigned an = get16(buf + 6);
	/* The chain we follow: the name asked, then CNAME targets, in order. */
	strcpy(target, qn);
	for (unsigned i = 0; i < an; i++) {
		if (read_name(buf, len, &off, rn, sizeof(rn)) < 0 || off + 10 > len)
			return -EBADMSG;
		uint16_t type = get16(buf + off), cls = get16(buf + off + 2);
		uint32_t ttl = get32(buf + off + 4);
		uint16_t rdlen = get16(buf + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -EBADMSG;
		if (ttl > 0x7fffffff)
			ttl = 0;
		if (cls == 1 && strcmp(rn, target) == 0) {
			if (type == 5) { /* CNAME */
				size_t o2 = off;
				if (read_name(buf, len, &o2, target, sizeof(target)) < 0)
					return -EBADMSG;
			} else if (type == qtype && ret->n < DNS_MAX_ADDRS &&
				   ((type == DNS_TYPE_A && rdlen == 4) ||
				    (type == DNS_TYPE_AAAA && rdlen == 16))) {
				struct sockaddr_storage *ss = &ret->addrs[ret->n];
				memset(ss, 0, sizeof(*ss));
				if (type == DNS_TYPE_A) {
					struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
					s4->sin_family = AF_INET;
					memcpy(&s4->sin_addr, buf + off, 4);
					ret->lens[ret->n] = sizeof(*s4);
				} else {
					struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
					s6->sin6_family = AF_INET6;
					memcpy(&s6->sin6_addr, buf + off, 16);
					ret->lens[ret->n] = sizeof(*s6);
				}
				if (ret->n == 0 || ttl < ret->ttl)
					ret->ttl = ttl;
				ret->n++;
			}
		}
		off += rdlen;
	}
	return 0;
}

/* ---- /etc/hosts and /etc/resolv.conf --------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next whitespace-separated word of the line [*p, end); false at the end or a '#'. */
static bool next_word(const char **p, const char *end, const char **w, size_t *wl)
{
	const char *s = *p;
	while (s < end && is_space(*s))
		s++;
	if (s == end || *s == '#')
		return false;
	const char *e = s;
	while (e < end && !is_space(*e) && *e != '#')
		e++;
	*w = s;
	*wl = (size_t)(e - s);
	*p = e;
	return true;
}

static bool parse_ip(const char *w, size_t wl, struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	if (wl >= sizeof(tmp))
		return false;
	memcpy(tmp, w, wl);
	tmp[wl] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, tmp, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		*len = sizeof(*s6);
		return true;
	}
	return false;
}

unsigned dns_hosts_lookup(const char *text, size_t len, const char *name, struct dns_answer *ret)
{
	const char *p = text, *end = text + len;
	size_t nl = strlen(name);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *w, *q = p;
		size_t wl;
		struct sockaddr_storage ss;
		socklen_t sl;
		if (next_word(&q, eol, &w, &wl) && parse_ip(w, wl, &ss, &sl)) {
			while (next_word(&q, eol, &w, &wl)) {
				if (str_ieqn(w, wl, name, nl) && ret->n < DNS_MAX_ADDRS) {
					ret->addrs[ret->n] = ss;
					ret->lens[ret->n] = sl;
					ret->n++;
					break;
				}
			}
		}
		p = eol < end ? eol + 1 : end;
	}
	return ret->n;
}

static char *read_small_file(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *b = xmalloc(DNS_FILE_MAX);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, b + n, DNS_FILE_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == DNS_FILE_MAX)
			break;
	}
	close(fd);
	*ret_len = n;
	return b;
}

/* The first "nameserver ADDR" of resolv.conf text, port 53. */
static bool resolv_conf_server(const char *text, size_t len, struct net_addr *ret)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *w, *q = p;
		size_t wl;
		if (next_word(&q, eol, &w, &wl) && str_eq(w, wl, "nameserver") &&
		    next_word(&q, eol, &w, &wl)) {
			struct sockaddr_storage ss;
			socklen_t sl;
			if (parse_ip(w, wl, &ss, &sl)) {
				memset(ret, 0, sizeof(*ret));
				ret->sa = ss;
				ret->len = sl;
				ret->family = ss.ss_family;
				ret->type = SOCK_DGRAM;
				if (ss.ss_family == AF_INET)
					((struct sockaddr_in *)&ret->sa)->sin_port = htons(53);
				else
					((struct sockaddr_in6 *)&ret->sa)->sin6_port = htons(53);
				return true;
			}
		}
		p = eol < end ? eol + 1 : end;
	}
	return false;
}

/* ---- lookups on the loop --------------------------------------------------------------- */

struct dns_query {
	struct dns_query *next;
	struct dns_resolver *r;
	char name[256];
	uint16_t id[2]; /* A, AAAA */
	bool done[2];
	int err[2];
	unsigned tries;
	struct dns_answer ans;
	struct timer timer;
	struct deferred defer; /* a hosts-file answer, delivered after this call */
	dns_cb cb;
	void *ctx;
};

struct dns_resolver {
	struct watcher w;
	struct loop *loop;
	struct timer_list t_retry;
	struct dns_query *queries;
	char *hosts;
	size_t hosts_len;
	uint16_t next_id;
};

static void query_unlink(struct dns_query *q)
{
	for (struct dns_query **pp = &q->r->queries; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			return;
		}
	}
}

static void query_finish(struct dns_query *q)
{
	timer_cancel(&q->timer);
	query_unlink(q);
	int err = 0;
	if (q->ans.n == 0) {
		/* NXDOMAIN from either wins over a timeout; a timeout over NODATA. */
		err = q->err[0] == -ENOENT || q->err[1] == -ENOENT ? -ENOENT
		      : q->err[0] ? q->err[0]
		      : q->err[1] ? q->err[1]
				  : -ENOENT;
	}
	q->cb(q->ctx, err, q->ans.addrs, q->ans.lens, q->ans.n, q->ans.ttl);
	free(q);
}

static void query_send(struct dns_query *q)
{
	static const uint16_t types[2] = {DNS_TYPE_A, DNS_TYPE_AAAA};
	for (int i = 0; i < 2; i++) {
		if (q->done[i])
			continue;
		uint8_t msg[DNS_MSG_MAX];
		ssize_t n = dns_build_query(q->id[i], q->name, types[i], msg, sizeof(msg));
		if (n > 0 && send(q->r->w.fd, msg, (size_t)n, MSG_NOSIGNAL) < 0)
			q->err[i] = -errno;
	}
	q->tries++;
	timer_arm(q->r->loop, &q->r->t_retry, &q->timer);
}

static void on_query_timeout(struct loop *l, struct timer *t)
{
	struct dns_query *q = container_of(t, struct dns_query, timer);
	if (q->tries >= DNS_TRIES) {
		for (int i = 0; i < 2; i++)
			if (!q->done[i] && !q->err[i])
				q->err[i] = -ETIMEDOUT;
		query_finish(q);
		return;
	}
	query_send(q);
}

static void on_dns_readable(struct loop *l, struct watcher *w, uint32_t events)
{
	struct dns_resolver *r = (struct dns_resolver *)w;
	uint8_t msg[4096];
	for (;;) {
		ssize_t n = recv(r->w.fd, msg, sizeof(msg), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or ECONNREFUSED from an earlier send: retries cover it */
		}
		if (n < 12)
			continue;
		uint16_t id = get16(msg);
		for (struct dns_query *q = r->queries; q; q = q->next) {
			int i = q->id[0] == id ? 0 : q->id[1] == id ? 1 : -1;
			if (i < 0 || q->done[i])
				continue;
			int e = dns_parse_response(msg, (size_t)n, id, q->name,
						   i == 0 ? DNS_TYPE_A : DNS_TYPE_AAAA, &q->ans);
			if (e == -EBADMSG)
				break; /* not an answer to this query: ignore it */
			q->done[i] = true;
			q->err[i] = e;
			if (q->done[0] && q->done[1])
				query_finish(q);
			break;
		}
	}
}

int dns_resolver_new(struct loop *l, const struct net_addr *server, struct dns_resolver **ret)
{
	struct net_addr ns;
	size_t len = 0;
	if (server) {
		ns = *server;
	} else {
		char *rc = read_small_file("/etc/resolv.conf", &len);
		bool ok = rc && resolv_conf_server(rc, len, &ns);
		free(rc);
		if (!ok)
			net_addr_parse("127.0.0.53:53", &ns);
	}
	int fd = socket(ns.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ns.sa, ns.len) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->w.fd = fd;
	r->w.cb = on_dns_readable;
	r->loop = l;
	int e = loop_add(l, &r->w, EPOLLIN | EPOLLET);
	if (e < 0) {
		close(fd);
		free(r);
		return e;
	}
	loop_timer_list_init(l, &r->t_retry, DNS_RETRY_MS);
	r->hosts = read_small_file("/etc/hosts", &r->hosts_len);
	uint32_t seed = (uint32_t)(uintptr_t)r ^ (uint32_t)l->now_ms;
	r->next_id = (uint16_t)(seed ^ (seed >> 16));
	*ret = r;
	return 0;
}

static void timer_list_unlink(struct loop *l, struct timer_list *tl)
{
	for (struct timer_list **pp = &l->lists; *pp; pp = &(*pp)->next_list) {
		if (*pp == tl) {
			*pp = tl->next_list;
			return;
		}
	}
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (!r)
		return;
	while (r->queries) {
		struct dns_query *q = r->queries;
		r->queries = q->next;
		timer_cancel(&q->timer);
		free(q);
	}
	timer_list_unlink(r->loop, &r->t_retry);
	close(r->w.fd);
	free(r->hosts);
	free(r);
}

static void on_hosts_answer(struct deferred *d)
{
	struct dns_query *q = container_of(d, struct dns_query, defer);
	query_finish(q);
}

int dns_resolve(struct dns_resolver *r, const char *name, dns_cb cb, void *ctx)
{
	if (strlen(name) >= sizeof(((struct dns_query *)0)->name))
		return -EINVAL;
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->r = r;
	strcpy(q->name, name);
	q->cb = cb;
	q->ctx = ctx;
	q->timer.cb = on_query_timeout;
	q->next = r->queries;
	r->queries = q;
	if (r->hosts && dns_hosts_lookup(r->hosts, r->hosts_len, name, &q->ans) > 0) {
		q->ans.ttl = 5; /* look at the file again now and then */
		q->done[0] = q->done[1] = true;
		q->defer.fn = on_hosts_answer;
		loop_defer(r->loop, &q->defer);
		return 0;
	}
	q->id[0] = r->next_id++;
	q->id[1] = r->next_id++;
	query_send(q);
	return 0;
}
