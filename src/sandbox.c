/* The sandbox: dropping to a user (with our own /etc/passwd and /etc/group parsers, since a
 * static binary has no NSS), no_new_privs, the Landlock ruleset (its syscalls and ABI versions
 * written out here) and the seccomp-BPF filter (the allowed syscalls and the program built
 * from them). */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"

/* Syscall numbers newer than some libc headers; the same on every architecture. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_faccessat2
#define __NR_faccessat2 439
#endif
#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

/* ---- users: /etc/passwd and /etc/group ----------------------------------------------- */

#define DB_MAX_FIELDS 7

/* Split one line into at most max ':' fields (the last keeps any further ':'). Returns the
 * number of fields. */
static size_t split_fields(const char *p, size_t n, const char **f, size_t *fl, size_t max)
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n && k < max; i++) {
		if (i == n || (p[i] == ':' && k + 1 < max)) {
			f[k] = p + start;
			fl[k] = i - start;
			k++;
			start = i + 1;
		}
	}
	return k;
}

/* A decimal id: no sign, no leading '+', below (id_t)-1 (which means "no change" to setuid). */
static int parse_id(const char *s, size_t n, uint32_t *ret)
{
	uint64_t v = 0;
	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static bool field_is(const char *f, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(f, s, n) == 0;
}

/* Calls fn for each line that is not blank, a comment or a NIS entry; stops at fn's first
 * non-zero result and returns it, or returns 0. */
static int for_each_line(const char *text, size_t len,
			 int (*fn)(const char *line, size_t n, void *arg), void *arg)
{
	size_t pos = 0;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		int r = fn(line, n, arg);
		if (r != 0)
			return r;
	}
	return 0;
}

struct passwd_query {
	const char *name; /* or NULL: by uid */
	uid_t uid;
	struct sandbox_user *ret;
};

static int passwd_line(const char *line, size_t n, void *arg)
{
	struct passwd_query *q = arg;
	const char *f[DB_MAX_FIELDS];
	size_t fl[DB_MAX_FIELDS];
	uint32_t uid, gid;
	size_t k = split_fields(line, n, f, fl, DB_MAX_FIELDS);
	bool named = k >= 1 && q->name && field_is(f[0], fl[0], q->name);

	if (k < 4 || fl[0] == 0 || fl[0] > SANDBOX_NAME_MAX)
		return named ? -EINVAL : 0;
	if (parse_id(f[2], fl[2], &uid) < 0 || parse_id(f[3], fl[3], &gid) < 0)
		return named ? -EINVAL : 0;
	if (q->name ? !named : uid != q->uid)
		return 0;
	q->ret->uid = uid;
	q->ret->gid = gid;
	memcpy(q->ret->name, f[0], fl[0]);
	q->ret->name[fl[0]] = '\0';
	q->ret->n_groups = 0;
	return 1;
}

int sandbox_passwd_find(const char *text, size_t len, const char *name, uid_t uid,
			struct sandbox_user *ret)
{
	struct sandbox_user u;
	struct passwd_query q = {.name = name, .uid = uid, .ret = &u};
	int r = for_each_line(text, len, passwd_line, &q);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*ret = u;
	return 0;
}

struct group_query {
	const char *name;
	gid_t gid;
};

static int group_line(const char *line, size_t n, void *arg)
{
	struct group_query *q = arg;
	const char *f[4];
	size_t fl[4];
	uint32_t gid;
	size_t k = split_fields(line, n, f, fl, 4);

	if (k < 1 || !field_is(f[0], fl[0], q->name))
		return 0;
	if (k < 3 || parse_id(f[2], fl[2], &gid) < 0)
		return -EINVAL;
	q->gid = gid;
	return 1;
}

int sandbox_group_find(const char *text, size_t len, const char *name, gid_t *ret_gid)
{
	struct group_query q = {.name = name};
	int r = for_each_line(text, len, group_line, &q);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*ret_gid = q.gid;
	return 0;
}

struct members_query {
	const char *user;
	gid_t groups[SANDBOX_MAX_GROUPS];
	size_t n;
};

