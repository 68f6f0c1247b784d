/* One request and its response, as a handler sees them, whatever protocol carries them: an
 * HTTP/1.1 connection has one exchange at a time, an HTTP/2 or HTTP/3 connection one per
 * stream. The protocol module (proto/) implements the ops; a handler (handler/) answers
 * through the http_resp_* and http_x_* calls below and never sees a socket, a transport or a
 * frame (the models: h2o's h2o_req_t + generator, haproxy's stream over a mux).
 *
 * A response is a status, header fields, and a body: none, from memory, from a file, or
 * streamed (HTTP_LENGTH_STREAM at http_resp_end_head, then http_x_send/http_x_splice and
 * http_x_stream_end). The protocol writes the framing: for HTTP/1.1 the status line, Date,
 * Server, Connection, Content-Length or chunked. */
#ifndef FERRY_HTTP_EXCHANGE_H
#define FERRY_HTTP_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/macro.h"

struct buf;
struct worker;
struct http_request;
struct http_exchange;

/* What a streaming handler (the proxy) is told by the protocol: the client side can make
 * progress (bytes arrived, room to send), or the exchange is gone (the client closed). */
struct http_stream_cb {
	void (*event)(void *arg);
	void (*abort)(void *arg);
};

struct http_exchange_ops {
	void (*resp_start)(struct http_exchange *x, int status, const char *reason,
			   size_t reason_len, unsigned flags);
	void (*resp_header)(struct http_exchange *x, const char *name, size_t name_len,
			    const char *value, size_t len);
	void (*resp_end_head)(struct http_exchange *x, int64_t content_length);
	void (*resp_body_mem)(struct http_exchange *x, const void *p, size_t len);
	void (*resp_body_copy)(struct http_exchange *x, const void *p, size_t len);
	void (*resp_body_owned)(struct http_exchange *x, void *p, size_t len);
	void (*resp_body_file)(struct http_exchange *x, int fd, off_t off, off_t len);
	void (*resp_close)(struct http_exchange *x);

	void (*set_stream)(struct http_exchange *x, const struct http_stream_cb *cb, void *arg);
	bool (*keep_alive)(const struct http_exchange *x);
	int (*body_peek)(struct http_exchange *x, const char **ret_p, size_t *ret_len);
	void (*body_consume)(struct http_exchange *x, size_t n);
	int (*body_read)(struct http_exchange *x);
	ssize_t (*send)(struct http_exchange *x, const void *p, size_t n);
	ssize_t (*splice_out)(struct http_exchange *x, int pipe_fd, size_t n);
	ssize_t (*splice_in)(struct http_exchange *x, int pipe_fd, size_t n, bool pipe_empty);
	void (*tunnel)(struct http_exchange *x);
	int (*local_addr)(const struct http_exchange *x, struct sockaddr_storage *ret,
			  socklen_t *ret_len);
	void (*stream_end)(struct http_exchange *x, int status, uint64_t body_bytes,
			   bool keep_alive);
	void (*stream_respond)(struct http_exchange *x);
	void (*stream_abort)(struct http_exchange *x);
};

struct http_exchange {
	const struct http_exchange_ops *ops;
	struct worker *wk;
	const struct http_request *req; /* the parsed head, owned by the protocol */
	const struct sockaddr *peer;    /* the client (after a PROXY header: as it says) */
	socklen_t peer_len;
	bool is_head;    /* HEAD: no body bytes are sent, whatever the handler gives */
	bool can_splice; /* the transport moves bytes to and from a pipe (http_x_splice_*) */
	/* Set by the protocol: the request came over TLS (scheme https), and the server name
	 * the client asked for in its handshake (SNI; NULL: none), valid as long as x. */
	bool secure;
	const char *tls_name;
	size_t tls_name_len;
	/* Set by routing for the request's responses: Strict-Transport-Security (HTTP_HSTS_*;
	 * 0: none), added by http_resp_start to final responses. */
	unsigned hsts;
	uint32_t hsts_max_age; /* seconds */
	/* For the access log's json format. start_us: when the request's head was complete
	 * (monotonic µs), set by the protocol only when that format is on, else 0 (and then
	 * nobody reads a clock for it). upstream: set by the proxy, the upstream it went to
	 * (valid until the exchange's log line is written); upstream_us: from the first
	 * connection attempt to its response head, or -1. */
	uint64_t start_us;
	const char *upstream;
	int64_t upstream_us;
	/* Set by routing once the request took its rate-limit token (a request routed twice,
	 * before and after its body, takes one); cleared by the protocol for each request. */
	bool rate_taken;
	/* Set by the protocol: the connection came on the `metrics` listener. */
	bool metrics_only;
	/* Set by routing: the matched site's slot in the metrics page's counters (core/stats.h;
	 * 0: none); cleared by the protocol for each request. */
	unsigned stats_site;
	/* Set by routing: the `header` rules of the request's site or path block (NULL: none,
	 * and then they cost nothing); rules_on while a final response's head is built. */
	const struct http_field_rules *rules;
	bool rules_on;
	/* Set by routing when the block has `error-page`s (NULL: none): http_resp_error asks it
	 * first, once per response; true: it answered. arg and root_fd are for its use. */
	bool (*error_page)(struct http_exchange *x, int status);
	const void *error_page_arg;
	int error_page_root_fd;
	/* Set by the protocol on TCP TLS connections when ferry serves HTTP/3: its UDP port,
	 * advertised by http_resp_start in final responses (Alt-Svc, RFC 7838); 0: none. */
	uint16_t alt_svc_port;
};

