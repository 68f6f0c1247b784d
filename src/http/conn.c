/* The HTTP/1.1 connection: reading and parsing requests, discarding bodies, dispatching to a
 * handler, writing the response, keep-alive, pipelining, timeouts and lingering close.
 * The state table is in conn.h. */
#include "base/macro.h"
#include "http/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "handler/proxy.h"
#include "handler/static.h"
#include "http/chunked.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/status.h"
#include "log.h"
#include "net/addr.h"
#include "net/cidr.h"
#include "net/proxyproto.h"
#include "server.h"

#define CONN_IN_INITIAL 4096
#define CONN_OUT_MAX 16384
#define CONN_LINGER_MS 2000
#define CONN_DISCARD_MAX (64ull << 20) /* a larger body for a static file: 413 (chunked too) */

enum conn_state { CS_PPHDR, CS_HEAD, CS_BODY, CS_WRITE, CS_LINGER, CS_PROXY, CS_CLOSED };

struct http_conn {
	struct watcher w;
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
	unsigned served; /* responses completed on this connection */

	struct sockaddr_storage peer;
	socklen_t peer_len;

	struct buf in;
	size_t head_len;   /* of the request being handled */
	uint64_t body_left; /* Content-Length bytes still to drop; chunked: bytes still allowed */
	struct http_chunked ch;

	struct buf out;
	const char *body_mem;
	size_t body_mem_len;
	int file_fd;
	off_t file_off, file_end;

	int status;
	uint64_t body_bytes; /* body bytes promised, for the access log */

	struct proxy_x *px; /* CS_PROXY: the exchange that has the connection */
};

static void conn_process(struct http_conn *c);
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

/* ---- response writer ---------------------------------------------------------------- */

static void out_append(struct http_conn *c, const char *p, size_t n)
{
	/* The head is built by ferry from bounded pieces; running out of room is a bug in a
	 * handler, answered by truncating (the response is then cut and the connection closed). */
	if (buf_append(&c->out, p, n) < 0)
		c->force_close = true;
}

#define OUT_LIT(c, s) out_append((c), (s), STRLEN(s))

void http_resp_close(struct http_conn *c)
{
	c->force_close = true;
}

bool http_conn_is_head(const struct http_conn *c)
{
	return c->is_head;
}

void http_resp_start(struct http_conn *c, int status)
{
	char line[64];
	c->status = status;
	if (c->force_close || c->stopping || atomic_load_explicit(&c->wk->srv->stopping,
								   memory_order_relaxed))
		c->keep_alive = false;
	int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
			 http_status_reason(status));
	out_append(c, line, (size_t)n);
	OUT_LIT(c, "Server: ferry\r\nDate: ");
	out_append(c, worker_date(c->wk), 29);
	OUT_LIT(c, "\r\n");
	if (!c->keep_alive)
		OUT_LIT(c, "Connection: close\r\n");
	else if (c->wk->req && c->wk->req->version == 10)
		OUT_LIT(c, "Connection: keep-alive\r\n");
}

void http_resp_header(struct http_conn *c, const char *name, const char *value, size_t len)
{
	out_append(c, name, strlen(name));
	OUT_LIT(c, ": ");
	out_append(c, value, len);
	OUT_LIT(c, "\r\n");
}

