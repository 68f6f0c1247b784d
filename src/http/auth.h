/* The Authorization field of HTTP Basic authentication (RFC 7617), parsed strictly. Pure: no
 * I/O, no allocation; the decoded credentials go into the caller's buffer. */
#ifndef FERRY_HTTP_AUTH_H
#define FERRY_HTTP_AUTH_H

#include <stddef.h>

#define HTTP_BASIC_MAX 1024 /* bytes of token68 accepted: more is refused, not truncated */

struct http_basic_cred {
	const char *user; /* into the caller's buffer */
	size_t user_len;
	const char *pass;
	size_t pass_len;
};

/* value: an Authorization field value (leading and trailing whitespace already trimmed, as
 * the request parser leaves it). Accepts exactly: "Basic" (any case), one or more SP, then
 * base64 (RFC 4648 §4: A-Z a-z 0-9 + /, '=' padding to a multiple of 4, the unused bits of
 * the last character zero), nothing after. The decoded bytes are user-id ":" password: the
 * user-id is what comes before the first ':', non-empty; neither holds a control character
 * (RFC 7617 §2). out must hold HTTP_BASIC_MAX / 4 * 3 bytes. Returns 0 with *ret filled,
 * -ENOENT when the scheme is not Basic (another scheme: not ours to judge), or -EINVAL. */
int http_basic_auth_parse(const char *value, size_t len, char *out, size_t out_size,
			  struct http_basic_cred *ret);

#endif
