/* The process sandbox, applied once after startup: drop to an unprivileged user, no_new_privs,
 * a Landlock ruleset (the file system shrinks to the paths the config names) and a seccomp
 * filter (the syscalls ferry makes while serving, nothing else).
 *
 * Contract: call sandbox_apply() from the main thread before any other thread exists (that is,
 * after the config is read, the roots and logs are open and the sockets adopted, and before
 * server_run() starts the workers). Landlock restricts the calling thread and the threads it
 * creates afterwards, not its siblings; sandbox_apply() refuses with -EBUSY when it can see
 * other threads. The seccomp filter is installed with TSYNC, so it covers every thread anyway.
 * Everything it does is irreversible: on failure the process may be half-sandboxed and must
 * exit.
 *
 * What the kernel enforces, and what it does not (Linux 6.18, Landlock ABI 7):
 * - Landlock checks paths when a file is opened: descriptors opened before (listening
 *   sockets, site roots, the access log) keep working. A rule on a file holds its inode: a
 *   file replaced by a rename (sed -i, most editors, logrotate) is another file, so pass the
 *   directory of a config or log that is re-opened on reload. It cannot restrict connect(2) to a
 *   Unix socket path: no ABI up to 7 has an access right for it, so SANDBOX_UNIX_CONNECT only
 *   opens seccomp (socket(AF_UNIX) + connect) and keeps abstract sockets out of Landlock's
 *   scoping; which path is reached is not enforced. TCP connect is limited to the listed ports
 *   from ABI 4 on; binding TCP ports is denied.
 * - seccomp denies with EPERM (or kills the process with SANDBOX_STRICT). execve, fork,
 *   ptrace, mount, bind, listen, socket() (unless a connect permission above needs it),
 *   executable mappings and ioctls other than a few harmless ones are refused.
 *
 * The folder, one step per file: user.c (who to become: sandbox/user.h, included here),
 * landlock.c and seccomp.c; sandbox.c runs them in order. It includes base/ only. */
#ifndef FERRY_SANDBOX_SANDBOX_H
#define FERRY_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/user.h"

#define SANDBOX_MAX_PATHS 256 /* entries in a spec */
#define SANDBOX_MAX_PORTS 64  /* TCP connect ports in a spec */

/* What a path may be used for. READ and WRITE apply beneath a directory. */
enum sandbox_access {
	SANDBOX_READ = 1 << 0,	/* open files for reading, list directories */
	SANDBOX_WRITE = 1 << 1, /* open files for writing (append, truncate); in a
				 * directory, also create regular files (log reopen) */
	SANDBOX_EXEC = 1 << 2,	/* execute (seccomp still refuses execve: for completeness) */
	SANDBOX_UNIX_CONNECT = 1 << 3, /* a Unix socket to connect to: "/path" or "@abstract" */
};

enum sandbox_flag {
	SANDBOX_STRICT = 1 << 0,      /* seccomp kills the process instead of failing with EPERM */
	SANDBOX_NO_LANDLOCK = 1 << 1, /* skip Landlock (tests, debugging) */
	SANDBOX_NO_SECCOMP = 1 << 2,  /* skip seccomp (tests, debugging) */
	SANDBOX_VSOCK_CONNECT = 1 << 3, /* keep socket(AF_VSOCK) + connect: sd_notify to a vsock
					 * NOTIFY_SOCKET connects once per message */
};

struct sandbox_path {
	const char *path;
	unsigned access; /* enum sandbox_access bits */
};

struct sandbox_spec {
	const struct sandbox_path *paths;
	size_t n_paths;
	const uint16_t *tcp_connect_ports; /* upstream ports (Landlock ABI >= 4) */
	size_t n_tcp_connect_ports;
	const struct sandbox_user *user; /* NULL: stay who we are */
	unsigned flags;			 /* enum sandbox_flag bits */
};

struct sandbox_skip {
	const char *path; /* points into the spec */
	int error;	  /* positive errno: ENOENT, ENOTDIR */
};

/* What sandbox_apply() did, for one log line (sandbox_report_format) and for tests. Unlike a
 * ret_ parameter it is filled as the steps go, so that a failure can be explained: then step
 * names the step that failed and path the path, if one was involved. */
struct sandbox_report {
	const char *step; /* "threads", "landlock", "user", "no_new_privs", "seccomp", or NULL */
	const char *path;
	bool user_changed;
	uid_t uid;
	gid_t gid;
	bool no_new_privs;
	/* > 0: applied with this ABI; 0: not asked for; < 0: -errno, not available (-ENOSYS: the
	 * kernel has no Landlock, -EOPNOTSUPP: disabled at boot, -EPERM: refused by a container's
	 * seccomp profile). */
	int landlock_abi;
	unsigned n_read, n_write, n_exec; /* path rules added, by the rights they grant */
	unsigned n_unix;		  /* UNIX_CONNECT entries (not enforced by Landlock) */
	unsigned n_ports;		  /* TCP connect ports (enforced from ABI 4) */
	struct sandbox_skip skipped[SANDBOX_MAX_PATHS]; /* paths that do not exist */
	size_t n_skipped;
	/* > 0: the filter is installed and allows this many syscalls; 0: not asked for; < 0:
	 * -errno, not available (-EINVAL/-ENOSYS: no seccomp filters in this kernel,
	 * -EOPNOTSUPP: an architecture this file has no table for). */
	int seccomp;
	bool strict;
};

/* Apply spec to the whole process, in this order: check that no other thread exists; open the
 * paths (while still privileged) and build the Landlock ruleset; become spec->user
 * (setgroups, setresgid, setresuid, then check that uid 0 cannot be regained); set
 * no_new_privs; restrict_self; install the seccomp filter. Landlock or seccomp missing from
 * the kernel is not an error: the report says so. Paths that do not exist are skipped and
 * listed in the report. Returns 0, or -errno with report->step (and report->path) saying
 * where: -EBUSY other threads exist, -E2BIG too many paths or ports, -EINVAL bad access
 * bits, -EPERM not root and asked to become another user. report is always written. */
int sandbox_apply(const struct sandbox_spec *spec, struct sandbox_report *report);

/* "landlock ABI 7 (3 paths read-only, 1 writable), seccomp (85 syscalls), no_new_privs,
 * user www-data (33:33)": the caller logs it. Returns the length snprintf would. */
int sandbox_report_format(const struct sandbox_report *report, char *buf, size_t size);

/* For a hidden debug path and tests: open path for reading with a plain openat(2), bypassing
 * ferry's own path checks, so that only the sandbox can refuse. Returns an fd or -errno
 * (-EACCES from Landlock). */
int sandbox_self_test_open(const char *path);

#endif
