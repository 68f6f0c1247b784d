/* Static files: path resolution below the root, preconditions, ranges, the response. */
#include "handler/static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "core/log.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "core/server.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/status.h"
#include "config/config.h"
#include "handler/encode.h"
#include "handler/filecache.h"
#include "http/coding.h"
#include "http/tmpl.h"

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* Without openat2: one component at a time, following no symbolic link at all (ELOOP: a
 * 404), which is stricter than RESOLVE_BENEATH (a link that stays inside is refused too). */
static int open_beneath_walk(int dirfd, const char *path)
{
	char name[HTTP_PATH_MAX];
	int fd = -1; /* the directory reached so far; -1: dirfd */
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		const char *rest = end;
		while (*rest == '/')
			rest++;
		bool last = !*rest;
		if (n == 0 || (n == 1 && p[0] == '.' && last)) /* "" or ".": the directory itself */
			memcpy(name, ".", 2);
		else if (n >= sizeof(name))
			goto fail_errno_nametoolong;
		else if (n == 2 && p[0] == '.' && p[1] == '.')
			goto fail_exdev;
		else {
			memcpy(name, p, n);
			name[n] = '\0';
		}
		int nfd = openat(fd < 0 ? dirfd : fd, name,
				 last ? OPEN_FLAGS | O_NOFOLLOW
				      : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		if (fd >= 0)
			close(fd);
		if (nfd < 0)
			return -err;
		fd = nfd;
		if (last)
			return fd;
		p = rest;
	}
fail_errno_nametoolong:
	if (fd >= 0)
		close(fd);
	return -ENAMETOOLONG;
fail_exdev:
	if (fd >= 0)
		close(fd);
	return -EXDEV;
}

/* Open path (relative) strictly beneath dirfd: no "..", no absolute symlinks, no symlink
 * that leads out, no magic links. openat2 can be missing: kernels before 5.6, and seccomp
 * filters that cannot look into its arguments, such as systemd's RestrictSUIDSGID= (which
 * DynamicUser= implies), answer ENOSYS: then open_beneath_walk(), from then on. */
static int open_beneath(int dirfd, const char *path)
{
	static _Atomic bool no_openat2;
	if (atomic_load_explicit(&no_openat2, memory_order_relaxed))
		return open_beneath_walk(dirfd, path);
	struct open_how how = {
		.flags = OPEN_FLAGS,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		atomic_store_explicit(&no_openat2, true, memory_order_relaxed);
		return open_beneath_walk(dirfd, path);
	}
	return fd < 0 ? -errno : fd;
}

int static_open(int root_fd, const char *path)
{
	return open_beneath(root_fd, path[0] == '/' && path[1] ? path + 1 : ".");
}

static int status_of_errno(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -EXDEV: /* resolution would leave the root: do not say that it exists */
	case -ELOOP:
		return 404;
	case -EACCES:
	case -EPERM:
		return 403;
	case -ENAMETOOLONG:
		return 414;
	default:
		return 500;
	}
}

static bool bypass_path_checks;

void static_test_hooks(void)
{
	const char *v = getenv("FERRY_INSECURE_TEST_BYPASS_PATH_CHECKS");
	bypass_path_checks = v && strcmp(v, "1") == 0;
	if (bypass_path_checks)
		log_warning("FERRY_INSECURE_TEST_BYPASS_PATH_CHECKS=1: path checks are OFF (a test "
			    "hook): only the sandbox protects files outside the roots");
}

/* The test hook's way in: the raw target, no decoding, no normalization, no RESOLVE_*. */
static void serve_bypassed(struct http_exchange *x, const struct http_request *req, int root_fd)
{
	char raw[HTTP_PATH_MAX];
	size_t n = 0;
	while (n < req->target_len && n + 1 < sizeof(raw) && req->target[n] != '?') {
		raw[n] = req->target[n];
		n++;
	}
	raw[n] = '\0';
	int fd = openat(root_fd, raw[0] == '/' && raw[1] ? raw + 1 : ".", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		http_resp_error(x, status_of_errno(-errno));
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		http_resp_error(x, 404);
		return;
	}
	http_resp_start(x, 200);
	http_resp_end_head(x, st.st_size);
	http_resp_body_file(x, fd, 0, st.st_size);
}

/* ---- validators ---------------------------------------------------------------------- */

/* Does the entity-tag list in an If-Match / If-None-Match value match ours? strong: the
 * strong comparison of RFC 9110 §8.8.3.2 (If-Match), else the weak one (If-None-Match). */