static int members_line(const char *line, size_t n, void *arg)
{
	struct members_query *q = arg;
	const char *f[4];
	size_t fl[4];
	uint32_t gid;
	size_t k = split_fields(line, n, f, fl, 4);

	if (k < 4 || parse_id(f[2], fl[2], &gid) < 0)
		return 0;
	for (const char *m = f[3], *end = f[3] + fl[3]; m < end;) {
		const char *comma = memchr(m, ',', (size_t)(end - m));
		size_t ml = comma ? (size_t)(comma - m) : (size_t)(end - m);
		if (field_is(m, ml, q->user)) {
			for (size_t i = 0; i < q->n; i++)
				if (q->groups[i] == gid)
					return 0;
			if (q->n == SANDBOX_MAX_GROUPS)
				return -E2BIG;
			q->groups[q->n++] = gid;
			return 0;
		}
		m += ml + 1;
	}
	return 0;
}

int sandbox_group_members(const char *text, size_t len, struct sandbox_user *u)
{
	struct members_query q = {.user = u->name, .groups = {u->gid}, .n = 1};
	if (u->name[0]) {
		int r = for_each_line(text, len, members_line, &q);
		if (r < 0)
			return r;
	}
	memcpy(u->groups, q.groups, q.n * sizeof(gid_t));
	u->n_groups = q.n;
	return 0;
}

