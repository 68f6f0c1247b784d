/* On-the-fly compression of static bodies (`encode gzip zstd`): whole bodies in memory,
 * bounded in size, with Debian's static zlib and libzstd. */
#ifndef FERRY_HANDLER_ENCODE_H
#define FERRY_HANDLER_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/coding.h"

#define ENCODE_MIN_SIZE 256            /* smaller bodies go out as they are */
#define ENCODE_MAX_SIZE (2 << 20)      /* larger ones too: the body is compressed in memory */
#define ENCODE_GZIP_LEVEL 6
#define ENCODE_ZSTD_LEVEL 3

/* Is the coding one encode can do (gzip, zstd)? */
bool encode_supported(enum http_coding c);
/* Is a body of this Content-Type worth compressing (text, JSON, XML, SVG, JS, wasm)? */
bool encode_type_ok(const char *type);
/* Compress in[0..n) into a new malloc'd buffer. -E2BIG when the result would not be
 * smaller, -EINVAL for a coding it cannot do, -EIO when the library fails. */
int encode_body(enum http_coding c, const void *in, size_t n, void **ret, size_t *ret_len);

#endif
