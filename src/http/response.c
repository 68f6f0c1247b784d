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
#include "http/response.h"

enum {
	C_TCHAR = 1 << 0, /* token (RFC 9110 §5.6.2) */
	C_FIELD = 1 << 1, /* field-value and reason-phrase octet: VCHAR, obs-text, SP, HTAB */
};

#define TF (C_TCHAR | C_FIELD)

/* clang-format off */
static const unsigned char cls[256] = {
	['\t'] = C_FIELD, [' '] = C_FIELD,
	['!'] = TF, ['"'] = C_FIELD, ['#'] = TF, ['$'] = TF, ['%'] = TF, ['&'] = TF, ['\''] = TF,
	['('] = C_FIELD, [')'] = C_FIELD, ['*'] = TF, ['+'] = TF, [','] = C_FIELD, ['-'] = TF,
	['.'] = TF, ['/'] = C_FIELD, ['0' ... '9'] = TF, [':'] = C_FIELD, [';'] = C_FIELD,
	['<'] = C_FIELD, ['='] = C_FIELD, ['>'] = C_FIELD, ['?'] = C_FIELD, ['@'] = C_FIELD,
	['A' ... 'Z'] = TF, ['['] = C_FIELD, ['\\'] = C_FIELD, [']'] = C_FIELD, ['^'] = TF,
	['_'] = TF, ['`'] = TF, ['a' ... 'z'] = TF, ['{'] = C_FIELD, ['|'] = TF, ['}'] = C_FIELD,
	['~'] = TF, [0x80 ... 0xff] = C_FIELD,
};
/* clang-format on */

#define CLS(c, m) (cls[(unsigned char)(c)] & (m))

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Next element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed; an empty value
 * yields one empty element, a trailing comma a final empty one. *pos starts at 0. */
static bool list_next(const char *v, size_t n, size_t *pos, const char **ret, size_t *ret_len)
{
	size_t s = *pos, e;
	if (s > n)
		return false;
	for (e = s; e < n && v[e] != ','; e++)
		;
	*pos = e + 1;
	while (s < e && is_ows(v[s]))
		s++;
	while (e > s && is_ows(v[e - 1]))
		e--;
	*ret = v + s;
	*ret_len = e - s;
	return true;
}

const struct http_header *http_response_header(const struct http_response *resp,
					       const char *lname)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (str_ieq(resp->headers[i].name, resp->headers[i].name_len, lname))
			return &resp->headers[i];
	return NULL;
}

/* Content-Length = 1*DIGIT, a list or repeated fields only when all values are equal, no
 * leading zeros: the request parser's rule, for the same reason. *io is -1 until a value. */
static int parse_content_length(const char *v, size_t n, int64_t *io)
{
	const char *e;
	size_t len, pos = 0;
	while (list_next(v, n, &pos, &e, &len)) {
		int64_t x = 0;
		if (len == 0 || (len > 1 && e[0] == '0'))
			return -EBADMSG;
		for (size_t i = 0; i < len; i++) {
			if (!is_digit(e[i]))
				return -EBADMSG;
			if (x > (INT64_MAX - (e[i] - '0')) / 10)
				return -EBADMSG;
			x = x * 10 + (e[i] - '0');
		}
		if (*io >= 0 && *io != x)
			return -EBADMSG;
		*io = x;
	}
	return 0;
}

struct te_scan {
	unsigned n_chunked;
	bool last_chunked;
	bool other;
	bool bad;
};

/* Transfer-Encoding = #transfer-coding over every TE field in order (RFC 9112 §6.1), where
 * transfer-coding = token *( OWS ";" OWS token "=" ( token / quoted-string ) ). Parameters
 * of other codings are only checked to start with ";": their codings are not decoded, and
 * the response is framed by whether chunked comes last, which a parameter cannot change.
 * "chunked" defines no parameters and may be applied once: anything else is malformed. */
