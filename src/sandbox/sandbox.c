/* The sandbox as a whole: checking the spec, then its steps in their one safe order (the
 * thread check, the Landlock ruleset built while privileged, the user drop, no_new_privs,
 * Landlock enforced, the seccomp filter), and the report of what was applied. The steps
 * themselves are in user.c, landlock.c and seccomp.c. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/landlock.h"
#include "sandbox/seccomp.h"
#include "sandbox/user.h"

/* Number of threads in this process, from /proc/self/stat; 0 when /proc cannot tell. */
static long count_threads(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) state ppid ..." where comm may hold anything: count from the last ')'.
	 * num_threads is field 20, the 18th after it. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (int field = 2; field < 20; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	return strtol(p + 1, NULL, 10);
}

int sandbox_apply(const struct sandbox_spec *spec, struct sandbox_report *rep)
{
	int ruleset = -1, r;
	bool landlock = !(spec->flags & SANDBOX_NO_LANDLOCK);

	memset(rep, 0, sizeof(*rep));
	rep->step = "spec";
	if (spec->n_paths > SANDBOX_MAX_PATHS || spec->n_tcp_connect_ports > SANDBOX_MAX_PORTS)
		return -E2BIG;
	for (size_t i = 0; i < spec->n_paths; i++) {
		const struct sandbox_path *pa = &spec->paths[i];
		if (!pa->path || !pa->path[0] ||
		    (pa->access & ~(unsigned)(SANDBOX_READ | SANDBOX_WRITE | SANDBOX_EXEC |
					      SANDBOX_UNIX_CONNECT))) {
			rep->path = pa->path;
			return -EINVAL;
		}
	}

	rep->step = "threads";
	if (landlock && count_threads() > 1)
		return -EBUSY;

	/* Load now what libc would otherwise read from files on first use: strftime() calls
	 * tzset(), which reads /etc/localtime once. */
	tzset();

	if (landlock) {
		rep->step = "landlock";
		r = sandbox_landlock_build(spec, rep, &ruleset);
		if (r < 0)
			return r;
	}

	if (spec->user) {
		rep->step = "user";
		r = sandbox_user_become(spec->user);
		if (r < 0)
			goto fail;
		if (r > 0) {
			rep->user_changed = true;
			rep->uid = spec->user->uid;
			rep->gid = spec->user->gid;
		}
	}

	rep->step = "no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		goto fail;
	}
	rep->no_new_privs = true;

	if (ruleset >= 0) {
		rep->step = "landlock";
		r = sandbox_landlock_restrict(ruleset);
		if (r < 0)
			goto fail;
		close(ruleset);
		ruleset = -1;
	}

	if (!(spec->flags & SANDBOX_NO_SECCOMP)) {
		rep->step = "seccomp";
		r = sandbox_seccomp_install(spec, rep);
		if (r < 0)
			goto fail;
	}
	rep->step = NULL;
	rep->path = NULL;
	return 0;
fail:
	if (ruleset >= 0)
		close(ruleset);
	return r;
}

int sandbox_report_format(const struct sandbox_report *rep, char *buf, size_t size)
{
	char ll[160], sc[64], user[64] = "";
	if (rep->landlock_abi > 0) {
		int n = snprintf(
		    ll, sizeof(ll), "landlock ABI %d (%u path%s read-only, %u writable",
		    rep->landlock_abi, rep->n_read, rep->n_read == 1 ? "" : "s", rep->n_write);
		if (rep->n_skipped)
			n += snprintf(ll + n, sizeof(ll) - (size_t)n, ", %zu missing",
				      rep->n_skipped);
		if (rep->n_ports)
			n += snprintf(ll + n, sizeof(ll) - (size_t)n, ", %u TCP port%s%s",
				      rep->n_ports, rep->n_ports == 1 ? "" : "s",
				      rep->landlock_abi < 4 ? " unrestricted" : "");
		snprintf(ll + n, sizeof(ll) - (size_t)n, ")");
	} else if (rep->landlock_abi == 0) {
		snprintf(ll, sizeof(ll), "landlock off");
	} else {
		snprintf(ll, sizeof(ll), "landlock unavailable (%s)", strerror(-rep->landlock_abi));
	}
	if (rep->seccomp > 0)
		snprintf(sc, sizeof(sc), "seccomp (%d syscalls%s)", rep->seccomp,
			 rep->strict ? ", strict" : "");
	else if (rep->seccomp == 0)
		snprintf(sc, sizeof(sc), "seccomp off");
	else
		snprintf(sc, sizeof(sc), "seccomp unavailable (%s)", strerror(-rep->seccomp));
	if (rep->user_changed)
		snprintf(user, sizeof(user), ", user %u:%u", (unsigned)rep->uid,
			 (unsigned)rep->gid);
	return snprintf(buf, size, "%s, %s%s%s", ll, sc, rep->no_new_privs ? ", no_new_privs" : "",
			user);
}

int sandbox_self_test_open(const char *path)
{
	int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}
