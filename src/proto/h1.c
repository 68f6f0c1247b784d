/* The HTTP/1.1 protocol: reading and parsing requests, discarding bodies, handing requests
 * to the handler routing chose, serializing responses (status line, Date, Connection,
 * Content-Length), keep-alive, pipelining, timeouts and lingering close. Every byte goes
 * through the connection's transport (xport/). The state table is in h1.h. */
#include "base/macro.h"
#include "base/timeutil.h"
#include "proto/h1.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "core/fdstore.h"
#include "core/server.h"
#include "http/chunked.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"
#include "http/status.h"
#include "net/addr.h"
#include "net/cidr.h"
#include "net/proxyproto.h"
#include "proto/accesslog.h"
#include "proto/h2.h"
#include "xport/tls.h"
#include "xport/xport.h"

#define CONN_IN_INITIAL 4096 /* also the size of the pooled blocks */
#define CONN_OUT_MAX 16384
#define H1_SPARE_MAX 32 /* pooled request structs and 4 KiB blocks per worker */
#define CONN_LINGER_MS 2000
#define CONN_DISCARD_MAX (64ull << 20) /* a larger body for a static file: 413 (chunked too) */

enum conn_state {
	CS_PPHDR,
	CS_HANDSHAKE,
	CS_HEAD,
	CS_BODY,
	CS_WRITE,
	CS_LINGER,
	CS_PROXY,
	CS_CLOSED
};

/* Per worker: what idle connections gave back, so that a keep-alive connection holds no
 * buffer while it waits and the next request costs no malloc. */
struct h1_worker {
	struct http_request *spare_req[H1_SPARE_MAX];
	unsigned n_spare_req;
	char *spare_block[H1_SPARE_MAX];
	unsigned n_spare_block;
};

struct http_conn {
	struct http_exchange x; /* first: the handler's view of the request in flight */
	struct watcher w;
	struct xport *xp; /* the transport: &tcp, or a TLS one */
	struct xport tcp;
	struct conn_link link;
	struct worker *wk;
	struct timer timer;
	struct timer body_deadline; /* BODY: body-total-timeout, armed once for the whole body */
	struct deferred defer;
	enum conn_state state;
	bool readable, writable;
	bool peer_shut; /* epoll reported EPOLLRDHUP/HUP: an EOF is queued, reported once */
	bool out_watched; /* EPOLLOUT is registered (only once a write has blocked) */
	bool keep_alive;  /* for the current response */
	bool force_close; /* set by a handler or by graceful stop */
	bool is_head;     /* HEAD request: no body bytes */
	bool chunked;
	bool stopping;
	bool processing; /* inside conn_process (a handler's callback must not re-enter it) */
	bool tls;        /* the listener's: TLS after the PROXY header, if any */
	const struct listener *l; /* accepted on it (NULL: Accept=yes / inetd) */
	unsigned served; /* responses completed on this connection */

	struct sockaddr_storage peer;
	socklen_t peer_len;

	struct buf in;
	size_t head_len;   /* of the request being handled */
	uint64_t body_left; /* Content-Length bytes still to drop; chunked: bytes still allowed */
	struct http_chunked ch;
	/* A streamed request body (CS_PROXY): how it is framed, and how many decoded bytes
	 * wait at in.data + head_len (the raw bytes after them are not decoded yet). */
	enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_RAW } body_mode;
	size_t body_dec;
	struct http_request *req; /* the parsed head of the request in flight (owned), or NULL */

	struct buf out;
	const char *body_mem;
	size_t body_mem_len;
	void *body_owned; /* http_resp_body_owned: freed once sent (or with the conn) */
	int file_fd;
	off_t file_off, file_end;

	int status;
	uint64_t body_bytes; /* body bytes promised, for the access log */
	size_t interim_at;   /* where the interim head being written starts in out */
	int interim_status;
	bool interim_drop;   /* it is not for this client (HTTP/1.0): dropped at its end */
	bool resp_chunked;   /* http_x_send frames the body as chunks */

	/* CS_PROXY: the streaming handler that has the connection */
	const struct http_stream_cb *stream_cb;
	void *stream_arg;
};

static struct h1_worker *h1w(struct worker *wk)
{
	return worker_slot(wk, WORKER_SLOT_H1, sizeof(struct h1_worker));
}

void h1_worker_exit(struct worker *wk)
{
	struct h1_worker *w = wk->app_data[WORKER_SLOT_H1];
	if (!w)
		return;
	while (w->n_spare_req)
		free(w->spare_req[--w->n_spare_req]);
	while (w->n_spare_block)
		free(w->spare_block[--w->n_spare_block]);
	free(w);
	wk->app_data[WORKER_SLOT_H1] = NULL;
}

static struct http_request *req_get(struct worker *wk)
{
	struct h1_worker *w = h1w(wk);
	if (w->n_spare_req)
		return w->spare_req[--w->n_spare_req];
	return xmalloc(sizeof(struct http_request));
}

static void req_put(struct worker *wk, struct http_request *req)
{
	struct h1_worker *w = h1w(wk);
	if (w->n_spare_req < H1_SPARE_MAX)
		w->spare_req[w->n_spare_req++] = req;
	else
		free(req);
}

/* An empty buffer gets a pooled block; a buffer is given back when its connection idles. */
static void buf_take_block(struct worker *wk, struct buf *b)
{
	struct h1_worker *w = h1w(wk);
	if (b->cap == 0 && w->n_spare_block) {
		b->data = w->spare_block[--w->n_spare_block];
		b->cap = MIN((size_t)CONN_IN_INITIAL, b->max);
	}
}

static void buf_give_back(struct worker *wk, struct buf *b)
{
	struct h1_worker *w = h1w(wk);
	if (b->cap == CONN_IN_INITIAL && w->n_spare_block < H1_SPARE_MAX) {
		w->spare_block[w->n_spare_block++] = b->data;
		b->data = NULL;
		b->len = b->cap = 0;
	} else {
		buf_free(b);
	}
}

