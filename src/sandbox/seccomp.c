/* The seccomp-BPF filter of the sandbox: the syscalls ferry makes while serving, the few it
 * makes only with some arguments (threads not processes, no executable memory, harmless
 * ioctls, signals to itself, sockets the spec asks for), and the BPF program built from them. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/macro.h"

/* Syscall numbers newer than some libc headers; the same on every architecture. */
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
	/* SIGUSR1: a log file opened again in place of the old one's descriptor */
	__NR_dup3,
	/* the proxy's pass-through bodies: upstream socket -> pipe -> client socket */
	__NR_pipe2, __NR_splice,
	/* files: opened beneath a root, the config and the log on reload; Landlock decides */
	__NR_openat, __NR_openat2, __NR_newfstatat, __NR_fstat, __NR_statx, __NR_getdents64,
	__NR_faccessat, __NR_faccessat2,
	/* sockets already open */
	__NR_accept4, __NR_accept, __NR_recvfrom, __NR_recvmsg, __NR_sendto, __NR_sendmsg,
	__NR_sendmmsg, __NR_recvmmsg, __NR_shutdown, __NR_getsockopt, __NR_setsockopt, __NR_getsockname,
	__NR_getpeername,
	/* event loops */
	__NR_epoll_pwait, __NR_epoll_pwait2, __NR_epoll_ctl, __NR_epoll_create1, __NR_eventfd2,
	__NR_signalfd4, __NR_ppoll,
	/* reload-on-change: the config's directory watched, also when a reload turns it on */
	__NR_inotify_init1, __NR_inotify_add_watch, __NR_inotify_rm_watch,
	/* and, with the certificate files' (core/certwatch.c), their symbolic links' targets:
	 * realpath(3) reads every component of a path as a link */
	__NR_readlinkat,
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
	__NR_readlink,
#endif
#ifdef SANITIZER_BUILD
	/* ASan/UBSan/LSan: LeakSanitizer stops the world at exit with a cloned tracer that
	 * ptraces every thread; reports read /proc/self/maps and /proc/self/exe, and abort. */
	__NR_ptrace, __NR_prctl, __NR_prlimit64, __NR_kill, __NR_tgkill,
#ifdef __x86_64__
	__NR_arch_prctl,
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

int sandbox_seccomp_install(const struct sandbox_spec *spec, struct sandbox_report *rep)
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

int sandbox_seccomp_install(const struct sandbox_spec *spec, struct sandbox_report *rep)
{
	rep->seccomp = -EOPNOTSUPP;
	return 0;
}

#endif
