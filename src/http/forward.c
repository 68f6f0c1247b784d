/* The request and response heads the reverse proxy writes: which received fields cross
 * the proxy (end-to-end ones) and which stop at it (hop-by-hop ones), the framing fields
 * rewritten from what the proxy will actually send, and the X-Forwarded-* / Forwarded
 * fields that tell the upstream who the client is, spoof-proof unless the peer is trusted.
 *
 * Every byte written comes from a head the parsers accepted, from a number, or from an
 * address formatted here; CR, LF and NUL are still looked for in each piece before it is
 * appended, because a header injection here would let one client request become two
 * upstream requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>

#include "base/macro.h"
#include "base/str.h"
#include "http/forward.h"
#include "http/fields.h"

/* Room for an IPv6 address in brackets and quotes, or "unknown". */
#define PEER_STRLEN (INET6_ADDRSTRLEN + 4)

static bool clean(const char *p, size_t n)
{
	/* One pass: the pieces are short, three memchr calls cost more than the loop. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= '\r' && (c == '\r' || c == '\n' || c == '\0'))
			return false;
	}
	return true;
}

/* Content-Length: N CRLF, without printf (one per forwarded head). */
static int put_content_length(struct buf *out, int64_t v)
{
	char d[32];
	size_t i = sizeof(d);
	uint64_t u = (uint64_t)v;
	d[--i] = '\n';
	d[--i] = '\r';
	do
		d[--i] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	int r = buf_appends(out, "Content-Length: ");
	return r < 0 ? r : buf_append(out, d + i, sizeof(d) - i);
}

static int put(struct buf *out, const char *p, size_t n)
{
	if (!clean(p, n))
		return -EINVAL;
	return buf_append(out, p, n);
}

static int put_str(struct buf *out, const char *s)
{
	return put(out, s, strlen(s));
}

static int put_field(struct buf *out, const char *name, size_t name_len, const char *value,
		     size_t value_len)
{
	int r;
	if ((r = put(out, name, name_len)) < 0 || (r = buf_append(out, ": ", 2)) < 0 ||
	    (r = put(out, value, value_len)) < 0 || (r = buf_append(out, "\r\n", 2)) < 0)
		return r;
	return 0;
}

bool http_forward_is_hop_by_hop(const char *name, size_t len)
{
	/* RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE,
	 * Transfer-Encoding and Upgrade; Trailer goes too, since a proxy that re-frames
	 * the body drops the trailer section it announces. */
	switch (len) { /* by length first: most fields are none of these */
	case 2:
		return str_ieq(name, len, "te");
	case 7:
		return str_ieq(name, len, "trailer") || str_ieq(name, len, "upgrade");
	case 10:
		return str_ieq(name, len, "connection") || str_ieq(name, len, "keep-alive");
	case 16:
		return str_ieq(name, len, "proxy-connection");
	case 17:
		return str_ieq(name, len, "transfer-encoding");
	default:
		return false;
	}
}

/* The connection options of a head (RFC 9110 §7.6.1): the names its Connection fields list,
 * gathered once so that each field is checked against a short list instead of re-splitting
 * every Connection field per field. More names than fit: look them up the long way. */
#define CONN_OPTS_MAX 8

struct conn_opts {
	const struct http_header *hs;
	size_t n_hs;
	size_t n;
	bool overflow;
	struct {
		const char *p;
		size_t len;
	} v[CONN_OPTS_MAX];
};

static void conn_opts_init(struct conn_opts *co, const struct http_header *hs, size_t n)
{
	co->hs = hs;
	co->n_hs = n;
	co->n = 0;
	co->overflow = false;
	for (size_t i = 0; i < n && !co->overflow; i++) {
		if (!str_ieq(hs[i].name, hs[i].name_len, "connection"))
			continue;
		const char *e;
		size_t elen, pos = 0;
		while (http_fields_list_next(hs[i].value, hs[i].value_len, &pos, &e, &elen)) {
			if (co->n == CONN_OPTS_MAX) {
				co->overflow = true;
				break;
			}
			co->v[co->n].p = e;
			co->v[co->n++].len = elen;
		}
	}
}

/* Is this field named as a connection option by any Connection field of the head? */
static bool conn_opts_name(const struct conn_opts *co, const char *name, size_t len)
{
	if (co->overflow) {
		for (size_t i = 0; i < co->n_hs; i++) {
			const struct http_header *h = &co->hs[i];
			if (!str_ieq(h->name, h->name_len, "connection"))
				continue;
			const char *e;
			size_t elen, pos = 0;
			while (http_fields_list_next(h->value, h->value_len, &pos, &e, &elen))
				if (str_ieqn(e, elen, name, len))
					return true;
		}
		return false;
	}
	for (size_t i = 0; i < co->n; i++)
		if (str_ieqn(co->v[i].p, co->v[i].len, name, len))
			return true;
	return false;
}

/* The client's address as X-Forwarded-For writes it ("192.0.2.1", "2001:db8::1") and as a
 * Forwarded node ("192.0.2.1", "\"[2001:db8::1]\""): RFC 7239 §6 brackets IPv6 and then
 * needs quotes, since ":" and "[" are not token characters. */
static void format_peer(const struct sockaddr *sa, socklen_t len, char *xff, char *fwd)
{
	char a[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		str_fmt_ipv4(a, (const unsigned char *)&in->sin_addr);
		strcpy(xff, a);
		strcpy(fwd, a);
		return;
	}
	if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			str_fmt_ipv4(a, &in6->sin6_addr.s6_addr[12]);
			strcpy(xff, a);
			strcpy(fwd, a);
			return;
		}
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		strcpy(xff, a);
		strcpy(fwd, "\"[");
		strcat(fwd, a);
		strcat(fwd, "]\"");
		return;
	}
	/* RFC 7239 §6.2: "unknown" when the address cannot be named (a Unix socket). */
	strcpy(xff, "unknown");
	strcpy(fwd, "unknown");
}

