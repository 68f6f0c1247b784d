/* The stub resolver: DNS messages, the hosts file, resolv.conf and the candidate names (all
 * pure), and lookups on the event loop: one connected UDP socket per nameserver, an A and an
 * AAAA query per candidate name, each try sent to the next server after a timeout, answers
 * delivered through loop_defer so that no callback ever runs inside the resolver.
 *
 * A lookup, for each candidate name in dns_candidate's order:
 *
 *   event                                  what happens
 *   -------------------------------------  ------------------------------------------------
 *   both types answered, an address        done: the addresses
 *   both answered (or one, the other's     next candidate (none left: -ENOENT, or -EAGAIN
 *     tries used up), NXDOMAIN / NODATA /    if all were SERVFAIL)
 *     SERVFAIL, no address
 *   truncated answer without an address    done: -EMSGSIZE (no TCP; the name does exist)
 *   timeout, ICMP refused, or SERVFAIL     the unanswered types again, to the next server,
 *     from the server of the last try        until attempts x servers tries are used up
 *   tries used up, neither type answered   done: -ETIMEDOUT (or -ECONNREFUSED) */
#include "net/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "event/loop.h"

/* Per try 1 s, not glibc's 5 s: the proxy's connect timeout (5 s) bounds the whole wait.
 * 3 rounds over the servers, as c-ares. */
#define DNS_TIMEOUT_S 1
#define DNS_ATTEMPTS 3
#define DNS_MAX_TIMEOUT_S 30 /* glibc's RES_MAXRETRANS */
#define DNS_MAX_ATTEMPTS 5   /* glibc's RES_MAXRETRY */
#define DNS_HOSTS_TTL 5      /* seconds: how soon a hosts-file answer is looked up again */
#define DNS_FILE_MAX (256 * 1024)
#define DNS_FALLBACK_NS "127.0.0.53:53" /* no nameserver anywhere: systemd-resolved's stub */

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
	/* TC: the server cut the answer to fit 512 bytes, maybe in the middle of a record. What
	 * is whole is used; without TCP there is no way to the rest. */
	bool tc = buf[2] & 0x02;
	unsigned an = get16(buf + 6);
	/* Appended to a copy: a message that turns out malformed adds nothing. */
	struct dns_answer acc = *ret;
	unsigned before = acc.n;
	/* The chain we follow: the name asked, then CNAME targets, in order. */
	strcpy(target, qn);
	for (unsigned i = 0; i < an; i++) {
		if (read_name(buf, len, &off, rn, sizeof(rn)) < 0 || off + 10 > len) {
			if (tc)
				break;
			return -EBADMSG;
		}
		uint16_t type = get16(buf + off), cls = get16(buf + off + 2);
		uint32_t ttl = get32(buf + off + 4);
		uint16_t rdlen = get16(buf + off + 8);
		off += 10;
		if (off + rdlen > len) {
			if (tc)
				break;
			return -EBADMSG;
		}
		if (ttl > 0x7fffffff)
			ttl = 0;
		if (cls == 1 && strcmp(rn, target) == 0) {
			if (type == 5) { /* CNAME */
				size_t o2 = off;
				if (read_name(buf, len, &o2, target, sizeof(target)) < 0) {
					if (tc)
						break;
					return -EBADMSG;
				}
			} else if (type == qtype && acc.n < DNS_MAX_ADDRS &&
				   ((type == DNS_TYPE_A && rdlen == 4) ||
				    (type == DNS_TYPE_AAAA && rdlen == 16))) {
				struct sockaddr_storage *ss = &acc.addrs[acc.n];
				memset(ss, 0, sizeof(*ss));
				if (type == DNS_TYPE_A) {
					struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
					s4->sin_family = AF_INET;
					memcpy(&s4->sin_addr, buf + off, 4);
					acc.lens[acc.n] = sizeof(*s4);
				} else {
					struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
					s6->sin6_family = AF_INET6;
					memcpy(&s6->sin6_addr, buf + off, 16);
					acc.lens[acc.n] = sizeof(*s6);
				}
				if (acc.n == 0 || ttl < acc.ttl)
					acc.ttl = ttl;
				acc.n++;
			}
		}
		off += rdlen;
	}
	if (tc && acc.n == before)
		return -EMSGSIZE;
	*ret = acc;
	return 0;
}

