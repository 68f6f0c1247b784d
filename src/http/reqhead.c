/* The request head of HTTP/2 and HTTP/3 from their field records (reqhead.h). */
#include "http/reqhead.h"

#include <errno.h>
#include <string.h>

#include "base/macro.h"
#include "base/str.h"
#include "http/parser.h"

int http_rec_put(struct buf *b, const char *name, size_t nl, const char *value, size_t vl,
		 bool lower)
{
	struct http_rec r = {(uint32_t)nl, (uint32_t)vl};
	if (buf_reserve(b, sizeof(r) + nl + vl) < 0)
		return -ENOBUFS;
	memcpy(b->data + b->len, &r, sizeof(r));
	char *p = b->data + b->len + sizeof(r);
	for (size_t i = 0; i < nl; i++)
		p[i] = lower ? ascii_lower(name[i]) : name[i];
	memcpy(p + nl, value, vl);
	b->len += sizeof(r) + nl + vl;
	return 0;
}

bool http_rec_next(const struct buf *b, size_t *pos, const char **name, size_t *nl,
		   const char **value, size_t *vl)
{
	struct http_rec r;
	if (*pos + sizeof(r) > b->len)
		return false;
	memcpy(&r, b->data + *pos, sizeof(r));
	*name = b->data + *pos + sizeof(r);
	*nl = r.name_len;
	*value = *name + r.name_len;
	*vl = r.value_len;
	*pos += sizeof(r) + r.name_len + r.value_len;
	return true;
}

/* 1 to 18 digits: nghttp2 and nghttp3 take only digits; this is a backstop. */
static bool parse_length(const char *v, size_t n, int64_t *ret)
{
	int64_t x = 0;
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_is_digit(v[i]))
			return false;
		x = x * 10 + (v[i] - '0');
	}
	*ret = x;
	return true;
}

void http_reqhead_reset(struct http_request *req, int version)
{
	memset(req, 0, offsetof(struct http_request, headers));
	req->n_headers = 0;
	req->version = version;
	req->host = NULL;
	req->host_len = 0;
	req->content_length = -1;
	req->chunked = req->expect_continue = req->upgrade = false;
	req->keep_alive = true;
}

/* The cookie-pairs of several cookie fields, as one field (RFC 9113 §8.2.3, RFC 9114 §4.2.1),
 * for handlers and HTTP/1.1 upstreams: a record appended before any view points into the
 * buffer, which stands for the parts. Returns its offset, NO_JOIN when there is no more than
 * one cookie field, or NO_ROOM when head is at its max. */
#define NO_JOIN SIZE_MAX
#define NO_ROOM (SIZE_MAX - 1)
static size_t join_cookies(struct buf *head)
{
	const char *name, *value;
	size_t nl, vl, pos, n_cookies = 0, cookie_len = 0;

	for (pos = 0; http_rec_next(head, &pos, &name, &nl, &value, &vl);)
		if (str_eq(name, nl, "cookie"))
			n_cookies++, cookie_len += vl + 2;
	if (n_cookies < 2)
		return NO_JOIN;
	size_t end = head->len, at = 0;
	if (buf_reserve(head, sizeof(struct http_rec) + 6 + cookie_len) < 0)
		return NO_ROOM;
	char *dst = head->data + end + sizeof(struct http_rec) + 6;
	for (pos = 0; http_rec_next(head, &pos, &name, &nl, &value, &vl);) {
		if (!str_eq(name, nl, "cookie"))
			continue;
		if (at) {
			memcpy(dst + at, "; ", 2);
			at += 2;
		}
		memcpy(dst + at, value, vl);
		at += vl;
	}
	struct http_rec r = {6, (uint32_t)at};
	memcpy(head->data + end, &r, sizeof(r));
	memcpy(head->data + end + sizeof(r), "cookie", 6);
	head->len = end + sizeof(r) + 6 + at;
	return end;
}

int http_reqhead_build(struct buf *head, struct http_request *req, int version, bool end_stream)
{
	const char *name, *value, *authority = NULL, *hostf = NULL;
	size_t nl, vl, alen = 0, hlen = 0, pos;
	bool expect_continue = false;

	http_reqhead_reset(req, version);
	size_t joined = join_cookies(head);
	if (joined == NO_ROOM)
		return 431;

	for (pos = 0;;) {
		size_t at = pos;
		if (!http_rec_next(head, &pos, &name, &nl, &value, &vl))
			break;
		if (nl > 0 && name[0] == ':') {
			if (str_eq(name, nl, ":method")) {
				req->method = value;
				req->method_len = vl;
			} else if (str_eq(name, nl, ":path")) {
				req->target = value;
				req->target_len = vl;
			} else if (str_eq(name, nl, ":authority")) {
				authority = value;
				alen = vl;
			}
			continue; /* :scheme: any (the decoder checked it is there and well-formed)
				   */
		}
		if (joined != NO_JOIN && at != joined && str_eq(name, nl, "cookie"))
			continue; /* a part: the joined field stands for it */
		if (req->n_headers == HTTP_MAX_HEADERS_HARD)
			return 431;
		struct http_header *h = &req->headers[req->n_headers++];
		h->name = name;
		h->name_len = nl;
		h->value = value;
		h->value_len = vl;
		if (str_eq(name, nl, "host")) {
			if (hostf)
				return -1; /* two Host fields: which authority? */
			hostf = value;
			hlen = vl;
		} else if (str_eq(name, nl, "expect")) {
			if (!str_ieq(value, vl, "100-continue"))
				return 417;
			expect_continue = true;
		} else if (str_eq(name, nl, "content-length") &&
			   !parse_length(value, vl, &req->content_length)) {
			return -1;
		}
	}
	if (!req->method)
		return -1;
	req->method_id = http_method_of(req->method, req->method_len);
	if (req->method_id == HTTP_M_CONNECT) {
		/* CONNECT (RFC 9113 §8.5, RFC 9114 §4.4): the authority is the target; extended
		 * CONNECT is not offered. */
		req->target = authority;
		req->target_len = alen;
	}
	if (!req->target || !http_target_valid(req->target, req->target_len, req->method_id))
		return 400;
	/* RFC 9113 §8.3.1, RFC 9114 §4.3.1: an authority with userinfo (or one that is no
	 * authority), or a Host that names another one, make the request malformed; a bad Host
	 * alone is a 400 as in HTTP/1.1. */
	if (authority && !http_authority_valid(authority, alen))
		return -1;
	if (hostf && !http_authority_valid(hostf, hlen))
		return 400;
	if (authority && hostf && !str_ieqn(authority, alen, hostf, hlen))
		return -1;
	req->host = authority ? authority : hostf;
	req->host_len = authority ? alen : hlen;
	req->chunked = !end_stream && req->content_length < 0;
	req->expect_continue = expect_continue;
	return 0;
}

bool http_reqhead_connection_specific(const char *name, size_t n)
{
	static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
					    "transfer-encoding", "upgrade"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (str_ieq(name, n, names[i]))
			return true;
	return false;
}
