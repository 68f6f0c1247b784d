/* The HTTP/1.1 request-head parser: request line, field lines, and the fields that decide
 * framing and routing (Content-Length, Transfer-Encoding, Host, Connection, Expect), checked
 * as RFC 9110 and RFC 9112 require. A pure function over (buf, len): no I/O, no allocation,
 * nothing kept between calls, so a caller with more bytes simply calls again.
 *
 * Strictness is deliberate: a request that two HTTP implementations could frame or route
 * differently (the root of request smuggling) is refused rather than repaired. Where the RFCs
 * let a recipient either repair or reject (bare LF, obs-fold, whitespace in the request
 * line), we reject. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "base/macro.h"
#include "base/str.h"
#include "http/fields.h"
#include "http/parser.h"

/* RFC 9112 §2.2 asks to ignore "at least one" empty line before the request line (old
 * clients sent a CRLF after a POST body); more than a few is not a client, just noise. */
#define MAX_LEADING_EMPTY_LINES 4

/* Request-target octet classes, one table lookup per byte; tokens and field values are
 * classed in http/fields.h. */
enum {
	C_VCHAR = 1 << 0, /* visible ASCII: what a request-target is scanned over */
	C_URI = 1 << 1,   /* path/query octet: pchar, "/" and "?", "%" apart (see below) */
	C_REG = 1 << 2,   /* reg-name octet: unreserved, sub-delims but ",", "%" apart */
	C_HEX = 1 << 3,
};

#define PQ (C_VCHAR | C_URI) /* path and query only: , / : ? @ and the raw [ ] ^ ` { | } */
#define REG (PQ | C_REG)     /* unreserved and sub-delims: also in reg-names */

/* Targets: RFC 3986 allows pchar, "/", "?" and %XX. Browsers (the WHATWG URL standard) send
 * [ ] ^ ` { | } unencoded in paths or queries, so links such as "/img[1].jpg" or "?a[]=1"
 * arrive raw: those are let through. " < > \ and the fragment's # never do, and are refused.
 */
/* clang-format off */
static const unsigned char cls[256] = {
	['!'] = REG,
	['"'] = C_VCHAR,
	['#'] = C_VCHAR,
	['$'] = REG,
	['%'] = C_VCHAR,
	['&'] = REG,
	['\''] = REG,
	['('] = REG,
	[')'] = REG,
	['*'] = REG,
	['+'] = REG,
	/* A sub-delim, but a comma in Host reads as a list of hosts: refused in reg-names. */
	[','] = PQ,
	['-'] = REG,
	['.'] = REG,
	['/'] = PQ,
	['0' ... '9'] = REG | C_HEX,
	[':'] = PQ,
	[';'] = REG,
	['<'] = C_VCHAR,
	['='] = REG,
	['>'] = C_VCHAR,
	['?'] = PQ,
	['@'] = PQ,
	['A' ... 'F'] = REG | C_HEX,
	['G' ... 'Z'] = REG,
	['['] = PQ,
	['\\'] = C_VCHAR,
	[']'] = PQ,
	['^'] = PQ,
	['_'] = REG,
	['`'] = PQ,
	['a' ... 'f'] = REG | C_HEX,
	['g' ... 'z'] = REG,
	['{'] = PQ,
	['|'] = PQ,
	['}'] = PQ,
	['~'] = REG,
};
/* clang-format on */

#define CLS(c, m) (cls[(unsigned char)(c)] & (m))

enum target_form { FORM_ORIGIN, FORM_ABSOLUTE, FORM_AUTHORITY, FORM_ASTERISK };

/* Every octet is of the class (C_URI: path and query, C_REG: reg-name) or starts a
 * well-formed "%" HEXDIG HEXDIG escape. */
static bool valid_chars(const char *s, size_t n, unsigned class)
{
	for (size_t i = 0; i < n; i++) {
		if (CLS(s[i], class))
			continue;
		if (s[i] == '%' && i + 2 < n && CLS(s[i + 1], C_HEX) && CLS(s[i + 2], C_HEX)) {
			i += 2;
			continue;
		}
		return false;
	}
	return true;
}

/* port = *DIGIT (RFC 3986 §3.2.3); we also refuse what cannot be a TCP port. */
static bool valid_port(const char *s, size_t n, bool required)
{
	unsigned v = 0;
	if (n > 5 || (required && n == 0))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535;
}

/* The inside of "[...]": IPv6address or IPvFuture (RFC 3986 §3.2.2). */
static bool valid_ip_literal(const char *s, size_t n)
{
	if (n > 0 && (s[0] == 'v' || s[0] == 'V')) {
		size_t i = 1;
		while (i < n && CLS(s[i], C_HEX))
			i++;
		if (i == 1 || i + 1 >= n || s[i] != '.')
			return false;
		for (i++; i < n; i++)
			if (!CLS(s[i], C_REG) && s[i] != ':')
				return false;
		return true;
	}
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* uri-host [ ":" port ] with a non-empty host and no userinfo (RFC 9110 §4.2.4 says to treat
 * userinfo as an error; "@" is not a reg-name character, so it fails here). */
static bool valid_authority(const char *s, size_t n, bool port_required)
{
	size_t i;
	if (n == 0)
		return false;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		i = (size_t)(close - s);
		if (!valid_ip_literal(s + 1, i - 1))
			return false;
		i++;
	} else {
		for (i = 0; i < n && s[i] != ':'; i++)
			;
		/* IPv4address is a subset of reg-name: no separate check is needed. */
		if (i == 0 || !valid_chars(s, i, C_REG))
			return false;
	}
	if (i == n)
		return !port_required;
	if (s[i] != ':')
		return false;
	return valid_port(s + i + 1, n - i - 1, port_required);
}

