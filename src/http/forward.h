/* The heads a reverse proxy writes: the request it sends upstream, built from a request
 * http_parse_request() accepted, and the response it sends back, built from one
 * http_parse_response() accepted. Pure: they only append to a struct buf.
 *
 * Both directions drop the hop-by-hop fields (RFC 9110 §7.6.1): Connection and every field
 * it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade (kept
 * when upgrading), and they drop Content-Length, writing the framing fields themselves from
 * what the caller says it will send, so that the head always agrees with the body that
 * follows it. Nothing the client names in Connection can remove a field the proxy adds.
 *
 * Request fields added or replaced, from the real client (RFC 7239 and the X-Forwarded-*
 * conventions):
 *   Host               the client's (first in the head), or the authority of an
 *                      absolute-form target (RFC 9112 §3.2.2), or opts->host; an
 *                      HTTP/1.0 request without Host needs opts->host
 *   X-Forwarded-For    the client's address
 *   X-Forwarded-Proto  "http" or "https"
 *   X-Forwarded-Host   the host the client asked for (omitted when it sent none)
 *   Forwarded          for=ADDR;proto=P;host=H, IPv6 as for="[2001:db8::1]"
 * From an untrusted peer, a client-supplied X-Forwarded-* or Forwarded field is dropped and
 * replaced. From a trusted peer (another proxy: peer_trusted, the caller's CIDR match),
 * X-Forwarded-For and Forwarded are lists with one element per hop: the received elements
 * are kept and ours appended ("6.6.6.6, 10.0.0.2"); X-Forwarded-Proto and -Host describe the
 * request the first proxy received, so a received value is kept as it is and ours only
 * added when there is none (appending would give "https, http", which applications read
 * inconsistently). An address we cannot name (a Unix socket peer) is written "unknown". */
#ifndef FERRY_HTTP_FORWARD_H
#define FERRY_HTTP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "http/parser.h"
#include "http/response.h"

/* A field the configuration sets or removes on the way through the proxy (`proxy-header-up`,
 * `proxy-header-down`): every received field of that name is dropped, and when value is not
 * NULL this one written instead. Names and values are checked when the configuration is read
 * (a token; no CR, LF, NUL), and never name a field the builder owns (see above). */
struct http_field_op {
	const char *name;
	size_t name_len;
	const char *value; /* NULL: remove */
	size_t value_len;
};

/* Is this field one of those the request builder writes itself (Host, Content-Length,
 * X-Forwarded-*, Forwarded) or a hop-by-hop one? (`proxy-header-up` may not name them.) */
bool http_forward_owns_request_field(const char *name, size_t len);

struct http_forward_opts {
	/* The client: the TCP peer, or the source address a PROXY protocol header carried.
	 * NULL or AF_UNIX: "unknown". IPv4-mapped IPv6 is written as IPv4. */
	const struct sockaddr *peer;
	socklen_t peer_len;
	bool peer_trusted; /* keep and extend the client's X-Forwarded-* and Forwarded */
	bool https;        /* the client connection is TLS: proto "https" */
	/* Non-NULL: send this Host instead of the client's (the X-Forwarded-Host and
	 * Forwarded host= still name what the client asked for). Non-empty. */
	const char *host;
	size_t host_len;
	/* Framing of the body ferry sends after this head: content_length >= 0 writes
	 * "Content-Length: N" (pass req->content_length to forward the body as it came),
	 * chunked writes "Transfer-Encoding: chunked". Neither: no body. Both: -EINVAL. */
	int64_t content_length;
	bool chunked;
	/* Forward the client's Upgrade field(s) with "Connection: upgrade" (only when
	 * req->upgrade is set: -EINVAL otherwise). Else "Connection: keep-alive", or
	 * "Connection: close" when close is set. */
	bool upgrade;
	bool close;
	/* Non-NULL: the origin-form target to send instead of req's (proxy-strip-prefix). */
	const char *target;
	size_t target_len;
	/* Fields to set or remove (proxy-header-up), applied to the client's fields. */
	const struct http_field_op *ops;
	size_t n_ops;
};

/* Append the request head to send upstream: request line, fields, empty line. The request
 * line is req's method, its target as received (an absolute-form target becomes origin-form:
 * "http://h/p?q" -> "/p?q", "http://h" -> "/"), and "HTTP/1.1". Returns 0, -ENOBUFS when
 * out would pass its maximum, -EDESTADDRREQ when there is no Host to send (an HTTP/1.0
 * request without one, and no opts->host), or -EINVAL for contradictory options or a CR,
 * LF or NUL in anything to be written (the parser refuses those; this is the second line
 * of defence). On error out is left as it was. */
int http_forward_request(struct buf *out, const struct http_request *req,
			 const struct http_forward_opts *opts);

struct http_forward_response_opts {
	/* Send the upstream's Content-Length on (normalised to a single value). False when
	 * ferry re-frames the body; ignored on 1xx and 204, which may carry none, and on a
	 * response with cl_ignored (RFC 9112 §6.3 (3)). Keep it on responses to HEAD and on
	 * 304: there it states the size of the representation, not of a body. */
	bool content_length;
	bool chunked; /* write "Transfer-Encoding: chunked" (ferry chunks the body itself);
		       * not with content_length */
	bool close;   /* write "Connection: close" */
};

/* Append the response head to send to the client: "HTTP/1.1" status reason, the
 * end-to-end fields, the framing fields the options ask for, the empty line. On a 101 the
 * Upgrade field is kept, "Connection: upgrade" written, and the options ignored; on other
 * 1xx the options are ignored too. Returns 0, -ENOBUFS, or -EINVAL (content_length and
 * chunked both set, or a CR, LF or NUL to be written); on error out is left as it was. */
int http_forward_response(struct buf *out, const struct http_response *resp,
			  const struct http_forward_response_opts *opts);

/* The end-to-end fields of resp, one emit call each, for a protocol-neutral response head
 * (the status line, framing and Connection fields are the client protocol's). Everything is
 * checked first: returns -EINVAL, with no call made, when the status is out of range or the
 * reason or a kept field holds a CR, LF or NUL; otherwise start (if not NULL) is called once,
 * then emit for each kept field, and 0 is returned. */
typedef void http_forward_start_fn(void *arg, const struct http_response *resp);
typedef void http_forward_emit_fn(void *arg, const char *name, size_t name_len,
				  const char *value, size_t value_len);
int http_forward_response_each(const struct http_response *resp, http_forward_start_fn *start,
			       http_forward_emit_fn *emit, void *arg);

/* For callers that write the response head themselves: whether resp->headers[i] is an
 * end-to-end field that http_forward_response() would copy (Content-Length never is). */
bool http_forward_response_keeps(const struct http_response *resp, size_t i);

/* One of the fixed hop-by-hop names above (not those a Connection field adds)? */
bool http_forward_is_hop_by_hop(const char *name, size_t len);

#endif
