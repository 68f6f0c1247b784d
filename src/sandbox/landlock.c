/* The Landlock ruleset of the sandbox: its syscalls, structs and rights written out for the
 * ABI versions 1 to 6 (kernel headers may be older), which rights a path gets, and building
 * the ruleset from a spec. */
#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/macro.h"

/* Syscall numbers newer than some libc headers; the same on every architecture. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

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

int sandbox_landlock_build(const struct sandbox_spec *spec, struct sandbox_report *rep, int *ret_fd)
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

int sandbox_landlock_restrict(int ruleset)
{
	return syscall(__NR_landlock_restrict_self, ruleset, 0) < 0 ? -errno : 0;
}