/* RFC 9112 §3.2: origin-form for everything but CONNECT (authority-form only) and OPTIONS
 * (also asterisk-form); absolute-form for http and https URIs. Returns the form or -400. */
static int parse_target(const char *t, size_t n, enum http_method m)
{
	if (m == HTTP_M_CONNECT)
		return valid_authority(t, n, true) ? FORM_AUTHORITY : -400;
	if (t[0] == '/')
		return valid_chars(t, n, C_URI) ? FORM_ORIGIN : -400;
	if (n == 1 && t[0] == '*')
		return m == HTTP_M_OPTIONS ? FORM_ASTERISK : -400;

	size_t a;
	if (n >= STRLEN("http://") && str_ieq(t, STRLEN("http://"), "http://"))
		a = STRLEN("http://");
	else if (n >= STRLEN("https://") && str_ieq(t, STRLEN("https://"), "https://"))
		a = STRLEN("https://");
	else
		return -400;
	size_t e = a;
	while (e < n && t[e] != '/' && t[e] != '?')
		e++;
	/* RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected. */
	if (!valid_authority(t + a, e - a, false))
		return -400;
	/* path-abempty [ "?" query ]; a fragment is not part of a request-target. */
	if (!valid_chars(t + e, n - e, C_URI))
		return -400;
	return FORM_ABSOLUTE;
}

static enum http_method method_id(const char *m, size_t n)
{
#define M(name, id) {name, STRLEN(name), id}
	static const struct {
		const char *name;
		size_t len;
		enum http_method id;
	} table[] = {
		M("GET", HTTP_M_GET),       M("HEAD", HTTP_M_HEAD),       M("POST", HTTP_M_POST),
		M("PUT", HTTP_M_PUT),       M("DELETE", HTTP_M_DELETE),   M("OPTIONS", HTTP_M_OPTIONS),
		M("TRACE", HTTP_M_TRACE),   M("CONNECT", HTTP_M_CONNECT), M("PATCH", HTTP_M_PATCH),
	};
#undef M
	/* Methods are case-sensitive (RFC 9110 §9.1): "get" is some other method. */
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (n == table[i].len && memcmp(m, table[i].name, n) == 0)
			return table[i].id;
	return HTTP_M_OTHER;
}

enum http_method http_method_of(const char *m, size_t n)
{
	return method_id(m, n);
}

bool http_target_valid(const char *t, size_t n, enum http_method m)
{
	if (n == 0)
		return false;
	int form = parse_target(t, n, m);
	return form >= 0 && form != FORM_ABSOLUTE;
}

bool http_authority_valid(const char *s, size_t n)
{
	return valid_authority(s, n, false);
}

bool http_list_has_token(const char *value, size_t len, const char *ltoken)
{
	const char *e;
	size_t n, pos = 0;
	while (http_fields_list_next(value, len, &pos, &e, &n))
		if (str_ieq(e, n, ltoken))
			return true;
	return false;
}

const struct http_header *http_request_header(const struct http_request *req, const char *lname)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (str_ieq(req->headers[i].name, req->headers[i].name_len, lname))
			return &req->headers[i];
	return NULL;
}

