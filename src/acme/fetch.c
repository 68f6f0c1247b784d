/* HTTPS/1.1 requests to the ACME CA on an event loop (fetch.h). One request's states:
 *
 *   state      waits for                         then
 *   IDLE       acme_fetch_request                RESOLVE (a name) or CONNECT (an address)
 *   RESOLVE    the resolver's callback           CONNECT to each address in turn
 *   CONNECT    the socket writable (SO_ERROR)    HANDSHAKE; refused: the next address
 *   HANDSHAKE  what GnuTLS wants (x->want)       SEND
 *   SEND       the socket writable               RECV
 *   RECV       readable, until the end of the    IDLE: the callback (the response, or an
 *              body (its length) or EOF          error with its reason)
 *
 * The timer covers the whole request. It never cuts a lookup short: the resolver's own
 * timeouts end it, so that no answer can come for a request that is over (the callback's
 * context is this object); the request then fails as timed out. Errors found before any
 * I/O are delivered through loop_defer, so the callback never runs inside
 * acme_fetch_request. */
#include "acme/fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>

#include "acme/parse.h"
#include "base/macro.h"
#include "base/xalloc.h"
#include "event/loop.h"
#include "http/chunked.h"
#include "http/response.h"
#include "net/addr.h"
#include "net/dns.h"
#include "xport/tls.h"
#include "xport/xport.h"

#define HEAD_MAX (64 * 1024)
#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

enum fetch_state { F_IDLE, F_RESOLVE, F_CONNECT, F_HANDSHAKE, F_SEND, F_RECV };

struct acme_fetch {
	struct loop *loop;
	gnutls_certificate_credentials_t cred;
	struct dns_resolver *dns; /* made by the first name to resolve */
	unsigned timeout_ms;

	/* the request in flight */
	enum fetch_state state;
	const char *method;
	char host[ACME_URL_HOST_MAX + 1], port[8], authority[ACME_URL_HOST_MAX + 9];
	uint16_t port_n;
	struct net_addr addrs[DNS_MAX_ADDRS];
	unsigned n_addrs, cur;
	int connect_err;    /* the last address's failure */
	bool timed_out;     /* while resolving: fail when the answer comes */
	struct xport tcp;   /* the socket, until TLS owns it */
	struct xport *xp;   /* &tcp, then the TLS transport */
	struct watcher w;
	bool registered;
	uint32_t events;    /* what w waits for */
	struct timer timer;
	struct buf out;     /* the request */
	size_t out_off;
	struct buf in;      /* the response as read */
	struct acme_resp *resp;
	struct buf *err;
	acme_fetch_cb *cb;
	void *ctx;
	int result;         /* for a failure delivered later */
	struct deferred later, kick;
};

void acme_resp_init(struct acme_resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, ACME_FETCH_BODY_MAX + 1);
}

void acme_resp_free(struct acme_resp *r)
{
	buf_free(&r->body);
}

static void on_event(struct loop *l, struct watcher *w, uint32_t events);
static void on_timeout(struct loop *l, struct timer *t);
static void on_later(struct deferred *d);
static void on_kick(struct deferred *d);

int acme_fetch_new(struct loop *l, const char *ca_root, unsigned timeout_ms, struct buf *err,
		   struct acme_fetch **ret)
{
	int r = xport_tls_client_init(err);
	if (r < 0)
		return r;
	struct acme_fetch *f = xcalloc(1, sizeof(*f));
	f->loop = l;
	f->timeout_ms = timeout_ms;
	xport_tcp_init(&f->tcp, -1);
	f->w.fd = -1;
	f->w.cb = on_event;
	f->timer.cb = on_timeout;
	f->later.fn = on_later;
	f->kick.fn = on_kick;
	buf_init(&f->out, ACME_FETCH_BODY_MAX + 8192);
	buf_init(&f->in, ACME_FETCH_BODY_MAX + HEAD_MAX);
	if (gnutls_certificate_allocate_credentials(&f->cred) < 0) {
		f->cred = NULL;
		acme_fetch_free(f);
		return -ENOMEM;
	}
	r = ca_root ? gnutls_certificate_set_x509_trust_file(f->cred, ca_root,
							     GNUTLS_X509_FMT_PEM)
		    : gnutls_certificate_set_x509_system_trust(f->cred);
	/* the static build has no p11-kit (xport/p11kit_stub.c), which Debian's GnuTLS asks
	 * for the system's trust: read Debian's bundle then */
	if (!ca_root && r <= 0)
		r = gnutls_certificate_set_x509_trust_file(f->cred, SYSTEM_BUNDLE,
							   GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		buf_printf(err, "%s: %s", ca_root ? ca_root : "the system's trusted CAs",
			   r == 0 ? "no certificate in it" : gnutls_strerror(r));
		acme_fetch_free(f);
		return -EINVAL;
	}
	*ret = f;
	return 0;
}