static void conn_process(struct http_conn *c);
static int flush_out(struct http_conn *c);
static void conn_close(struct http_conn *c);

static struct http_conn *conn_of_link(struct conn_link *l)
{
	return container_of(l, struct http_conn, link);
}

static struct http_conn *conn_of_timer(struct timer *t)
{
	return container_of(t, struct http_conn, timer);
}

static const struct config *cfg_of(const struct http_conn *c)
{
	return c->wk->gen->cfg;
}

static struct http_conn *conn_of_x(struct http_exchange *x)
{
	return container_of(x, struct http_conn, x);
}

static const struct http_conn *conn_of_cx(const struct http_exchange *x)
{
	return container_of(x, const struct http_conn, x);
}

/* Graceful stop under systemd's fd store (core/fdstore.c): a plain connection is handed over
 * between requests instead of closed, so its responses keep it alive. TLS cannot be: its
 * session state stays in this process. */
static bool conn_handover_ok(const struct http_conn *c)
{
	return c->l && c->xp == &c->tcp && !c->tls && !c->peer_shut &&
	       c->wk->srv->fdstore_max > 0;
}

/* Does a graceful stop mean this connection closes after the response in flight? */
static bool conn_closes_at_stop(const struct http_conn *c)
{
	return (c->stopping || atomic_load_explicit(&c->wk->srv->stopping, memory_order_relaxed)) &&
	       !conn_handover_ok(c);
}

/* ---- response writer ---------------------------------------------------------------- */

static void out_append(struct http_conn *c, const char *p, size_t n)
{
	/* The head is built by ferry from bounded pieces; running out of room is a bug in a
	 * handler, answered by truncating (the response is then cut and the connection closed). */
	if (c->out.cap == 0)
		buf_take_block(c->wk, &c->out);
	if (buf_append(&c->out, p, n) < 0)
		c->force_close = true;
}

#define OUT_LIT(c, s) out_append((c), (s), STRLEN(s))

static void h1_resp_close(struct http_exchange *x)
{
	conn_of_x(x)->force_close = true;
}

static bool client_is_10(const struct http_conn *c)
{
	return c->req && c->req->version == 10;
}

/* The status line (an interim response's too: 1xx go to HTTP/1.1 clients only, RFC 9110
 * §15.2), then Server and Date unless the response is forwarded with the origin's. The
 * Connection field waits for the end of the head, when the framing is known. */
static void h1_resp_start(struct http_exchange *x, int status, const char *reason,
			  size_t reason_len, unsigned flags)
{
	struct http_conn *c = conn_of_x(x);
	char line[32];
	if (status < 200) {
		c->interim_at = c->out.len;
		c->interim_status = status;
		c->interim_drop = client_is_10(c);
	} else {
		c->status = status;
	}
	if (!reason) {
		reason = http_status_reason(status);
		reason_len = strlen(reason);
	}
	/* status is 100..999 (http_resp_start's contract) */
	memcpy(line, "HTTP/1.1 ", 9);
	size_t n = 9 + str_fmt_u64(line + 9, (uint64_t)status);
	line[n++] = ' ';
	out_append(c, line, n);
	out_append(c, reason, reason_len);
	OUT_LIT(c, "\r\n");
	if (status >= 200 && !(flags & HTTP_RESP_FORWARDED)) {
		OUT_LIT(c, "Server: ferry\r\nDate: ");
		out_append(c, worker_date(c->wk), 29);
		OUT_LIT(c, "\r\n");
	}
}

static void h1_resp_header(struct http_exchange *x, const char *name, size_t name_len,
			   const char *value, size_t len)
{
	struct http_conn *c = conn_of_x(x);
	out_append(c, name, name_len);
	OUT_LIT(c, ": ");
	out_append(c, value, len);
	OUT_LIT(c, "\r\n");
}

static void h1_resp_end_head(struct http_exchange *x, int64_t content_length)
{
	struct http_conn *c = conn_of_x(x);
	if (c->status == 0) { /* an interim response */
		if (c->interim_drop) {
			c->out.len = c->interim_at;
			return;
		}
		/* 101: the upgrade the client asked for (its Upgrade field came with the head) */
		if (c->interim_status == 101)
			OUT_LIT(c, "Connection: upgrade\r\n");
		OUT_LIT(c, "\r\n");
		return;
	}
	if (content_length >= 0) {
		char v[20];
		size_t n = str_fmt_u64(v, (uint64_t)content_length);
		h1_resp_header(x, "Content-Length", 14, v, n);
		if (!c->is_head)
			c->body_bytes = (uint64_t)content_length;
	} else if (content_length == HTTP_LENGTH_STREAM && !c->is_head) {
		if (client_is_10(c)) {
			c->keep_alive = false; /* delimited by our close */
		} else {
			OUT_LIT(c, "Transfer-Encoding: chunked\r\n");
			c->resp_chunked = true;
			c->x.can_splice = false;
		}
	}
	if (c->force_close || conn_closes_at_stop(c))
		c->keep_alive = false;
	if (!c->keep_alive)
		OUT_LIT(c, "Connection: close\r\n");
	else if (client_is_10(c))
		OUT_LIT(c, "Connection: keep-alive\r\n");
	OUT_LIT(c, "\r\n");
}

static void h1_resp_body_mem(struct http_exchange *x, const void *p, size_t len)
{
	struct http_conn *c = conn_of_x(x);
	if (c->is_head)
		return;
	c->body_mem = p;
	c->body_mem_len = len;
}

static void h1_resp_body_owned(struct http_exchange *x, void *p, size_t len)
{
	struct http_conn *c = conn_of_x(x);
	free(c->body_owned);
	c->body_owned = p;
	if (!c->is_head) {
		c->body_mem = p;
		c->body_mem_len = len;
	}
}

static void h1_resp_body_copy(struct http_exchange *x, const void *p, size_t len)
{
	struct http_conn *c = conn_of_x(x);
	if (!c->is_head)
		out_append(c, p, len);
}