void http_resp_headerf(struct http_conn *c, const char *name, const char *fmt, ...)
{
	char v[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	http_resp_header(c, name, v, MIN((size_t)n, sizeof(v) - 1));
}

void http_resp_end_head(struct http_conn *c, int64_t content_length)
{
	if (content_length >= 0) {
		char v[32];
		int n = snprintf(v, sizeof(v), "%lld", (long long)content_length);
		http_resp_header(c, "Content-Length", v, (size_t)n);
		if (!c->is_head)
			c->body_bytes = (uint64_t)content_length;
	}
	OUT_LIT(c, "\r\n");
}

void http_resp_body_mem(struct http_conn *c, const void *p, size_t len)
{
	if (c->is_head)
		return;
	c->body_mem = p;
	c->body_mem_len = len;
}

void http_resp_body_copy(struct http_conn *c, const void *p, size_t len)
{
	if (!c->is_head)
		out_append(c, p, len);
}

void http_resp_body_file(struct http_conn *c, int fd, off_t off, off_t len)
{
	if (c->is_head) {
		close(fd);
		return;
	}
	c->file_fd = fd;
	c->file_off = off;
	c->file_end = off + len;
}

void http_resp_error(struct http_conn *c, int status)
{
	static const char fmt[] = "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
				  "<body><h1>%d %s</h1></body></html>\n";
	/* Error bodies are formatted into a per-worker static table on first use would be
	 * faster; errors are rare, so format into the out buffer after the head instead. */
	char body[256];
	const char *reason = http_status_reason(status);
	int n = snprintf(body, sizeof(body), fmt, status, reason, status, reason);
	if (status >= 400 && status != 404 && status != 405 && status != 416 && status != 421)
		c->keep_alive = false;
	http_resp_start(c, status);
	if (status == 405)
		OUT_LIT(c, "Allow: GET, HEAD, OPTIONS\r\n");
	OUT_LIT(c, "Content-Type: text/html; charset=utf-8\r\n");
	http_resp_end_head(c, n);
	if (!c->is_head)
		out_append(c, body, (size_t)n);
}

/* ---- access log ---------------------------------------------------------------------- */

static void log_escaped(struct buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			char e[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
			buf_append(b, e, 4);
		} else {
			buf_append(b, p + i, 1);
		}
	}
}

static void log_field(struct buf *b, const struct http_request *req, const char *lname)
{
	const struct http_header *h = req ? http_request_header(req, lname) : NULL;
	buf_append(b, "\"", 1);
	if (h)
		log_escaped(b, h->value, MIN(h->value_len, (size_t)1024));
	else
		buf_append(b, "-", 1);
	buf_append(b, "\"", 1);
}