static bool etag_list_matches(const char *p, size_t n, const struct validators *v, bool strong)
{
	const char *end = p + n;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p == '*')
			return true;
		bool weak = false;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
			weak = true;
			p += 2;
		}
		if (p == end || *p != '"')
			return false; /* malformed: no match */
		const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (!q)
			return false;
		size_t len = (size_t)(q - p + 1);
		if (!(strong && weak) && len == v->etag_len && memcmp(p, v->etag, len) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* RFC 9110 §13.2.2: the order in which preconditions are evaluated. Returns 0 to go on,
 * 304 or 412 to answer with that status. */
static int preconditions(const struct http_request *req, const struct validators *v)
{
	const struct http_header *h;
	time_t t;
	if ((h = http_request_header(req, "if-match"))) {
		if (!etag_list_matches(h->value, h->value_len, v, true))
			return 412;
	} else if ((h = http_request_header(req, "if-unmodified-since")) &&
		   http_date_parse(h->value, h->value_len, &t) == 0) {
		if (v->mtime > t)
			return 412;
	}
	if ((h = http_request_header(req, "if-none-match"))) {
		if (etag_list_matches(h->value, h->value_len, v, false))
			return 304;
	} else if ((h = http_request_header(req, "if-modified-since")) &&
		   http_date_parse(h->value, h->value_len, &t) == 0) {
		if (v->mtime <= t)
			return 304;
	}
	return 0;
}

/* ---- ranges -------------------------------------------------------------------------- */

enum range_result { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

static bool parse_u64(const char **pp, const char *end, uint64_t *ret)
{
	const char *p = *pp;
	uint64_t v = 0;
	if (p == end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	*pp = p;
	*ret = v;
	return true;
}

/* A single "bytes=" range (RFC 9110 §14.1.2). Several ranges, other units or bad syntax:
 * RANGE_NONE, the whole file (the server may ignore Range). */
static enum range_result parse_range(const char *p, size_t n, uint64_t size, uint64_t *ret_off,
				     uint64_t *ret_len)
{
	const char *end = p + n;
	if (n < 6 || !str_ieq(p, 6, "bytes="))
		return RANGE_NONE;
	p += 6;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	uint64_t first, last;
	bool has_first = false, has_last = false;
	if (p < end && *p != '-') {
		if (!parse_u64(&p, end, &first))
			return RANGE_NONE;
		has_first = true;
	}
	if (p == end || *p != '-')
		return RANGE_NONE;
	p++;
	if (p < end && *p >= '0' && *p <= '9') {
		if (!parse_u64(&p, end, &last))
			return RANGE_NONE;
		has_last = true;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p != end) /* a list of ranges, or junk: serve the whole representation */
		return RANGE_NONE;
	if (!has_first && !has_last)
		return RANGE_NONE;
	if (!has_first) { /* suffix: the last N bytes */
		if (last == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		uint64_t len = last < size ? last : size;
		*ret_off = size - len;
		*ret_len = len;
		return RANGE_OK;
	}
	if (has_last && last < first)
		return RANGE_NONE; /* invalid range-spec: ignore the field */
	if (first >= size)
		return RANGE_UNSATISFIABLE;
	if (!has_last || last >= size)
		last = size - 1;
	*ret_off = first;
	*ret_len = last - first + 1;
	return RANGE_OK;
}

/* If-Range (RFC 9110 §13.1.5): the range applies only if the validator still matches. */
static bool if_range_ok(const struct http_request *req, const struct validators *v)
{
	const struct http_header *h = http_request_header(req, "if-range");
	if (!h)
		return true;
	if (h->value_len > 0 && h->value[0] == '"')
		return h->value_len == v->etag_len && memcmp(h->value, v->etag, v->etag_len) == 0;
	time_t t;
	if (http_date_parse(h->value, h->value_len, &t) == 0)
		return t == v->mtime;
	return false;
}

/* ---- responses ----------------------------------------------------------------------- */

static void serve_welcome(struct http_exchange *x, const char *path)
{
	if (strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0) {
		http_resp_error(x, 404);
		return;
	}
	http_resp_start(x, 200);
	http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_end_head(x, welcome_html_len);
	http_resp_body_mem(x, welcome_html, welcome_html_len);
}

static void redirect_dir(struct http_exchange *x, const struct http_request *req, const char *path)
{
	/* Keep the query: "/dir?x" -> "/dir/?x". The path is already decoded; re-encode only
	 * what cannot appear in a Location value. */
	char loc[HTTP_PATH_MAX + 8];
	size_t o = 0;
	static const char hex[] = "0123456789ABCDEF";
	for (const char *p = path; *p && o + 4 < sizeof(loc); p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '?' || ch == '#' || ch == '"') {
			loc[o++] = '%';
			loc[o++] = hex[ch >> 4];
			loc[o++] = hex[ch & 15];
		} else {
			loc[o++] = (char)ch;
		}
	}
	loc[o++] = '/';
	const char *q = memchr(req->target, '?', req->target_len);
	if (q) {
		size_t ql = (size_t)(req->target + req->target_len - q);
		if (o + ql < sizeof(loc)) {
			memcpy(loc + o, q, ql);
			o += ql;
		}
	}
	http_resp_start(x, 301);
	http_resp_header(x, "Location", loc, o);
	http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_end_head(x, 0);
}

/* Preconditions, range and headers for one representation; the body comes from fd (sent with
 * sendfile, fd owned) or from mem (copied after the head: small files from the cache). */
static void serve_file(struct http_exchange *x, const struct http_request *req,
		       const struct validators *v, const char *type, uint64_t size, int fd,
		       const char *mem, const char *coding, bool vary)
{
	int pre = preconditions(req, v);
	if (pre) {
		if (fd >= 0)
			close(fd);
		if (pre == 412) {
			http_resp_error(x, 412);
			return;
		}
		http_resp_start(x, 304);
		http_resp_header(x, "ETag", v->etag, v->etag_len);
		http_resp_header(x, "Last-Modified", v->last_modified, 29);
		if (vary)
			http_resp_header(x, "Vary", "Accept-Encoding", 15);
		http_resp_end_head(x, -1);
		return;
	}

	uint64_t off = 0, len = size;
	int status = 200;
	const struct http_header *rh = http_request_header(req, "range");
	if (rh && req->method_id == HTTP_M_GET && if_range_ok(req, v)) {
		switch (parse_range(rh->value, rh->value_len, size, &off, &len)) {
		case RANGE_NONE:
			off = 0;
			len = size;
			break;
		case RANGE_OK:
			status = 206;
			break;
		case RANGE_UNSATISFIABLE:
			if (fd >= 0)
				close(fd);
			http_resp_start(x, 416);
			http_resp_headerf(x, "Content-Range", "bytes */%" PRIu64, size);
			http_resp_end_head(x, 0);
			return;
		}
	}

	http_resp_start(x, status);
	http_resp_header(x, "Content-Type", type, strlen(type));
	if (coding)
		http_resp_header(x, "Content-Encoding", coding, strlen(coding));
	if (vary)
		http_resp_header(x, "Vary", "Accept-Encoding", 15);
	http_resp_header(x, "Last-Modified", v->last_modified, 29);
	http_resp_header(x, "ETag", v->etag, v->etag_len);
	http_resp_header(x, "Accept-Ranges", "bytes", 5);
	if (status == 206)
		http_resp_headerf(x, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
				  off + len - 1, size);
	http_resp_end_head(x, (int64_t)len);
	if (mem)
		http_resp_body_copy(x, mem + off, (size_t)len);
	else if (len > 0)
		http_resp_body_file(x, fd, (off_t)off, (off_t)len);
	else
		close(fd);
}

static void serve_entry(struct http_exchange *x, const struct http_request *req,
			const struct fc_entry *e, bool vary)
{
	serve_file(x, req, &e->v, e->mime, e->size, -1, e->data, NULL, vary);
}

#define FILE_CACHE_ENTRIES 256
#define FILE_CACHE_MAX_FILE 8192
#define FILE_CACHE_VALID_MS 1000

/* The worker's cache of small files, keyed by root fd: a new generation may reuse the fds,
 * so it starts empty with each (static_worker_gen). */
static struct file_cache *worker_cache(struct worker *wk)
{
	struct file_cache *fc = wk->app_data[WORKER_SLOT_STATIC];
	if (!fc) {
		fc = xcalloc(1, sizeof(*fc));
		file_cache_init(fc, FILE_CACHE_ENTRIES, FILE_CACHE_MAX_FILE, FILE_CACHE_VALID_MS);
		wk->app_data[WORKER_SLOT_STATIC] = fc;
	}
	return fc;
}

void static_worker_exit(struct worker *wk)
{
	struct file_cache *fc = wk->app_data[WORKER_SLOT_STATIC];
	if (fc) {
		file_cache_done(fc);
		free(fc);
		wk->app_data[WORKER_SLOT_STATIC] = NULL;
	}
}

void static_worker_gen(struct worker *wk)
{
	static_worker_exit(wk);
}

/* What serve_encoded did: nothing (identity follows), answered, or began a stream. */
enum { ENC_NO, ENC_SERVED, ENC_STREAMING };

static void static_serve(struct http_exchange *x, const struct http_request *req,
			 const struct http_route *rt)
{
	const struct config_rules *r = rt->rules && rt->rules->statics ? rt->rules : NULL;
	static_handle(x, req, rt->root_fd, worker_cache(x->wk), x->wk->loop.now_ms, r, false);
}

const struct http_handler static_handler = {
	.name = "static",
	.streams_body = false,
	.serve = static_serve,
};

/* The same for a bodiless GET in a block with `encode` (route.c chooses it): the exchange is
 * the handler's from the head on, so that a large file can be compressed as it is sent
 * (struct file_stream); any other answer is sent as the plain handler's would be. */
static void static_stream_serve(struct http_exchange *x, const struct http_request *req,
				const struct http_route *rt)
{
	const struct config_rules *r = rt->rules && rt->rules->statics ? rt->rules : NULL;
	if (!static_handle(x, req, rt->root_fd, worker_cache(x->wk), x->wk->loop.now_ms, r, true))
		http_x_stream_respond(x);
}

const struct http_handler static_stream_handler = {
	.name = "static",
	.streams_body = true,
	.serve = static_stream_serve,
};

/* ---- a large file compressed as it is sent ----------------------------------------------- */

#define FS_CHUNK 65536 /* file bytes read at a time, and compressed bytes held for the client */

/* One response: the file read FS_CHUNK at a time (pread), compressed into out, given to the
 * client as it takes it (http_x_send; its event says when there is room again): memory is
 * the encoder's state and two buffers, whatever the file's size. */
struct file_stream {
	struct http_exchange *x;
	int fd;
	uint64_t off, size; /* read so far, of */
	struct encoder *enc;
	size_t in_off, in_len, out_off, out_len;
	uint64_t bytes; /* compressed bytes given to the client */
	bool ended;     /* the encoder's end is in out */
	struct timer timer; /* send-timeout: a client that takes nothing for that long */
	char in[FS_CHUNK], out[FS_CHUNK];
};

static void fs_free(struct file_stream *fs)
{
	timer_cancel(&fs->timer);
	encoder_free(fs->enc);
	close(fs->fd);
	free(fs);
}

/* The file changed under us (shorter now) or the encoder failed: a body cut short must not
 * look complete. */
static void fs_abort(struct file_stream *fs)
{
	struct http_exchange *x = fs->x;
	http_x_set_stream(x, NULL, NULL);
	fs_free(fs);
	http_x_stream_abort(x);
}

static void fs_pump(void *arg)
{
	struct file_stream *fs = arg;
	struct http_exchange *x = fs->x;
	for (;;) {
		if (fs->out_off < fs->out_len) {
			ssize_t n = http_x_send(x, fs->out + fs->out_off, fs->out_len - fs->out_off);
			if (n < 0) {
				fs_abort(fs);
				return;
			}
			if (n == 0)
				return; /* the event comes when the client has taken some */
			fs->out_off += (size_t)n;
			timer_arm(&x->wk->loop, &x->wk->t_send, &fs->timer);
			continue;
		}
		fs->out_off = fs->out_len = 0;
		if (fs->ended) {
			uint64_t bytes = fs->bytes;
			http_x_set_stream(x, NULL, NULL);
			fs_free(fs);
			http_x_stream_end(x, 200, bytes, true);
			return;
		}
		if (fs->in_off == fs->in_len && fs->off < fs->size) {
			size_t want = (size_t)MIN((uint64_t)FS_CHUNK, fs->size - fs->off);
			ssize_t k = pread(fs->fd, fs->in, want, (off_t)fs->off);
			if (k <= 0) {
				fs_abort(fs);
				return;
			}
			fs->in_off = 0;
			fs->in_len = (size_t)k;
			fs->off += (uint64_t)k;
		}
		enum encode_op op = fs->off == fs->size ? ENCODE_END : ENCODE_RUN;
		size_t in, out;
		int r = encoder_run(fs->enc, fs->in + fs->in_off, fs->in_len - fs->in_off, &in,
				    fs->out, sizeof(fs->out), &out, op);
		if (r < 0) {
			fs_abort(fs);
			return;
		}
		fs->in_off += in;
		fs->out_len = out;
		fs->bytes += out;
		if (r == 1 && op == ENCODE_END)
			fs->ended = true;
	}
}

static void fs_gone(void *arg)
{
	fs_free(arg);
}

static void on_fs_timer(struct loop *l, struct timer *t)
{
	fs_abort(container_of(t, struct file_stream, timer));
}

static const struct http_stream_cb fs_stream_cb = {
	.event = fs_pump,
	.abort = fs_gone,
};

/* A stream of fd (owned by it once it exists) for x, which it takes now: before the head,
 * so that the protocol sends the head as a streamed response's. NULL when the library cannot
 * start an encoder. */
static struct file_stream *file_stream_new(struct http_exchange *x, enum http_coding c, int fd,
					   const struct stat *st)
{
	struct encoder *enc = encoder_new(c);
	if (!enc)
		return NULL;
	struct file_stream *fs = xmalloc(sizeof(*fs));
	*fs = (struct file_stream){.x = x, .fd = fd, .size = (uint64_t)st->st_size, .enc = enc};
	fs->timer.cb = on_fs_timer;
	timer_arm(&x->wk->loop, &x->wk->t_send, &fs->timer);
	http_x_set_stream(x, &fs_stream_cb, fs);
	return fs;
}

/* ---- directory listings (browse) ----------------------------------------------------- */

#define BROWSE_MAX_ENTRIES 10000
#define BROWSE_MAX_BYTES (8 << 20)

struct dirent_info {
	char *name;
	bool dir;
	uint64_t size;
	time_t mtime;
};

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct dirent_info *)a)->name, ((const struct dirent_info *)b)->name);
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), else 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
				     : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!len || len > n || (len == 2 && s[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Text for HTML: & < > " ' as references; bytes that are not UTF-8 as U+FFFD. */
static void html_escape(struct buf *b, const char *s)
{
	for (size_t i = 0, n = strlen(s); i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = utf8_len((const unsigned char *)s + i, n - i);
		if (c == '&')
			buf_appends(b, "&amp;");
		else if (c == '<')
			buf_appends(b, "&lt;");
		else if (c == '>')
			buf_appends(b, "&gt;");
		else if (c == '"')
			buf_appends(b, "&quot;");
		else if (c == '\'')
			buf_appends(b, "&#39;");
		else if (!l || c < 0x20 || c == 0x7f)
			buf_appends(b, "&#xFFFD;");
		else
			buf_append(b, s + i, l);
		i += l ? l : 1;
	}
}

/* A relative URL for a name: everything but unreserved characters percent-encoded. */
static void url_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_append(b, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(b, e, 3);
		}
	}
}