static void h1_resp_body_file(struct http_exchange *x, int fd, off_t off, off_t len)
{
	struct http_conn *c = conn_of_x(x);
	if (c->is_head) {
		close(fd);
		return;
	}
	c->file_fd = fd;
	c->file_off = off;
	c->file_end = off + len;
}

/* ---- access log ---------------------------------------------------------------------- */

/* One line per response. req: the request's own parsed head (NULL when it did not parse). */
static void access_log(struct http_conn *c, const struct http_request *req)
{
	accesslog_write(c->wk, &c->x, (const struct sockaddr *)&c->peer, c->peer_len, req,
			c->status, c->body_bytes);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static void reset_response(struct http_conn *c)
{
	buf_reset(&c->out);
	c->resp_chunked = false;
	c->interim_drop = false;
	c->x.can_splice = c->xp->ops->splice_in && c->xp->ops->splice_out;
	c->body_mem = NULL;
	c->body_mem_len = 0;
	free(c->body_owned);
	c->body_owned = NULL;
	c->file_fd = -1;
	c->file_off = c->file_end = 0;
	c->status = 0;
	c->body_bytes = 0;
}

static void begin_write(struct http_conn *c)
{
	access_log(c, c->req);
	atomic_fetch_add_explicit(&c->wk->srv->requests, 1, memory_order_relaxed);
	c->state = CS_WRITE;
	timer_arm(&c->wk->loop, &c->wk->t_send, &c->timer);
}

static void req_release(struct http_conn *c)
{
	if (c->req) {
		req_put(c->wk, c->req);
		c->req = NULL;
		c->x.req = NULL;
	}
}

/* Answer a request we could not parse: no keep-alive after a framing error. */
static void respond_error(struct http_conn *c, int status)
{
	c->keep_alive = false;
	c->is_head = c->x.is_head = false;
	req_release(c);
	reset_response(c);
	http_resp_error(&c->x, status);
	begin_write(c);
}

/* Serve the request here. rt: its route in the current generation, or NULL to route it now
 * (after a body was read, the generation may have changed since the head). */
static void dispatch(struct http_conn *c, const struct http_route *rt)
{
	struct http_route own;
	reset_response(c);
	c->is_head = c->x.is_head = c->req->method_id == HTTP_M_HEAD;
	if (!rt) {
		http_route(&c->x, c->req, &own);
		rt = &own;
	}
	rt->handler->serve(&c->x, c->req, rt);
	begin_write(c);
}

/* ---- reading ------------------------------------------------------------------------- */

/* Read what the transport has into c->in. Returns 1 when bytes arrived, 0 when there is
 * nothing (or no room), -1 on EOF or error (the connection is closed by the caller). */
static int fill(struct http_conn *c, size_t max)
{
	if (!c->readable)
		return 0;
	if (buf_space(&c->in) == 0) {
		const char *old = c->in.data;
		if (c->in.cap == 0)
			buf_take_block(c->wk, &c->in);
		if (buf_space(&c->in) == 0) {
			size_t want = c->in.cap ? c->in.cap : CONN_IN_INITIAL;
			if (want > max - c->in.len)
				want = max - c->in.len;
			if (want == 0 || buf_reserve(&c->in, want) < 0)
				return 0;
		}
		/* The parsed head points into the buffer: move its pointers with it. */
		if (c->x.req && old && c->in.data != old)
			http_request_rebase(c->req, old, c->in.data);
	}
	size_t space = buf_space(&c->in);
	ssize_t n = xport_read(c->xp, c->in.data + c->in.len, space);
	if (n > 0) {
		c->in.len += (size_t)n;
		/* A short read drained the socket and epoll will report new bytes (edge); but
		 * an EOF already queued is reported only once, so then read on until it shows;
		 * and a transport may hold bytes the socket no longer signals (TLS). */
		if ((size_t)n < space && !c->peer_shut && !xport_pending(c->xp))
			c->readable = false;
		return 1;
	}
	if (n == 0)
		return -1;
	if (n == -EAGAIN) {
		c->readable = false;
		return 0;
	}
	return -1;
}

static struct http_limits limits_of(const struct config *cfg)
{
	struct http_limits lim = {
		.max_request_line = cfg->max_request_line,
		.max_head = cfg->max_header_bytes,
		.max_headers = cfg->max_header_fields,
	};
	return lim;
}

/* Drop body bytes that follow the head in c->in; move what follows the body (a pipelined
 * request) to c->head_len. Returns 1 when the body is complete, 0 when more is needed,
 * < 0 with a negated status on a chunked syntax error. */
static int drop_body(struct http_conn *c)
{
	char *p = c->in.data + c->head_len;
	size_t avail = c->in.len - c->head_len;
	size_t used;
	if (c->chunked) {
		size_t dlen;
		ssize_t r = http_chunked_decode(&c->ch, p, avail, &dlen);
		if (r < 0)
			return (int)r;
		/* Counted as it comes, framing included: chunk extensions cannot pad past it. */
		if ((uint64_t)r > c->body_left)
			return -413;
		c->body_left -= (uint64_t)r;
		used = (size_t)r;
	} else {
		used = (size_t)MIN((uint64_t)avail, c->body_left);
		c->body_left -= used;
	}
	memmove(p, p + used, avail - used);
	c->in.len -= used;
	return c->chunked ? http_chunked_done(&c->ch) : c->body_left == 0;
}

/* A complete head (c->req) is at the start of c->in: start the body or dispatch. */
static void head_complete(struct http_conn *c, size_t head_len)
{
	const struct http_request *req = c->req;
	c->head_len = head_len;
	c->keep_alive = req->keep_alive && !conn_closes_at_stop(c) &&
			cfg_of(c)->keepalive_timeout_ms > 0;
	c->force_close = false;
	c->chunked = req->chunked;
	c->body_left = req->content_length > 0 ? (uint64_t)req->content_length : 0;
	c->x.req = req;
	c->x.upstream = NULL;
	c->x.rate_taken = false;
	c->x.stats_site = 0;
	c->x.start_us = cfg_of(c)->access_log_format == CONFIG_LOG_JSON ? time_now_usec() : 0;
	struct http_route rt;
	http_route(&c->x, req, &rt);
	if (rt.at_once) {
		/* Goes nowhere: answered now, without reading a body (the connection closes). */
		c->keep_alive = false;
		dispatch(c, &rt);
		return;
	}
	if (rt.handler->streams_body) {
		/* The handler streams the body itself: hand the connection over now. */
		reset_response(c);
		c->is_head = c->x.is_head = req->method_id == HTTP_M_HEAD;
		c->state = CS_PROXY;
		c->body_mode = c->chunked ? BODY_CHUNKED : c->body_left > 0 ? BODY_LENGTH : BODY_NONE;
		c->body_dec = 0;
		if (c->chunked)
			http_chunked_init(&c->ch);
		timer_cancel(&c->timer);
		rt.handler->serve(&c->x, req, &rt);
		return;
	}
	if (c->chunked || c->body_left > 0) {
		if (!c->chunked && c->body_left > CONN_DISCARD_MAX) {
			respond_error(c, 413);
			return;
		}
		if (req->expect_continue) {
			/* We would only throw the body away: answer now and close instead of
			 * asking for it (RFC 9110 §10.1.1 allows a final status instead of 100). */
			c->keep_alive = false;
			dispatch(c, &rt);
			return;
		}
		if (c->chunked) {
			http_chunked_init(&c->ch);
			c->body_left = CONN_DISCARD_MAX;
		}
		c->state = CS_BODY;
		timer_arm(&c->wk->loop, &c->wk->t_body, &c->timer);
		timer_arm(&c->wk->loop, &c->wk->t_body_total, &c->body_deadline);
		return;
	}
	dispatch(c, &rt);
}

static void process_head(struct http_conn *c)
{
	const struct config *cfg = cfg_of(c);
	struct http_limits lim = limits_of(cfg);
	for (;;) {
		if (c->in.len > 0) {
			struct http_request *req = c->req ? c->req : req_get(c->wk);
			ssize_t r = http_parse_request(c->in.data, c->in.len, &lim, req);
			c->req = req;
			if (r > 0) {
				head_complete(c, (size_t)r);
				return;
			}
			if (r < 0) {
				respond_error(c, (int)-r);
				return;
			}
			if (!timer_armed(&c->timer) || c->timer.list != &c->wk->t_header)
				timer_arm(&c->wk->loop, &c->wk->t_header, &c->timer);
		}
		int f = fill(c, cfg->max_header_bytes + 1);
		if (f < 0) {
			conn_close(c);
			return;
		}
		if (f == 0)
			return;
	}
}

static void wait_writable(struct http_conn *c);

/* A listener with `tls`: the connection's transport becomes a TLS one, which takes the bytes
 * already read (after a PROXY header: the start of the ClientHello). Over the limit of
 * handshakes in progress, or without certificates, the connection is closed. */
static void tls_start(struct http_conn *c)
{
	struct xport *xp;
	if (xport_tls_new(c->wk->gen, c->w.fd, c->in.data, c->in.len, &xp) < 0) {
		conn_close(c);
		return;
	}
	c->xp = xp;
	c->x.can_splice = false;
	buf_reset(&c->in);
	c->state = CS_HANDSHAKE;
}

static void conn_free(struct deferred *d);

/* ALPN chose HTTP/2: proto/h2.c takes the transport (and the socket's epoll registration);
 * this connection ends without closing either. */
static void hand_over_h2(struct http_conn *c)
{
	struct worker *wk = c->wk;
	struct xport *xp = c->xp;
	c->state = CS_CLOSED;
	timer_cancel(&c->timer);
	timer_cancel(&c->body_deadline);
	req_release(c);
	buf_give_back(wk, &c->in);
	buf_give_back(wk, &c->out);
	worker_conn_removed(wk, &c->link);
	c->defer.fn = conn_free;
	loop_defer(&wk->loop, &c->defer);
	h2_conn_adopt(wk, xp, (const struct sockaddr *)&c->peer, c->peer_len, NULL, NULL, 0);
}

/* Until the handshake is over (within the header timeout, armed at the start). Then the
 * exchange says what the handshake said: https, and the server name. */
static void process_handshake(struct http_conn *c)
{
	int r = c->xp->ops->handshake(c->xp);
	if (r == -EAGAIN) {
		if (c->xp->want & XPORT_WANT_WRITE)
			wait_writable(c);
		else
			c->readable = false;
		return;
	}
	if (r < 0) {
		conn_close(c);
		return;
	}
	size_t alen;
	const char *alpn = xport_tls_alpn(c->xp, &alen);
	if (alpn && alen == 2 && memcmp(alpn, "h2", 2) == 0) {
		hand_over_h2(c);
		return;
	}
	/* The transport may have read the request's first bytes with the handshake's last
	 * ones, and the socket then says nothing more: read before waiting. */
	c->readable = true;
	c->x.secure = true;
	c->x.alt_svc_port = c->wk->srv->quic_port;
	c->x.tls_name = xport_tls_server_name(c->xp, &c->x.tls_name_len);
	c->x.can_splice = c->xp->ops->splice_in && c->xp->ops->splice_out;
	c->state = CS_HEAD;
	timer_arm(&c->wk->loop, &c->wk->t_header, &c->timer);
}

#define CONN_PPHDR_MAX 4096 /* PROXY v2 header with TLVs: haproxy sends well under this */

/* A listener with `proxy-protocol`: the connection starts with a PROXY header from the front
 * proxy, and the address it carries is the client's. Anything else closes the connection. */
static void process_pphdr(struct http_conn *c)
{
	const struct config *cfg = cfg_of(c);
	if (cfg->n_trusted_proxies &&
	    !cidr_list_match(cfg->trusted_proxies, cfg->n_trusted_proxies,
			     (const struct sockaddr *)&c->peer, c->peer_len)) {
		conn_close(c); /* only a trusted front may say who the client is */
		return;
	}
	for (;;) {
		if (c->in.len > 0) {
			struct proxyproto_result res;
			ssize_t r = proxyproto_decode(c->in.data, c->in.len, CONN_PPHDR_MAX, &res);
			if (r < 0) {
				conn_close(c);
				return;
			}
			if (r > 0) {
				if (res.proxied) {
					memcpy(&c->peer, &res.src, res.src_len);
					c->peer_len = res.src_len;
					c->x.peer_len = res.src_len;
				}
				buf_consume(&c->in, (size_t)r);
				if (c->tls)
					tls_start(c);
				else
					c->state = CS_HEAD;
				return;
			}
		}
		int f = fill(c, CONN_PPHDR_MAX);
		if (f < 0 || (f == 0 && c->in.len >= CONN_PPHDR_MAX)) {
			conn_close(c);
			return;
		}
		if (f == 0)
			return;
	}
}

static void process_body(struct http_conn *c)
{
	for (;;) {
		int r = drop_body(c);
		if (r != 0)
			timer_cancel(&c->body_deadline);
		if (r < 0) {
			respond_error(c, -r);
			return;
		}
		if (r == 1) {
			dispatch(c, NULL);
			return;
		}
		/* Make room: keep the head, reuse the rest of the buffer for body bytes. */
		int f = fill(c, c->head_len + 65536);
		if (f < 0) {
			conn_close(c);
			return;
		}
		if (f == 0)
			return;
		timer_arm(&c->wk->loop, &c->wk->t_body, &c->timer);
	}
}

/* ---- writing ------------------------------------------------------------------------- */

static void linger_start(struct http_conn *c);
static void conn_hand_over(struct http_conn *c);

/* Waiting for the next request: hold nothing but the connection itself (nginx frees its
 * buffers at keep-alive too); the blocks go back to the worker's pool. */
static void conn_idle_release(struct http_conn *c)
{
	req_release(c);
	if (c->in.len == 0)
		buf_give_back(c->wk, &c->in);
	buf_give_back(c->wk, &c->out);
}

/* The response is out: log it, then keep-alive or close. */
static void response_done(struct http_conn *c)
{
	if (c->file_fd >= 0) {
		close(c->file_fd);
		c->file_fd = -1;
	}
	free(c->body_owned); /* sent: an idle connection keeps none of it */
	c->body_owned = NULL;
	req_release(c);
	buf_consume(&c->in, c->head_len);
	c->head_len = 0;
	c->served++;
	if (!c->keep_alive || conn_closes_at_stop(c)) {
		linger_start(c);
		return;
	}
	c->state = CS_HEAD;
	if (c->in.len == 0) {
		if (c->stopping) {
			conn_hand_over(c);
			return;
		}
		conn_idle_release(c);
		timer_arm(&c->wk->loop, &c->wk->t_keepalive, &c->timer);
	} else {
		timer_arm(&c->wk->loop, &c->wk->t_header, &c->timer);
	}
}

/* The socket is full: from now on, ask epoll for EPOLLOUT too. Connections start without it,
 * so that the ACKs of every small response do not wake the loop for nothing (an event, a
 * tcp_poll and a pass through the state machine each). MOD reports a socket that became
 * writable meanwhile at once, so nothing is missed. */
static void wait_writable(struct http_conn *c)
{
	/* (Cannot wait: let the next write fail for real.) */
	c->writable = !loop_watch_writable(&c->wk->loop, &c->w, &c->out_watched);
}

/* A file body through a transport without sendfile (TLS): read a piece into the worker's
 * scratch buffer and write it. The transport takes all or nothing of a piece it refuses,
 * and the same bytes are offered again from file_off. */
static ssize_t write_file_copy(struct http_conn *c, size_t want)
{
	if (want > 65536)
		want = 65536;
	ssize_t n = pread(c->file_fd, c->wk->io_buf, want, c->file_off);
	if (n <= 0)
		return n == 0 ? -EIO : -errno;
	ssize_t w = xport_write(c->xp, c->wk->io_buf, (size_t)n, false);
	if (w > 0)
		c->file_off += w;
	return w;
}

/* One write of what is pending, in the order head, memory body, file body: the head and a
 * memory body go out together in one writev; a head before a file goes with MSG_MORE so that
 * it shares a segment with the file's first bytes. Returns the bytes written (> 0), 0 when
 * the socket is full, -1 on error (or a file that shrank under its Content-Length). */
static ssize_t write_some(struct http_conn *c)
{
	ssize_t n;
	if (c->out.len > 0 && c->body_mem_len == 0 && c->file_fd >= 0) {
		n = xport_write(c->xp, c->out.data, c->out.len, true);
	} else if (c->out.len > 0 || c->body_mem_len > 0) {
		struct iovec iov[2] = {{c->out.data, c->out.len},
				       {(void *)c->body_mem, c->body_mem_len}};
		n = c->out.len ? xport_writev(c->xp, iov, c->body_mem_len ? 2 : 1, false)
			       : xport_writev(c->xp, iov + 1, 1, false);
	} else {
		size_t want = (size_t)MIN(c->file_end - c->file_off, (off_t)(1 << 20));
		if (c->xp->ops->sendfile)
			n = c->xp->ops->sendfile(c->xp, c->file_fd, &c->file_off, want);
		else
			n = write_file_copy(c, want);
		if (n == 0)
			return -1;
	}
	if (n > 0)
		return n;
	if (n == -EAGAIN) {
		if (c->xp->want & XPORT_WANT_WRITE)
			wait_writable(c);
		else
			c->writable = false; /* TLS waits for the peer's bytes first */
		return 0;
	}
	return -1;
}

/* Write what is pending. Returns 1 when all is sent, 0 when the socket is full, -1 on error. */
static int flush(struct http_conn *c)
{
	while (c->out.len > 0 || c->body_mem_len > 0 ||
	       (c->file_fd >= 0 && c->file_off < c->file_end)) {
		bool from_file = c->out.len == 0 && c->body_mem_len == 0;
		ssize_t n = write_some(c);
		if (n <= 0)
			return (int)n;
		timer_arm(&c->wk->loop, &c->wk->t_send, &c->timer);
		if (from_file)
			continue; /* the file body advanced file_off */
		size_t sent = (size_t)n;
		if (sent >= c->out.len) {
			sent -= c->out.len;
			c->out.len = 0;
			c->body_mem += sent;
			c->body_mem_len -= sent;
		} else {
			buf_consume(&c->out, sent);
		}
	}
	return 1;
}

static void process_write(struct http_conn *c)
{
	if (!c->writable)
		return;
	int r = flush(c);
	if (r < 0) {
		conn_close(c);
		return;
	}
	if (r == 1)
		response_done(c);
}

/* ---- lingering close ----------------------------------------------------------------- */

static void linger_start(struct http_conn *c)
{
	c->state = CS_LINGER;
	c->xp->ops->shutdown(c->xp);
	buf_reset(&c->in);
	conn_idle_release(c);
	timer_arm(&c->wk->loop, &c->wk->t_linger, &c->timer);
}

static void process_linger(struct http_conn *c)
{
	char drop[4096];
	for (;;) {
		ssize_t n = xport_read(c->xp, drop, sizeof(drop));
		if (n > 0)
			continue;
		if (n == -EAGAIN)
			return;
		conn_close(c);
		return;
	}
}

/* ---- the machine --------------------------------------------------------------------- */

static void conn_process_loop(struct http_conn *c);

static void conn_process(struct http_conn *c)
{
	bool was = c->processing;
	c->processing = true;
	conn_process_loop(c);
	c->processing = was;
}

static void conn_process_loop(struct http_conn *c)
{
	for (;;) {
		enum conn_state before = c->state;
		switch (c->state) {
		case CS_PPHDR:
			process_pphdr(c);
			break;
		case CS_HANDSHAKE:
			process_handshake(c);
			break;
		case CS_HEAD:
			process_head(c);
			break;
		case CS_BODY:
			process_body(c);
			break;
		case CS_WRITE:
			process_write(c);
			break;
		case CS_LINGER:
			process_linger(c);
			return;
		case CS_PROXY:
			/* A streamed response's head and framing first, then the handler. */
			if (c->out.len > 0 && flush_out(c) < 0) {
				conn_close(c);
				break;
			}
			c->stream_cb->event(c->stream_arg);
			break;
		case CS_CLOSED:
			return;
		}
		if (c->state == before)
			return; /* blocked on I/O */
	}
}

static void on_event(struct loop *l, struct watcher *w, uint32_t events)
{
	struct http_conn *c = container_of(w, struct http_conn, w);
	if (c->state == CS_CLOSED)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->readable = true;
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->peer_shut = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->writable = true;
	/* A transport that waits for the other direction (TLS: a write needs the peer's bytes
	 * first, or the other way round) goes on with either event. */
	if (c->xp->ops->crossed && c->xp->want && (events & (EPOLLIN | EPOLLOUT)))
		c->readable = c->writable = true;
	conn_process(c);
}

static void on_timeout(struct loop *l, struct timer *t)
{
	struct http_conn *c = conn_of_timer(t);
	/* (The loop has already unlinked t: t->list is NULL here.) */
	if (c->state == CS_HEAD && c->in.len > 0) {
		respond_error(c, 408);
		conn_process(c);
		return;
	}
	conn_close(c);
}

/* body-total-timeout: a body we read only to drop it took too long, however steadily it came
 * (body-timeout, re-armed on every read, never ends a trickle). Closed like body-timeout. */
static void on_body_deadline(struct loop *l, struct timer *t)
{
	conn_close(container_of(t, struct http_conn, body_deadline));
}

static void conn_free(struct deferred *d)
{
	struct http_conn *c = container_of(d, struct http_conn, defer);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->body_owned);
	free(c);
}