/* value = token / quoted-string (RFC 7239 §4): a host with a port or an IPv6 literal is no
 * token and gets quoted, with " and \ escaped (a valid Host has neither; be safe anyway). */
static int put_fwd_value(struct buf *out, const char *v, size_t n)
{
	bool token = n > 0;
	for (size_t i = 0; i < n && token; i++)
		token = http_fields_is_token(v[i]);
	if (token)
		return put(out, v, n);
	int r = buf_append(out, "\"", 1);
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (v[i] == '"' || v[i] == '\\')
			r = buf_append(out, "\\", 1);
		if (r >= 0)
			r = put(out, v + i, 1);
	}
	return r < 0 ? r : buf_append(out, "\"", 1);
}

/* Append the values of every field with this lower-case name that Connection does not name,
 * joined with ", ". *ret_any tells whether anything was written. */
static int put_joined(struct buf *out, const struct http_request *req,
		      const struct conn_opts *co, const char *lname, bool *ret_any)
{
	bool any = false;
	int r;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (!str_ieq(h->name, h->name_len, lname) || h->value_len == 0 ||
		    conn_opts_name(co, h->name, h->name_len))
			continue;
		if (any && (r = buf_append(out, ", ", 2)) < 0)
			return r;
		if ((r = put(out, h->value, h->value_len)) < 0)
			return r;
		any = true;
	}
	*ret_any = any;
	return 0;
}