static void conn_close(struct acme_fetch *f)
{
	if (f->registered)
		loop_del(f->loop, &f->w);
	f->registered = false;
	if (f->xp)
		f->xp->ops->close(f->xp);
	else if (f->tcp.fd >= 0)
		f->tcp.ops->close(&f->tcp);
	f->xp = NULL;
	f->tcp.fd = -1;
	f->w.fd = -1;
}

void acme_fetch_free(struct acme_fetch *f)
{
	if (!f)
		return;
	timer_cancel(&f->timer);
	conn_close(f);
	dns_resolver_free(f->dns);
	if (f->cred)
		gnutls_certificate_free_credentials(f->cred);
	buf_free(&f->out);
	buf_free(&f->in);
	free(f);
}

/* The request is over: the connection closed, then the caller told. */
static void finish(struct acme_fetch *f, int r)
{
	timer_cancel(&f->timer);
	conn_close(f);
	f->state = F_IDLE;
	buf_reset(&f->out);
	buf_reset(&f->in);
	f->cb(f->ctx, r);
}

static void on_later(struct deferred *d)
{
	struct acme_fetch *f = container_of(d, struct acme_fetch, later);
	finish(f, f->result);
}

static void fail_later(struct acme_fetch *f, int r)
{
	f->result = r;
	loop_defer(f->loop, &f->later);
}