/* ---- /etc/hosts, /etc/resolv.conf, candidate names ------------------------------------ */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next whitespace-separated word of the line [*p, end); false at the end or at a comment:
 * '#', and also ';' in resolv.conf (semi). */
static bool next_word(const char **p, const char *end, bool semi, const char **w, size_t *wl)
{
	const char *s = *p;
	while (s < end && is_space(*s))
		s++;
	if (s == end || *s == '#' || (semi && *s == ';'))
		return false;
	const char *e = s;
	while (e < end && !is_space(*e) && *e != '#' && !(semi && *e == ';'))
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
	if (nl > 0 && name[nl - 1] == '.')
		nl--; /* "app." is the name "app", absolute */
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *w, *q = p;
		size_t wl;
		struct sockaddr_storage ss;
		socklen_t sl;
		if (next_word(&q, eol, false, &w, &wl) && parse_ip(w, wl, &ss, &sl)) {
			while (next_word(&q, eol, false, &w, &wl)) {
				if (nl > 0 && str_ieqn(w, wl, name, nl) && ret->n < DNS_MAX_ADDRS) {
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

/* A name as a query carries it: labels of 1..63 bytes, 253 in all, no final dot. */
static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || n > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (s[i] == '\0' || ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* "key:N" with N decimal: true and *ret (capped at 1000, enough for every option). */
static bool option_value(const char *w, size_t wl, const char *key, unsigned *ret)
{
	size_t kl = strlen(key);
	if (wl <= kl || memcmp(w, key, kl) != 0)
		return false;
	unsigned v = 0;
	for (size_t i = kl; i < wl; i++) {
		if (!ascii_is_digit(w[i]))
			return false;
		if (v < 1000)
			v = v * 10 + (unsigned)(w[i] - '0');
	}
	*ret = v;
	return true;
}

static void conf_nameserver(struct dns_conf *c, const char *w, size_t wl)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (c->n_ns == DNS_MAX_NS || !parse_ip(w, wl, &ss, &sl))
		return;
	struct net_addr *a = &c->ns[c->n_ns++];
	memset(a, 0, sizeof(*a));
	a->sa = ss;
	a->len = sl;
	a->family = ss.ss_family;
	a->type = SOCK_DGRAM;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->sa)->sin_port = htons(53);
	else
		((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(53);
}

/* The words of a `search` or `domain` line replace the list: valid names, no final dot, no
 * duplicates ("." is dropped: the name as it is is always a candidate anyway). */
static void conf_search(struct dns_conf *c, const char *q, const char *eol, unsigned max)
{
	const char *w;
	size_t wl;
	c->n_search = 0;
	while (c->n_search < max && next_word(&q, eol, true, &w, &wl)) {
		if (wl > 0 && w[wl - 1] == '.')
			wl--;
		if (!valid_name(w, wl))
			continue;
		bool dup = false;
		for (unsigned i = 0; i < c->n_search && !dup; i++)
			dup = str_ieqn(c->search[i], strlen(c->search[i]), w, wl);
		if (dup)
			continue;
		memcpy(c->search[c->n_search], w, wl);
		c->search[c->n_search][wl] = '\0';
		c->n_search++;
	}
}

static unsigned clamp(unsigned v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void conf_options(struct dns_conf *c, const char *q, const char *eol)
{
	const char *w;
	size_t wl;
	unsigned v;
	while (next_word(&q, eol, true, &w, &wl)) {
		if (option_value(w, wl, "ndots:", &v))
			c->ndots = clamp(v, 0, DNS_MAX_NDOTS);
		else if (option_value(w, wl, "timeout:", &v))
			c->timeout_ms = 1000 * clamp(v, 1, DNS_MAX_TIMEOUT_S);
		else if (option_value(w, wl, "attempts:", &v))
			/* glibc makes no try at all with 0; one is what was meant. */
			c->attempts = clamp(v, 1, DNS_MAX_ATTEMPTS);
		else if (str_eq(w, wl, "rotate"))
			c->rotate = true;
	}
}

int dns_conf_parse(const char *text, size_t len, struct dns_conf *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->ndots = 1;
	ret->timeout_ms = DNS_TIMEOUT_S * 1000;
	ret->attempts = DNS_ATTEMPTS;
	const char *p = text, *end = text ? text + len : text;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *w, *q = p;
		size_t wl;
		if (next_word(&q, eol, true, &w, &wl)) {
			const char *w2, *q2 = q;
			size_t wl2;
			if (str_eq(w, wl, "nameserver") && next_word(&q2, eol, true, &w2, &wl2))
				conf_nameserver(ret, w2, wl2);
			else if (str_eq(w, wl, "search") && next_word(&q2, eol, true, &w2, &wl2))
				conf_search(ret, q, eol, DNS_MAX_SEARCH);
			else if (str_eq(w, wl, "domain") && next_word(&q2, eol, true, &w2, &wl2))
				conf_search(ret, q, eol, 1);
			else if (str_eq(w, wl, "options"))
				conf_options(ret, q, eol);
		}
		p = eol < end ? eol + 1 : end;
	}
	return (int)ret->n_ns;
}

int dns_candidate(const struct dns_conf *c, const char *name, unsigned i, char *out)
{
	size_t nl = strnlen(name, DNS_NAME_MAX + 2);
	bool absolute = nl > 0 && name[nl - 1] == '.';
	if (absolute)
		nl--;
	if (!valid_name(name, nl))
		return -EINVAL;
	unsigned dots = 0;
	for (size_t k = 0; k < nl; k++)
		dots += name[k] == '.';
	bool as_is_first = absolute || dots >= c->ndots;
	unsigned n_search = c->n_search < DNS_MAX_SEARCH ? c->n_search : DNS_MAX_SEARCH;
	if (absolute)
		n_search = 0;
	unsigned k = 0;
	for (unsigned j = 0; j <= n_search; j++) {
		const char *suffix = as_is_first ? (j == 0 ? NULL : c->search[j - 1])
						 : (j < n_search ? c->search[j] : NULL);
		size_t sl = suffix ? strnlen(suffix, DNS_NAME_MAX + 1) : 0;
		if (suffix && (!valid_name(suffix, sl) || nl + 1 + sl > DNS_NAME_MAX))
			continue; /* too long with it: glibc would fail here; the next may fit */
		if (k++ != i)
			continue;
		memcpy(out, name, nl);
		size_t n = nl;
		if (suffix) {
			out[n++] = '.';
			memcpy(out + n, suffix, sl);
			n += sl;
		}
		out[n] = '\0';
		return (int)n;
	}
	return -ENOENT;
}

/* ---- the files, looked at again at each lookup ----------------------------------------- */

/* A file the resolver reads, with what identified the version it read. */
struct dns_file {
	char *path;
	char *text; /* NULL: absent (or never readable) */
	size_t len;
	bool known; /* the st_* fields below describe text */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

static bool same_version(const struct dns_file *f, const struct stat *st)
{
	return f->known && f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
	       f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Read the file again if it changed (a stat per lookup: lookups are rare, one per name and
 * TTL). true when the text changed. A file that is gone has no text any more; one that
 * exists but cannot be read keeps the text read before (under Landlock, a file replaced by
 * a rename is a new inode the rules do not cover: better the old entries than none). */
static bool file_refresh(struct dns_file *f)
{
	struct stat st;
	if (stat(f->path, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return false;
		bool had = f->text != NULL;
		free(f->text);
		f->text = NULL;
		f->len = 0;
		f->known = false;
		return had;
	}
	if (same_version(f, &st))
		return false;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0) { /* the version read, should it have changed since the stat */
		close(fd);
		return false;
	}
	char *b = xmalloc(DNS_FILE_MAX);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, b + n, DNS_FILE_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == DNS_FILE_MAX) {
			/* Cut at the limit: drop the partial last line, whose last name may be
			 * the prefix of a longer one. */
			while (n > 0 && b[n - 1] != '\n')
				n--;
			break;
		}
	}
	close(fd);
	free(f->text);
	f->text = xrealloc(b, n ? n : 1);
	f->len = n;
	f->known = true;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->ctime = st.st_ctim;
	return true;
}

/* ---- lookups on the loop --------------------------------------------------------------- */

static const uint16_t qtypes[2] = {DNS_TYPE_A, DNS_TYPE_AAAA};

struct dns_query {
	struct dns_query *next;
	struct dns_resolver *r;
	char name[DNS_NAME_MAX + 2];  /* as asked: a final dot makes it absolute */
	char qname[DNS_NAME_MAX + 1]; /* the candidate asked now */
	unsigned cand;                /* its index in dns_candidate's order */
	uint16_t id[2];               /* A, AAAA */
	bool done[2];
	int err[2];
	unsigned sends; /* tries of this candidate, at most attempts x servers */
	unsigned srv;   /* the server of the last try */
	int net_err;    /* the last error sending or from ICMP: reported if nothing answers */
	int neg;        /* why the candidates so far had no address */
	struct dns_answer ans;
	int result;
	struct timer timer;
	struct deferred defer; /* the answer, delivered after the event that made it */
	dns_cb cb;
	void *ctx;
};

/* One nameserver: a connected UDP socket, so the kernel drops datagrams from anyone else
 * and reports the server's ICMP "port unreachable" as ECONNREFUSED. */
struct dns_server {
	struct watcher w; /* fd -1: slot unused */
	struct dns_resolver *r;
};

struct dns_resolver {
	struct loop *loop;
	/* Slots live as long as the resolver: an event still queued in the loop's batch for a
	 * socket closed meanwhile finds the slot, and at worst an fd that has nothing to read. */
	struct dns_server srv[DNS_MAX_NS];
	unsigned n_srv;
	unsigned prefer; /* the server that answered last: new queries start there */
	unsigned rr;     /* `options rotate` */
	struct net_addr override[DNS_MAX_NS]; /* `resolver` */
	unsigned n_override;
	struct net_addr applied[DNS_MAX_NS]; /* the servers last asked for (some may not open) */
	unsigned n_applied;
	struct dns_conf conf;
	struct dns_file rc, hosts;
	struct timer_list t_retry;
	struct dns_query *queries; /* waiting for the network */
	uint32_t rand;
};

static uint16_t next_id(struct dns_resolver *r)
{
	/* xorshift32, seeded from getrandom: ids an off-path sender cannot guess in sequence. */
	uint32_t x = r->rand;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	r->rand = x;
	return (uint16_t)(x >> 8);
}

static void query_unlink(struct dns_query *q)
{
	for (struct dns_query **pp = &q->r->queries; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			return;
		}
	}
}

static void on_query_answer(struct deferred *d)
{
	struct dns_query *q = container_of(d, struct dns_query, defer);
	q->cb(q->ctx, q->result, q->ans.addrs, q->ans.lens, q->result ? 0 : q->ans.n, q->ans.ttl);
	free(q);
}

/* The lookup is over: its callback runs after the current batch of events, so that nothing
 * the caller does in it (a new lookup, a reload's new servers) runs inside the resolver. */
static void query_finish(struct dns_query *q, int err)
{
	timer_cancel(&q->timer);
	query_unlink(q);
	q->result = q->ans.n > 0 ? 0 : err ? err : -ENOENT;
	q->defer.fn = on_query_answer;
	loop_defer(q->r->loop, &q->defer);
}

static unsigned max_sends(const struct dns_resolver *r)
{
	return r->conf.attempts * (r->n_srv ? r->n_srv : 1);
}

static unsigned first_server(struct dns_resolver *r)
{
	if (r->n_srv == 0)
		return 0;
	return (r->prefer + (r->conf.rotate ? r->rr++ : 0)) % r->n_srv;
}

static void query_candidate_done(struct dns_query *q);

/* Send the unanswered types to server q->srv; when that fails at once, to the next one. */
static void query_try(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	while (q->sends < max_sends(r)) {
		q->sends++;
		bool sent = false, refused = false;
		int fd = q->srv < r->n_srv ? r->srv[q->srv].w.fd : -1;
		for (int i = 0; i < 2 && fd >= 0; i++) {
			if (q->done[i])
				continue;
			uint8_t msg[DNS_MSG_MAX];
			ssize_t n =
			    dns_build_query(q->id[i], q->qname, qtypes[i], msg, sizeof(msg));
			if (n > 0 && send(fd, msg, (size_t)n, MSG_NOSIGNAL) == n) {
				sent = true;
			} else if (n > 0) {
				q->net_err = -errno;
				/* The ICMP of the server's closed port, often back before the
				 * next send (loopback, a local bridge): no use waiting there. */
				refused |= errno == ECONNREFUSED;
			}
		}
		if (sent && !refused) {
			timer_arm(r->loop, &r->t_retry, &q->timer);
			return;
		}
		q->srv = r->n_srv ? (q->srv + 1) % r->n_srv : 0;
	}
	query_candidate_done(q);
}

static void query_start_candidate(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	/* By index into the current search list: a resolv.conf changed meanwhile applies from
	 * the next candidate on, and the query keeps one name, not the whole list. */
	if (dns_candidate(&r->conf, q->name, q->cand, q->qname) < 0) {
		query_finish(q, q->neg);
		return;
	}
	memset(&q->ans, 0, sizeof(q->ans));
	q->done[0] = q->done[1] = false;
	q->err[0] = q->err[1] = 0;
	q->sends = 0;
	q->net_err = 0;
	q->id[0] = next_id(r);
	do /* distinct: an answer is matched to its type by id */
		q->id[1] = next_id(r);
	while (q->id[1] == q->id[0]);
	q->srv = first_server(r);
	query_try(q);
}

/* Both types answered, or the tries are used up: an address ends the lookup; a name that
 * is not there (NXDOMAIN or NODATA, or SERVFAIL as glibc) moves on to the next candidate,
 * even if the other type went unanswered (some servers drop AAAA queries); no answer at
 * all, or a truncated one without an address, ends it. */
static void query_candidate_done(struct dns_query *q)
{
	timer_cancel(&q->timer);
	if (q->ans.n > 0) {
		query_finish(q, 0);
		return;
	}
	bool answered = false, truncated = false;
	for (int i = 0; i < 2; i++) {
		if (!q->done[i])
			continue;
		answered = true;
		if (q->err[i] == -EMSGSIZE)
			truncated = true;
		else if (q->err[i] == 0 || q->err[i] == -ENOENT)
			q->neg = -ENOENT;
		else if (q->neg == 0)
			q->neg = q->err[i];
	}
	if (truncated || !answered) {
		query_finish(q, truncated ? -EMSGSIZE : q->net_err ? q->net_err : -ETIMEDOUT);
		return;
	}
	q->cand++;
	query_start_candidate(q);
}

static void on_query_timeout(struct loop *l, struct timer *t)
{
	struct dns_query *q = container_of(t, struct dns_query, timer);
	struct dns_resolver *r = q->r;
	if (q->sends >= max_sends(r)) {
		query_candidate_done(q);
		return;
	}
	q->srv = r->n_srv ? (q->srv + 1) % r->n_srv : 0;
	query_try(q);
}

static void on_message(struct dns_resolver *r, unsigned si, const uint8_t *msg, size_t len)
{
	uint16_t id = get16(msg);
	for (struct dns_query *q = r->queries; q; q = q->next) {
		int i = q->id[0] == id ? 0 : q->id[1] == id ? 1 : -1;
		if (i < 0 || q->done[i])
			continue;
		int e = dns_parse_response(msg, len, id, q->qname, qtypes[i], &q->ans);
		if (e == -EBADMSG)
			continue; /* not an answer to this query; maybe to one with the same id */
		if (e == -EAGAIN) {
			/* SERVFAIL, REFUSED: another server may do better (glibc moves on too). A
			 * late one from a server this query has left says nothing new. */
			if (si != q->srv)
				return;
			q->err[i] = e;
			if (r->n_srv > 1 && q->sends < max_sends(r)) {
				q->srv = (si + 1) % r->n_srv;
				query_try(q);
				return;
			}
		} else {
			r->prefer = si;
		}
		q->done[i] = true;
		q->err[i] = e;
		if (q->done[0] && q->done[1])
			query_candidate_done(q);
		return;
	}
}

/* The server's port is closed (ICMP): the queries waiting on it go on to the next server
 * now rather than after their timeout. */
static void on_refused(struct dns_resolver *r, unsigned si)
{
	struct dns_query *next;
	for (struct dns_query *q = r->queries; q; q = next) {
		next = q->next; /* q may finish (unlinked); the others stay */
		if (q->srv != si || !timer_armed(&q->timer))
			continue;
		q->net_err = -ECONNREFUSED;
		if (q->sends >= max_sends(r)) {
			query_candidate_done(q);
			continue;
		}
		q->srv = r->n_srv ? (si + 1) % r->n_srv : 0;
		query_try(q);
	}
}

static void on_dns_readable(struct loop *l, struct watcher *w, uint32_t events)
{
	struct dns_server *s = container_of(w, struct dns_server, w);
	struct dns_resolver *r = s->r;
	unsigned si = (unsigned)(s - r->srv);
	uint8_t msg[4096];
	while (w->fd >= 0) {
		ssize_t n = recv(w->fd, msg, sizeof(msg), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED && si < r->n_srv) {
				on_refused(r, si);
				continue;
			}
			return; /* EAGAIN */
		}
		if (n >= 12)
			on_message(r, si, msg, (size_t)n);
	}
}

static int open_server(const struct net_addr *a)
{
	int fd = socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static bool addrs_equal(const struct net_addr *a, unsigned na, const struct net_addr *b,
			unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (!net_addr_equal(&a[i], &b[i]))
			return false;
	return true;
}

/* Use the servers wanted now (`resolver`, else resolv.conf's, else the fallback), if they
 * are not the ones in use: open them, close the old ones, and send the lookups in flight
 * again to the new ones, with their full tries. A server that cannot be opened (no IPv6,
 * no route) is left out; if none can, the old ones stay and -errno is returned. */
static int servers_apply(struct dns_resolver *r)
{
	struct net_addr fallback;
	const struct net_addr *want = r->override;
	unsigned n = r->n_override;
	if (n == 0) {
		want = r->conf.ns;
		n = r->conf.n_ns;
	}
	if (n == 0) {
		net_addr_parse(DNS_FALLBACK_NS, &fallback);
		fallback.type = SOCK_DGRAM;
		want = &fallback;
		n = 1;
	}
	if (n > DNS_MAX_NS)
		n = DNS_MAX_NS;
	if (r->n_srv > 0 && addrs_equal(want, n, r->applied, r->n_applied))
		return 0;
	int fds[DNS_MAX_NS];
	unsigned m = 0;
	int err = -EINVAL;
	for (unsigned i = 0; i < n && i < DNS_MAX_NS; i++) {
		int fd = open_server(&want[i]);
		if (fd < 0) {
			err = fd;
			continue;
		}
		fds[m++] = fd;
	}
	if (m == 0)
		return err;
	for (unsigned i = 0; i < DNS_MAX_NS; i++) {
		if (r->srv[i].w.fd >= 0)
			close(r->srv[i].w.fd);
		r->srv[i].w.fd = -1;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < m; i++) {
		r->srv[k].w.fd = fds[i];
		if (loop_add(r->loop, &r->srv[k].w, EPOLLIN | EPOLLET) < 0) {
			err = -ENOMEM;
			close(fds[i]);
			r->srv[k].w.fd = -1;
			continue;
		}
		k++;
	}
	memcpy(r->applied, want, n * sizeof(want[0]));
	r->n_applied = n;
	r->n_srv = k;
	r->prefer = 0;
	struct dns_query *next;
	for (struct dns_query *q = r->queries; q; q = next) {
		next = q->next;
		q->sends = 0;
		q->srv = first_server(r);
		query_try(q);
	}
	return k > 0 ? 0 : err;
}

/* At each lookup: both files again if they changed; new servers if resolv.conf's did. */
static void resolver_refresh(struct dns_resolver *r)
{
	file_refresh(&r->hosts);
	if (file_refresh(&r->rc)) {
		dns_conf_parse(r->rc.text, r->rc.len, &r->conf);
		/* Applies to tries armed from now on (as the proxy's timeouts on a reload). */
		r->t_retry.duration_ms = r->conf.timeout_ms;
	}
	/* Also when nothing changed: servers that could not be opened are tried again. */
	servers_apply(r);
}

int dns_resolver_new(struct loop *l, const struct dns_setup *s, struct dns_resolver **ret)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->loop = l;
	for (unsigned i = 0; i < DNS_MAX_NS; i++) {
		r->srv[i].w.fd = -1;
		r->srv[i].w.cb = on_dns_readable;
		r->srv[i].r = r;
	}
	r->n_override = s->n_servers < DNS_MAX_NS ? s->n_servers : DNS_MAX_NS;
	if (r->n_override)
		memcpy(r->override, s->servers, r->n_override * sizeof(r->override[0]));
	r->rc.path = xstrdup(s->resolv_conf ? s->resolv_conf : "/etc/resolv.conf");
	r->hosts.path = xstrdup(s->hosts ? s->hosts : "/etc/hosts");
	file_refresh(&r->rc);
	file_refresh(&r->hosts);
	dns_conf_parse(r->rc.text, r->rc.len, &r->conf);
	loop_timer_list_init(l, &r->t_retry, r->conf.timeout_ms);
	int e = servers_apply(r);
	if (e < 0) {
		dns_resolver_free(r);
		return e;
	}
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed) || seed == 0)
		seed = (uint32_t)(uintptr_t)r ^ (uint32_t)l->now_ms ^ 0x9e3779b9u;
	r->rand = seed ? seed : 1;
	*ret = r;
	return 0;
}

int dns_resolver_set_servers(struct dns_resolver *r, const struct net_addr *servers, unsigned n)
{
	r->n_override = n < DNS_MAX_NS ? n : DNS_MAX_NS;
	if (r->n_override)
		memcpy(r->override, servers, r->n_override * sizeof(r->override[0]));
	if (r->n_override == 0 && file_refresh(&r->rc)) {
		/* Back to resolv.conf's servers: as they are now. */
		dns_conf_parse(r->rc.text, r->rc.len, &r->conf);
		r->t_retry.duration_ms = r->conf.timeout_ms;
	}
	return servers_apply(r);
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
	for (unsigned i = 0; i < DNS_MAX_NS; i++)
		if (r->srv[i].w.fd >= 0)
			close(r->srv[i].w.fd);
	free(r->rc.path);
	free(r->rc.text);
	free(r->hosts.path);
	free(r->hosts.text);
	free(r);
}

int dns_resolve(struct dns_resolver *r, const char *name, dns_cb cb, void *ctx)
{
	if (strnlen(name, DNS_NAME_MAX + 2) > DNS_NAME_MAX + 1)
		return -EINVAL;
	resolver_refresh(r);
	char first[DNS_NAME_MAX + 1];
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->r = r;
	strcpy(q->name, name);
	q->cb = cb;
	q->ctx = ctx;
	q->timer.cb = on_query_timeout;
	/* /etc/hosts: the name as given, as glibc's files backend (no search domains). */
	if (r->hosts.text && dns_hosts_lookup(r->hosts.text, r->hosts.len, name, &q->ans) > 0) {
		q->ans.ttl = DNS_HOSTS_TTL; /* look at the file again soon */
		q->result = 0;
		q->defer.fn = on_query_answer;
		loop_defer(r->loop, &q->defer);
		return 0;
	}
	int e = dns_candidate(&r->conf, name, 0, first);
	if (e < 0) {
		free(q);
		return e;
	}
	q->next = r->queries;
	r->queries = q;
	query_start_candidate(q);
	return 0;
}