/* Fields the request builder writes itself, from what it knows rather than what came. */
static bool rewritten(const char *name, size_t len)
{
	static const char *const names[] = {
		"host",             "content-length",   "x-forwarded-for",
		"x-forwarded-proto", "x-forwarded-host", "forwarded",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (str_ieq(name, len, names[i]))
			return true;
	return false;
}

bool http_forward_owns_request_field(const char *name, size_t len)
{
	return rewritten(name, len) || http_forward_is_hop_by_hop(name, len);
}

static bool op_names(const struct http_forward_opts *o, const char *name, size_t len)
{
	for (size_t i = 0; i < o->n_ops; i++)
		if (str_ieqn(o->ops[i].name, o->ops[i].name_len, name, len))
			return true;
	return false;
}

static int build_request(struct buf *out, const struct http_request *req,
			 const struct http_forward_opts *o)
{
	const char *target = req->target, *host = req->host;
	size_t target_len = req->target_len, host_len = req->host_len;
	int r;

	if ((o->content_length >= 0 && o->chunked) || (o->upgrade && !req->upgrade) ||
	    (o->host && (o->host_len == 0 || !clean(o->host, o->host_len))))
		return -EINVAL;

	/* absolute-form: the parser let only http:// and https:// URIs through, and their
	 * authority is the host the client asked for (RFC 9112 §3.2.2). */
	if (req->method_id != HTTP_M_CONNECT && target_len > 0 && target[0] != '/' &&
	    !(target_len == 1 && target[0] == '*')) {
		const char *sep = memmem(target, target_len, "://", 3);
		if (!sep)
			return -EINVAL;
		size_t a = (size_t)(sep - target) + 3, e = a;
		while (e < target_len && target[e] != '/' && target[e] != '?')
			e++;
		host = target + a;
		host_len = e - a;
		target += e;
		target_len -= e;
	}
	/* An HTTP/1.0 request may come without Host, but an HTTP/1.1 one must carry a
	 * non-empty one for an http URI (RFC 9110 §7.2, §4.2.1): only the caller knows
	 * which authority the upstream expects then. */
	if (!o->host && (!host || host_len == 0))
		return -EDESTADDRREQ;
	if (o->target) {
		if (o->target_len == 0 || o->target[0] != '/')
			return -EINVAL;
		target = o->target;
		target_len = o->target_len;
	}

	if ((r = put(out, req->method, req->method_len)) < 0 || (r = buf_append(out, " ", 1)) < 0)
		return r;
	if ((target_len == 0 || target[0] == '?') && (r = buf_append(out, "/", 1)) < 0)
		return r;
	if ((r = put(out, target, target_len)) < 0 ||
	    (r = buf_appends(out, " HTTP/1.1\r\n")) < 0)
		return r;

	/* Host first (RFC 9110 §7.2 asks for it). */
	if (o->host)
		r = put_field(out, "Host", 4, o->host, o->host_len);
	else
		r = put_field(out, "Host", 4, host, host_len);
	if (r < 0)
		return r;

	struct conn_opts co;
	conn_opts_init(&co, req->headers, req->n_headers);
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		bool upgrade_kept = o->upgrade && str_ieq(h->name, h->name_len, "upgrade");
		if (!upgrade_kept && (http_forward_is_hop_by_hop(h->name, h->name_len) ||
				      conn_opts_name(&co, h->name, h->name_len)))
			continue;
		if (rewritten(h->name, h->name_len))
			continue;
		if (o->n_ops && op_names(o, h->name, h->name_len))
			continue;
		if ((r = put_field(out, h->name, h->name_len, h->value, h->value_len)) < 0)
			return r;
	}
	for (size_t i = 0; i < o->n_ops; i++) {
		const struct http_field_op *op = &o->ops[i];
		if (http_forward_owns_request_field(op->name, op->name_len))
			return -EINVAL;
		if (op->value &&
		    (r = put_field(out, op->name, op->name_len, op->value, op->value_len)) < 0)
			return r;
	}

	char xff[PEER_STRLEN], fwd[PEER_STRLEN];
	const char *proto = o->https ? "https" : "http";
	bool any;
	format_peer(o->peer, o->peer_len, xff, fwd);

	/* X-Forwarded-For: a trusted chain, then the peer. */
	if ((r = buf_appends(out, "X-Forwarded-For: ")) < 0)
		return r;
	any = false;
	if (o->peer_trusted && (r = put_joined(out, req, &co, "x-forwarded-for", &any)) < 0)
		return r;
	if ((any && (r = buf_append(out, ", ", 2)) < 0) || (r = put_str(out, xff)) < 0 ||
	    (r = buf_append(out, "\r\n", 2)) < 0)
		return r;

	/* X-Forwarded-Proto and -Host: what the first proxy saw, if trusted, else ours. */
	if ((r = buf_appends(out, "X-Forwarded-Proto: ")) < 0)
		return r;
	any = false;
	if (o->peer_trusted && (r = put_joined(out, req, &co, "x-forwarded-proto", &any)) < 0)
		return r;
	if ((!any && (r = put_str(out, proto)) < 0) || (r = buf_append(out, "\r\n", 2)) < 0)
		return r;

	size_t mark = out->len;
	if ((r = buf_appends(out, "X-Forwarded-Host: ")) < 0)
		return r;
	any = false;
	if (o->peer_trusted && (r = put_joined(out, req, &co, "x-forwarded-host", &any)) < 0)
		return r;
	if (!any && host && host_len > 0) {
		if ((r = put(out, host, host_len)) < 0)
			return r;
		any = true;
	}
	if (!any)
		out->len = mark; /* no host to name: no field */
	else if ((r = buf_append(out, "\r\n", 2)) < 0)
		return r;

	/* Forwarded: a trusted list, then our element (RFC 7239 §4, §7.1). */
	if ((r = buf_appends(out, "Forwarded: ")) < 0)
		return r;
	any = false;
	if (o->peer_trusted && (r = put_joined(out, req, &co, "forwarded", &any)) < 0)
		return r;
	if ((any && (r = buf_append(out, ", ", 2)) < 0) || (r = buf_appends(out, "for=")) < 0 ||
	    (r = put_str(out, fwd)) < 0 || (r = buf_appends(out, ";proto=")) < 0 ||
	    (r = put_str(out, proto)) < 0)
		return r;
	if (host && host_len > 0 &&
	    ((r = buf_appends(out, ";host=")) < 0 || (r = put_fwd_value(out, host, host_len)) < 0))
		return r;
	if ((r = buf_append(out, "\r\n", 2)) < 0)
		return r;

	if (o->content_length >= 0)
		r = put_content_length(out, o->content_length);
	else if (o->chunked)
		r = buf_appends(out, "Transfer-Encoding: chunked\r\n");
	if (r < 0)
		return r;

	const char *conn = o->upgrade ? "upgrade" : o->close ? "close" : "keep-alive";
	if ((r = buf_appends(out, "Connection: ")) < 0 || (r = buf_appends(out, conn)) < 0 ||
	    (r = buf_appends(out, "\r\n\r\n")) < 0)
		return r;
	return 0;
}