static void add_addr(struct acme_fetch *f, const struct sockaddr_storage *ss, socklen_t len)
{
	if (f->n_addrs >= DNS_MAX_ADDRS ||
	    (ss->ss_family != AF_INET && ss->ss_family != AF_INET6))
		return;
	struct net_addr *a = &f->addrs[f->n_addrs++];
	memset(a, 0, sizeof(*a));
	memcpy(&a->sa, ss, len);
	a->len = len;
	a->family = ss->ss_family;
	a->type = SOCK_STREAM;
	if (a->family == AF_INET)
		((struct sockaddr_in *)&a->sa)->sin_port = htons(f->port_n);
	else
		((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(f->port_n);
}

static void wait_for(struct acme_fetch *f, unsigned want)
{
	uint32_t ev = (want & XPORT_WANT_READ ? EPOLLIN : 0) |
		      (want & XPORT_WANT_WRITE ? EPOLLOUT : 0);
	if (!ev)
		ev = EPOLLIN;
	if (f->registered && ev == f->events)
		return;
	int r = f->registered ? loop_mod(f->loop, &f->w, ev) : loop_add(f->loop, &f->w, ev);
	if (r < 0) {
		buf_printf(f->err, "%s: cannot watch the socket: %s", f->authority, strerror(-r));
		finish(f, r);
		return;
	}
	f->registered = true;
	f->events = ev;
}

static void step(struct acme_fetch *f);

/* Connect to the next address; all of them failed: the request does. */
static void try_connect(struct acme_fetch *f)
{
	while (f->cur < f->n_addrs) {
		int r = xport_tcp_connect(&f->tcp, &f->addrs[f->cur++]);
		if (r < 0) {
			f->connect_err = -r;
			continue;
		}
		f->w.fd = f->tcp.fd;
		f->state = F_CONNECT;
		if (r == 0) {
			wait_for(f, XPORT_WANT_WRITE);
			return;
		}
		step(f);
		return;
	}
	buf_printf(f->err, "connect %s port %s: %s", f->host, f->port,
		   strerror(f->connect_err ? f->connect_err : ECONNREFUSED));
	finish(f, -(f->connect_err ? f->connect_err : ECONNREFUSED));
}

static void on_kick(struct deferred *d)
{
	try_connect(container_of(d, struct acme_fetch, kick));
}

static void on_resolved(void *ctx, int err, const struct sockaddr_storage *addrs,
			const socklen_t *lens, unsigned n, uint32_t ttl_s)
{
	struct acme_fetch *f = ctx;
	if (f->timed_out) {
		buf_printf(f->err, "resolve %s: no answer in %u s", f->host, f->timeout_ms / 1000);
		finish(f, -ETIMEDOUT);
		return;
	}
	for (unsigned i = 0; err == 0 && i < n; i++)
		add_addr(f, &addrs[i], lens[i]);
	if (err < 0 || f->n_addrs == 0) {
		buf_printf(f->err, "resolve %s: %s", f->host,
			   err == -ENOENT || err == 0 ? "no such name" : strerror(-err));
		finish(f, -EHOSTUNREACH);
		return;
	}
	try_connect(f);
}

static void copy_field(char *out, size_t size, const struct http_header *h)
{
	size_t n = h->value_len < size - 1 ? h->value_len : size - 1;
	memcpy(out, h->value, n);
	out[n] = '\0';
}

/* What was read: the head (after interim responses) and where the body starts. 0 when the
 * head is not all there yet, > 0 its length, -EBADMSG. */
static ssize_t head_of(struct acme_fetch *f, struct http_response *hr, size_t *ret_off)
{
	static const struct http_response_limits lim = {HEAD_MAX, 100};
	size_t off = 0;
	for (;;) {
		ssize_t head = http_parse_response(f->in.data + off, f->in.len - off, &lim, hr);
		if (head <= 0) {
			if (head == 0 && f->in.len - off > HEAD_MAX)
				return -EBADMSG;
			return head < 0 ? -EBADMSG : 0;
		}
		if (!http_response_is_interim(hr)) {
			*ret_off = off;
			return head;
		}
		off += (size_t)head;
	}
}

static int framing_of(const struct acme_fetch *f, const struct http_response *hr)
{
	return http_response_framing(hr, strcmp(f->method, "HEAD") == 0 ? HTTP_M_HEAD : HTTP_M_POST,
				     false);
}

/* The whole response is in (its length says so) before the server closes. */
static bool complete(struct acme_fetch *f, struct http_response *hr)
{
	size_t off;
	ssize_t head = head_of(f, hr, &off);
	if (head <= 0)
		return false;
	int framing = framing_of(f, hr);
	if (framing == HTTP_FRAMING_NONE)
		return true;
	return framing == HTTP_FRAMING_LENGTH &&
	       (uint64_t)hr->content_length <= f->in.len - off - (size_t)head;
}

/* The head and the body of what was read (eof: the server closed). */
static int parse_reply(struct acme_fetch *f, struct http_response *hr, bool eof)
{
	struct acme_resp *resp = f->resp;
	size_t off = 0;
	ssize_t head = head_of(f, hr, &off);
	if (head <= 0) {
		buf_printf(f->err, "%s: %s", f->authority,
			   head == 0 ? "the response ended before its head did"
				     : "malformed response head");
		return -EBADMSG;
	}
	resp->status = hr->status;
	for (size_t i = 0; i < hr->n_headers; i++) {
		const struct http_header *h = &hr->headers[i];
#define IS(n) (h->name_len == sizeof(n) - 1 && strncasecmp(h->name, n, h->name_len) == 0)
		if (IS("Replay-Nonce"))
			copy_field(resp->nonce, sizeof(resp->nonce), h);
		else if (IS("Location"))
			copy_field(resp->location, sizeof(resp->location), h);
		else if (IS("Content-Type"))
			copy_field(resp->content_type, sizeof(resp->content_type), h);
		else if (IS("Retry-After"))
			resp->has_retry_after = acme_retry_after(h->value, h->value_len,
								 time(NULL),
								 &resp->retry_after_s) == 0;
#undef IS
	}
	int framing = framing_of(f, hr);
	char *body = f->in.data + off + (size_t)head;
	size_t blen = f->in.len - off - (size_t)head;
	int r = 0;
	if (framing == HTTP_FRAMING_LENGTH) {
		if ((uint64_t)hr->content_length > blen) {
			buf_printf(f->err, "%s: the response body was cut short", f->authority);
			r = -EBADMSG;
		} else {
			blen = (size_t)hr->content_length;
		}
	} else if (framing == HTTP_FRAMING_CHUNKED) {
		struct http_chunked ch;
		size_t data = 0;
		http_chunked_init(&ch);
		if (http_chunked_decode(&ch, body, blen, &data) < 0 || !http_chunked_done(&ch)) {
			buf_printf(f->err, "%s: bad chunked response body", f->authority);
			r = -EBADMSG;
		}
		blen = data;
	} else if (framing == HTTP_FRAMING_NONE) {
		blen = 0;
	} else if (framing < 0 || framing == HTTP_FRAMING_TUNNEL || !eof) {
		buf_printf(f->err, "%s: unexpected response framing", f->authority);
		r = -EBADMSG;
	}
	if (r == 0 && (buf_append(&resp->body, body, blen) < 0 || buf_cstr(&resp->body) < 0)) {
		buf_printf(f->err, "%s: response body larger than %d bytes", f->authority,
			   ACME_FETCH_BODY_MAX);
		r = -EFBIG;
	}
	return r;
}

static void done_reading(struct acme_fetch *f, bool eof)
{
	struct http_response *hr = xmalloc(sizeof(*hr));
	int r = parse_reply(f, hr, eof);
	free(hr);
	finish(f, r);
}

/* Run the request as far as the socket lets it. */
static void step(struct acme_fetch *f)
{
	if (f->state == F_CONNECT) {
		int e = xport_tcp_connected(&f->tcp);
		if (e < 0) {
			f->connect_err = -e;
			if (f->registered)
				loop_del(f->loop, &f->w);
			f->registered = false;
			f->tcp.ops->close(&f->tcp);
			f->tcp.fd = -1;
			try_connect(f);
			return;
		}
		int r = xport_tls_client_open(f->cred, f->tcp.fd, f->host, &f->xp);
		if (r < 0) {
			buf_printf(f->err, "TLS to %s: %s", f->authority, strerror(-r));
			finish(f, r);
			return;
		}
		f->state = F_HANDSHAKE;
	}
	if (f->state == F_HANDSHAKE) {
		int r = f->xp->ops->handshake(f->xp);
		if (r == -EAGAIN) {
			wait_for(f, f->xp->want);
			return;
		}
		if (r < 0) {
			buf_printf(f->err, "TLS to %s: %s", f->authority, xport_tls_error(f->xp));
			finish(f, -EPROTO);
			return;
		}
		f->state = F_SEND;
	}
	while (f->state == F_SEND) {
		if (f->out_off == f->out.len) {
			f->state = F_RECV;
			break;
		}
		ssize_t n = xport_write(f->xp, f->out.data + f->out_off, f->out.len - f->out_off,
					false);
		if (n == -EAGAIN) {
			wait_for(f, f->xp->want);
			return;
		}
		if (n < 0) {
			buf_printf(f->err, "send to %s: %s", f->authority, strerror((int)-n));
			finish(f, (int)n);
			return;
		}
		f->out_off += (size_t)n;
	}
	for (;;) { /* F_RECV */
		if (buf_reserve(&f->in, 16384) < 0 && buf_reserve(&f->in, 1) < 0) {
			buf_printf(f->err, "response from %s larger than %d bytes", f->authority,
				   ACME_FETCH_BODY_MAX);
			finish(f, -EFBIG);
			return;
		}
		ssize_t n = xport_read(f->xp, f->in.data + f->in.len, buf_space(&f->in));
		if (n == 0) {
			done_reading(f, true);
			return;
		}
		if (n == -EAGAIN) {
			if (xport_pending(f->xp))
				continue;
			wait_for(f, f->xp->want);
			return;
		}
		if (n < 0) {
			buf_printf(f->err, "read from %s: %s", f->authority, strerror((int)-n));
			finish(f, (int)n);
			return;
		}
		f->in.len += (size_t)n;
		struct http_response *hr = xmalloc(sizeof(*hr));
		bool all = complete(f, hr);
		free(hr);
		if (all) {
			done_reading(f, false);
			return;
		}
	}
}

static void on_event(struct loop *l, struct watcher *w, uint32_t events)
{
	struct acme_fetch *f = container_of(w, struct acme_fetch, w);
	if (f->state != F_IDLE && f->state != F_RESOLVE)
		step(f);
}

static void on_timeout(struct loop *l, struct timer *t)
{
	struct acme_fetch *f = container_of(t, struct acme_fetch, timer);
	unsigned s = f->timeout_ms / 1000;
	switch (f->state) {
	case F_RESOLVE:
		f->timed_out = true; /* the resolver's answer ends it */
		return;
	case F_CONNECT:
		buf_printf(f->err, "connect %s port %s: no connection in %u s", f->host, f->port, s);
		break;
	case F_HANDSHAKE:
		buf_printf(f->err, "TLS to %s: no handshake in %u s", f->authority, s);
		break;
	default:
		buf_printf(f->err, "%s: no answer in %u s", f->authority, s);
		break;
	}
	finish(f, -ETIMEDOUT);
}

void acme_fetch_request(struct acme_fetch *f, const char *method, const char *url,
			const char *content_type, const char *body, size_t len,
			struct acme_resp *resp, struct buf *err, acme_fetch_cb *cb, void *ctx)
{
	struct acme_url u;
	f->method = method;
	f->resp = resp;
	f->err = err;
	f->cb = cb;
	f->ctx = ctx;
	f->n_addrs = f->cur = 0;
	f->connect_err = 0;
	f->timed_out = false;
	f->out_off = 0;
	buf_reset(&f->out);
	buf_reset(&f->in);
	buf_reset(&resp->body);
	resp->status = 0;
	resp->nonce[0] = resp->location[0] = resp->content_type[0] = '\0';
	resp->has_retry_after = false;
	size_t ulen = strlen(url);
	if (ulen >= ACME_FETCH_URL_MAX || acme_url_parse(url, ulen, &u) < 0) {
		buf_printf(err, "not an https:// URL: %.200s", url);
		fail_later(f, -EINVAL);
		return;
	}
	memcpy(f->host, u.host, sizeof(f->host));
	memcpy(f->authority, u.authority, sizeof(f->authority));
	f->port_n = u.port;
	snprintf(f->port, sizeof(f->port), "%u", u.port);
	buf_printf(&f->out,
		   "%s %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ferry/%s (acme)\r\n"
		   "Accept: */*\r\nConnection: close\r\n",
		   method, u.path_len && u.path[0] == '/' ? "" : "/", (int)u.path_len, u.path,
		   f->authority, FERRY_VERSION);
	if (body)
		buf_printf(&f->out, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type,
			   len);
	if (buf_appends(&f->out, "\r\n") < 0 || (body && buf_append(&f->out, body, len) < 0)) {
		buf_printf(err, "request to %s too large", f->authority);
		fail_later(f, -EFBIG);
		return;
	}
	timer_arm_at(f->loop, &f->timer, f->loop->now_ms + f->timeout_ms);
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, f->host, &v4->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		add_addr(f, &ss, sizeof(*v4));
	} else if (inet_pton(AF_INET6, f->host, &v6->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		add_addr(f, &ss, sizeof(*v6));
	}
	if (f->n_addrs) { /* an address: no lookup, the connect from the loop */
		f->state = F_CONNECT;
		loop_defer(f->loop, &f->kick);
		return;
	}
	if (!f->dns) {
		struct dns_setup s = {
			/* the proxy's test hooks (tests/integration/test_dns.py, test_acme.py):
			 * never set them in production */
			.resolv_conf = getenv("FERRY_INSECURE_TEST_RESOLV_CONF"),
			.hosts = getenv("FERRY_INSECURE_TEST_HOSTS"),
		};
		int r = dns_resolver_new(f->loop, &s, &f->dns);
		if (r < 0) {
			f->dns = NULL;
			buf_printf(err, "resolve %s: no resolver: %s", f->host, strerror(-r));
			timer_cancel(&f->timer);
			fail_later(f, r);
			return;
		}
	}
	f->state = F_RESOLVE;
	int r = dns_resolve(f->dns, f->host, on_resolved, f);
	if (r < 0) {
		buf_printf(err, "resolve %s: not a name: %s", f->host, strerror(-r));
		timer_cancel(&f->timer);
		f->state = F_IDLE;
		fail_later(f, r);
	}
}
