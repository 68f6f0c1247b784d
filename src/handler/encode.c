/* gzip (zlib's deflate with a gzip wrapper) and zstd of a whole body, in one call each. */
#include "handler/encode.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/str.h"
#include "base/xalloc.h"

bool encode_supported(enum http_coding c)
{
	return c == HTTP_CODING_GZIP || c == HTTP_CODING_ZSTD;
}

bool encode_type_ok(const char *type)
{
	static const char *const types[] = {
		"application/json", "application/manifest+json", "application/xml",
		"application/atom+xml", "application/rss+xml", "application/wasm", "image/svg+xml",
	};
	if (strncmp(type, "text/", 5) == 0)
		return true;
	size_t n = strcspn(type, ";");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && memcmp(types[i], type, n) == 0)
			return true;
	return false;
}

static int gzip_body(const void *in, size_t n, void **ret, size_t *ret_len)
{
	z_stream z = {0};
	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, ENCODE_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -EIO;
	size_t cap = deflateBound(&z, (uLong)n);
	unsigned char *out = xmalloc(cap);
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_FINISH);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

static int zstd_body(const void *in, size_t n, void **ret, size_t *ret_len)
{
	size_t cap = ZSTD_compressBound(n);
	void *out = xmalloc(cap);
	size_t len = ZSTD_compress(out, cap, in, n, ENCODE_ZSTD_LEVEL);
	if (ZSTD_isError(len)) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

int encode_body(enum http_coding c, const void *in, size_t n, void **ret, size_t *ret_len)
{
	void *out;
	size_t len;
	int r = c == HTTP_CODING_GZIP ? gzip_body(in, n, &out, &len)
		: c == HTTP_CODING_ZSTD ? zstd_body(in, n, &out, &len)
					: -EINVAL;
	if (r < 0)
		return r;
	if (len >= n) {
		free(out);
		return -E2BIG;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}