/* `header NAME VALUE` / `header -NAME`: fields the handler gives under these names are
 * dropped, and, at the end of a final response's head, the values (placeholder templates,
 * http/tmpl.h: {host} {path}) are added. Built by config/, never a field the protocol owns. */
struct http_field_rule {
	char *name;
	size_t name_len;
	char *value; /* NULL: remove */
	size_t value_len;
	bool tmpl; /* value has placeholders */
};

struct http_field_rules {
	struct http_field_rule *v;
	size_t n;
};

/* Is name one of the rules' (the handler's field is dropped)? The rules' own fields. */
bool http_resp_rules_drop(const struct http_exchange *x, const char *name, size_t name_len);
void http_resp_rules_add(struct http_exchange *x);

struct http_tmpl_vars;
/* The placeholders' values for x's request (http/tmpl.h): {host} as the client gave it (Host,
 * or the authority of an absolute-form target), {path} the path as received (still
 * percent-encoded), {query} the query with its '?' (empty when none), {scheme}. */
void http_x_tmpl_vars(const struct http_exchange *x, struct http_tmpl_vars *ret);

enum {
	HTTP_HSTS_ON = 1 << 0,
	HTTP_HSTS_SUBDOMAINS = 1 << 1, /* includeSubDomains */
	HTTP_HSTS_PRELOAD = 1 << 2,
};

/* ---- a response ------------------------------------------------------------------------ */

enum {
	/* A response passed on from an origin (the proxy): the handler gives the reason phrase
	 * and the origin's Date and Server fields; the protocol adds none of its own. */
	HTTP_RESP_FORWARDED = 1,
};

/* The Strict-Transport-Security field x->hsts asks for. */
void http_resp_hsts(struct http_exchange *x);
/* Alt-Svc: h3=":PORT" for x->alt_svc_port. */
void http_resp_alt_svc(struct http_exchange *x);

static inline void http_resp_start(struct http_exchange *x, int status)
{
	x->ops->resp_start(x, status, NULL, 0, 0);
	if (unlikely(x->rules))
		x->rules_on = status >= 200 && x->req;
	if (x->hsts && status >= 200)
		http_resp_hsts(x);
	if (x->alt_svc_port && status >= 200)
		http_resp_alt_svc(x);
}
/* (A forwarded response gets ferry's Strict-Transport-Security too: the handler drops the
 * origin's when x->hsts is set.) */
