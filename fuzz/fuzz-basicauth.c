/* libFuzzer target for the Basic Authorization parser (http/auth.c): on success the user-id
 * and password lie inside the output buffer, the user-id is non-empty and has no ':', neither
 * holds a control character, and encoding them again (base64 of user ":" password) gives
 * back the input's token68 exactly (the parser accepts only canonical base64). Any broken
 * invariant aborts. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static size_t encode(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = a[w >> 18];
		out[o++] = a[w >> 12 & 63];
		out[o++] = i + 1 < n ? a[w >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? a[w & 63] : '=';
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size ? size : 1); /* exact size: ASan sees any read past it */
	require(in != NULL);
	memcpy(in, data, size);
	char out[HTTP_BASIC_MAX / 4 * 3];
	struct http_basic_cred c;
	int r = http_basic_auth_parse(in, size, out, sizeof(out), &c);
	if (r == 0) {
		require(c.user == out && c.user_len > 0 && !memchr(c.user, ':', c.user_len));
		require(c.pass == out + c.user_len + 1 && c.pass[-1] == ':');
		size_t n = c.user_len + 1 + c.pass_len;
		require(n <= sizeof(out));
		for (size_t i = 0; i < n; i++)
			require((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
		char enc[HTTP_BASIC_MAX + 4];
		size_t e = encode((const unsigned char *)out, n, enc);
		require(e <= size && memcmp(in + size - e, enc, e) == 0);
		require(in[size - e - 1] == ' ');
	} else {
		require(r == -EINVAL || r == -ENOENT);
	}
	free(in);
	return 0;
}
