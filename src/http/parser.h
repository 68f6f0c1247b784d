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
 *   > 0  the head is complete and valid; the value is its length (up to and including the
 *        empty line), *ret is filled in;
 *   0    incomplete: call again with more bytes (the limits are already checked against len);
 *   < 0  invalid: the negated HTTP status to answer (-400, -414, -431, -501, -505, ...).
 * Rules enforced (each -> 400 unless noted): request-line syntax (method token, single SP,
 * no whitespace in target, HTTP-version "HTTP/" DIGIT "." DIGIT; major != 1 -> 505),
 * field-name token chars, no whitespace before ':', no obs-fold, no CTL/NUL in values
 * (HTAB allowed), bare LF accepted only as RFC 9112 §2.2 allows or rejected consistently,
 * Content-Length digits only, no overflow, duplicates must be identical (list form "5, 5"
 * accepted only when all equal), Content-Length together with Transfer-Encoding -> 400,
 * Transfer-Encoding other than exactly "chunked" as last and only coding -> 501,
 * Transfer-Encoding in HTTP/1.0 -> 400, missing Host on HTTP/1.1 -> 400, more than one Host
 * -> 400, invalid Host value -> 400. Leading empty lines before the request line are skipped
 * (RFC 9112 §2.2). */
ssize_t http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
			   struct http_request *ret);

/* First header with this lower-case name, or NULL. */
const struct http_header *http_request_header(const struct http_request *req, const char *lname);

/* Does a comma-separated field value contain this token (case-insensitive)? */
bool http_list_has_token(const char *value, size_t len, const char *ltoken);

#endif