int http_forward_request(struct buf *out, const struct http_request *req,
			 const struct http_forward_opts *opts)
{
	const size_t start = out->len;
	int r = build_request(out, req, opts);
	if (r < 0)
		out->len = start;
	return r;
}

static bool response_keeps(const struct http_response *resp, const struct conn_opts *co,
			   size_t i)
{
	const struct http_header *h = &resp->headers[i];

	if (str_ieq(h->name, h->name_len, "content-length"))
		return false;
	/* A 101 hands the connection over to the protocol Upgrade names: the client needs
	 * that field, whatever Connection says about it. */
	if (resp->status == 101 && str_ieq(h->name, h->name_len, "upgrade"))
		return true;
	return !http_forward_is_hop_by_hop(h->name, h->name_len) &&
	       !conn_opts_name(co, h->name, h->name_len);
}

bool http_forward_response_keeps(const struct http_response *resp, size_t i)
{
	struct conn_opts co;
	conn_opts_init(&co, resp->headers, resp->n_headers);
	return response_keeps(resp, &co, i);
}

int http_forward_response_each(const struct http_response *resp, http_forward_start_fn *start,
			       http_forward_emit_fn *emit, void *arg)
{
	if (resp->status < 100 || resp->status > 999 || !clean(resp->reason, resp->reason_len) ||
	    resp->n_headers > HTTP_MAX_HEADERS_HARD)
		return -EINVAL;
	struct conn_opts co;
	bool keep[HTTP_MAX_HEADERS_HARD];
	conn_opts_init(&co, resp->headers, resp->n_headers);
	/* All checked before the first is given: the caller must not be left half a head. */
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		keep[i] = response_keeps(resp, &co, i);
		if (keep[i] && (!clean(h->name, h->name_len) || !clean(h->value, h->value_len)))
			return -EINVAL;
	}
	if (start)
		start(arg, resp);
	for (size_t i = 0; emit && i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		if (keep[i])
			emit(arg, h->name, h->name_len, h->value, h->value_len);
	}
	return 0;
}

static int build_response(struct buf *out, const struct http_response *resp,
			  const struct http_forward_response_opts *o)
{
	const int s = resp->status;
	int r;

	if (s < 100 || s > 999 || (o->content_length && o->chunked))
		return -EINVAL;
	char line[] = "HTTP/1.1 000 ";
	line[9] = (char)('0' + s / 100);
	line[10] = (char)('0' + s / 10 % 10);
	line[11] = (char)('0' + s % 10);
	if ((r = buf_append(out, line, sizeof(line) - 1)) < 0 ||
	    (r = put(out, resp->reason, resp->reason_len)) < 0 ||
	    (r = buf_append(out, "\r\n", 2)) < 0)
		return r;

	struct conn_opts co;
	conn_opts_init(&co, resp->headers, resp->n_headers);
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		if (response_keeps(resp, &co, i) &&
		    (r = put_field(out, h->name, h->name_len, h->value, h->value_len)) < 0)
			return r;
	}

	if (s == 101) {
		r = buf_appends(out, "Connection: upgrade\r\n");
	} else if (s >= 200) {
		/* RFC 9110 §8.6: no Content-Length in a 1xx or 204; interim responses have
		 * no body to frame at all. */
		if (o->content_length && resp->content_length >= 0 && s != 204)
			r = put_content_length(out, resp->content_length);
		if (r >= 0 && o->chunked)
			r = buf_appends(out, "Transfer-Encoding: chunked\r\n");
		if (r >= 0 && o->close)
			r = buf_appends(out, "Connection: close\r\n");
	}
	if (r < 0)
		return r;
	return buf_append(out, "\r\n", 2);
}

int http_forward_response(struct buf *out, const struct http_response *resp,
			  const struct http_forward_response_opts *opts)
{
	const size_t start = out->len;
	int r = build_response(out, resp, opts);
	if (r < 0)
		out->len = start;
	return r;
}