static void conn_close(struct http_conn *c)
{
	if (c->state == CS_CLOSED)
		return;
	c->state = CS_CLOSED;
	timer_cancel(&c->timer);
	timer_cancel(&c->body_deadline);
	if (c->stream_cb) {
		const struct http_stream_cb *cb = c->stream_cb;
		c->stream_cb = NULL;
		cb->abort(c->stream_arg);
	}
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	req_release(c);
	buf_give_back(c->wk, &c->in);
	buf_give_back(c->wk, &c->out);
	c->xp->ops->close(c->xp); /* closes the socket: also removes it from epoll */
	c->xp = &c->tcp; /* (a TLS transport is freed now) */
	c->tcp.fd = -1;
	worker_conn_removed(c->wk, &c->link);
	loop_defer(&c->wk->loop, &c->defer);
	c->defer.fn = conn_free;
}

/* Graceful stop under an fd store: the idle connection goes to systemd for the next ferry.
 * The bytes of a request that arrived meanwhile wait in the socket, and go with it. Out of
 * our epoll set first: the socket outlives its fd here. Without room in the store it closes,
 * as an idle connection does at any stop. */
static void conn_hand_over(struct http_conn *c)
{
	int fd = c->tcp.fd;
	loop_del(&c->wk->loop, &c->w);
	const struct sockaddr *peer = c->l->proxy_protocol ? (const struct sockaddr *)&c->peer : NULL;
	if (fdstore_conn_put(c->wk, fd, c->l, peer, c->peer_len) == 0)
		c->tcp.fd = -1; /* the store's now: conn_close leaves it open */
	conn_close(c);
}