static void scan_transfer_encoding(const char *v, size_t n, struct te_scan *te)
{
	const char *e;
	size_t len, pos = 0;
	while (list_next(v, n, &pos, &e, &len)) {
		size_t k = 0;
		while (k < len && CLS(e[k], C_TCHAR))
			k++;
		if (k == 0) {
			te->bad = true;
			continue;
		}
		bool chunked = str_ieq(e, k, "chunked");
		if (k < len) {
			while (k < len && is_ows(e[k]))
				k++;
			if (chunked || k == len || e[k] != ';')
				te->bad = true;
		}
		te->last_chunked = chunked;
		if (chunked)
			te->n_chunked++;
		else
			te->other = true;
	}
}

static int derive(struct http_response *resp)
{
	struct te_scan te = {0};
	bool has_te = false, has_upgrade = false;
	bool conn_close = false, conn_keep_alive = false, conn_upgrade = false;
	int64_t cl = -1;
	const char *e;
	size_t len, pos;

	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		const char *v = h->value;
		size_t n = h->value_len;
		switch (h->name_len) {
		case 7:
			if (str_ieq(h->name, 7, "upgrade"))
				has_upgrade = true;
			break;
		case 10:
			if (!str_ieq(h->name, 10, "connection"))
				break;
			for (pos = 0; list_next(v, n, &pos, &e, &len);) {
				if (str_ieq(e, len, "close"))
					conn_close = true;
				else if (str_ieq(e, len, "keep-alive"))
					conn_keep_alive = true;
				else if (str_ieq(e, len, "upgrade"))
					conn_upgrade = true;
			}
			break;
		case 14:
			if (str_ieq(h->name, 14, "content-length") &&
			    parse_content_length(v, n, &cl) < 0)
				return -EBADMSG;
			break;
		case 17:
			if (str_ieq(h->name, 17, "transfer-encoding")) {
				has_te = true;
				scan_transfer_encoding(v, n, &te);
			}
			break;
		}
	}

	if (has_te) {
		/* RFC 9112 §6.1: TE in an HTTP/1.0 message means the framing is faulty. */
		if (resp->version == 10)
			return -EBADMSG;
		if (te.bad || te.n_chunked > 1)
			return -EBADMSG;
	}

	resp->te = has_te;
	resp->chunked = has_te && te.last_chunked;
	resp->te_other = has_te && te.other;
	resp->cl_ignored = has_te && cl >= 0;
	resp->content_length = has_te ? -1 : cl;
	resp->keep_alive = !conn_close && (resp->version == 11 || conn_keep_alive);
	resp->upgrade = conn_upgrade && has_upgrade;
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
		if (pattern[p] == '#' ? !is_digit(c) : c != pattern[p])
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
	while (p < end && CLS(buf[p], C_FIELD))
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

	/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), exactly as for
	 * requests: no obs-fold, no whitespace before the colon, no empty name. */
	size_t n = 0;
	for (;;) {
		if (p >= end)
			return more;
		if (buf[p] == '\r') {
			if (p + 1 >= end)
				return more;
			if (buf[p + 1] != '\n')
				return -EBADMSG;
			p += 2;
			break;
		}
		const size_t name = p;
		while (p < end && CLS(buf[p], C_TCHAR))
			p++;
		if (p >= end)
			return more;
		if (buf[p] != ':' || p == name)
			return -EBADMSG;
		if (n == max_headers)
			return -EMSGSIZE;
		const size_t colon = p;
		for (p++; p < end && is_ows(buf[p]); p++)
			;
		const size_t value = p;
		while (p + 4 <= end && CLS(buf[p], C_FIELD) && CLS(buf[p + 1], C_FIELD) &&
		       CLS(buf[p + 2], C_FIELD) && CLS(buf[p + 3], C_FIELD))
			p += 4;
		while (p < end && CLS(buf[p], C_FIELD))
			p++;
		if (p >= end)
			return more;
		if (buf[p] != '\r')
			return -EBADMSG;
		if (p + 1 >= end)
			return more;
		if (buf[p + 1] != '\n')
			return -EBADMSG;
		size_t value_end = p;
		while (value_end > value && is_ows(buf[value_end - 1]))
			value_end--;
		ret->headers[n].name = buf + name;
		ret->headers[n].name_len = colon - name;
		ret->headers[n].value = buf + value;
		ret->headers[n].value_len = value_end - value;
		n++;
		p += 2;
	}
	ret->n_headers = n;

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
