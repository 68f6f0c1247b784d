/* HTTP Basic credentials from an Authorization field value (RFC 7617, base64 of RFC 4648). */
#include "http/auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/str.h"

/* The 6-bit value of a base64 character, or -1. */
static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool has_ctl(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

int http_basic_auth_parse(const char *value, size_t len, char *out, size_t out_size,
			  struct http_basic_cred *ret)
{
	size_t i = 0;
	while (i < len && value[i] != ' ')
		i++;
	if (!str_ieq(value, i, "basic"))
		return -ENOENT;
	if (i == len)
		return -EINVAL;
	while (i < len && value[i] == ' ')
		i++;
	const unsigned char *s = (const unsigned char *)value + i;
	size_t n = len - i;
	if (n == 0 || n % 4 != 0 || n > HTTP_BASIC_MAX || n / 4 * 3 > out_size)
		return -EINVAL;
	size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
	size_t o = 0;
	for (size_t q = 0; q < n; q += 4) {
		bool last = q + 4 == n;
		int v[4];
		for (size_t k = 0; k < 4; k++) {
			if (last && k >= 4 - pad) {
				v[k] = 0; /* a '=' of the padding */
				continue;
			}
			v[k] = b64(s[q + k]);
			if (v[k] < 0)
				return -EINVAL; /* '=' inside, whitespace, another alphabet */
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		/* canonical: the bits the padding leaves over are zero */
		if (last && ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff))))
			return -EINVAL;
		out[o++] = (char)(w >> 16);
		if (!last || pad < 2)
			out[o++] = (char)(w >> 8 & 0xff);
		if (!last || pad < 1)
			out[o++] = (char)(w & 0xff);
	}
	const char *colon = memchr(out, ':', o);
	if (!colon || colon == out)
		return -EINVAL;
	size_t ulen = (size_t)(colon - out);
	if (has_ctl(out, o))
		return -EINVAL;
	ret->user = out;
	ret->user_len = ulen;
	ret->pass = colon + 1;
	ret->pass_len = o - ulen - 1;
	return 0;
}