/* A JSON string: '"', '\\' and controls escaped; bytes that are not UTF-8 as U+FFFD. */
static void json_escape(struct buf *b, const char *s)
{
	buf_appends(b, "\"");
	for (size_t i = 0, n = strlen(s); i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = utf8_len((const unsigned char *)s + i, n - i);
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			buf_append(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
		} else if (!l) {
			buf_appends(b, "\\ufffd");
		} else {
			buf_append(b, s + i, l);
		}
		i += l ? l : 1;
	}
	buf_appends(b, "\"");
}

/* A listing of the directory dir_fd (the request's path ends with '/'): HTML, or JSON for a
 * client that accepts application/json. Names starting with '.' are left out; symbolic links
 * are listed as themselves (never followed). Bounded in entries and bytes. */
static void browse(struct http_exchange *x, const struct http_request *req, int dir_fd)
{
	int dfd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		http_resp_error(x, status_of_errno(-errno));
		return;
	}
	struct dirent_info *v = NULL;
	size_t n = 0, cap = 0;
	bool truncated = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == BROWSE_MAX_ENTRIES) {
			truncated = true;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = (struct dirent_info){xstrdup(de->d_name), S_ISDIR(st.st_mode),
					      (uint64_t)st.st_size, st.st_mtim.tv_sec};
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_entries);

	const struct http_header *acc = http_request_header(req, "accept");
	bool json = acc && memmem(acc->value, acc->value_len, "application/json", 16);
	struct buf b;
	buf_init(&b, BROWSE_MAX_BYTES);
	if (json) {
		buf_appends(&b, "[");
		for (size_t i = 0; i < n; i++) {
			buf_appends(&b, i ? ",\n{\"name\":" : "\n{\"name\":");
			json_escape(&b, v[i].name);
			buf_printf(&b, ",\"type\":\"%s\",\"size\":%" PRIu64 ",\"mtime\":%" PRId64 "}",
				   v[i].dir ? "directory" : "file", v[i].size, (int64_t)v[i].mtime);
		}
		buf_appends(&b, "\n]\n");
	} else {
		buf_appends(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
				"<title>Index</title></head><body>\n<ul>\n");
		for (size_t i = 0; i < n; i++) {
			buf_appends(&b, "<li><a href=\"./");
			url_escape(&b, v[i].name);
			buf_appends(&b, v[i].dir ? "/\">" : "\">");
			html_escape(&b, v[i].name);
			buf_printf(&b, "%s</a>", v[i].dir ? "/" : "");
			if (!v[i].dir)
				buf_printf(&b, " %" PRIu64, v[i].size);
			buf_appends(&b, "</li>\n");
		}
		buf_appends(&b, truncated ? "</ul>\n<p>(truncated)</p>\n</body></html>\n"
					  : "</ul>\n</body></html>\n");
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	if (b.len == b.max) { /* a listing cut short would look complete */
		buf_free(&b);
		http_resp_error(x, 500);
		return;
	}
	http_resp_start(x, 200);
	if (json)
		http_resp_header(x, "Content-Type", "application/json", 16);
	else
		http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_header(x, "Vary", "Accept", 6);
	http_resp_header(x, "Cache-Control", "no-cache", 8);
	http_resp_end_head(x, (int64_t)b.len);
	http_resp_body_owned(x, TAKE_PTR(b.data), b.len);
}

