/* Static files below a root directory (or the embedded welcome page when there is none):
 * GET/HEAD/OPTIONS, index.html, MIME types, ETag/Last-Modified with the RFC 9110 §13
 * preconditions, a single byte range, sendfile. No request can name a file outside the root:
 * paths are normalized (http/path.h) and opened with openat2(RESOLVE_BENEATH). */
#ifndef FERRY_HANDLER_STATIC_H
#define FERRY_HANDLER_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_exchange;
struct http_request;
struct file_cache;
struct worker;
struct config_rules;

/* The handler (http/handler.h): the route's root_fd, or the embedded page for -1. */
extern const struct http_handler static_handler;
/* The same as a streaming handler, for a bodiless GET in a block with `encode`: a file past
 * ENCODE_MAX_SIZE is compressed as it is sent. */
extern const struct http_handler static_stream_handler;
/* server_app hooks: a new generation (the file cache starts over), the worker's end. */
void static_worker_gen(struct worker *wk);
void static_worker_exit(struct worker *wk);

/* root_fd < 0: serve the embedded page. Small files come from (and go into) fc. rules: the
 * block's try-files, index, browse, precompressed and encode (NULL: none, the defaults).
 * stream: the exchange is the handler's (a streaming handler): a large file to encode may be
 * streamed, and then true is returned (the exchange is held until the stream ends); else
 * the response is complete when it returns (false). */
bool static_handle(struct http_exchange *x, const struct http_request *req, int root_fd,
		   struct file_cache *fc, uint64_t now_ms, const struct config_rules *rules,
		   bool stream);

/* Open path (normalised, starting with '/') strictly below root_fd: an fd, or -errno. */
int static_open(int root_fd, const char *path);

/* Content-Type for a file name, by extension; "application/octet-stream" if unknown. */
const char *mime_type(const char *name, size_t len);

/* Test hook, read once at startup: with FERRY_INSECURE_TEST_BYPASS_PATH_CHECKS=1 in the
 * environment, static files are opened with a plain openat() of the raw target, skipping
 * path normalization and RESOLVE_BENEATH, so that a test can show the sandbox alone keeps
 * files outside the roots out of reach. Logged loudly; never set it in production. */
void static_test_hooks(void);

extern const char welcome_html[];
extern const unsigned welcome_html_len;

#endif