/* Graceful stop: idle connections close now (or go to the fd store), busy ones after their
 * response. */
static void on_stop(struct conn_link *link)
{
	struct http_conn *c = conn_of_link(link);
	c->stopping = true;
	if (c->state == CS_HEAD && c->in.len == 0 && conn_handover_ok(c)) {
		conn_hand_over(c);
		return;
	}
	if (c->state != CS_HEAD || c->in.len != 0)
		return; /* in flight: answered with Connection: close, then closed */
	if (c->served > 0) {
		/* Idle keep-alive: clients expect these to close (RFC 9112 §9.3.1). */
		conn_close(c);
		return;
	}
	/* Accepted but nothing read yet: its request may be on the way. Closing now would lose
	 * it, so answer it (with Connection: close) unless the header timeout comes first. */
	c->readable = true;
	conn_process(c);
}

static const struct http_exchange_ops h1_ops;

/* resumed: taken back from the fd store, idle between requests (keep-alive timer, no PROXY
 * header or handshake: neither is handed over). */
static void conn_new(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		     const struct listener *l, bool resumed)
{
	struct http_conn *c = xcalloc(1, sizeof(*c));
	c->x.ops = &h1_ops;
	c->x.wk = wk;
	c->x.peer = (const struct sockaddr *)&c->peer;
	c->w.fd = fd;
	c->w.cb = on_event;
	xport_tcp_init(&c->tcp, fd);
	c->xp = &c->tcp;
	c->x.can_splice = c->xp->ops->splice_in && c->xp->ops->splice_out;
	c->wk = wk;
	c->timer.cb = on_timeout;
	c->body_deadline.cb = on_body_deadline;
	c->file_fd = -1;
	c->state = l && l->proxy_protocol && !resumed ? CS_PPHDR : CS_HEAD;
	c->tls = l && l->tls && !resumed;
	c->l = l;
	c->served = resumed;
	c->x.metrics_only = l && l->metrics;
	c->link.on_stop = on_stop;
	if (peer_len > sizeof(c->peer))
		peer_len = sizeof(c->peer);
	memcpy(&c->peer, peer, peer_len);
	c->peer_len = peer_len;
	c->x.peer_len = peer_len;
	buf_init(&c->in, SIZE_MAX);
	buf_init(&c->out, CONN_OUT_MAX);
	if (loop_add(&wk->loop, &c->w, EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
		close(fd);
		free(c);
		return;
	}
	worker_conn_added(wk, &c->link);
	/* A fresh connection usually has its request waiting already (and with
	 * TCP_DEFER_ACCEPT always): try to read before going back to epoll. */
	c->readable = true;
	c->writable = true;
	timer_arm(&wk->loop, resumed ? &wk->t_keepalive : &wk->t_header, &c->timer);
	if (c->tls && c->state == CS_HEAD)
		tls_start(c);
	conn_process(c);
}

void h1_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		   const struct listener *l)
{
	conn_new(wk, fd, peer, peer_len, l, false);
}