/* The file (or directory index) at the normalised path below the root; r: the block's rules
 * (index, browse, precompressed's Vary), or NULL for the defaults. */
static void serve_path(struct http_exchange *x, const struct http_request *req, int root_fd,
		       struct file_cache *fc, uint64_t now_ms, const struct config_rules *r,
		       char *path, int plen)
{
	bool vary = r && (r->n_precompressed || r->n_encode);
	/* The cache is keyed by root and path: a directory's entry is its index.html, which a
	 * block with index names of its own must not take (nor give) through a shared root. */
	bool cacheable = !(r && r->n_index && path[plen - 1] == '/');
	const struct fc_entry *cached =
		cacheable ? file_cache_get(fc, root_fd, path, (size_t)plen, now_ms) : NULL;
	if (cached) {
		serve_entry(x, req, cached, vary);
		return;
	}
	const char *rel = path[1] ? path + 1 : ".";
	int fd = open_beneath(root_fd, rel);
	if (fd < 0) {
		http_resp_error(x, status_of_errno(fd));
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		http_resp_error(x, 500);
		return;
	}
	const char *name = path;
	size_t name_len = (size_t)plen;
	if (S_ISDIR(st.st_mode)) {
		if (path[plen - 1] != '/') {
			close(fd);
			redirect_dir(x, req, path);
			return;
		}
		static const char *const default_index[] = {"index.html"};
		char *const *names = r && r->n_index ? r->index : (char *const *)default_index;
		size_t n_names = r && r->n_index ? r->n_index : 1;
		int ifd = -ENOENT;
		for (size_t i = 0; i < n_names && ifd == -ENOENT; i++) {
			ifd = open_beneath(fd, names[i]);
			name = names[i];
		}
		if (ifd == -ENOENT && r && r->browse) {
			browse(x, req, fd);
			close(fd);
			return;
		}
		close(fd);
		if (ifd < 0) {
			http_resp_error(x, ifd == -ENOENT ? 404 : status_of_errno(ifd));
			return;
		}
		fd = ifd;
		if (fstat(fd, &st) < 0) {
			close(fd);
			http_resp_error(x, 500);
			return;
		}
		name_len = strlen(name);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		http_resp_error(x, 404);
		return;
	}

	const char *type = mime_type(name, name_len);
	const struct fc_entry *e =
		cacheable ? file_cache_put(fc, root_fd, path, (size_t)plen, fd, &st, type, now_ms)
			  : NULL;
	if (e) {
		close(fd);
		serve_entry(x, req, e, vary);
		return;
	}
	struct validators v;
	validators_of(&st, &v);
	serve_file(x, req, &v, type, (uint64_t)st.st_size, fd, NULL, NULL, vary);
}

