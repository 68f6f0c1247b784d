/* On-the-fly compression (`encode br zstd gzip`) with Debian's static zlib and libzstd, and
 * libbrotlienc in a `make BROTLI=1` build only (FERRY_BROTLI, in encode.c alone): a whole
 * small static body in one call (encode_body), or a body filter for streamed responses (struct
 * encoder: proxied bodies, large files), which compresses as the bytes come, flushes when
 * asked, and holds a bounded state per response. */
#ifndef FERRY_HANDLER_ENCODE_H
#define FERRY_HANDLER_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/coding.h"

#define ENCODE_MIN_SIZE 256            /* smaller bodies go out as they are */
#define ENCODE_MAX_SIZE (2 << 20)      /* larger ones are streamed through a struct encoder */
#define ENCODE_GZIP_LEVEL 6
#define ENCODE_ZSTD_LEVEL 3
/* A streamed zstd body's window (2^19 = 512 KiB): the compressor's state per response is
 * about 2.0 MB whatever the body's length (ZSTD_estimateCStreamSize; 3.6 MB with level 3's
 * default 2 MiB window). zlib's at level 6 is about 270 KB. */
#define ENCODE_ZSTD_WINDOW_LOG 19
/* brotli at quality 5 (between Caddy's 4 and nginx-brotli's 6: cheap enough at serve time),
 * with a 2^18 (256 KiB) window: the encoder's state per streamed response peaks at about
 * 3.0 MB whatever the body's length (counted through BrotliEncoderCreateInstance's allocator
 * over a 4 MiB stream; 4.3 MB with a 2^19 window, 5.3 MB with 2^20, 2.5 MB at quality 4). */
#define ENCODE_BR_QUALITY 5
#define ENCODE_BR_WINDOW_LOG 18

/* Is the coding one encode can do (gzip, zstd; br only in a `make BROTLI=1` build)? */
bool encode_supported(enum http_coding c);
/* The version of brotli's encoder linked in ("1.0.9"), NULL in a build without it. */
const char *encode_brotli_version(void);
struct http_request;
/* The codings of list (config order) the request's Accept-Encoding allows, highest weight
 * first, then in list order, into out; their count. 0 without the field, or when it is
 * malformed or too long (identity then). */
size_t encode_accepted(const struct http_request *req, const unsigned char *list, size_t n,
		       unsigned char *out);
/* Is a body of this Content-Type worth compressing (text, JSON, XML, SVG, JS, wasm)? */
bool encode_type_ok(const char *type);
/* Compress in[0..n) into a new malloc'd buffer. -E2BIG when the result would not be
 * smaller, -EINVAL for a coding it cannot do, -EIO when the library fails. */
int encode_body(enum http_coding c, const void *in, size_t n, void **ret, size_t *ret_len);
/* Frees this thread's encode_body state (a worker's exit). */
void encode_thread_end(void);

/* ---- streaming -------------------------------------------------------------------------- */

enum encode_op {
	ENCODE_RUN,   /* more input follows: output when the library has a block ready */
	ENCODE_FLUSH, /* everything given so far out, decodable (a slow body is not held back) */
	ENCODE_END,   /* the body ends: the rest and the trailer out */
};

struct encoder;

/* A compressor for one response body (a z_stream, a ZSTD_CCtx, a BrotliEncoderState). NULL
 * for a coding it cannot do, or when the library fails to start one. */
struct encoder *encoder_new(enum http_coding c);
void encoder_free(struct encoder *e);
/* Compress in[0..n) into out[0..cap): *ret_in input bytes taken, *ret_out output bytes
 * written. Returns 1 when op is done (all input taken; for FLUSH and END all output given),
 * 0 when out was filled first (call again with the rest and more room), -EIO. After END is
 * done, the encoder takes nothing more. */
int encoder_run(struct encoder *e, const void *in, size_t n, size_t *ret_in, void *out,
		size_t cap, size_t *ret_out, enum encode_op op);

#endif
