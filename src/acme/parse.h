/* What the ACME client and the challenge handler parse that does not come from jansson's
 * own checks: challenge tokens, Retry-After, problem documents (RFC 7807 in RFC 8555 §6.7),
 * ACME Renewal Information (RFC 9773) and its RFC 3339 times, base64url. Pure: no I/O, no
 * allocation but jansson's own (freed before returning). */
#ifndef FERRY_ACME_PARSE_H
#define FERRY_ACME_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define ACME_TOKEN_MAX 128     /* bytes of a challenge token (Let's Encrypt's are 43) */
#define ACME_KEYAUTH_MAX 256   /* token "." base64url(SHA-256 thumbprint): 43 + 1 + 43 */
#define ACME_DETAIL_MAX 512    /* bytes of a problem's detail kept for the message */
#define ACME_RETRY_MAX_S 3600  /* a longer Retry-After is capped */

/* A challenge token: 1..ACME_TOKEN_MAX characters of the base64url alphabet (RFC 8555 §8.1:
 * at least 128 bits of it, so also a safe file name: no '/', no '.', never empty). */
bool acme_token_valid(const char *s, size_t len);

/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as seconds from now
 * (a date in the past: 0), capped at ACME_RETRY_MAX_S. 0 or -EINVAL. */
int acme_retry_after(const char *s, size_t len, time_t now, uint32_t *ret_s);

/* A problem document: its type without the "urn:ietf:params:acme:error:" prefix (e.g.
 * "badNonce"; the whole URI when it has another prefix) and its detail, each NUL-terminated,
 * cut to their buffers and with every byte outside printable ASCII replaced by '?', so that
 * they can go into a log line. type_size and detail_size must be at least 1. 0, or -EINVAL
 * when the JSON is not an object (ret untouched then). */
int acme_problem_parse(const char *json, size_t len, char *type, size_t type_size,
		       char *detail, size_t detail_size);

/* An RFC 3339 date-time ("2025-01-02T03:04:05Z", "...05.123+01:00"; 't' and 'z' too), as
 * seconds since the epoch (fractions dropped). Years 1970 to 9999. 0 or -EINVAL. */
int acme_rfc3339_parse(const char *s, size_t len, time_t *ret);

#define ACME_ARI_URL_MAX 512 /* bytes of an explanationURL kept for the log */

/* A renewalInfo response (RFC 9773 §4.2): {"suggestedWindow": {"start": T, "end": T},
 * "explanationURL": URL?}. The window's times, start before end; the URL as
 * acme_problem_parse() copies strings (empty when absent). 0 or -EINVAL (ret untouched). */
int acme_ari_parse(const char *json, size_t len, time_t *ret_start, time_t *ret_end, char *url,
		   size_t url_size);

/* The ARI certificate identifier (RFC 9773 §4.1): base64url(the authority key identifier's
 * keyIdentifier) "." base64url(the serial number's DER INTEGER value bytes), into out of
 * size bytes. 0, or -EINVAL when either is empty, -ENOSPC when out is too small. */
int acme_ari_cert_id(const void *aki, size_t aki_len, const void *serial, size_t serial_len,
		     char *out, size_t size);

/* An https:// URL of the CA (its directory, or a URL the CA gave): "https://" (any case),
 * a host (a DNS name of letters, digits, '-', '.', '_', or an IPv4 address, or an IPv6
 * address in brackets), an optional port (1..65535; default 443), then the path and query
 * that a request line carries (visible ASCII; a '#' fragment is left out). No userinfo.
 * host has no brackets; authority is the host and port as written (the Host field); path
 * points into url (path_len 0: the request line says "/"). 0 or -EINVAL (ret untouched). */
#define ACME_URL_HOST_MAX 255
struct acme_url {
	char host[ACME_URL_HOST_MAX + 1];
	char authority[ACME_URL_HOST_MAX + 9]; /* "[" host "]:" port */
	uint16_t port;
	const char *path;
	size_t path_len;
};
int acme_url_parse(const char *url, size_t len, struct acme_url *ret);

/* base64url without padding (RFC 7515 §2) of len bytes into out, which has room for
 * ACME_B64URL_LEN(len) + 1 bytes; NUL-terminated. Returns the length written. */
#define ACME_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
size_t acme_b64url(const void *p, size_t len, char *out);

#endif
