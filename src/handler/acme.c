/* The http-01 challenge handler: the token from the path (strict base64url, bounded), the
 * key authorization from ACME_DIR/challenges/TOKEN (a small regular file, no symlink),
 * answered as text/plain; 404 when there is none. */
#include "handler/acme.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/parse.h"
#include "base/macro.h"
#include "config/config.h"
#include "core/server.h"
#include "http/exchange.h"
#include "http/parser.h"

/* The key authorization for this token, or -errno. */
static ssize_t read_keyauth(const char *dir, const char *token, size_t len, char *out,
			    size_t size)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/challenges/%.*s", dir, (int)len, token) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	ssize_t n = -EINVAL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size <= size) {
		n = read(fd, out, size);
		if (n < 0)
			n = -errno;
	}
	close(fd);
	return n;
}

static void acme_serve(struct http_exchange *x, const struct http_request *req,
		       const struct http_route *rt)
{
	const struct config *cfg = x->wk->gen->cfg;
	/* origin form (the route matched the prefix on the path the request names) */
	const char *t = req->target, *end = t + req->target_len;
	const char *p = t[0] == '/' ? t : strstr(t, ACME_CHALLENGE_PREFIX);
	if (!p) {
		http_resp_error(x, 404);
		return;
	}
	const char *token = p + STRLEN(ACME_CHALLENGE_PREFIX);
	const char *q = memchr(token, '?', (size_t)(end - token));
	size_t len = (size_t)((q ? q : end) - token);
	char body[ACME_KEYAUTH_MAX];
	ssize_t n = -ENOENT;
	if (req->method_id != HTTP_M_GET && req->method_id != HTTP_M_HEAD) {
		http_resp_error(x, 405);
		return;
	}
	if (acme_token_valid(token, len))
		n = read_keyauth(cfg->acme_dir, token, len, body, sizeof(body));
	if (n <= 0) {
		http_resp_error(x, 404);
		return;
	}
	while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r'))
		n--;
	http_resp_start(x, 200);
	http_resp_header(x, "Content-Type", "text/plain", 10);
	http_resp_header(x, "Cache-Control", "no-store", 8);
	http_resp_end_head(x, n);
	http_resp_body_copy(x, body, (size_t)n);
}

const struct http_handler acme_challenge_handler = {
	.name = "acme",
	.streams_body = false,
	.serve = acme_serve,
};