/* Read a whole small file into a malloc'd buffer. */
static int read_db(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size > SANDBOX_DB_MAX) {
		int r = st.st_size > SANDBOX_DB_MAX ? -EFBIG : -errno;
		close(fd);
		return r;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) { /* the file grew since fstat */
			close(fd);
			free(buf);
			return -EFBIG;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			close(fd);
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_len = len;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int sandbox_user_resolve(const char *spec, const char *passwd_path, const char *group_path,
			 struct sandbox_user *ret)
{
	struct sandbox_user u = {0};
	const char *colon = strchr(spec, ':');
	size_t ul = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *grp = colon ? colon + 1 : NULL;
	size_t gl = grp ? strlen(grp) : 0;
	char uname[SANDBOX_NAME_MAX + 1], gname[SANDBOX_NAME_MAX + 1] = "";
	char *pw = NULL, *gr = NULL;
	size_t pwl = 0, grl = 0;
	uint32_t uid_num = 0, gid_num = 0;
	int r;

	if (ul == 0 || ul > SANDBOX_NAME_MAX ||
	    (grp && (gl == 0 || gl > SANDBOX_NAME_MAX || strchr(grp, ':'))))
		return -EINVAL;
	memcpy(uname, spec, ul);
	uname[ul] = '\0';
	if (grp)
		memcpy(gname, grp, gl + 1);
	bool uid_given = all_digits(uname, ul), gid_given = grp && all_digits(gname, gl);
	if (uid_given && parse_id(uname, ul, &uid_num) < 0)
		return -EINVAL;
	if (gid_given && parse_id(gname, gl, &gid_num) < 0)
		return -EINVAL;

	/* passwd: required for a name, consulted for a number (its name and group). */
	r = read_db(passwd_path, &pw, &pwl);
	if (r < 0 && !uid_given)
		return r;
	if (uid_given) {
		if (!pw || sandbox_passwd_find(pw, pwl, NULL, uid_num, &u) < 0) {
			u.uid = uid_num;
			u.gid = uid_num;
			u.name[0] = '\0';
		}
	} else {
		r = sandbox_passwd_find(pw, pwl, uname, 0, &u);
		if (r < 0)
			goto out;
	}
	if (gid_given)
		u.gid = gid_num;

	/* group: required for a group name, consulted for a named user's memberships. */
	if ((grp && !gid_given) || u.name[0]) {
		r = read_db(group_path, &gr, &grl);
		if (r < 0 && grp && !gid_given)
			goto out;
	}
	if (grp && !gid_given) {
		gid_t g;
		r = sandbox_group_find(gr, grl, gname, &g);
		if (r < 0)
			goto out;
		u.gid = g;
	}
	r = sandbox_group_members(gr ? gr : "", grl, &u);
	if (r < 0)
		goto out;
	*ret = u;
	r = 0;
out:
	free(pw);
	free(gr);
	return r;
}

/* ---- Landlock ------------------------------------------------------------------------ */

/* Rights newer than some kernel headers, by the ABI that brought them. */
#define LL_FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ULL << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

/* The rights that make sense on a file rather than a directory. */
#define LL_FS_FILE                                                                                 \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

/* struct landlock_ruleset_attr as of ABI 6; the size passed tells the kernel which fields. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;	     /* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

static int ll_abi(void)
{
	long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? -errno : (int)v;
}

static uint64_t ll_fs_handled(int abi)
{
	uint64_t a = LL_FS_ABI1;
	if (abi >= 2)
		a |= LL_FS_REFER;
	if (abi >= 3)
		a |= LL_FS_TRUNCATE;
	if (abi >= 5)
		a |= LL_FS_IOCTL_DEV;
	return a;
}

static uint64_t ll_fs_rights(unsigned access, bool dir)
{
	uint64_t a = 0;
	if (access & SANDBOX_READ)
		a |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	if (access & SANDBOX_WRITE)
		a |= LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE | LANDLOCK_ACCESS_FS_MAKE_REG;
	if (access & SANDBOX_EXEC)
		a |= LANDLOCK_ACCESS_FS_EXECUTE;
	return dir ? a : a & LL_FS_FILE;
}

static int ll_add_path(int ruleset, const char *path, uint64_t rights, uint64_t handled,
		       bool *missing)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		*missing = errno == ENOENT || errno == ENOTDIR;
		return -errno;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	struct ll_path_beneath_attr pb = {
	    .allowed_access = (S_ISDIR(st.st_mode) ? rights : rights & LL_FS_FILE) & handled,
	    .parent_fd = fd,
	};
	int r = 0;
	if (pb.allowed_access &&
	    syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Build the ruleset (nothing is enforced yet) into *ret_fd, or -1 there when Landlock is not
 * available (report->landlock_abi says why). Returns 0 or -errno. */
static int ll_build(const struct sandbox_spec *spec, struct sandbox_report *rep, int *ret_fd)
{
	int abi = ll_abi();
	if (abi < 0) {
		rep->landlock_abi = abi;
		if (abi == -ENOSYS || abi == -EOPNOTSUPP || abi == -EPERM) {
			*ret_fd = -1;
			return 0;
		}
		return abi;
	}
	bool abstract_upstream = false;
	for (size_t i = 0; i < spec->n_paths; i++)
		if ((spec->paths[i].access & SANDBOX_UNIX_CONNECT) && spec->paths[i].path[0] == '@')
			abstract_upstream = true;

	struct ll_ruleset_attr attr = {.handled_access_fs = ll_fs_handled(abi)};
	size_t attr_size = sizeof(attr.handled_access_fs);
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		/* Signals only to ourselves; abstract sockets only inside the sandbox, unless an
		 * upstream is one (sockets connected before, like sd_notify's, keep working). */
		attr.scoped = LL_SCOPE_SIGNAL | (abstract_upstream ? 0 : LL_SCOPE_ABSTRACT_UNIX);
		attr_size = sizeof(attr);
	}
	int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0)
		return -errno;

	for (size_t i = 0; i < spec->n_paths; i++) {
		const struct sandbox_path *p = &spec->paths[i];
		if (p->access & SANDBOX_UNIX_CONNECT)
			rep->n_unix++;
		uint64_t rights = ll_fs_rights(p->access, true);
		if (!rights)
			continue;
		bool missing = false;
		int r = ll_add_path(ruleset, p->path, rights, attr.handled_access_fs, &missing);
		if (r < 0 && missing) {
			rep->skipped[rep->n_skipped].path = p->path;
			rep->skipped[rep->n_skipped].error = -r;
			rep->n_skipped++;
			continue;
		}
		if (r < 0) {
			rep->path = p->path;
			close(ruleset);
			return r;
		}
		if (p->access & SANDBOX_WRITE)
			rep->n_write++;
		else if (p->access & SANDBOX_READ)
			rep->n_read++;
		if (p->access & SANDBOX_EXEC)
			rep->n_exec++;
	}
