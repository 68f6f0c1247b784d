/* Tests for src/handler/filecache.c: hits, expiry after valid_ms, size and count bounds, LRU
 * eviction; and src/handler/mime.c. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handler/filecache.h"
#include "handler/static.h"
#include "test.h"

static int make_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
	return fd;
}

int main(void)
{
	char dir[] = "/tmp/ferry-fc.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	struct file_cache fc;
	file_cache_init(&fc, 2, 16, 1000);

	struct stat st;
	int a = make_file(dir, "a", "alpha");
	fstat(a, &st);
	CHECK(file_cache_get(&fc, 3, "/a", 2, 0) == NULL);
	const struct fc_entry *e = file_cache_put(&fc, 3, "/a", 2, a, &st, "text/plain", 0);
	CHECK(e != NULL);
	CHECK_EQ_INT(e->size, 5);
	CHECK(memcmp(e->data, "alpha", 5) == 0);
	CHECK_STREQ(e->mime, "text/plain");
	CHECK(e->v.etag_len > 2 && e->v.etag[0] == '"');
	CHECK(file_cache_get(&fc, 3, "/a", 2, 999) == e);  /* fresh */
	CHECK(file_cache_get(&fc, 4, "/a", 2, 999) == NULL); /* another root */
	CHECK(file_cache_get(&fc, 3, "/a", 2, 1000) == NULL); /* stale: dropped */
	CHECK_EQ_INT(fc.n_entries, 0);

	/* Too big for the cache: not cached. */
	int big = make_file(dir, "big", "0123456789abcdefX");
	fstat(big, &st);
	CHECK(file_cache_put(&fc, 3, "/big", 4, big, &st, "x", 0) == NULL);

	/* Two entries at most: the least recently used goes. */
	int b = make_file(dir, "b", "beta");
	int c = make_file(dir, "c", "gamma");
	fstat(a, &st);
	file_cache_put(&fc, 3, "/a", 2, a, &st, "x", 0);
	fstat(b, &st);
	file_cache_put(&fc, 3, "/b", 2, b, &st, "x", 0);
	CHECK(file_cache_get(&fc, 3, "/a", 2, 1) != NULL); /* a is now the most recent */
	fstat(c, &st);
	file_cache_put(&fc, 3, "/c", 2, c, &st, "x", 0);
	CHECK_EQ_INT(fc.n_entries, 2);
	CHECK(file_cache_get(&fc, 3, "/b", 2, 2) == NULL); /* evicted */
	CHECK(file_cache_get(&fc, 3, "/a", 2, 2) != NULL);
	CHECK(file_cache_get(&fc, 3, "/c", 2, 2) != NULL);
	file_cache_done(&fc);

	/* Disabled */
	file_cache_init(&fc, 0, 0, 0);
	fstat(a, &st);
	CHECK(file_cache_put(&fc, 3, "/a", 2, a, &st, "x", 0) == NULL);
	CHECK(file_cache_get(&fc, 3, "/a", 2, 0) == NULL);
	file_cache_done(&fc);
	close(a);
	close(b);
	close(c);
	close(big);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ_INT(system(cmd), 0);

	/* MIME types */
	CHECK_STREQ(mime_type("/index.html", 11), "text/html; charset=utf-8");
	CHECK_STREQ(mime_type("/A.PNG", 6), "image/png");
	CHECK_STREQ(mime_type("/x.tar.gz", 9), "application/gzip");
	CHECK_STREQ(mime_type("/noext", 6), "application/octet-stream");
	CHECK_STREQ(mime_type("/dir.d/file", 11), "application/octet-stream");
	CHECK_STREQ(mime_type("/.hidden", 8), "application/octet-stream");
	CHECK_STREQ(mime_type("/x.", 3), "application/octet-stream");
	TEST_MAIN_END();
}
