/* Watching the configuration file for `reload-on-change`: inotify watches on directories,
 * events filtered by file name (see confwatch.h). */
#include "core/confwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* A file appearing (created, renamed into place), written and closed, changing mode or
 * owner, or going away: each may change what a reload reads. */
#define WATCH_MASK                                                                                \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |       \
	 IN_ONLYDIR)

/* Watch dir (NULL: ".") for the name base. */
static int add(struct confwatch *cw, const char *dir, const char *base)
{
	if (!*base || strlen(base) > NAME_MAX)
		return -EINVAL;
	if (cw->n == CONFWATCH_MAX)
		return -E2BIG;
	/* the same directory twice gives the same wd: a pair may repeat, harmlessly */
	int wd = inotify_add_watch(cw->fd, dir ? dir : ".", WATCH_MASK);
	if (wd < 0)
		return -errno;
	cw->w[cw->n].wd = wd;
	snprintf(cw->w[cw->n].name, sizeof(cw->w[cw->n].name), "%s", base);
	cw->n++;
	return 0;
}

/* path = "dir/base": watch dir for base. */
static int add_path(struct confwatch *cw, const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	char *slash = strrchr(buf, '/');
	if (!slash)
		return add(cw, NULL, buf);
	*slash = '\0';
	return add(cw, slash == buf ? "/" : buf, slash + 1);
}

int confwatch_open(struct confwatch *cw, const char *const *paths, size_t n)
{
	*cw = (struct confwatch){.fd = -1};
	cw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cw->fd < 0)
		return -errno;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = add_path(cw, paths[i]);
		/* a symbolic link: its target's directory too (one level, as ln -sf swaps it) */
		char target[PATH_MAX];
		if (r == 0 && realpath(paths[i], target) && strcmp(target, paths[i]) != 0)
			r = add_path(cw, target);
	}
	if (r < 0)
		confwatch_close(cw);
	return r;
}

int confwatch_read(struct confwatch *cw)
{
	/* aligned as inotify(7) asks */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int hit = 0;
	for (;;) {
		ssize_t len = read(cw->fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return errno == EAGAIN ? hit : -errno;
		if (len == 0)
			return hit;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				hit = 1; /* events were lost: one of them may have been ours */
				continue;
			}
			for (size_t i = 0; i < cw->n && !hit; i++)
				if (ev->wd == cw->w[i].wd && ev->len && !strcmp(ev->name, cw->w[i].name))
					hit = 1;
		}
	}
}

void confwatch_close(struct confwatch *cw)
{
	if (cw->fd >= 0)
		close(cw->fd);
	cw->fd = -1;
	cw->n = 0;
}
