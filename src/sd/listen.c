/* The receiving side of socket activation, written from sd_listen_fds(3): validating
 * LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, claiming fds 3.. (close-on-exec) and scrubbing the
 * variables so that nothing we spawn mistakes them for its own. */
#include "sd/listen.h"

#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Strict decimal: digits only, at least one, no sign or spaces, value <= max. */
static int parse_dec(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* systemd's rule for FileDescriptorName=: printable ASCII (space included), no ':' since it
 * separates the fields. */
static bool name_char_ok(char c)
{
	return c >= 0x20 && c <= 0x7e && c != ':';
}

int sd_listen_names_parse(const char *names, size_t n, struct sd_listen_fd *fds)
{
	size_t fields = 1, len = 0;

	if (!names || !*names) {
		for (size_t i = 0; i < n; i++)
			strcpy(fds[i].name, "unknown");
		return 0;
	}

	/* Validate everything first so fds is only written on success. */
	for (const char *p = names; *p; p++) {
		if (*p == ':') {
			fields++;
			len = 0;
			continue;
		}
		if (!name_char_ok(*p) || ++len > SD_FDNAME_MAX)
			return -EINVAL;
	}
	if (fields != n)
		return -E2BIG;

	const char *p = names;
	for (size_t i = 0; i < n; i++) {
		size_t l = strcspn(p, ":");
		if (l == 0)
			strcpy(fds[i].name, "unknown");
		else {
			memcpy(fds[i].name, p, l);
			fds[i].name[l] = '\0';
		}
		p += l + (p[l] == ':');
	}
	return 0;
}

static void unset_listen_env(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

int sd_listen_fds_get(pid_t pid, bool unset_env, struct sd_listen_fd **ret, size_t *ret_n)
{
	struct sd_listen_fd *fds = NULL;
	const char *e;
	uint64_t v;
	size_t n;
	int r;

	/* A LISTEN_PID that is absent, garbage or someone else's means these variables were meant
	 * for another process (a parent that was activated and exec'd us, say): not ours to
	 * claim, and not ours to unset either. */
	e = getenv("LISTEN_PID");
	if (!e || parse_dec(e, INT32_MAX, &v) < 0 || v == 0 || (pid_t)v != pid) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}

	e = getenv("LISTEN_FDS");
	if (!e) {
		n = 0;
		r = 0;
		goto done;
	}
	r = parse_dec(e, SD_LISTEN_FDS_MAX, &v);
	if (r < 0)
		goto done;
	n = (size_t)v;

	/* With n == 0 this still rejects a non-empty LISTEN_FDNAMES: names without fds is as much
	 * a mismatch as three names for two fds. */
	fds = n > 0 ? xcalloc(n, sizeof(*fds)) : NULL;
	r = sd_listen_names_parse(getenv("LISTEN_FDNAMES"), n, fds);
	if (r < 0)
		goto done;

	for (size_t i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + (int)i;
		int flags = fcntl(fd, F_GETFD);
		if (flags < 0) {
			r = -errno;
			goto done;
		}
		/* Without this every child we spawn (a CGI, a proxy helper) would inherit them. */
		if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
			r = -errno;
			goto done;
		}
		fds[i].fd = fd;
	}
	r = 0;

done:
	if (unset_env)
		unset_listen_env();
	if (r < 0) {
		free(fds);
		return r;
	}
	*ret = fds;
	*ret_n = n;
	return 0;
}