void h1_conn_resume(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		    const struct listener *l)
{
	conn_new(wk, fd, peer, peer_len, l, true);
}

/* ---- streaming hand-off (the reverse proxy) -------------------------------------------- */

#define CONN_STREAM_BODY_MAX 65536 /* request body bytes buffered after the head */

static void h1_set_stream(struct http_exchange *x, const struct http_stream_cb *cb, void *arg)
{
	struct http_conn *c = conn_of_x(x);
	c->stream_cb = cb;
	c->stream_arg = arg;
}

static int h1_local_addr(const struct http_exchange *x, struct sockaddr_storage *ret,
			 socklen_t *ret_len)
{
	*ret_len = sizeof(*ret);
	return getsockname(conn_of_cx(x)->w.fd, (struct sockaddr *)ret, ret_len) < 0 ? -errno : 0;
}

static bool h1_keep_alive(const struct http_exchange *x)
{
	const struct http_conn *c = conn_of_cx(x);
	return c->keep_alive && !c->force_close && !conn_closes_at_stop(c);
}

static int h1_body_peek(struct http_exchange *x, const char **ret_p, size_t *ret_len)
{
	struct http_conn *c = conn_of_x(x);
	char *p = c->in.data + c->head_len;
	size_t avail = c->in.len - c->head_len;
	*ret_p = p;
	switch (c->body_mode) {
	case BODY_NONE:
		*ret_len = 0;
		return 1;
	case BODY_LENGTH:
		*ret_len = (size_t)MIN((uint64_t)avail, c->body_left);
		return *ret_len == c->body_left;
	case BODY_RAW:
		*ret_len = avail;
		return 0;
	case BODY_CHUNKED:
		break;
	}
	/* Decode in place what follows the decoded bytes, then close the gap. */
	if (!http_chunked_done(&c->ch) && avail > c->body_dec) {
		char *raw = p + c->body_dec;
		size_t n = avail - c->body_dec, dlen;
		ssize_t r = http_chunked_decode(&c->ch, raw, n, &dlen);
		if (r < 0)
			return -1;
		memmove(raw + dlen, raw + r, n - (size_t)r);
		c->in.len -= (size_t)r - dlen;
		c->body_dec += dlen;
	}
	*ret_len = c->body_dec;
	return http_chunked_done(&c->ch);
}