#ifdef SANITIZER_BUILD
	/* LeakSanitizer reads /proc/self/maps and /proc/self/task at exit; reports are
	 * symbolized from the executable and the shared libraries. */
	char exe[4096];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[el > 0 ? el : 0] = '\0';
	const char *san_paths[] = {"/proc", "/lib", "/lib64", "/usr/lib", "/usr/lib64", exe};
	for (size_t i = 0; i < ARRAY_SIZE(san_paths); i++) {
		bool missing = false;
		if (san_paths[i][0])
			ll_add_path(ruleset, san_paths[i], ll_fs_rights(SANDBOX_READ, true),
				    attr.handled_access_fs, &missing);
	}
#endif
	if (abi >= 4) {
		for (size_t i = 0; i < spec->n_tcp_connect_ports; i++) {
			struct ll_net_port_attr np = {.allowed_access = LL_NET_CONNECT_TCP,
						      .port = spec->tcp_connect_ports[i]};
			if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0) <
			    0) {
				int r = -errno;
				close(ruleset);
				return r;
			}
		}
	}
	rep->n_ports = (unsigned)spec->n_tcp_connect_ports;
	rep->landlock_abi = abi;
	*ret_fd = ruleset;
	return 0;
}

/* ---- users --------------------------------------------------------------------------- */

static int become_user(const struct sandbox_user *u, struct sandbox_report *rep)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (geteuid() != 0) {
		/* Not root: only "become who we already are" can work. */
		if (getuid() == u->uid && geteuid() == u->uid && getgid() == u->gid &&
		    getegid() == u->gid)
			return 0;
		return -EPERM;
	}
	if (setgroups(u->n_groups, u->groups) < 0)
		return -errno;
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return -errno;
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return -errno;
	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return -errno;
	if (ruid != u->uid || euid != u->uid || suid != u->uid || rgid != u->gid ||
	    egid != u->gid || sgid != u->gid)
		return -EPERM;
	/* A user that is not root must not be able to come back. */
	if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -EPERM;
	rep->user_changed = true;
	rep->uid = u->uid;
	rep->gid = u->gid;
	return 0;
}

/* ---- seccomp ------------------------------------------------------------------------- */

#if defined(__x86_64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SC_AUDIT_ARCH

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the argument offsets below assume a little-endian seccomp_data"
#endif

#define SC_MAX_INSNS 512
#define SC_NR offsetof(struct seccomp_data, nr)
#define SC_ARCH offsetof(struct seccomp_data, arch)
#define SC_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define SC_ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)

/* What ferry calls while serving (and glibc for it), allowed whatever the arguments. Derived
 * from strace -f of build/ferry serving files (1 MiB sendfile, ranges, 404s), reloading and
 * stopping, from the integration tests run under SANDBOX_STRICT, and from reading server.c,
 * conn.c, static.c, echo.c, loop.c and sd/notify.c; grouped by what needs them. */
