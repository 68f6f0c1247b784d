/* gzip (zlib's deflate with a gzip wrapper), zstd and, in a `make BROTLI=1` build
 * (FERRY_BROTLI), br (brotli's encoder): a whole body in one call each, or a stream through a
 * struct encoder. One table, coders[], says which codings this binary can do: a build
 * without brotli has no entry for br, and links none of its symbols. */
#include "handler/encode.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <limits.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "http/parser.h"

size_t encode_accepted(const struct http_request *req, const unsigned char *list, size_t n,
		       unsigned char *out)
{
	const struct http_header *h = http_request_header(req, "accept-encoding");
	uint16_t q[HTTP_CODING_N];
	if (!h || http_accept_encoding(h->value, h->value_len, q) < 0)
		return 0;
	bool taken[HTTP_CODING_N] = {false};
	size_t k = 0;
	for (; k < n; k++) {
		int best = -1;
		for (size_t j = 0; j < n; j++)
			if (!taken[j] && q[list[j]] > 0 && (best < 0 || q[list[j]] > q[list[best]]))
				best = (int)j;
		if (best < 0)
			break;
		taken[best] = true;
		out[k] = list[best];
	}
	return k;
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

/* The whole-body compressors' state, one per thread (worker), reset for each body instead of
 * allocated and freed (a deflate state is ~268 KB, a zstd context more: allocating them per
 * response cost more CPU than nginx's gzip at the same level). encode_thread_end frees them. */
static _Thread_local z_stream tl_gz;
static _Thread_local bool tl_gz_ready;
static _Thread_local ZSTD_CCtx *tl_zc;

void encode_thread_end(void)
{
	if (tl_gz_ready)
		deflateEnd(&tl_gz);
	tl_gz_ready = false;
	ZSTD_freeCCtx(tl_zc);
	tl_zc = NULL;
}

static int gzip_body(const void *in, size_t n, void **ret, size_t *ret_len)
{
	z_stream *z = &tl_gz;
	if (!tl_gz_ready) {
		memset(z, 0, sizeof(*z));
		/* 15 + 16: a gzip header and trailer around the deflate stream */
		if (deflateInit2(z, ENCODE_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -EIO;
		tl_gz_ready = true;
	} else if (deflateReset(z) != Z_OK) {
		return -EIO;
	}
	size_t cap = deflateBound(z, (uLong)n);
	unsigned char *out = xmalloc(cap);
	z->next_in = (unsigned char *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	int r = deflate(z, Z_FINISH);
	size_t len = cap - z->avail_out;
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
	if (!tl_zc && !(tl_zc = ZSTD_createCCtx())) {
		free(out);
		return -ENOMEM;
	}
	size_t len = ZSTD_compressCCtx(tl_zc, out, cap, in, n, ENCODE_ZSTD_LEVEL);
	if (ZSTD_isError(len)) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

struct encoder {
	enum http_coding coding;
	bool ended;
	union {
		z_stream z;      /* gzip */
		ZSTD_CCtx *zstd; /* zstd */
		void *br;        /* br: a BrotliEncoderState */
	};
};

static int gzip_run(struct encoder *e, const void *in, size_t n, size_t *ret_in, void *out,
		    size_t cap, size_t *ret_out, enum encode_op op)
{
	static const int flush[] = {[ENCODE_RUN] = Z_NO_FLUSH, [ENCODE_FLUSH] = Z_SYNC_FLUSH,
				    [ENCODE_END] = Z_FINISH};
	z_stream *z = &e->z;
	n = MIN(n, (size_t)UINT_MAX);
	cap = MIN(cap, (size_t)UINT_MAX);
	z->next_in = (unsigned char *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	int r = deflate(z, flush[op]);
	*ret_in = n - z->avail_in;
	*ret_out = cap - z->avail_out;
	if (r == Z_STREAM_END)
		return 1;
	if (r != Z_OK && r != Z_BUF_ERROR) /* Z_BUF_ERROR: no progress possible, not fatal */
		return -EIO;
	if (z->avail_in > 0)
		return 0;
	switch (op) {
	case ENCODE_RUN:
		return 1;
	case ENCODE_FLUSH:
		/* zlib: with room left in out, the flush is complete */
		return z->avail_out > 0 ? 1 : 0;
	default:
		return 0; /* Z_FINISH goes on until Z_STREAM_END */
	}
}

static int zstd_run(struct encoder *e, const void *in, size_t n, size_t *ret_in, void *out,
		    size_t cap, size_t *ret_out, enum encode_op op)
{
	static const ZSTD_EndDirective dir[] = {[ENCODE_RUN] = ZSTD_e_continue,
						[ENCODE_FLUSH] = ZSTD_e_flush,
						[ENCODE_END] = ZSTD_e_end};
	ZSTD_inBuffer ib = {in, n, 0};
	ZSTD_outBuffer ob = {out, cap, 0};
	size_t left = ZSTD_compressStream2(e->zstd, &ob, &ib, dir[op]);
	*ret_in = ib.pos;
	*ret_out = ob.pos;
	if (ZSTD_isError(left))
		return -EIO;
	if (ib.pos < n)
		return 0;
	return op == ENCODE_RUN || left == 0 ? 1 : 0;
}

/* The streaming encoders' start and end: *_start fills e's state (0, or -ENOMEM/-EIO);
 * *_end accepts a state that never started. */
static int gzip_start(struct encoder *e)
{
	/* memLevel 8, window 2^15: zlib's 256 KiB of state, as nginx's gzip */
	if (deflateInit2(&e->z, ENCODE_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -EIO;
	return 0;
}

static void gzip_end(struct encoder *e)
{
	deflateEnd(&e->z);
}

static int zstd_start(struct encoder *e)
{
	e->zstd = ZSTD_createCCtx();
	if (!e->zstd)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(e->zstd, ZSTD_c_compressionLevel,
						ENCODE_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->zstd, ZSTD_c_windowLog,
						ENCODE_ZSTD_WINDOW_LOG)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->zstd, ZSTD_c_checksumFlag, 1)))
		return -EIO;
	return 0;
}

static void zstd_end(struct encoder *e)
{
	ZSTD_freeCCtx(e->zstd);
}

#if FERRY_BROTLI
/* br, in a `make BROTLI=1` build only: brotli's encoder (static libbrotlienc). */
#include <brotli/encode.h>

/* A whole body: brotli's one-shot call, which makes its state for each body (1.0.9 has no
 * reset to keep one per worker, as gzip_body and zstd_body do). */
static int br_body(const void *in, size_t n, void **ret, size_t *ret_len)
{
	size_t cap = BrotliEncoderMaxCompressedSize(n);
	if (cap == 0)
		return -E2BIG; /* past what brotli can bound */
	uint8_t *out = xmalloc(cap);
	size_t len = cap;
	if (!BrotliEncoderCompress(ENCODE_BR_QUALITY, ENCODE_BR_WINDOW_LOG, BROTLI_MODE_GENERIC,
				   n, in, &len, out)) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

static int br_start(struct encoder *e)
{
	BrotliEncoderState *b = BrotliEncoderCreateInstance(NULL, NULL, NULL);
	if (!b)
		return -ENOMEM;
	e->br = b;
	if (!BrotliEncoderSetParameter(b, BROTLI_PARAM_QUALITY, ENCODE_BR_QUALITY) ||
	    !BrotliEncoderSetParameter(b, BROTLI_PARAM_LGWIN, ENCODE_BR_WINDOW_LOG))
		return -EIO;
	return 0;
}

static void br_end(struct encoder *e)
{
	if (e->br)
		BrotliEncoderDestroyInstance(e->br);
}

/* brotli: a FLUSH or FINISH, once begun, goes on with the same op and the input not yet
 * taken until it is done (which is how the caller calls again after a 0). */
static int br_run(struct encoder *e, const void *in, size_t n, size_t *ret_in, void *out,
		  size_t cap, size_t *ret_out, enum encode_op op)
{
	static const BrotliEncoderOperation bop[] = {[ENCODE_RUN] = BROTLI_OPERATION_PROCESS,
						     [ENCODE_FLUSH] = BROTLI_OPERATION_FLUSH,
						     [ENCODE_END] = BROTLI_OPERATION_FINISH};
	size_t avail_in = n, avail_out = cap;
	const uint8_t *next_in = in;
	uint8_t *next_out = out;
	BROTLI_BOOL ok = BrotliEncoderCompressStream(e->br, bop[op], &avail_in, &next_in,
						     &avail_out, &next_out, NULL);
	*ret_in = n - avail_in;
	*ret_out = cap - avail_out;
	if (!ok)
		return -EIO;
	if (avail_in > 0)
		return 0;
	switch (op) {
	case ENCODE_RUN:
		return 1;
	case ENCODE_FLUSH:
		return BrotliEncoderHasMoreOutput(e->br) ? 0 : 1;
	default:
		return BrotliEncoderIsFinished(e->br) ? 1 : 0;
	}
}

const char *encode_brotli_version(void)
{
	static char v[16]; /* for ferry --version, from the main thread */
	uint32_t bv = BrotliEncoderVersion(); /* (major << 24) | (minor << 12) | patch */
	snprintf(v, sizeof(v), "%u.%u.%u", bv >> 24, (bv >> 12) & 0xfff, bv & 0xfff);
	return v;
}
#else
const char *encode_brotli_version(void)
{
	return NULL;
}
#endif

/* The coders this binary has, by coding: one without an entry (br in a default build) is a
 * coding encode cannot do. */
static const struct coder {
	int (*body)(const void *in, size_t n, void **ret, size_t *ret_len);
	int (*start)(struct encoder *e);
	void (*end)(struct encoder *e);
	int (*run)(struct encoder *e, const void *in, size_t n, size_t *ret_in, void *out,
		   size_t cap, size_t *ret_out, enum encode_op op);
} coders[HTTP_CODING_N] = {
	[HTTP_CODING_GZIP] = {gzip_body, gzip_start, gzip_end, gzip_run},
	[HTTP_CODING_ZSTD] = {zstd_body, zstd_start, zstd_end, zstd_run},
#if FERRY_BROTLI
	[HTTP_CODING_BR] = {br_body, br_start, br_end, br_run},
#endif
};

bool encode_supported(enum http_coding c)
{
	return (unsigned)c < HTTP_CODING_N && coders[c].body;
}

int encode_body(enum http_coding c, const void *in, size_t n, void **ret, size_t *ret_len)
{
	if (!encode_supported(c))
		return -EINVAL;
	void *out;
	size_t len;
	int r = coders[c].body(in, n, &out, &len);
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

struct encoder *encoder_new(enum http_coding c)
{
	if (!encode_supported(c))
		return NULL;
	struct encoder *e = xcalloc(1, sizeof(*e));
	e->coding = c;
	if (coders[c].start(e) < 0) {
		encoder_free(e);
		return NULL;
	}
	return e;
}

void encoder_free(struct encoder *e)
{
	if (!e)
		return;
	coders[e->coding].end(e);
	free(e);
}

int encoder_run(struct encoder *e, const void *in, size_t n, size_t *ret_in, void *out,
		size_t cap, size_t *ret_out, enum encode_op op)
{
	if (e->ended) {
		*ret_in = *ret_out = 0;
		return n ? -EIO : 1;
	}
	int r = coders[e->coding].run(e, in, n, ret_in, out, cap, ret_out, op);
	if (r == 1 && op == ENCODE_END)
		e->ended = true;
	return r;
}
