/* Where `ferry units` puts its files, and what it tells the user to run next. Everything that
 * touches the file system for `ferry units` is here; the text itself comes from units.c. */
#include "units/install.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"

#define COPY_MAX (CONFIG_MAX_BYTES + 1)

static int mkdir_p(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write len bytes to path through path.tmp and rename(2), so a reader never sees half. */
static int write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = 0;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static int put_file(const char *dir, const char *name, const char *data, size_t len,
		    struct buf *diag, FILE *out)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		buf_printf(diag, "ferry units: %s/%s: path too long\n", dir, name);
		return -ENAMETOOLONG;
	}
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", path);
	*strrchr(parent, '/') = '\0'; /* name may hold a directory: NAME.service.d/x.conf */
	int r = mkdir_p(parent, 0755);
	if (r == 0)
		r = write_atomic(path, data, len);
	if (r < 0) {
		buf_printf(diag, "ferry units: %s: %s\n", path, strerror(-r));
		return r;
	}
	if (out)
		fprintf(out, "  wrote %s\n", path);
	return 0;
}

int units_write(const struct units *u, const char *dir, struct buf *diag)
{
	for (size_t i = 0; i < u->n_files; i++) {
		const struct units_file *f = &u->files[i];
		int r = put_file(dir, f->name, f->text.data, f->text.len, diag, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The config's real path: "%h/..." is under home. */
static int real_config_path(const struct units *u, const char *home, char *buf, size_t size)
{
	const char *p = u->config_path;
	int n = strncmp(p, "%h/", 3) == 0 ? snprintf(buf, size, "%s/%s", home, p + 3)
					  : snprintf(buf, size, "%s", p);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int copy_config(const char *src, const char *dst, struct buf *diag, FILE *out)
{
	struct stat a, b;
	if (stat(src, &a) == 0 && stat(dst, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino) {
		fprintf(out, "  kept %s (the config given)\n", dst);
		return 0;
	}
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_printf(diag, "ferry units: %s: %s\n", src, strerror(errno));
		return -errno;
	}
	char *data = xmalloc(COPY_MAX);
	size_t len = 0;
	ssize_t n;
	while (len < COPY_MAX && (n = read(fd, data + len, COPY_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			buf_printf(diag, "ferry units: %s: %s\n", src, strerror(errno));
			close(fd);
			free(data);
			return r;
		}
		len += (size_t)n;
	}
	close(fd);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", dst);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	int r = put_file(dir, slash + 1, data, len, diag, out);
	free(data);
	return r;
}

static void dirs(const struct units_opts *o, const char *home, char *systemd, char *quadlet,
		 size_t size)
{
	if (o->mode == UNITS_USER) {
		snprintf(systemd, size, "%s/.config/systemd/user", home);
		snprintf(quadlet, size, "%s/.config/containers/systemd", home);
	} else {
		snprintf(systemd, size, "/etc/systemd/system");
		snprintf(quadlet, size, "/etc/containers/systemd");
	}
}

int units_install(const struct units *u, const struct units_opts *o, const char *config_src,
		  const char *home, FILE *out, struct buf *diag)
{
	char systemd[PATH_MAX], quadlet[PATH_MAX], config[PATH_MAX];
	if (o->flavor == UNITS_KUBE) {
		buf_appends(diag, "ferry units: --kube writes a file for `podman kube play`: use "
				  "--out DIR\n");
		return -EINVAL;
	}
	if (o->mode == UNITS_USER && !home) {
		buf_appends(diag, "ferry units: --install --mode user needs $HOME\n");
		return -EINVAL;
	}
	dirs(o, home, systemd, quadlet, sizeof(systemd));
	if (real_config_path(u, home, config, sizeof(config)) < 0) {
		buf_printf(diag, "ferry units: %s: path too long\n", u->config_path);
		return -ENAMETOOLONG;
	}
	int r = copy_config(config_src, config, diag, out);
	for (size_t i = 0; r == 0 && i < u->n_files; i++) {
		const struct units_file *f = &u->files[i];
		r = put_file(f->place == UNITS_PLACE_QUADLET ? quadlet : systemd, f->name,
			     f->text.data, f->text.len, diag, out);
	}
	return r;
}

/* What must exist before the service starts: the binary, or the image in the right store. */
static void print_runner_step(const struct units_opts *o, FILE *out)
{
	const char *image = units_image(o);
	if (o->flavor == UNITS_NATIVE) {
		fprintf(out, "  test -x %s || sudo make install    # the binary the service runs\n",
			o->binary ? o->binary : "/usr/local/bin/ferry");
		if (o->mode == UNITS_USER)
			fprintf(out, "  loginctl enable-linger \"$USER\"    # keep serving after logout\n");
		return;
	}
	switch (o->mode) {
	case UNITS_USER:
		fprintf(out, "  podman image exists %s || make image    # the user's own image store\n"
			     "  loginctl enable-linger \"$USER\"    # keep serving after logout\n",
			image);
		break;
	case UNITS_SYSTEM:
		fprintf(out, "  sudo podman image exists %s    # root's image store\n", image);
		break;
	case UNITS_SYSTEM_AS:
		fprintf(out, "  sudo -u %s podman image exists %s    # %s's image store\n"
			     "  sudo loginctl enable-linger %s    # %s's user manager, /run/user/%u\n",
			o->user, image, o->user, o->user, o->user, (unsigned)o->uid);
		break;
	}
}

void units_print_next(const struct units *u, const struct units_opts *o, const char *config_src,
		      const char *dir, bool installed, FILE *out)
{
	const char *name = units_name(o);
	const char *sc = o->mode == UNITS_USER ? "systemctl --user" : "systemctl";
	const char *sudo = o->mode == UNITS_USER ? "" : "sudo ";

	fprintf(out, "\nNext:\n");
	if (o->flavor == UNITS_KUBE) {
		fprintf(out, "  %sinstall -D -m 0644 %s %s\n", sudo, config_src, u->config_path);
		fprintf(out, "  podman kube play %s/%s.yaml\n", dir, name);
		fprintf(out, "  podman kube down %s/%s.yaml    # to stop it\n", dir, name);
		return;
	}
	if (!installed) {
		char systemd[PATH_MAX], quadlet[PATH_MAX];
		dirs(o, o->mode == UNITS_USER ? "~" : "", systemd, quadlet, sizeof(systemd));
		/* %h/x is the user's ~/x */
		bool home = strncmp(u->config_path, "%h/", 3) == 0;
		fprintf(out, "  %sinstall -D -m 0644 %s %s%s\n", sudo, config_src, home ? "~" : "",
			home ? u->config_path + 2 : u->config_path);
		for (size_t i = 0; i < u->n_files; i++)
			fprintf(out, "  %sinstall -D -m 0644 %s/%s %s/%s\n", sudo, dir,
				u->files[i].name,
				u->files[i].place == UNITS_PLACE_QUADLET ? quadlet : systemd,
				u->files[i].name);
	}
	print_runner_step(o, out);
	fprintf(out, "  %s%s daemon-reload\n", sudo, sc);
	fprintf(out, "  %s%s enable --now", sudo, sc);
	for (size_t i = 0; i < u->n_files; i++) {
		size_t l = strlen(u->files[i].name);
		if ((l > 7 && !strcmp(u->files[i].name + l - 7, ".socket")) ||
		    (l > 6 && !strcmp(u->files[i].name + l - 6, ".timer")))
			fprintf(out, " %s", u->files[i].name);
	}
	fprintf(out, "\n");
	fprintf(out, "  %s%s reload %s.service    # after editing the config (SIGHUP)\n", sudo, sc,
		name);
}