/* The fields that decide framing and routing, checked once the head is complete. */
static int derive(struct http_request *req, enum target_form form)
{
	const struct http_header *host = NULL;
	struct http_fields_framing f = HTTP_FIELDS_FRAMING_INIT;
	bool expect_continue = false, expect_other = false;
	const char *e;
	size_t len, pos;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		const char *v = h->value;
		size_t n = h->value_len;
		if (http_fields_framing_add(&f, h->name, h->name_len, v, n) < 0)
			return -400;
		switch (h->name_len) {
		case 4:
			if (str_ieq(h->name, 4, "host")) {
				/* RFC 9112 §3.2: more than one Host field line -> 400, even if equal. */
				if (host)
					return -400;
				host = h;
			}
			break;
		case 6:
			if (!str_ieq(h->name, 6, "expect"))
				break;
			for (pos = 0; http_fields_list_next(v, n, &pos, &e, &len);) {
				if (len == 0)
					continue;
				if (str_ieq(e, len, "100-continue"))
					expect_continue = true;
				else
					expect_other = true;
			}
			break;
		}
	}

	if (req->version == 11 && !host)
		return -400;
	if (host) {
		/* An empty Host is what a client sends for a URI without authority; http and
		 * https URIs always have one, so only absolute-form (which carries it) may come
		 * with an empty Host (RFC 9110 §7.2, RFC 9112 §3.3). */
		if (host->value_len == 0 ? form != FORM_ABSOLUTE
					 : !valid_authority(host->value, host->value_len, false))
			return -400;
	}

	if (f.has_te) {
		/* RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing. TE with Content-Length
		 * "ought to be handled as an error" (§6.3): the smuggling classic. */
		if (req->version == 10 || f.content_length >= 0)
			return -400;
		/* §6.3: chunked not final -> 400; §6.1: chunked at most once. A coding we do
		 * not implement: 501. */
		if (f.te_bad || !f.last_chunked || f.n_chunked > 1)
			return -400;
		if (f.te_other)
			return -501;
	}

	/* RFC 9110 §10.1.1: other expectations MAY get 417; 100-continue from an HTTP/1.0
	 * client MUST be ignored. */
	if (expect_other)
		return -417;

	req->host = host ? host->value : NULL;
	req->host_len = host ? host->value_len : 0;
	req->content_length = f.content_length;
	req->chunked = f.has_te;
	req->keep_alive = !f.conn_close && (req->version == 11 || f.conn_keep_alive);
	req->expect_continue = expect_continue && req->version == 11;
	/* RFC 9110 §7.8: the "upgrade" option must accompany Upgrade; ignored in HTTP/1.0. */
	req->upgrade = f.conn_upgrade && f.has_upgrade && req->version == 11;
	return 0;
}

ssize_t http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
			   struct http_request *ret)
{
	/* Nothing at or past `end` can belong to a head of at most max_head bytes: running out
	 * of bytes there means 431, before it means "need more". */
	const size_t end = MIN(len, lim->max_head);
	const ssize_t more = len >= lim->max_head ? -431 : 0;
	const size_t max_headers = MIN(lim->max_headers, (size_t)HTTP_MAX_HEADERS_HARD);
	size_t p = 0, n_empty = 0;

	for (;;) {
		if (p >= end)
			return more;
		if (buf[p] != '\r')
			break;
		if (p + 1 >= end)
			return more;
		if (buf[p + 1] != '\n')
			return -400;
		p += 2;
		if (++n_empty > MAX_LEADING_EMPTY_LINES)
			return -400;
	}

	/* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3), at most
	 * max_request_line bytes with its CRLF. Running out of line at rl_end with rl_cut set
	 * means it is too long: 414 when the target made it so, 400 when the "method" did. */
	const size_t start = p;
	size_t rl_end = end;
	bool rl_cut = false;
	if (lim->max_request_line <= end - start) {
		rl_end = start + lim->max_request_line;
		rl_cut = true;
	}

	while (p < rl_end && http_fields_is_token(buf[p]))
		p++;
	if (p == rl_end)
		return rl_cut ? -400 : more;
	if (buf[p] != ' ' || p == start)
		return -400;
	ret->method = buf + start;
	ret->method_len = p - start;
	ret->method_id = method_id(ret->method, ret->method_len);

	const size_t t = ++p;
	while (p < rl_end && CLS(buf[p], C_VCHAR))
		p++;
	if (p == rl_end)
		return rl_cut ? -414 : more;
	if (buf[p] != ' ' || p == t)
		return -400;
	ret->target = buf + t;
	ret->target_len = p - t;
	p++;

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). A bare LF
	 * or a lone CR ends nothing here: both are 400. */
	static const char version[] = "HTTP/#.#\r\n";
	for (size_t i = 0; i < STRLEN(version); i++) {
		if (p + i == rl_end)
			return rl_cut ? -414 : more;
		char c = buf[p + i];
		if (version[i] == '#' ? !ascii_is_digit(c) : c != version[i])
			return -400;
	}
	if (buf[p + 5] != '1')
		return -505;
	/* RFC 9110 §6.2: a higher minor version is answered as the highest we speak. */
	ret->version = buf[p + 7] == '0' ? 10 : 11;
	p += STRLEN(version);

	int form = parse_target(ret->target, ret->target_len, ret->method_id);
	if (form < 0)
		return form;

	/* The field lines, as http_fields_parse() reads them: no obs-fold, no whitespace before
	 * the colon, no CTL in a value. */
	ssize_t r = http_fields_parse(buf, p, end, ret->headers, max_headers, &ret->n_headers);
	if (r == 0)
		return more;
	if (r < 0)
		return r == -EMSGSIZE ? -431 : -400;
	p = (size_t)r;

	r = derive(ret, (enum target_form)form);
	if (r < 0)
		return r;
	return (ssize_t)p;
}

void http_request_rebase(struct http_request *req, const char *old, const char *new_base)
{
#define MOVE(p) ((p) = (p) ? new_base + ((p)-old) : NULL)
	MOVE(req->method);
	MOVE(req->target);
	MOVE(req->host);
	for (size_t i = 0; i < req->n_headers; i++) {
		MOVE(req->headers[i].name);
		MOVE(req->headers[i].value);
	}
#undef MOVE
}
