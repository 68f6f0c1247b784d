/* Pure HTTP/1.1 request-head parser (RFC 9110, RFC 9112): no I/O, no allocation.
 *
 * http_parse_request() looks at (buf, len), the bytes received so far on a connection, and
 * either finds a complete, valid request head, asks for more bytes, or rejects the request with
 * the HTTP status code to answer (the connection is then closed). All views in
 * struct http_request point into buf. */
#ifndef FERRY_HTTP_PARSER_H
#define FERRY_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS_HARD 256 /* array size; the configured limit may be lower */

enum http_method {
	HTTP_M_OTHER = 0, /* a valid token that is none of the below */
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_TRACE,
	HTTP_M_CONNECT,
	HTTP_M_PATCH,
};

struct http_header {
	const char *name; /* as received; compare case-insensitively */
	size_t name_len;
	const char *value; /* leading and trailing OWS stripped */
	size_t value_len;
};

struct http_limits {
	size_t max_request_line; /* bytes, CRLF included: longer -> 414 */
	size_t max_head;         /* bytes of the whole head: longer -> 431 */
	size_t max_headers;      /* field lines: more -> 431 (at most HTTP_MAX_HEADERS_HARD) */
};

struct http_request {
	const char *method;
	size_t method_len;
	enum http_method method_id;
	const char *target; /* request-target as received (origin-form, absolute-form, ...) */
	size_t target_len;
	int version; /* 10 for HTTP/1.0, 11 for HTTP/1.1 */

	struct http_header headers[HTTP_MAX_HEADERS_HARD];
	size_t n_headers;

	/* Derived from the fields, already validated: */
	const char *host; /* Host field value (NULL when absent; HTTP/1.1 requires it) */
	size_t host_len;
	int64_t content_length; /* -1 when there is no Content-Length */
	bool chunked;           /* Transfer-Encoding: chunked (the only coding accepted) */
	bool keep_alive;        /* persistent after this request (version + Connection) */
	bool expect_continue;   /* Expect: 100-continue */
	bool upgrade;           /* Connection: upgrade with an Upgrade field */
};

/* Returns:
 *   > 0  the head is complete and valid; the value is its length (any leading empty lines,
 *        the request line, the fields, and the empty line), *ret is filled in. Bytes after
 *        it (a body, a pipelined request) are not looked at;
 *   0    incomplete: call again with more bytes (the limits are already checked against len);
 *   < 0  invalid: the negated HTTP status to answer (-400, -414, -417, -431, -501, -505).
 * *ret is scratch space while parsing: on 0 or an error its contents are unspecified.
 *
 * Rules enforced (each -> 400 unless noted):
 * - lines end in CRLF only: a bare LF or a CR not followed by LF anywhere is 400;
 * - up to 4 empty lines (CRLF) before the request line are skipped (RFC 9112 §2.2);
 * - request line: method = token, exactly one SP, request-target of visible ASCII, exactly
 *   one SP, "HTTP/" DIGIT "." DIGIT (case-sensitive); major != 1 -> 505; 1.2 .. 1.9 are
 *   answered as 1.1 (version 11);
 * - request-target: origin-form ("/" path [ "?" query ]: RFC 3986 characters plus the
 *   [ ] ^ ` { | } browsers send unencoded; well-formed %XX; no " # < > \); absolute-form
 *   for http:// and https:// URIs with a non-empty host and no userinfo; authority-form
 *   host:port for CONNECT only (and CONNECT only with it); asterisk-form "*" for OPTIONS
 *   only;
 * - request line longer than max_request_line (CRLF included) -> 414, or 400 when it is the
 *   method that does not end; head longer than max_head -> 431; more than max_headers
 *   field lines -> 431;
 * - field lines: name = token followed at once by ":" (no whitespace before the colon, no
 *   empty name), no obs-fold (a line starting with SP/HTAB), values of VCHAR, obs-text, SP,
 *   HTAB only (NUL, CR, other CTLs, DEL -> 400), OWS around the value stripped;
 * - Host: required in HTTP/1.1, at most one field line, value uri-host [ ":" port ] (reg-name
 *   without ",", IPv4, [IPv6] or [vFuture]; port up to 65535). An empty value only with an
 *   absolute-form target (origin-form needs the authority Host gives);
 * - Content-Length: 1*DIGIT without leading zeros, at most INT64_MAX; repeated fields or a
 *   list ("5, 5") only when all values are equal;
 * - Transfer-Encoding: 400 in HTTP/1.0, 400 together with Content-Length; the codings of all
 *   TE fields must end in "chunked" (case-insensitive), have it once, carry no empty element
 *   and no parameter on chunked (400); any other coding before it -> 501;
 * - Expect: "100-continue" (case-insensitive; ignored in HTTP/1.0), anything else -> 417.
 * req->host is the Host field value; with an absolute-form target the authority in the
 * target is what routing must use (RFC 9112 §3.2.2). */
ssize_t http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
			   struct http_request *ret);

/* The buffer the head was parsed from moved (realloc) from old to new: move every pointer
 * of req with it. */
void http_request_rebase(struct http_request *req, const char *old, const char *new_base);

/* First header with this lower-case name, or NULL. */
const struct http_header *http_request_header(const struct http_request *req, const char *lname);

/* The method a token names (case-sensitive), HTTP_M_OTHER for any other. */
enum http_method http_method_of(const char *m, size_t n);

/* A request-target as HTTP/2 and HTTP/3 carry it (:path, or :authority for CONNECT), checked
 * as http_parse_request checks an HTTP/1.1 one: origin-form, "*" for OPTIONS only,
 * authority-form for CONNECT only; never absolute-form. */
bool http_target_valid(const char *t, size_t n, enum http_method m);

/* uri-host [ ":" port ], no userinfo: a valid Host value or :authority. */
bool http_authority_valid(const char *s, size_t n);

/* Does a comma-separated field value contain this token (case-insensitive, OWS around list
 * elements ignored)? ltoken must be lower-case. */
bool http_list_has_token(const char *value, size_t len, const char *ltoken);

#endif
