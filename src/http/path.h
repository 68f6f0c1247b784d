/* From a request-target to a clean file-system path below a root. Pure. */
#ifndef FERRY_HTTP_PATH_H
#define FERRY_HTTP_PATH_H

#include <stddef.h>

#define HTTP_PATH_MAX 4096

/* Take the path of an origin-form ("/a/b?q") or absolute-form ("http://h/a/b?q") target,
 * percent-decode it, and remove "." and ".." segments and empty segments ("//"), as
 * RFC 3986 §5.2.4 does. The result starts with '/', has no "//", no "." or ".." segment,
 * and keeps a trailing '/' when the path had one. Writes it NUL-terminated to out.
 * Returns its length, or -EINVAL for: a bad percent-escape, an encoded or raw NUL, ".."
 * climbing above "/", a path not starting with '/'; -ENAMETOOLONG when it does not fit. */
int http_path_normalize(const char *target, size_t len, char *out, size_t outsize);

/* The other way: a decoded path (as http_path_normalize writes it) as a request path again,
 * appended to out (outsize bytes, NUL-terminated): bytes that RFC 3986 allows in a path
 * segment (unreserved, sub-delims, ':' and '@') and '/' as they are, every other one
 * (% ? # space, controls, non-ASCII) as %XX. Returns the length written, or -ENAMETOOLONG
 * when it does not fit (3 * len + 1 bytes always do). */
int http_path_encode(const char *path, size_t len, char *out, size_t outsize);

#endif
