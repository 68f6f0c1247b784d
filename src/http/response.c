/* The HTTP/1.1 response-head parser for upstream responses: status line, field lines, the
 * fields that decide framing and persistence (Content-Length, Transfer-Encoding, Connection,
 * Upgrade), and the body-framing decision of RFC 9112 §6.3. A pure function over (buf, len),
 * like the request parser next door.
 *
 * Why as strict as the request parser: a proxy that reads a response's length differently
 * from the server that wrote it takes the rest of the body for the next response on that
 * connection, and hands it to another client (response splitting, response queue poisoning).
 * So a response that could be framed two ways is refused (502), never repaired. */
#include <errno.h>
#include <string.h>

#include "base/macro.h"
#include "base/str.h"
#include "http/fields.h"
#include "http/response.h"

const struct http_header *http_response_header(const struct http_response *resp,
					       const char *lname)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (str_ieq(resp->headers[i].name, resp->headers[i].name_len, lname))
			return &resp->headers[i];
	return NULL;
}

/* The fields that decide framing and persistence, read as for requests (http/fields.h); what
 * they mean differs: Content-Length next to Transfer-Encoding is ignored, not refused, and a
 * coding other than chunked is reported, not refused. */
static int derive(struct http_response *resp)
{
	struct http_fields_framing f = HTTP_FIELDS_FRAMING_INIT;

	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		if (http_fields_framing_add(&f, h->name, h->name_len, h->value, h->value_len) < 0)
			return -EBADMSG;
	}

	if (f.has_te) {
		/* RFC 9112 §6.1: TE in an HTTP/1.0 message means the framing is faulty. */
		if (resp->version == 10)
			return -EBADMSG;
		/* Chunked may be applied once, and defines no parameters. */
		if (f.te_bad || f.n_chunked > 1)
			return -EBADMSG;
	}

	resp->te = f.has_te;
	resp->chunked = f.has_te && f.last_chunked;
	resp->te_other = f.has_te && f.te_other;
	resp->cl_ignored = f.has_te && f.content_length >= 0;
	resp->content_length = f.has_te ? -1 : f.content_length;
	resp->keep_alive = !f.conn_close && (resp->version == 11 || f.conn_keep_alive);
	resp->upgrade = f.conn_upgrade && f.has_upgrade;
	return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF. Returns the offset
 * just past its CRLF, 0 for "need more" (when p reaches end), or an error. */
static ssize_t parse_status_line(const char *buf, size_t end, struct http_response *ret)
{
	/* "HTTP/" DIGIT "." DIGIT SP 3DIGIT: fixed positions, checked as they arrive. */
	static const char pattern[] = "HTTP/#.# ###";
	size_t p;
	for (p = 0; p < STRLEN(pattern); p++) {
		if (p == end)
			return 0;
		char c = buf[p];
		if (pattern[p] == '#' ? !ascii_is_digit(c) : c != pattern[p])
			return -EBADMSG;
		/* Report a foreign major version as such once it is known, not later. */
		if (p == 5 && c != '1')
			return -EPROTONOSUPPORT;
	}
	ret->version = buf[7] == '0' ? 10 : 11;
	ret->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (ret->status < 100 || ret->status > 599)
		return -EBADMSG;

	if (p == end)
		return 0;
	if (buf[p] == ' ') {
		p++;
	} else if (buf[p] != '\r') {
		return -EBADMSG;
	}
	const size_t reason = p;
	while (p < end && http_fields_is_value(buf[p]))
		p++;
	if (p == end)
		return 0;
	if (buf[p] != '\r')
		return -EBADMSG;
	if (p + 1 == end)
		return 0;
	if (buf[p + 1] != '\n')
		return -EBADMSG;
	ret->reason = buf + reason;
	ret->reason_len = p - reason;
	return (ssize_t)(p + 2);
}

ssize_t http_parse_response(const char *buf, size_t len, const struct http_response_limits *lim,
			    struct http_response *ret)
{
	/* As in http_parse_request(): nothing at or past `end` can belong to a head of at most
	 * max_head bytes, so running out of bytes there is -EMSGSIZE, before it "need more". */
	const size_t end = MIN(len, lim->max_head);
	const ssize_t more = len >= lim->max_head ? -EMSGSIZE : 0;
	const size_t max_headers = MIN(lim->max_headers, (size_t)HTTP_MAX_HEADERS_HARD);

	ssize_t r = parse_status_line(buf, end, ret);
	if (r <= 0)
		return r < 0 ? r : more;
	size_t p = (size_t)r;

	/* The field lines, exactly as for requests: no obs-fold, no whitespace before the
	 * colon, no empty name, no CTL in a value. */
	r = http_fields_parse(buf, p, end, ret->headers, max_headers, &ret->n_headers);
	if (r <= 0)
		return r < 0 ? r : more;
	p = (size_t)r;

	r = derive(ret);
	if (r < 0)
		return r;
	return (ssize_t)p;
}

int http_response_framing(const struct http_response *resp, enum http_method method,
			  bool upgrading)
{
	const int s = resp->status;

	/* RFC 9110 §15.2.2: a server switches only to a protocol the client asked for, and
	 * says which one in Upgrade with Connection: upgrade (§7.8). Anything else would turn
	 * the connection into a tunnel nobody asked for. */
	if (s == 101)
		return upgrading && resp->upgrade ? HTTP_FRAMING_TUNNEL : -EBADMSG;
	if (method == HTTP_M_HEAD || (s >= 100 && s <= 199) || s == 204 || s == 304)
		return HTTP_FRAMING_NONE;
	if (method == HTTP_M_CONNECT && s >= 200 && s <= 299)
		return HTTP_FRAMING_TUNNEL;
	if (resp->te)
		return resp->chunked ? HTTP_FRAMING_CHUNKED : HTTP_FRAMING_UNTIL_CLOSE;
	if (resp->content_length >= 0)
		return HTTP_FRAMING_LENGTH;
	return HTTP_FRAMING_UNTIL_CLOSE;
}