/* clang-format off */
static const int sc_allow[] = {
	/* I/O on descriptors */
	__NR_read, __NR_write, __NR_readv, __NR_writev, __NR_pread64, __NR_lseek, __NR_close,
	__NR_fcntl, __NR_sendfile,
	/* the proxy's pass-through bodies: upstream socket -> pipe -> client socket */
	__NR_pipe2, __NR_splice,
	/* files: opened beneath a root, the config and the log on reload; Landlock decides */
	__NR_openat, __NR_openat2, __NR_newfstatat, __NR_fstat, __NR_statx, __NR_getdents64,
	__NR_faccessat, __NR_faccessat2,
	/* sockets already open */
	__NR_accept4, __NR_accept, __NR_recvfrom, __NR_recvmsg, __NR_sendto, __NR_sendmsg,
	__NR_sendmmsg, __NR_shutdown, __NR_getsockopt, __NR_setsockopt, __NR_getsockname,
	__NR_getpeername,
	/* event loops */
	__NR_epoll_pwait, __NR_epoll_pwait2, __NR_epoll_ctl, __NR_epoll_create1, __NR_eventfd2,
	__NR_signalfd4, __NR_ppoll,
	/* memory (mmap and mprotect are below: no executable pages) */
	__NR_brk, __NR_munmap, __NR_mremap, __NR_madvise,
	/* threads and their end */
	__NR_futex, __NR_set_robust_list, __NR_rseq, __NR_set_tid_address, __NR_exit,
	__NR_exit_group, __NR_gettid, __NR_getpid, __NR_getppid, __NR_sched_yield,
	__NR_sched_getaffinity,
	/* time */
	__NR_clock_gettime, __NR_clock_getres, __NR_gettimeofday, __NR_nanosleep,
	__NR_clock_nanosleep,
	/* signals (signalfd does the handling; glibc masks around clone) */
	__NR_rt_sigprocmask, __NR_rt_sigaction, __NR_rt_sigreturn, __NR_sigaltstack,
	__NR_restart_syscall,
	/* children inherited as PID 1; identity; randomness; limits (read-only, see below) */
	__NR_wait4, __NR_waitid, __NR_getuid, __NR_geteuid, __NR_getgid, __NR_getegid,
	__NR_getresuid, __NR_getresgid, __NR_getgroups, __NR_getrandom, __NR_getrlimit,
#ifdef __x86_64__
	/* the legacy entry points glibc or a future caller may still use */
	__NR_open, __NR_stat, __NR_lstat, __NR_access, __NR_poll, __NR_epoll_wait, __NR_time,
	__NR_getdents, /* LeakSanitizer lists /proc/self/task with it */
#endif
#ifdef SANITIZER_BUILD
	/* ASan/UBSan/LSan: LeakSanitizer stops the world at exit with a cloned tracer that
	 * ptraces every thread; reports read /proc/self/maps and /proc/self/exe, and abort. */
	__NR_ptrace, __NR_prctl, __NR_readlinkat, __NR_prlimit64, __NR_kill, __NR_tgkill,
#ifdef __x86_64__
	__NR_readlink, __NR_arch_prctl,
#endif
#endif
};
/* clang-format on */

/* The few harmless ioctls (isatty, FIONBIO...): TIOCSTI and friends stay out. */
static const uint32_t sc_ioctls[] = {TCGETS, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX};

struct sc_prog {
	struct sock_filter insns[SC_MAX_INSNS];
	size_t n;
	unsigned n_syscalls;
};

static void emit(struct sc_prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->n < SC_MAX_INSNS)
		p->insns[p->n] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
	p->n++;
}

static void emit_ret(struct sc_prog *p, uint32_t action)
{
	emit(p, BPF_RET | BPF_K, action, 0, 0);
}

/* "If nr is this syscall, run the next len instructions (which end in a return)." */
static void emit_case(struct sc_prog *p, int nr, size_t len)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, (uint8_t)len);
	p->n_syscalls++;
}

static void emit_load(struct sc_prog *p, uint32_t off)
{
	emit(p, BPF_LD | BPF_W | BPF_ABS, off, 0, 0);
}

/* Allow nr when none of mask's bits are set in the low word of argument arg. */
static void emit_mask_clear(struct sc_prog *p, int nr, int arg, uint32_t mask, uint32_t deny)
{
	emit_case(p, nr, 4);
	emit_load(p, (uint32_t)SC_ARG_LO(arg));
	emit(p, BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1);
	emit_ret(p, deny);
	emit_ret(p, SECCOMP_RET_ALLOW);
}

/* Allow nr when all of mask's bits are set in the low word of argument arg. */
_unused_ static void emit_mask_set(struct sc_prog *p, int nr, int arg, uint32_t mask, uint32_t deny)
{
	emit_case(p, nr, 5);
	emit_load(p, (uint32_t)SC_ARG_LO(arg));
	emit(p, BPF_ALU | BPF_AND | BPF_K, mask, 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, mask, 0, 1);
	emit_ret(p, SECCOMP_RET_ALLOW);
	emit_ret(p, deny);
}