/* ---- try-files and precompressed files ---------------------------------------------- */

/* The first try-files target that exists below the root: its normalised path in out (its
 * length), or the negated status to answer. A target that would leave the root (it cannot
 * be normalised: ".." above '/') is skipped, and every open is RESOLVE_BENEATH. */
static int try_files(struct http_exchange *x, int root_fd, const struct config_rules *r,
		     char *out)
{
	struct http_tmpl_vars v;
	http_x_tmpl_vars(x, &v);
	for (size_t i = 0; i < r->n_try_files; i++) {
		char exp[HTTP_TMPL_MAX];
		ssize_t n = http_tmpl_expand(r->try_files[i], strlen(r->try_files[i]), &v, exp,
					     sizeof(exp));
		if (n < 0)
			continue;
		int m = http_path_normalize(exp, (size_t)n, out, HTTP_PATH_MAX);
		if (m < 0)
			continue;
		int fd = static_open(root_fd, out);
		if (fd < 0)
			continue;
		struct stat st;
		bool ok = fstat(fd, &st) == 0 &&
			  (S_ISREG(st.st_mode) || (S_ISDIR(st.st_mode) && out[m - 1] == '/'));
		close(fd);
		if (ok)
			return m;
	}
	return -(r->try_status ? r->try_status : 404);
}