static void h1_body_consume(struct http_exchange *x, size_t n)
{
	struct http_conn *c = conn_of_x(x);
	char *p = c->in.data + c->head_len;
	size_t avail = c->in.len - c->head_len;
	memmove(p, p + n, avail - n);
	c->in.len -= n;
	if (c->body_mode == BODY_LENGTH)
		c->body_left -= n;
	else if (c->body_mode == BODY_CHUNKED)
		c->body_dec -= n;
}

static int h1_body_read(struct http_exchange *x)
{
	struct http_conn *c = conn_of_x(x);
	if (c->in.len >= c->head_len + CONN_STREAM_BODY_MAX)
		return 0;
	return fill(c, c->head_len + CONN_STREAM_BODY_MAX);
}

static void h1_tunnel(struct http_exchange *x)
{
	conn_of_x(x)->body_mode = BODY_RAW;
}

/* What a send or splice to the client returned, as the stream API says it: bytes, 0 when the
 * transport cannot take more now (then the right event is watched), -1 on error. */
static ssize_t sent(struct http_conn *c, ssize_t r)
{
	if (r >= 0)
		return r;
	if (r == -EAGAIN) {
		if (c->xp->want & XPORT_WANT_WRITE)
			wait_writable(c);
		else
			c->writable = false;
		return 0;
	}
	return -1;
}