/* Allow nr when the low word of argument arg is one of vals. Comparing the low word suffices
 * for int arguments: the kernel truncates them too. */
static void emit_arg_in(struct sc_prog *p, int nr, int arg, const uint32_t *vals, size_t n,
			uint32_t deny)
{
	emit_case(p, nr, n + 3);
	emit_load(p, (uint32_t)SC_ARG_LO(arg));
	for (size_t i = 0; i < n; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, vals[i], (uint8_t)(n - i), 0);
	emit_ret(p, deny);
	emit_ret(p, SECCOMP_RET_ALLOW);
}

/* Allow nr when every listed argument equals its value: an int argument's low word, or a
 * pointer's whole 64 bits. */
struct sc_arg_eq {
	int arg;
	uint64_t val;
	bool wide;
};

_unused_ static void emit_args_eq(struct sc_prog *p, int nr, const struct sc_arg_eq *c, size_t n,
				  uint32_t deny)
{
	size_t len = 2;
	for (size_t i = 0; i < n; i++)
		len += c[i].wide ? 4 : 2;
	emit_case(p, nr, len);
	size_t left = len - 2; /* instructions before "ret ALLOW" */
	for (size_t i = 0; i < n; i++) {
		emit_load(p, (uint32_t)SC_ARG_LO(c[i].arg));
		left -= 2;
		/* jf lands on "ret deny", one past "ret ALLOW" */
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)c[i].val, 0, (uint8_t)(left + 1));
		if (c[i].wide) {
			emit_load(p, (uint32_t)SC_ARG_HI(c[i].arg));
			left -= 2;
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(c[i].val >> 32), 0,
			     (uint8_t)(left + 1));
		}
	}
	emit_ret(p, SECCOMP_RET_ALLOW);
	emit_ret(p, deny);
}

static void sc_build(struct sc_prog *p, unsigned flags, const uint32_t *fams, size_t n_fams)
{
	uint32_t deny = (flags & SANDBOX_STRICT) ? SECCOMP_RET_KILL_PROCESS
						 : SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
	uint32_t pid = (uint32_t)getpid();

	p->n = 0;
	p->n_syscalls = 0;
	/* A syscall of another ABI (i386 int $0x80 on x86_64) has other numbers: kill. */
	emit_load(p, SC_ARCH);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, SC_AUDIT_ARCH, 1, 0);
	emit_ret(p, SECCOMP_RET_KILL_PROCESS);
	emit_load(p, SC_NR);
#ifdef __x86_64__
	/* x32 syscalls are x86_64 numbers with bit 30 set: none of ours. */
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
	emit_ret(p, deny);
#endif
	for (size_t i = 0; i < ARRAY_SIZE(sc_allow); i++) {
		emit_case(p, sc_allow[i], 1);
		emit_ret(p, SECCOMP_RET_ALLOW);
	}

	/* Threads, not processes: glibc's pthread_create tries clone3 (whose flags are in
	 * memory, out of BPF's reach) and falls back to clone on ENOSYS. */
	emit_case(p, __NR_clone3, 1);
	emit_ret(p, SECCOMP_RET_ERRNO | ENOSYS);
	p->n_syscalls--; /* not allowed: only answered */
#ifdef SANITIZER_BUILD
	emit_case(p, __NR_clone, 1); /* LeakSanitizer's tracer is a process-like clone */
	emit_ret(p, SECCOMP_RET_ALLOW);
#else
	emit_mask_set(p, __NR_clone, 0, CLONE_THREAD, deny);
#endif
	/* No new executable memory. */
	emit_mask_clear(p, __NR_mmap, 2, PROT_EXEC, deny);
	emit_mask_clear(p, __NR_mprotect, 2, PROT_EXEC, deny);
	emit_arg_in(p, __NR_ioctl, 1, sc_ioctls, ARRAY_SIZE(sc_ioctls), deny);
