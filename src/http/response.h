/* Pure HTTP/1.1 response-head parser for what an upstream server sends (RFC 9110, RFC 9112):
 * no I/O, no allocation.
 *
 * http_parse_response() looks at (buf, len), the bytes received so far from an upstream, and
 * either finds a complete, valid response head, asks for more bytes, or rejects the response.
 * A rejected response is never forwarded: the proxy answers 502 to its client and closes the
 * upstream connection (its framing can no longer be trusted, so it must not go back to a
 * pool). All views in struct http_response point into buf.
 *
 * Typical use by the proxy, per request sent upstream:
 *
 *	for (;;) {
 *		r = http_parse_response(buf, len, &lim, &resp);      // 0: read more, < 0: 502
 *		f = http_response_framing(&resp, req->method_id, upgrading);   // < 0: 502
 *		if (http_response_is_interim(&resp)) {   // 100, 102, 103: forward (HTTP/1.1
 *			...; consume r; continue;        // clients only) and read the next head
 *		}
 *		break;  // final response: forward the head, then the body as f says
 *	}
 */
#ifndef FERRY_HTTP_RESPONSE_H
#define FERRY_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/parser.h"

struct http_response_limits {
	size_t max_head;    /* bytes of the whole head, status line included: longer -> -EMSGSIZE */
	size_t max_headers; /* field lines: more -> -EMSGSIZE (at most HTTP_MAX_HEADERS_HARD) */
};

struct http_response {
	int version; /* 10 for HTTP/1.0, 11 for HTTP/1.1 (and 1.2 .. 1.9) */
	int status;  /* 100 .. 599 */
	const char *reason; /* reason-phrase as received, possibly empty; never parse it */
	size_t reason_len;

	struct http_header headers[HTTP_MAX_HEADERS_HARD];
	size_t n_headers;

	/* Derived from the fields, already validated: */
	int64_t content_length; /* -1 when absent, or when Transfer-Encoding overrides it */
	bool cl_ignored;   /* both Content-Length and Transfer-Encoding: TE wins, and the
			    * Content-Length field MUST NOT be forwarded (RFC 9112 §6.3 (3)) */
	bool te;           /* a Transfer-Encoding field is present */
	bool chunked;      /* ... and its final coding is chunked */
	bool te_other;     /* ... and it names a coding other than chunked (gzip, ...): ferry
			    * cannot decode it nor, since TE is hop-by-hop, pass it on with a
			    * rebuilt head; the proxy should answer 502 (see framing below) */
	bool keep_alive;   /* the upstream keeps the connection open after this response
			    * (version + Connection); close-delimited bodies override it */
	bool upgrade;      /* Connection: upgrade and an Upgrade field (meaningful on a 101) */
};

/* How the body that follows a response head is delimited (RFC 9112 §6.3). */
enum http_framing {
	HTTP_FRAMING_NONE = 0,    /* no body: the next byte starts the next response */
	HTTP_FRAMING_LENGTH,      /* content_length bytes (possibly 0) */
	HTTP_FRAMING_CHUNKED,     /* chunked coding: feed it to http_chunked_decode() */
	HTTP_FRAMING_UNTIL_CLOSE, /* everything up to the upstream's close: not reusable */
	HTTP_FRAMING_TUNNEL,      /* 101 to an upgrade, 2xx to CONNECT: both directions become
				   * an opaque byte stream until either side closes */
};

/* Returns:
 *   > 0  the head is complete and valid; the value is its length (status line, fields and the
 *        empty line), *ret is filled in. Bytes after it are not looked at;
 *   0    incomplete: call again with more bytes (limits are already checked against len);
 *   < 0  invalid, always answered with 502 by a proxy; the errno says why, for the log:
 *        -EBADMSG          malformed: syntax, a bad or conflicting Content-Length, a bad
 *                          Transfer-Encoding list, Transfer-Encoding in HTTP/1.0;
 *        -EMSGSIZE         the head is longer than max_head or has more than max_headers
 *                          fields;
 *        -EPROTONOSUPPORT  an HTTP major version other than 1.
 * *ret is scratch space while parsing: on 0 or an error its contents are unspecified.
 *
 * Rules enforced (each -> -EBADMSG unless noted):
 * - status-line = HTTP-version SP 3DIGIT SP reason-phrase CRLF (RFC 9112 §4); "HTTP/" is
 *   case-sensitive; the status is 100 .. 599 (RFC 9110 §15); the reason may be empty and
 *   holds HTAB, SP, VCHAR and obs-text only. "HTTP/1.1 200" CRLF, without the SP, is also
 *   accepted: nginx and curl accept it, and it cannot be read two ways;
 * - no empty lines before the status line (those are only tolerated before requests);
 * - lines end in CRLF only: a bare LF or a CR not followed by LF anywhere is refused;
 * - field lines as for requests (see http_parse_request): name = token followed at once by
 *   ":", no obs-fold, values of VCHAR, obs-text, SP, HTAB only, OWS around them stripped;
 * - Content-Length: 1*DIGIT without leading zeros, at most INT64_MAX; repeated fields or a
 *   list only when all values are equal;
 * - Transfer-Encoding: refused in HTTP/1.0 (RFC 9112 §6.1: the framing is faulty); the
 *   codings of all TE fields form a list of tokens (optionally with parameters) without
 *   empty elements; chunked at most once and without parameters. Content-Length with it is
 *   accepted, reported in cl_ignored, and overridden (RFC 9112 §6.3 (3)). */
ssize_t http_parse_response(const char *buf, size_t len, const struct http_response_limits *lim,
			    struct http_response *ret);

/* How the body of this response is delimited, given the method of the request it answers
 * and whether that request was forwarded as an upgrade (Connection: upgrade + Upgrade).
 * RFC 9112 §6.3, in order:
 *   101 to an upgrade request                        TUNNEL
 *   HEAD, or any 1xx, 204 or 304                     NONE (1xx: another head follows)
 *   2xx to CONNECT                                   TUNNEL
 *   Transfer-Encoding, chunked final                 CHUNKED (Content-Length ignored)
 *   Transfer-Encoding, chunked not final             UNTIL_CLOSE
 *   Content-Length                                   LENGTH
 *   otherwise                                        UNTIL_CLOSE
 * Returns the enum http_framing value, or -EBADMSG for a 101 that may not be followed: to a
 * request that did not ask to upgrade (RFC 9110 §15.2.2), or without Connection: upgrade
 * and an Upgrade field (RFC 9110 §7.8). A response with te_other set is framed as the RFC
 * says, but cannot be forwarded faithfully (see above). With UNTIL_CLOSE or TUNNEL the
 * upstream connection can never be reused, whatever keep_alive says. */
int http_response_framing(const struct http_response *resp, enum http_method method,
			  bool upgrading);

/* An interim response (1xx other than 101): forward it to an HTTP/1.1 client (never to an
 * HTTP/1.0 one, RFC 9110 §15.2), then parse the next head from the bytes after it. */
static inline bool http_response_is_interim(const struct http_response *resp)
{
	return resp->status >= 100 && resp->status <= 199 && resp->status != 101;
}

/* First field with this lower-case name, or NULL. */
const struct http_header *http_response_header(const struct http_response *resp,
					       const char *lname);

#endif