/* Write what waits in out (a streamed response's head, chunk framing): 1 all of it, 0 the
 * transport is full, -1 error. */
static int flush_out(struct http_conn *c)
{
	while (c->out.len > 0) {
		if (!c->writable)
			return 0;
		ssize_t n = sent(c, xport_write(c->xp, c->out.data, c->out.len, false));
		if (n <= 0)
			return (int)n;
		buf_consume(&c->out, (size_t)n);
	}
	return 1;
}

/* Body bytes of a streamed response. Passed on as they are (after the head, in one writev
 * with it), or, chunked, copied into out with their framing (the copy the framing needs
 * anyway) up to out's room. */
static ssize_t h1_send(struct http_exchange *x, const void *p, size_t n)
{
	struct http_conn *c = conn_of_x(x);
	if (n == 0)
		return flush_out(c) < 0 ? -1 : 0;
	if (c->resp_chunked) {
		if (CONN_OUT_MAX - c->out.len < 64 && flush_out(c) < 0)
			return -1;
		size_t room = CONN_OUT_MAX - c->out.len;
		if (room < 64)
			return 0;
		size_t take = MIN(n, room - 32);
		char h[24];
		int k = snprintf(h, sizeof(h), "%zx\r\n", take);
		out_append(c, h, (size_t)k);
		out_append(c, p, take);
		OUT_LIT(c, "\r\n");
		return flush_out(c) < 0 ? -1 : (ssize_t)take;
	}
	if (!c->writable)
		return 0;
	if (c->out.len == 0)
		return sent(c, xport_write(c->xp, p, n, false));
	struct iovec iov[2] = {{c->out.data, c->out.len}, {(void *)p, n}};
	ssize_t w = sent(c, xport_writev(c->xp, iov, 2, false));
	if (w <= 0)
		return w;
	if ((size_t)w < c->out.len) {
		buf_consume(&c->out, (size_t)w);
		return 0;
	}
	w -= (ssize_t)c->out.len;
	c->out.len = 0;
	return w;
}

static ssize_t h1_splice_in(struct http_exchange *x, int pipe_fd, size_t n, bool pipe_empty)
{
	struct http_conn *c = conn_of_x(x);
	if (!c->readable || n == 0)
		return 0;
	ssize_t r = c->xp->ops->splice_in(c->xp, pipe_fd, n);
	if (r > 0) {
		if (c->body_mode == BODY_LENGTH)
			c->body_left -= (uint64_t)MIN((uint64_t)r, c->body_left);
		return r;
	}
	if (r == 0)
		return -1; /* EOF */
	if (r == -EAGAIN) {
		/* The socket is drained, or the pipe is full: only an empty pipe says which. */
		if (pipe_empty)
			c->readable = false;
		return 0;
	}
	return -1;
}

static ssize_t h1_splice_out(struct http_exchange *x, int pipe_fd, size_t n)
{
	struct http_conn *c = conn_of_x(x);
	int f = flush_out(c); /* the head first */
	if (f <= 0)
		return f;
	if (!c->writable || n == 0)
		return 0;
	ssize_t r = c->xp->ops->splice_out(c->xp, pipe_fd, n);
	if (r == 0) /* the pipe was empty, which the caller rules out */
		return -1;
	return sent(c, r);
}

static void stream_detach(struct http_conn *c)
{
	c->stream_cb = NULL;
	c->stream_arg = NULL;
	timer_cancel(&c->timer);
}

static void h1_stream_respond(struct http_exchange *x)
{
	struct http_conn *c = conn_of_x(x);
	stream_detach(c);
	begin_write(c);
	if (!c->processing)
		conn_process(c);
}

static void h1_stream_end(struct http_exchange *x, int status, uint64_t body_bytes,
			  bool keep_alive)
{
	struct http_conn *c = conn_of_x(x);
	stream_detach(c);
	if (c->resp_chunked)
		OUT_LIT(c, "0\r\n\r\n"); /* the last chunk */
	c->resp_chunked = false;
	c->status = status;
	c->body_bytes = body_bytes;
	access_log(c, c->req);
	atomic_fetch_add_explicit(&c->wk->srv->requests, 1, memory_order_relaxed);
	c->keep_alive = keep_alive && h1_keep_alive(x);
	if (c->out.len > 0) {
		/* What is left of the response goes out as a handler's would. */
		c->state = CS_WRITE;
		timer_arm(&c->wk->loop, &c->wk->t_send, &c->timer);
	} else {
		response_done(c);
	}
	if (!c->processing)
		conn_process(c);
}

static void h1_stream_abort(struct http_exchange *x)
{
	struct http_conn *c = conn_of_x(x);
	stream_detach(c);
	conn_close(c);
}

static const struct http_exchange_ops h1_ops = {
	.resp_start = h1_resp_start,
	.resp_header = h1_resp_header,
	.resp_end_head = h1_resp_end_head,
	.resp_body_mem = h1_resp_body_mem,
	.resp_body_copy = h1_resp_body_copy,
	.resp_body_owned = h1_resp_body_owned,
	.resp_body_file = h1_resp_body_file,
	.resp_close = h1_resp_close,
	.set_stream = h1_set_stream,
	.keep_alive = h1_keep_alive,
	.body_peek = h1_body_peek,
	.body_consume = h1_body_consume,
	.body_read = h1_body_read,
	.tunnel = h1_tunnel,
	.send = h1_send,
	.splice_out = h1_splice_out,
	.splice_in = h1_splice_in,
	.local_addr = h1_local_addr,
	.stream_end = h1_stream_end,
	.stream_respond = h1_stream_respond,
	.stream_abort = h1_stream_abort,
};