#ifndef SANITIZER_BUILD
	/* raise() and abort() signal this process; no other. */
	const struct sc_arg_eq self[] = {{.arg = 0, .val = pid}};
	emit_args_eq(p, __NR_tgkill, self, ARRAY_SIZE(self), deny);
	/* getrlimit through prlimit64(0, res, NULL, old): reading our own limits only. */
	const struct sc_arg_eq rlim_get[] = {{.arg = 0, .val = 0},
					     {.arg = 2, .val = 0, .wide = true}};
	emit_args_eq(p, __NR_prlimit64, rlim_get, ARRAY_SIZE(rlim_get), deny);
#else
	(void)pid;
#endif
	/* Outgoing connections only for what the spec names (upstreams, a vsock notify). Even
	 * when strict, socket() and connect() fail with EPERM rather than kill: ferry has paths
	 * that try them and cope (sd_notify reconnects per message when NOTIFY_SOCKET could not
	 * be connected at startup). */
	uint32_t eperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
	if (n_fams) {
		emit_arg_in(p, __NR_socket, 0, fams, n_fams, eperm);
		emit_case(p, __NR_connect, 1);
		emit_ret(p, SECCOMP_RET_ALLOW);
	} else {
		emit_case(p, __NR_socket, 1);
		emit_ret(p, eperm);
		emit_case(p, __NR_connect, 1);
		emit_ret(p, eperm);
		p->n_syscalls -= 2; /* answered, not allowed */
	}
	emit_ret(p, deny);
}

static int sc_install(const struct sandbox_spec *spec, struct sandbox_report *rep)
{
	uint32_t fams[4];
	size_t n_fams = 0;
	for (size_t i = 0; i < spec->n_paths; i++)
		if (spec->paths[i].access & SANDBOX_UNIX_CONNECT) {
			fams[n_fams++] = AF_UNIX;
			break;
		}
	if (spec->n_tcp_connect_ports) {
		fams[n_fams++] = AF_INET;
		fams[n_fams++] = AF_INET6;
	}
	if (spec->flags & SANDBOX_VSOCK_CONNECT)
		fams[n_fams++] = AF_VSOCK;

	static struct sc_prog p; /* 4 KiB: not on the stack; built once per process */
	sc_build(&p, spec->flags, fams, n_fams);
	if (p.n > SC_MAX_INSNS)
		return -E2BIG;
	/* Is there seccomp filtering at all? (An EINVAL from installing would be our bug.) */
	uint32_t action = SECCOMP_RET_KILL_PROCESS;
	if (syscall(__NR_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
		if (errno == ENOSYS || errno == EINVAL) {
			rep->seccomp = -errno;
			return 0;
		}
		return -errno;
	}
	struct sock_fprog prog = {.len = (unsigned short)p.n, .filter = p.insns};
	long rc = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (rc < 0)
		return -errno;
	if (rc > 0) /* the id of a thread that could not be synchronised */
		return -ESRCH;
	rep->seccomp = (int)p.n_syscalls;
	rep->strict = spec->flags & SANDBOX_STRICT;
	return 0;
}

#else /* no syscall table for this architecture */

static int sc_install(const struct sandbox_spec *spec, struct sandbox_report *rep)
{
	rep->seccomp = -EOPNOTSUPP;
	return 0;
}

#endif

/* ---- the whole ----------------------------------------------------------------------- */

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
		r = ll_build(spec, rep, &ruleset);
		if (r < 0)
			return r;
	}

	if (spec->user) {
		rep->step = "user";
		r = become_user(spec->user, rep);
		if (r < 0)
			goto fail;
	}

	rep->step = "no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		goto fail;
	}
	rep->no_new_privs = true;

	if (ruleset >= 0) {
		rep->step = "landlock";
		if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0) {
			r = -errno;
			goto fail;
		}
		close(ruleset);
		ruleset = -1;
	}

	if (!(spec->flags & SANDBOX_NO_SECCOMP)) {
		rep->step = "seccomp";
		r = sc_install(spec, rep);
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