/* An ETag of its own for an encoded representation: the coding inside the quotes. */
static void etag_add_coding(struct validators *v, const char *suffix)
{
	size_t n = strlen(suffix);
	if (v->etag_len + n + 2 > sizeof(v->etag))
		return;
	v->etag[v->etag_len - 1] = '-';
	memcpy(v->etag + v->etag_len, suffix, n);
	v->etag[v->etag_len + n] = '"';
	v->etag_len += n + 1;
	v->etag[v->etag_len] = '\0';
}

/* With `precompressed`: the file's encoded sibling (file.br, file.zst, file.gz) the client's
 * Accept-Encoding allows, highest weight first, then the configured order. Returns false
 * when there is none (or the field is malformed or too long): identity is served. */
static bool serve_precompressed(struct http_exchange *x, const struct http_request *req,
				int root_fd, const struct config_rules *r, const char *path,
				size_t plen)
{
	unsigned char order[HTTP_CODING_N];
	size_t n = encode_accepted(req, r->precompressed, r->n_precompressed, order);
	for (size_t k = 0; k < n; k++) {
		enum http_coding c = order[k];
		char name[HTTP_PATH_MAX + 8];
		int nl = snprintf(name, sizeof(name), "%s.%s", path, http_coding_suffix(c));
		if (nl < 0 || (size_t)nl >= sizeof(name))
			continue;
		int fd = static_open(root_fd, name);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		struct validators v;
		validators_of(&st, &v);
		etag_add_coding(&v, http_coding_suffix(c));
		serve_file(x, req, &v, mime_type(path, plen), (uint64_t)st.st_size, fd, NULL,
			   http_coding_name(c), true);
		return true;
	}
	return false;
}