/* Combined Log Format, one line per response, into the worker's buffer. */
static void access_log(struct http_conn *c, const struct http_request *req)
{
	struct worker *wk = c->wk;
	if (wk->gen->access_log_fd < 0)
		return;
	struct buf *b = &wk->access_log;
	char host[NET_ADDR_STRLEN];
	net_addr_host((const struct sockaddr *)&c->peer, c->peer_len, host, sizeof(host));
	if (buf_printf(b, "%s - - [%s] \"", host, worker_log_date(wk)) < 0)
		return;
	if (req) {
		log_escaped(b, req->method, req->method_len);
		buf_append(b, " ", 1);
		log_escaped(b, req->target, MIN(req->target_len, (size_t)2048));
		buf_printf(b, " HTTP/%d.%d", req->version / 10, req->version % 10);
	} else {
		buf_append(b, "-", 1);
	}
	buf_printf(b, "\" %d %llu ", c->status, (unsigned long long)c->body_bytes);
	log_field(b, req, "referer");
	buf_append(b, " ", 1);
	log_field(b, req, "user-agent");
	buf_append(b, "\n", 1);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static void reset_response(struct http_conn *c)
{
	buf_reset(&c->out);
	c->body_mem = NULL;
	c->body_mem_len = 0;
	c->file_fd = -1;
	c->file_off = c->file_end = 0;
	c->status = 0;
	c->body_bytes = 0;
}

static void begin_write(struct http_conn *c, const struct http_request *req)
{
	access_log(c, req);
	atomic_fetch_add_explicit(&c->wk->srv->requests, 1, memory_order_relaxed);
	c->state = CS_WRITE;
	timer_arm(&c->wk->loop, &c->wk->t_send, &c->timer);
}

/* Answer a request we could not parse: no keep-alive after a framing error. */
static void respond_error(struct http_conn *c, int status)
{
	c->keep_alive = false;
	c->is_head = false;
	c->wk->req = NULL;
	reset_response(c);
	http_resp_error(c, status);
	begin_write(c, NULL);
}

/* The Host the request is for: the authority of an absolute-form target wins over the Host
 * field (RFC 9112 §3.2.2). */
static void request_host(const struct http_request *req, const char **ret, size_t *ret_len)
{
	const char *t = req->target;
	size_t n = req->target_len;
	if (n > 0 && t[0] != '/' && t[0] != '*') {
		const char *s = memchr(t, ':', n);
		if (s && (size_t)(t + n - s) >= 3 && s[1] == '/' && s[2] == '/') {
			const char *a = s + 3, *e = a;
			while (e < t + n && *e != '/' && *e != '?' && *e != '#')
				e++;
			*ret = a;
			*ret_len = (size_t)(e - a);
			return;
		}
	}
	*ret = req->host;
	*ret_len = req->host ? req->host_len : 0;
}

/* Where a request goes: its site and the path block its path falls in. */
struct route {
	const struct config_site *cs;	/* NULL: the config has no sites, or none matches */
	const struct config_path *path; /* the longest matching path block, or NULL */
	int status; /* not 0: the path does not normalise (400, or 414 when too long) */
};

/* Match the site by Host and, when the site has path blocks, the block by the normalised path,
 * as the static handler will see it: "/a/../api/" and "/%61pi/" are "/api/" to both. A site
 * without path blocks costs no normalisation here. */
static void route_of(const struct config *cfg, const struct http_request *req, struct route *ret)
{
	*ret = (struct route){NULL, NULL, 0};
	if (cfg->n_sites == 0)
		return;
	const char *host;
	size_t host_len;
	request_host(req, &host, &host_len);
	ret->cs = config_match_site(cfg, host ? host : "", host_len);
	if (!ret->cs || ret->cs->n_paths == 0 || req->method_id == HTTP_M_CONNECT ||
	    req->target[0] == '*')
		return;
	char path[HTTP_PATH_MAX];
	int n = http_path_normalize(req->target, req->target_len, path, sizeof(path));
	if (n < 0) {
		/* No path block can be told: the site's handler must not get what one of them
		 * may have kept from it (a `root` block's requests forwarded by a site's proxy). */
		ret->status = n == -ENAMETOOLONG ? 414 : 400;
		return;
	}
	ret->path = config_match_path(ret->cs, path, (size_t)n);
}

/* Serve the request here. rt: its route in the current generation, or NULL to match it now
 * (after a body was read, the generation may have changed since the head). */
static void dispatch(struct http_conn *c, struct http_request *req, const struct route *rt)
{
	const struct server_gen *gen = c->wk->gen;
	const struct config *cfg = gen->cfg;
	struct route own;
	reset_response(c);
	c->is_head = req->method_id == HTTP_M_HEAD;
	c->wk->req = req;

	if (!rt) {
		route_of(cfg, req, &own);
		rt = &own;
	}
	int root_fd = gen->default_site.root_fd;
	if (cfg->n_sites > 0) {
		if (!rt->cs || rt->status) {
			http_resp_error(c, rt->cs ? rt->status : 421);
			goto done;
		}
		const struct site_rt *site = &gen->sites[rt->cs - cfg->sites];
		root_fd = rt->path && rt->path->root ? site->path_fds[rt->path - rt->cs->paths]
						     : site->root_fd;
	}
	static_handle(c, req, root_fd, &c->wk->fcache, c->wk->loop.now_ms);
done:
	begin_write(c, req);
	c->wk->req = NULL;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Read what the socket has into c->in. Returns 1 when bytes arrived, 0 when there is nothing
 * (or no room), -1 on EOF or error (the connection is closed by the caller). */
static int fill(struct http_conn *c, size_t max)
{
	if (!c->readable)
		return 0;
	if (buf_space(&c->in) == 0) {
		size_t want = c->in.cap ? c->in.cap : CONN_IN_INITIAL;
		if (want > max - c->in.len)
			want = max - c->in.len;
		if (want == 0 || buf_reserve(&c->in, want) < 0)
			return 0;
	}
	size_t space = buf_space(&c->in);
	ssize_t n = read(c->w.fd, c->in.data + c->in.len, space);
	if (n > 0) {
		c->in.len += (size_t)n;
		/* A short read drained the socket and epoll will report new bytes (edge); but
		 * an EOF already queued is reported only once, so then read on until it shows. */
		if ((size_t)n < space && !c->peer_shut)
			c->readable = false;
		return 1;
	}
	if (n == 0)
		return -1;
	if (errno == EAGAIN || errno == EINTR) {
		c->readable = errno == EINTR;
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

/* A complete head is at the start of c->in: start the body or dispatch. */
static void head_complete(struct http_conn *c, struct http_request *req, size_t head_len)
{
	c->head_len = head_len;
	c->keep_alive = req->keep_alive && !c->stopping && cfg_of(c)->keepalive_timeout_ms > 0;
	c->force_close = false;
	c->chunked = req->chunked;
	c->body_left = req->content_length > 0 ? (uint64_t)req->content_length : 0;
	struct route rt;
	route_of(cfg_of(c), req, &rt);
	if (rt.status) {
		/* Goes nowhere: answered now, without reading a body (the connection closes). */
		c->keep_alive = false;
		dispatch(c, req, &rt);
		return;
	}
	/* NULL: served here (static). */
	const struct config_proxy *px = rt.cs ? config_route_proxy(rt.cs, rt.path) : NULL;
	if (px) {
		/* The proxy streams the body itself: hand the connection over now. */
		reset_response(c);
		c->is_head = req->method_id == HTTP_M_HEAD;
		c->state = CS_PROXY;
		timer_cancel(&c->timer);
		c->wk->req = req;
		proxy_start(c, req, px);
		c->wk->req = NULL;
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
			dispatch(c, req, &rt);
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
	dispatch(c, req, &rt);
}

static void process_head(struct http_conn *c)
{
	const struct config *cfg = cfg_of(c);
	struct http_limits lim = limits_of(cfg);
	struct http_request *req = c->wk->req_scratch;
	for (;;) {
		if (c->in.len > 0) {
			ssize_t r = http_parse_request(c->in.data, c->in.len, &lim, req);
			if (r > 0) {
				head_complete(c, req, (size_t)r);
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
				}
				buf_consume(&c->in, (size_t)r);
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
			/* Re-parse the head (still at the start of c->in) for the handler. */
			struct http_limits lim = limits_of(cfg_of(c));
			struct http_request *req = c->wk->req_scratch;
			ssize_t h = http_parse_request(c->in.data, c->in.len, &lim, req);
			if (h != (ssize_t)c->head_len) {
				respond_error(c, 500);
				return;
			}
			dispatch(c, req, NULL);
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

/* The response is out: log it, then keep-alive or close. */
static void response_done(struct http_conn *c)
{
	if (c->file_fd >= 0) {
		close(c->file_fd);
		c->file_fd = -1;
	}
	buf_consume(&c->in, c->head_len);
	c->head_len = 0;
	c->served++;
	if (!c->keep_alive || c->stopping) {
		linger_start(c);
		return;
	}
	c->state = CS_HEAD;
	if (c->in.len == 0) {
		/* Idle: give the input buffer back, as nginx does for idle keep-alive. */
		if (c->in.cap > CONN_IN_INITIAL) {
			buf_free(&c->in);
			buf_init(&c->in, SIZE_MAX);
		}
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

/* One write of what is pending, in the order head, memory body, file body: the head and a
 * memory body go out together in one writev; a head before a file goes with MSG_MORE so that
 * it shares a segment with the file's first bytes. Returns the bytes written (> 0), 0 when
 * the socket is full, -1 on error (or a file that shrank under its Content-Length). */
static ssize_t write_some(struct http_conn *c)
{
	for (;;) {
		ssize_t n;
		if (c->out.len > 0 && c->body_mem_len == 0 && c->file_fd >= 0) {
			n = send(c->w.fd, c->out.data, c->out.len, MSG_MORE | MSG_NOSIGNAL);
		} else if (c->out.len > 0 || c->body_mem_len > 0) {
			struct iovec iov[2] = {{c->out.data, c->out.len},
					       {(void *)c->body_mem, c->body_mem_len}};
			n = c->out.len ? writev(c->w.fd, iov, c->body_mem_len ? 2 : 1)
				       : writev(c->w.fd, iov + 1, 1);
		} else {
			size_t want = (size_t)MIN(c->file_end - c->file_off, (off_t)(1 << 20));
			n = sendfile(c->w.fd, c->file_fd, &c->file_off, want);
			if (n == 0)
				return -1;
		}
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			wait_writable(c);
			return 0;
		}
		return -1;
	}
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
			continue; /* sendfile advanced file_off */
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
	shutdown(c->w.fd, SHUT_WR);
	buf_reset(&c->in);
	timer_arm(&c->wk->loop, &c->wk->t_linger, &c->timer);
}

static void process_linger(struct http_conn *c)
{
	char drop[4096];
	for (;;) {
		ssize_t n = read(c->w.fd, drop, sizeof(drop));
		if (n > 0)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno == EINTR)
			continue;
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
			proxy_client_event(c->px);
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
	struct http_conn *c = (struct http_conn *)w;
	if (c->state == CS_CLOSED)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->readable = true;
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->peer_shut = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->writable = true;
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
	free(c);
}

static void conn_close(struct http_conn *c)
{
	if (c->state == CS_CLOSED)
		return;
	c->state = CS_CLOSED;
	timer_cancel(&c->timer);
	timer_cancel(&c->body_deadline);
	if (c->px) {
		struct proxy_x *px = c->px;
		c->px = NULL;
		proxy_abort(px);
	}
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	close(c->w.fd); /* also removes it from epoll */
	worker_conn_removed(c->wk, &c->link);
	loop_defer(&c->wk->loop, &c->defer);
	c->defer.fn = conn_free;
}

/* Graceful stop: idle connections close now, busy ones after their response. */
static void on_stop(struct conn_link *link)
{
	struct http_conn *c = conn_of_link(link);
	c->stopping = true;
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

void http_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		     bool proxy_protocol)
{
	struct http_conn *c = xcalloc(1, sizeof(*c));
	c->w.fd = fd;
	c->w.cb = on_event;
	c->wk = wk;
	c->timer.cb = on_timeout;
	c->body_deadline.cb = on_body_deadline;
	c->file_fd = -1;
	c->state = proxy_protocol ? CS_PPHDR : CS_HEAD;
	c->link.on_stop = on_stop;
	if (peer_len > sizeof(c->peer))
		peer_len = sizeof(c->peer);
	memcpy(&c->peer, peer, peer_len);
	c->peer_len = peer_len;
	buf_init(&c->in, SIZE_MAX);
	buf_init(&c->out, CONN_OUT_MAX);
	if (loop_add(&wk->loop, &c->w, EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
		close(fd);
		buf_free(&c->in);
		free(c);
		return;
	}
	worker_conn_added(wk, &c->link);
	/* A fresh connection usually has its request waiting already (and with
	 * TCP_DEFER_ACCEPT always): try to read before going back to epoll. */
	c->readable = true;
	c->writable = true;
	timer_arm(&wk->loop, &wk->t_header, &c->timer);
	conn_process(c);
}

/* ---- streaming hand-off (the reverse proxy) -------------------------------------------- */

#define CONN_STREAM_BODY_MAX 65536 /* request body bytes buffered after the head */

void http_conn_set_stream(struct http_conn *c, struct proxy_x *px)
{
	c->px = px;
}

int http_conn_fd(const struct http_conn *c)
{
	return c->w.fd;
}

struct worker *http_conn_worker(const struct http_conn *c)
{
	return c->wk;
}

const struct sockaddr *http_conn_peer(const struct http_conn *c, socklen_t *ret_len)
{
	*ret_len = c->peer_len;
	return (const struct sockaddr *)&c->peer;
}

bool http_conn_keep_alive(const struct http_conn *c)
{
	return c->keep_alive && !c->force_close && !c->stopping &&
	       !atomic_load_explicit(&c->wk->srv->stopping, memory_order_relaxed);
}

struct buf *http_conn_in(struct http_conn *c, size_t *ret_head_len)
{
	*ret_head_len = c->head_len;
	return &c->in;
}

int http_conn_read(struct http_conn *c)
{
	if (c->in.len >= c->head_len + CONN_STREAM_BODY_MAX)
		return 0;
	return fill(c, c->head_len + CONN_STREAM_BODY_MAX);
}

/* What a send or splice to the client returned, as the stream API says it: bytes, 0 when the
 * socket is full (then EPOLLOUT is watched), -1 on error. */
static ssize_t sent(struct http_conn *c, ssize_t r)
{
	if (r >= 0)
		return r;
	int e = errno;
	if (e == EAGAIN)
		wait_writable(c);
	return e == EAGAIN || e == EINTR ? 0 : -1;
}

ssize_t http_conn_send(struct http_conn *c, const void *p, size_t n)
{
	if (!c->writable || n == 0)
		return 0;
	return sent(c, send(c->w.fd, p, n, MSG_NOSIGNAL));
}

ssize_t http_conn_splice_in(struct http_conn *c, int pipe_fd, size_t n, bool pipe_empty)
{
	if (!c->readable || n == 0)
		return 0;
	ssize_t r = splice(c->w.fd, NULL, pipe_fd, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (r > 0)
		return r;
	if (r == 0)
		return -1; /* EOF */
	if (errno == EAGAIN) {
		/* The socket is drained, or the pipe is full: only an empty pipe says which. */
		if (pipe_empty)
			c->readable = false;
		return 0;
	}
	return errno == EINTR ? 0 : -1;
}

ssize_t http_conn_splice(struct http_conn *c, int pipe_fd, size_t n)
{
	if (!c->writable || n == 0)
		return 0;
	ssize_t r = splice(pipe_fd, NULL, c->w.fd, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (r == 0) /* the pipe was empty, which the caller rules out */
		return -1;
	return sent(c, r);
}

/* The request head, parsed again (the worker's parse of it is long gone), for the log. */
static const struct http_request *reparse(struct http_conn *c)
{
	struct http_limits lim = limits_of(cfg_of(c));
	struct http_request *req = c->wk->req_scratch;
	ssize_t h = http_parse_request(c->in.data, c->in.len, &lim, req);
	return h == (ssize_t)c->head_len ? req : NULL;
}

static void stream_detach(struct http_conn *c)
{
	c->px = NULL;
	timer_cancel(&c->timer);
}

void http_conn_stream_respond(struct http_conn *c)
{
	stream_detach(c);
	begin_write(c, reparse(c));
	if (!c->processing)
		conn_process(c);
}

void http_conn_stream_end(struct http_conn *c, int status, uint64_t body_bytes, bool keep_alive)
{
	stream_detach(c);
	c->status = status;
	c->body_bytes = body_bytes;
	access_log(c, reparse(c));
	atomic_fetch_add_explicit(&c->wk->srv->requests, 1, memory_order_relaxed);
	c->keep_alive = keep_alive && http_conn_keep_alive(c);
	response_done(c);
	if (!c->processing)
		conn_process(c);
}

void http_conn_stream_abort(struct http_conn *c)
{
	stream_detach(c);
	conn_close(c);
}
