/* acme-dir's layout and its atomic writes (store.h). */
#include "acme/store.h"

#include "acme/parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *s = tmp + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(tmp, c ? 0755 : mode) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			break;
	}
	return 0;
}

/* A temporary file that a run killed mid-write left in dir ("NAME.tmp.PID" whose PID is
 * gone): removed. One of a live process (another `ferry acme`, the integrated mode's child)
 * is left alone: its rename is still to come. Nothing reads these names, so a leftover that
 * stays (a PID reused, another PID namespace) is only clutter. */
static void sweep_temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *t = strstr(e->d_name, ".tmp.");
		if (!t || t == e->d_name)
			continue;
		char *end;
		long pid = strtol(t + 5, &end, 10);
		if (*end || pid <= 0 || end == t + 5)
			continue;
		if (pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

int acme_store_prepare(const struct config *cfg, struct buf *err)
{
	static const struct {
		const char *sub;
		mode_t mode;
	} dirs[] = {{"", 0700}, {"/account", 0700}, {"/certificates", 0700}, {"/challenges", 0755}};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s%s", cfg->acme_dir, dirs[i].sub);
		int r = mkdir_p(path, dirs[i].mode);
		if (r < 0) {
			buf_printf(err, "acme-dir %s: %s\n", path, strerror(-r));
			return r;
		}
		if (i > 0)
			sweep_temporaries(path);
	}
	return 0;
}

/* The test suite's crash point (FERRY_TEST_STOP_BEFORE_RENAME=SUFFIX, see test_acme.py): a
 * write whose path ends in SUFFIX stops the process (SIGSTOP) with its temporary file
 * complete and not yet renamed, where the test kills it. Read here only; no effect unset. */
static void test_stop_before_rename(const char *path)
{
	const char *suffix = getenv("FERRY_TEST_STOP_BEFORE_RENAME");
	size_t n = suffix ? strlen(suffix) : 0, len = strlen(path);
	if (n && n <= len && strcmp(path + len - n, suffix) == 0)
		raise(SIGSTOP);
}

int acme_store_write(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	int r = 0;
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (r == 0 && fchmod(fd, mode) < 0) /* the umask took some of it */
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0)
		test_stop_before_rename(path);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* the rename itself, durable */
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int acme_store_read(const char *path, size_t max, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	int r = 0;
	for (;;) {
		if (buf_reserve(b, 4096) < 0 && buf_reserve(b, 1) < 0) {
			r = -EFBIG;
			break;
		}
		ssize_t n = read(fd, b->data + b->len, buf_space(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > max) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	return r;
}

int acme_store_cert_times(const char *path, time_t *ret_start, time_t *ret_end)
{
	return acme_store_cert_check(path, NULL, 0, ret_start, ret_end, NULL);
}

int acme_store_cert_check(const char *path, char *const *names, size_t n_names,
			  time_t *ret_start, time_t *ret_end, const char **ret_missing)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	int r = acme_store_read(path, 1 << 20, &b);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
	r = -EINVAL;
	if (gnutls_x509_crt_init(&crt) == 0) {
		if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0) {
			*ret_start = gnutls_x509_crt_get_activation_time(crt);
			*ret_end = gnutls_x509_crt_get_expiration_time(crt);
			r = *ret_start == (time_t)-1 || *ret_end == (time_t)-1 ? -EINVAL : 0;
			if (ret_missing)
				*ret_missing = NULL;
			for (size_t i = 0; r == 0 && ret_missing && i < n_names; i++)
				if (!gnutls_x509_crt_check_hostname2(crt, names[i], 0)) {
					*ret_missing = names[i];
					break;
				}
		}
		gnutls_x509_crt_deinit(crt);
	}
	buf_free(&b);
	return r;
}

int acme_store_cert_ari_id(const char *path, char *out, size_t size)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	int r = acme_store_read(path, 1 << 20, &b);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)b.data, (unsigned)b.len};
	r = -EINVAL;
	if (gnutls_x509_crt_init(&crt) == 0) {
		unsigned char aki[256], serial[64];
		size_t aki_len = sizeof(aki), serial_len = sizeof(serial);
		unsigned critical;
		if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0 &&
		    gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_len, &critical) == 0 &&
		    gnutls_x509_crt_get_serial(crt, serial, &serial_len) == 0)
			r = acme_ari_cert_id(aki, aki_len, serial, serial_len, out, size);
		gnutls_x509_crt_deinit(crt);
	}
	buf_free(&b);
	return r;
}