static inline void http_resp_start_forwarded(struct http_exchange *x, int status,
					     const char *reason, size_t reason_len)
{
	x->ops->resp_start(x, status, reason, reason_len, HTTP_RESP_FORWARDED);
	if (unlikely(x->rules))
		x->rules_on = status >= 200 && x->req;
	if (x->hsts && status >= 200)
		http_resp_hsts(x);
	if (x->alt_svc_port && status >= 200)
		http_resp_alt_svc(x);
}
static inline void http_resp_header(struct http_exchange *x, const char *name, const char *value,
				    size_t len)
{
	size_t name_len = strlen(name);
	if (unlikely(x->rules_on) && http_resp_rules_drop(x, name, name_len))
		return;
	x->ops->resp_header(x, name, name_len, value, len);
}
static inline void http_resp_header_n(struct http_exchange *x, const char *name, size_t name_len,
				      const char *value, size_t len)
{
	if (unlikely(x->rules_on) && http_resp_rules_drop(x, name, name_len))
		return;
	x->ops->resp_header(x, name, name_len, value, len);
}
void http_resp_headerf(struct http_exchange *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A body of unknown length follows, streamed with http_x_send (HTTP/1.1: chunked, or up to
 * the close for an HTTP/1.0 client). */
#define HTTP_LENGTH_STREAM (-2)
/* The end of the head. content_length >= 0: a Content-Length field (and that many body bytes,
 * except for HEAD and 304); -1: no Content-Length and no body (204, 304, interim);
 * HTTP_LENGTH_STREAM: see above. */
static inline void http_resp_end_head(struct http_exchange *x, int64_t content_length)
{
	if (unlikely(x->rules_on))
		http_resp_rules_add(x);
	x->ops->resp_end_head(x, content_length);
}
/* Body from memory that outlives the response (not copied). Skipped for HEAD. */
static inline void http_resp_body_mem(struct http_exchange *x, const void *p, size_t len)
{
	x->ops->resp_body_mem(x, p, len);
}
/* Body copied (small). */
static inline void http_resp_body_copy(struct http_exchange *x, const void *p, size_t len)
{
	x->ops->resp_body_copy(x, p, len);
}
/* Body from heap memory (malloc'd) the exchange takes and frees when the response is done
 * (or at once for HEAD): generated bodies of any size (directory listings, error pages). */
static inline void http_resp_body_owned(struct http_exchange *x, void *p, size_t len)
{
	x->ops->resp_body_owned(x, p, len);
}
/* Body from a file; the exchange takes ownership of fd. */
static inline void http_resp_body_file(struct http_exchange *x, int fd, off_t off, off_t len)
{
	x->ops->resp_body_file(x, fd, off, len);
}
/* The connection closes after this response (call before http_resp_start). */
static inline void http_resp_close(struct http_exchange *x)
{
	x->ops->resp_close(x);
}
/* A complete small HTML error response (or the block's error page for the status); adds
 * Allow for 405. */
void http_resp_error(struct http_exchange *x, int status);

/* ---- streaming (the proxy) ------------------------------------------------------------- */

static inline void http_x_set_stream(struct http_exchange *x, const struct http_stream_cb *cb,
				     void *arg)
{
	x->ops->set_stream(x, cb, arg);
}
/* The client wants the connection kept after this response (and we are not stopping). */
static inline bool http_x_keep_alive(const struct http_exchange *x)
{
	return x->ops->keep_alive(x);
}
/* The request body, de-framed (HTTP/1.1 chunked decoding, HTTP/2 and HTTP/3 DATA frames):
 * ret_p and ret_len point at the next body bytes the protocol holds (len 0: none now), valid
 * until the next call on x. Returns 1 when the body ends after these bytes, 0 when more may
 * come, -1 when the body is broken (bad framing, the client left or reset the stream).
 * req->content_length >= 0 says the length in advance; req->chunked means a body of unknown
 * length (HTTP/1.1 chunked; h2/h3 without content-length). After http_x_tunnel, the bytes
 * are the client's raw stream (never 1: http_x_body_read says -1 when the client ends it). */
static inline int http_x_body_peek(struct http_exchange *x, const char **ret_p, size_t *ret_len)
{
	return x->ops->body_peek(x, ret_p, ret_len);
}
/* n of the bytes peeked were used. */
static inline void http_x_body_consume(struct http_exchange *x, size_t n)
{
	x->ops->body_consume(x, n);
}
/* Fetch more of the body from the client: 1 something arrived, 0 nothing now (the stream
 * callback's event comes when it does; also 0 while the protocol holds enough unconsumed
 * bytes), -1 EOF or error. */
static inline int http_x_body_read(struct http_exchange *x)
{
	return x->ops->body_read(x);
}
/* Response body bytes to the client, after the head (http_resp_* with content length -1
 * for a body of unknown length: HTTP/1.1 frames it chunked, or delimits it by closing for an
 * HTTP/1.0 client; h2/h3 DATA frames). Returns the bytes taken (0 when it cannot take more
 * now: the stream callback's event comes when it can), -1 on error. n 0: send what the
 * protocol holds (a head written without body bytes yet). A status < 200 in
 * http_resp_start is an interim response: after its http_resp_end_head, the next
 * http_resp_start begins the next (interim or final) response. */
static inline ssize_t http_x_send(struct http_exchange *x, const void *p, size_t n)
{
	return x->ops->send(x, p, n);
}
/* The same from a pipe, and body bytes into a pipe (only when x->can_splice). */
static inline ssize_t http_x_splice_out(struct http_exchange *x, int pipe_fd, size_t n)
{
	return x->ops->splice_out(x, pipe_fd, n);
}
static inline ssize_t http_x_splice_in(struct http_exchange *x, int pipe_fd, size_t n,
				       bool pipe_empty)
{
	return x->ops->splice_in(x, pipe_fd, n, pipe_empty);
}
/* After a 101 (Switching Protocols) head: from now on bytes pass raw both ways (WebSocket):
 * http_x_body_* give the client's stream, http_x_send writes to it unframed. */
static inline void http_x_tunnel(struct http_exchange *x)
{
	x->ops->tunnel(x);
}
static inline int http_x_local_addr(const struct http_exchange *x, struct sockaddr_storage *ret,
				    socklen_t *ret_len)
{
	return x->ops->local_addr(x, ret, ret_len);
}
/* The exchange is over: the response body is complete (HTTP/1.1 writes the last chunk,
 * h2/h3 END_STREAM); status and body bytes are for the access log; keep_alive false: the
 * connection closes after it (HTTP/1.1). */
static inline void http_x_stream_end(struct http_exchange *x, int status, uint64_t body_bytes,
				     bool keep_alive)
{
	x->ops->stream_end(x, status, body_bytes, keep_alive);
}
/* A response was written with http_resp_* instead: send it like a handler's. */
static inline void http_x_stream_respond(struct http_exchange *x)
{
	x->ops->stream_respond(x);
}
/* Cut the exchange short (a response cut short must not look complete). */
static inline void http_x_stream_abort(struct http_exchange *x)
{
	x->ops->stream_abort(x);
}

#endif