/* With `encode`: the file (or the directory's index) compressed now, when the client takes
 * one of the codings, its type is text-like, it has at least ENCODE_MIN_SIZE bytes, and no
 * range is asked for. Up to ENCODE_MAX_SIZE it is compressed whole into memory; a larger one
 * streams through an encoder when the exchange is the handler's (stream: the streaming
 * variant of the handler, static_stream_handler), else it goes out as it is. Its ETag names
 * the coding (never the identity one's, nor a precompressed file's); preconditions are
 * checked before any CPU is spent. Returns ENC_NO to serve identity, ENC_SERVED, or
 * ENC_STREAMING (the exchange is held until the stream ends). */
struct file_stream;
static struct file_stream *file_stream_new(struct http_exchange *x, enum http_coding c, int fd,
					   const struct stat *st);
static void fs_pump(void *arg);

static int serve_encoded(struct http_exchange *x, const struct http_request *req, int root_fd,
			 const struct config_rules *r, const char *path, size_t plen, bool stream)
{
	unsigned char order[HTTP_CODING_N];
	if (http_request_header(req, "range") ||
	    !encode_accepted(req, r->encode, r->n_encode, order))
		return ENC_NO;
	enum http_coding c = order[0];
	int fd = static_open(root_fd, path);
	if (fd < 0)
		return ENC_NO;
	struct stat st;
	const char *name = path;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && path[plen - 1] == '/') {
		static const char *const default_index[] = {"index.html"};
		char *const *names = r->n_index ? r->index : (char *const *)default_index;
		size_t n_names = r->n_index ? r->n_index : 1;
		int ifd = -ENOENT;
		for (size_t i = 0; i < n_names && ifd == -ENOENT; i++) {
			ifd = open_beneath(fd, names[i]);
			name = names[i];
		}
		close(fd);
		if (ifd < 0)
			return ENC_NO;
		fd = ifd;
		if (fstat(fd, &st) < 0)
			st.st_mode = 0;
	}
	const char *type = mime_type(name, strlen(name));
	bool large = st.st_size > ENCODE_MAX_SIZE;
	if (!S_ISREG(st.st_mode) || st.st_size < ENCODE_MIN_SIZE ||
	    (large && !stream && !x->is_head) || !encode_type_ok(type)) {
		close(fd);
		return ENC_NO;
	}
	struct validators v;
	validators_of(&st, &v);
	etag_add_coding(&v, http_coding_name(c));
	if (preconditions(req, &v)) { /* 304 or 412, no body: nothing to compress */
		close(fd);
		serve_file(x, req, &v, type, (uint64_t)st.st_size, -1, NULL, NULL, true);
		return ENC_SERVED;
	}
	if (large) {
		/* (HEAD: the head alone; a stream takes the exchange before its head) */
		struct file_stream *fs = x->is_head ? NULL : file_stream_new(x, c, fd, &st);
		if (!fs && !x->is_head) {
			close(fd);
			return ENC_NO; /* the library could not start an encoder */
		}
		http_resp_start(x, 200);
		http_resp_header(x, "Content-Type", type, strlen(type));
		http_resp_header(x, "Content-Encoding", http_coding_name(c),
				 strlen(http_coding_name(c)));
		http_resp_header(x, "Vary", "Accept-Encoding", 15);
		http_resp_header(x, "Last-Modified", v.last_modified, 29);
		http_resp_header(x, "ETag", v.etag, v.etag_len);
		http_resp_end_head(x, HTTP_LENGTH_STREAM);
		if (!fs) {
			close(fd);
			return ENC_SERVED;
		}
		fs_pump(fs);
		return ENC_STREAMING;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *in = xmalloc(size ? size : 1);
	while (got < size) {
		ssize_t k = pread(fd, in + got, size - got, (off_t)got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	void *out;
	size_t len;
	int rc = got == size ? encode_body(c, in, size, &out, &len) : -EIO;
	free(in);
	if (rc < 0)
		return ENC_NO;
	http_resp_start(x, 200);
	http_resp_header(x, "Content-Type", type, strlen(type));
	http_resp_header(x, "Content-Encoding", http_coding_name(c), strlen(http_coding_name(c)));
	http_resp_header(x, "Vary", "Accept-Encoding", 15);
	http_resp_header(x, "Last-Modified", v.last_modified, 29);
	http_resp_header(x, "ETag", v.etag, v.etag_len);
	http_resp_end_head(x, (int64_t)len);
	http_resp_body_owned(x, out, len);
	return ENC_SERVED;
}

/* A block with try-files, index, browse or precompressed (never the fast path's cost).
 * true: the exchange is held by a stream (serve_encoded). */
static bool serve_rules(struct http_exchange *x, const struct http_request *req, int root_fd,
			struct file_cache *fc, uint64_t now_ms, const struct config_rules *r,
			char *path, int plen, bool stream)
{
	if (r->n_try_files || r->try_status) {
		char tried[HTTP_PATH_MAX];
		int n = try_files(x, root_fd, r, tried);
		if (n < 0) {
			http_resp_error(x, -n);
			return false;
		}
		memcpy(path, tried, (size_t)n + 1);
		plen = n;
	}
	if (r->n_precompressed && path[plen - 1] != '/' &&
	    serve_precompressed(x, req, root_fd, r, path, (size_t)plen))
		return false;
	if (r->n_encode) {
		int e = serve_encoded(x, req, root_fd, r, path, (size_t)plen, stream);
		if (e != ENC_NO)
			return e == ENC_STREAMING;
	}
	serve_path(x, req, root_fd, fc, now_ms, r, path, plen);
	return false;
}

bool static_handle(struct http_exchange *x, const struct http_request *req, int root_fd,
		   struct file_cache *fc, uint64_t now_ms, const struct config_rules *rules,
		   bool stream)
{
	char path[HTTP_PATH_MAX];

	switch (req->method_id) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
		break;
	case HTTP_M_OPTIONS:
		http_resp_start(x, 204);
		http_resp_header(x, "Allow", "GET, HEAD, OPTIONS", 18);
		http_resp_end_head(x, -1);
		return false;
	default:
		http_resp_error(x, 405);
		return false;
	}
	if (unlikely(bypass_path_checks) && root_fd >= 0) {
		serve_bypassed(x, req, root_fd);
		return false;
	}
	if (req->target_len == 1 && req->target[0] == '*') {
		http_resp_error(x, 400);
		return false;
	}
	int plen = http_path_normalize(req->target, req->target_len, path, sizeof(path));
	if (plen < 0) {
		http_resp_error(x, plen == -ENAMETOOLONG ? 414 : 400);
		return false;
	}
	if (root_fd < 0) {
		serve_welcome(x, path);
		return false;
	}
	if (unlikely(rules))
		return serve_rules(x, req, root_fd, fc, now_ms, rules, path, plen, stream);
	serve_path(x, req, root_fd, fc, now_ms, NULL, path, plen);
	return false;
}

