/* Tests for src/sandbox/: the /etc/passwd and /etc/group parsers and user resolution; then,
 * each in a forked child since a sandbox cannot be undone, what Landlock lets through (a root
 * read-only, a log writable, everything else EACCES, descriptors opened before still usable),
 * what seccomp refuses (EPERM, or SIGSYS when strict) while threads started afterwards still
 * work, the thread check, dropping to a user, Unix and TCP connects, and a ferry-like workload
 * under the whole sandbox. Landlock checks are skipped, with the reason, on kernels without
 * it. */
#include "sandbox/sandbox.h"
#include "test.h"

#include "base/macro.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#endif

static char dir[64];	   /* mkdtemp */
static char dir_a[128];	   /* the "root": readable */
static char dir_b[128];	   /* outside: nothing */
static char dir_logs[128]; /* a writable directory */
static char file_a[160], file_a_sub[192], file_b[160], file_log[160];
static int landlock_abi;

/* ---- harness ------------------------------------------------------------------------- */

/* Run fn in a forked child and add the child's check counts to ours. The child reports them
 * over a pipe, so a child that dies (or is killed by seccomp) counts as a failure. */
static void in_child(const char *name, void (*fn)(void))
{
	int p[2];
	int counts[2] = {0, 0};
	if (pipe2(p, O_CLOEXEC) < 0) {
		CHECK(!"pipe");
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		test_checks = 0;
		test_failures = 0;
		fn();
		counts[0] = test_checks;
		counts[1] = test_failures;
		ssize_t w = write(p[1], counts, sizeof(counts));
		_exit(w == sizeof(counts) ? 0 : 3);
	}
	close(p[1]);
	ssize_t n = read(p[0], counts, sizeof(counts));
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	test_checks++;
	if (n != sizeof(counts) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		test_failures++;
		fprintf(stderr, "%s: child ended badly (status 0x%x, %s)\n", name, (unsigned)st,
			WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no signal");
		return;
	}
	test_checks += counts[0];
	test_failures += counts[1];
	if (counts[1])
		fprintf(stderr, "%s: %d of %d checks failed in the child\n", name, counts[1],
			counts[0]);
}

/* Fork fn; return its wait status (for children that are meant to die). */
static int child_status(void (*fn)(void))
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static int apply(const struct sandbox_spec *spec, struct sandbox_report *rep)
{
	int r = sandbox_apply(spec, rep);
	if (r < 0)
		fprintf(stderr, "sandbox_apply: %s at step %s (%s)\n", strerror(-r),
			rep->step ? rep->step : "?", rep->path ? rep->path : "no path");
	return r;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, text, strlen(text));
		(void)w;
		close(fd);
	}
}

/* -errno of opening path with flags, or 0 (closing what opened). */
static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* errno of a call that returned r (0 when it succeeded). */
#define ERR(call) ((call) < 0 ? errno : 0)

/* ---- passwd and group ---------------------------------------------------------------- */

static const char passwd_text[] = "# comment\n"
				  "root:x:0:0:root:/root:/bin/bash\n"
				  "\n"
				  "+nisuser:x:5000:5000::/:/bin/sh\n"
				  "www:x:80:80:not www-data:/var/www:/usr/sbin/nologin\n"
				  "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
				  "broken:x:12a:12:::\n"
				  "short:x:7\n"
				  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\r\n"
				  "ferry:x:990:985:ferry:/:/bin/false"; /* no final newline */

static const char group_text[] = "root:x:0:\n"
				 "adm:x:4:syslog,www-data\n"
				 "www-data:x:33:\n"
				 "ssl-cert:x:111:postgres,www-data,ferry\n"
				 "again:x:33:www-data\n" /* a duplicate gid is listed once */
				 "nogroup:x:65534:\n"
				 "bad:x:zz:www-data\n"
				 "ferry:x:985:\n"
				 "wwwgroup:x:80:www-datax,xwww-data,www\n";

static void test_passwd(void)
{
	struct sandbox_user u;
	size_t n = strlen(passwd_text);

	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "www-data", 0, &u), 0);
	CHECK_EQ_INT(u.uid, 33);
	CHECK_EQ_INT(u.gid, 33);
	CHECK_STREQ(u.name, "www-data");
	CHECK_EQ_INT(u.n_groups, 0);

	/* "www" is a prefix of "www-data" and must not match it, nor the other way round */
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "www", 0, &u), 0);
	CHECK_EQ_INT(u.uid, 80);
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "www-dat", 0, &u), -ENOENT);

	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "nobody", 0, &u), 0); /* CRLF */
	CHECK_EQ_INT(u.uid, 65534);
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "ferry", 0, &u), 0); /* last line */
	CHECK_EQ_INT(u.uid, 990);
	CHECK_EQ_INT(u.gid, 985);

	/* by uid */
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, NULL, 33, &u), 0);
	CHECK_STREQ(u.name, "www-data");
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, NULL, 0, &u), 0);
	CHECK_STREQ(u.name, "root");
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, NULL, 4242, &u), -ENOENT);

	/* NIS lines and comments are not entries; malformed entries asked for are errors */
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "+nisuser", 0, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, NULL, 5000, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "# comment", 0, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "broken", 0, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_passwd_find(passwd_text, n, "short", 0, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_passwd_find("", 0, "root", 0, &u), -ENOENT);
	/* ids of (uid_t)-1 and beyond are refused */
	CHECK_EQ_INT(sandbox_passwd_find("big:x:4294967295:1::/:\n", 23, "big", 0, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_passwd_find("big:x:99999999999:1::/:\n", 24, "big", 0, &u), -EINVAL);
	/* only len bytes are read */
	CHECK_EQ_INT(sandbox_passwd_find("a:x:1:1::/:\nb:x:2:2::/:\n", 12, "b", 0, &u), -ENOENT);
}

static void test_group(void)
{
	size_t n = strlen(group_text);
	gid_t g = 12345;

	CHECK_EQ_INT(sandbox_group_find(group_text, n, "adm", &g), 0);
	CHECK_EQ_INT(g, 4);
	CHECK_EQ_INT(sandbox_group_find(group_text, n, "nogroup", &g), 0);
	CHECK_EQ_INT(g, 65534);
	CHECK_EQ_INT(sandbox_group_find(group_text, n, "nope", &g), -ENOENT);
	CHECK_EQ_INT(sandbox_group_find(group_text, n, "bad", &g), -EINVAL);
	CHECK_EQ_INT(sandbox_group_find(group_text, n, "ad", &g), -ENOENT);

	struct sandbox_user u = {.uid = 33, .gid = 33, .name = "www-data"};
	CHECK_EQ_INT(sandbox_group_members(group_text, n, &u), 0);
	/* primary first, then adm and ssl-cert; "again" repeats gid 33; "bad" is malformed;
	 * "www-datax" and "xwww-data" are other users */
	CHECK_EQ_INT(u.n_groups, 3);
	CHECK_EQ_INT(u.groups[0], 33);
	CHECK_EQ_INT(u.groups[1], 4);
	CHECK_EQ_INT(u.groups[2], 111);

	struct sandbox_user f = {.uid = 990, .gid = 985, .name = "ferry"};
	CHECK_EQ_INT(sandbox_group_members(group_text, n, &f), 0);
	CHECK_EQ_INT(f.n_groups, 2);
	CHECK_EQ_INT(f.groups[0], 985);
	CHECK_EQ_INT(f.groups[1], 111); /* last in a member list */

	struct sandbox_user anon = {.uid = 1234, .gid = 1234};
	CHECK_EQ_INT(sandbox_group_members(group_text, n, &anon), 0);
	CHECK_EQ_INT(anon.n_groups, 1);
	CHECK_EQ_INT(anon.groups[0], 1234);

	/* more groups than SANDBOX_MAX_GROUPS */
	char big[SANDBOX_MAX_GROUPS * 24 + 1];
	size_t len = 0;
	for (int i = 0; i < SANDBOX_MAX_GROUPS; i++)
		len +=
		    (size_t)snprintf(big + len, sizeof(big) - len, "g%d:x:%d:many\n", i, 1000 + i);
	struct sandbox_user m = {.uid = 1, .gid = 1, .name = "many"};
	CHECK_EQ_INT(sandbox_group_members(big, len, &m), -E2BIG);
	CHECK_EQ_INT(m.n_groups, 0); /* untouched */
}

static void test_resolve(void)
{
	char pw[192], gr[192], missing[192];
	struct sandbox_user u;
	snprintf(pw, sizeof(pw), "%s/passwd", dir);
	snprintf(gr, sizeof(gr), "%s/group", dir);
	snprintf(missing, sizeof(missing), "%s/no-such-file", dir);
	write_file(pw, passwd_text);
	write_file(gr, group_text);

	CHECK_EQ_INT(sandbox_user_resolve("www-data", pw, gr, &u), 0);
	CHECK_EQ_INT(u.uid, 33);
	CHECK_EQ_INT(u.gid, 33);
	CHECK_EQ_INT(u.n_groups, 3);
	CHECK_STREQ(u.name, "www-data");

	CHECK_EQ_INT(sandbox_user_resolve("www-data:nogroup", pw, gr, &u), 0);
	CHECK_EQ_INT(u.uid, 33);
	CHECK_EQ_INT(u.gid, 65534);
	CHECK_EQ_INT(u.groups[0], 65534);
	CHECK_EQ_INT(u.n_groups, 4); /* 65534, adm, ssl-cert, again (33: a member there) */
	CHECK_EQ_INT(u.groups[3], 33);

	CHECK_EQ_INT(sandbox_user_resolve("www-data:44", pw, gr, &u), 0);
	CHECK_EQ_INT(u.gid, 44);

	/* a number in passwd takes its name and group from there */
	CHECK_EQ_INT(sandbox_user_resolve("33", pw, gr, &u), 0);
	CHECK_STREQ(u.name, "www-data");
	CHECK_EQ_INT(u.gid, 33);
	CHECK_EQ_INT(u.n_groups, 3);
	/* a number that is not: GID = UID, no supplementary groups, no files needed */
	CHECK_EQ_INT(sandbox_user_resolve("4321", missing, missing, &u), 0);
	CHECK_EQ_INT(u.uid, 4321);
	CHECK_EQ_INT(u.gid, 4321);
	CHECK_EQ_INT(u.n_groups, 1);
	CHECK_STREQ(u.name, "");
	CHECK_EQ_INT(sandbox_user_resolve("4321:100", missing, missing, &u), 0);
	CHECK_EQ_INT(u.gid, 100);
	CHECK_EQ_INT(u.groups[0], 100);

	CHECK_EQ_INT(sandbox_user_resolve("nosuchuser", pw, gr, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_user_resolve("www-data:nosuchgroup", pw, gr, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_user_resolve("www-data", missing, gr, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_user_resolve("4321:nogroup", pw, missing, &u), -ENOENT);
	CHECK_EQ_INT(sandbox_user_resolve("broken", pw, gr, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_user_resolve("", pw, gr, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_user_resolve(":33", pw, gr, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_user_resolve("www-data:", pw, gr, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_user_resolve("a:b:c", pw, gr, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_user_resolve("4294967295", pw, gr, &u), -EINVAL);
	CHECK_EQ_INT(sandbox_user_resolve("123456789012345678901234567890123", pw, gr, &u),
		     -EINVAL);

	/* a file larger than the limit is refused, not read */
	char huge[192];
	snprintf(huge, sizeof(huge), "%s/huge", dir);
	int fd = open(huge, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, SANDBOX_DB_MAX + 1) == 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(sandbox_user_resolve("root", huge, gr, &u), -EFBIG);
	unlink(huge);
}

static void test_report_format(void)
{
	char buf[256];
	struct sandbox_report r = {.landlock_abi = 7,
				   .n_read = 3,
				   .n_write = 1,
				   .seccomp = 85,
				   .no_new_privs = true,
				   .user_changed = true,
				   .uid = 33,
				   .gid = 33};
	sandbox_report_format(&r, buf, sizeof(buf));
	CHECK_STREQ(buf, "landlock ABI 7 (3 paths read-only, 1 writable), seccomp (85 syscalls), "
			 "no_new_privs, user 33:33");

	struct sandbox_report s = {
	    .landlock_abi = -ENOSYS, .seccomp = 80, .strict = true, .no_new_privs = true};
	sandbox_report_format(&s, buf, sizeof(buf));
	CHECK_STREQ(buf, "landlock unavailable (Function not implemented), seccomp (80 syscalls, "
			 "strict), no_new_privs");

	struct sandbox_report t = {.landlock_abi = 3, .n_read = 1, .n_skipped = 2, .n_ports = 1};
	sandbox_report_format(&t, buf, sizeof(buf));
	CHECK_STREQ(buf, "landlock ABI 3 (1 path read-only, 0 writable, 2 missing, 1 TCP port "
			 "unrestricted), seccomp off");

	/* truncation is snprintf's */
	char small[8];
	CHECK(sandbox_report_format(&r, small, sizeof(small)) > 8);
	CHECK_EQ_INT(strlen(small), 7);
}

static void test_spec_errors(void)
{
	struct sandbox_report rep;
	struct sandbox_path bad[] = {{dir_a, 1u << 7}};
	struct sandbox_spec s1 = {.paths = bad, .n_paths = 1};
	/* refused before anything irreversible happens, so no child is needed */
	CHECK_EQ_INT(sandbox_apply(&s1, &rep), -EINVAL);
	CHECK_STREQ(rep.step, "spec");
	CHECK_STREQ(rep.path, dir_a);
	CHECK(!rep.no_new_privs);
	struct sandbox_path empty[] = {{"", SANDBOX_READ}};
	struct sandbox_spec s2 = {.paths = empty, .n_paths = 1};
	CHECK_EQ_INT(sandbox_apply(&s2, &rep), -EINVAL);
	struct sandbox_spec s3 = {.paths = empty, .n_paths = SANDBOX_MAX_PATHS + 1};
	CHECK_EQ_INT(sandbox_apply(&s3, &rep), -E2BIG);
}

/* ---- Landlock ------------------------------------------------------------------------ */

static bool have_landlock(const char *what)
{
	if (landlock_abi > 0)
		return true;
	fprintf(stderr, "skipping %s: Landlock unavailable (%s)\n", what, strerror(-landlock_abi));
	return false;
}

static void child_landlock_files(void)
{
	char missing[192], buf[64];
	snprintf(missing, sizeof(missing), "%s/not-there", dir);
	struct sandbox_path paths[] = {
	    {dir_a, SANDBOX_READ},
	    {file_log, SANDBOX_WRITE},
	    {missing, SANDBOX_READ},
	};
	struct sandbox_spec spec = {
	    .paths = paths, .n_paths = ARRAY_SIZE(paths), .flags = SANDBOX_NO_SECCOMP};
	struct sandbox_report rep;
	int before_b = open(file_b, O_RDONLY | O_CLOEXEC); /* opened before: stays usable */
	int root_a = open(dir_a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK_EQ_INT(rep.landlock_abi, landlock_abi);
	CHECK_EQ_INT(rep.n_read, 1);
	CHECK_EQ_INT(rep.n_write, 1);
	CHECK_EQ_INT(rep.n_skipped, 1);
	CHECK_STREQ(rep.skipped[0].path, missing);
	CHECK_EQ_INT(rep.skipped[0].error, ENOENT);
	CHECK(rep.no_new_privs);
	CHECK_EQ_INT(rep.seccomp, 0);
	CHECK(rep.step == NULL);

	/* the root: read-only */
	int fd = open(file_a, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf));
		CHECK(n == 2 && memcmp(buf, "a\n", 2) == 0);
		close(fd);
	}
	CHECK_EQ_INT(try_open(file_a_sub, O_RDONLY), 0); /* beneath */
	CHECK_EQ_INT(try_open(dir_a, O_RDONLY | O_DIRECTORY), 0);
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	fd = (int)syscall(SYS_openat2, root_a, "sub/file", &how, sizeof(how));
	CHECK(fd >= 0); /* how static.c opens files */
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(try_open(file_a, O_WRONLY), -EACCES);
	CHECK_EQ_INT(try_open(file_a, O_RDWR), -EACCES);
	char created[192];
	snprintf(created, sizeof(created), "%s/created", dir_a);
	CHECK_EQ_INT(try_open(created, O_WRONLY | O_CREAT), -EACCES);
	CHECK_EQ_INT(ERR(unlink(file_a)), EACCES);
	snprintf(created, sizeof(created), "%s/newdir", dir_a);
	CHECK_EQ_INT(ERR(mkdir(created, 0755)), EACCES);
	CHECK_EQ_INT(ERR(truncate(file_a, 0)), EACCES);

	/* outside: nothing, even with ferry's path checks bypassed */
	CHECK_EQ_INT(try_open(file_b, O_RDONLY), -EACCES);
	CHECK_EQ_INT(sandbox_self_test_open(file_b), -EACCES);
	CHECK_EQ_INT(sandbox_self_test_open("/etc/passwd"), -EACCES);
	CHECK_EQ_INT(try_open(dir_b, O_RDONLY | O_DIRECTORY), -EACCES);
	CHECK_EQ_INT(try_open(dir, O_RDONLY | O_DIRECTORY), -EACCES);
	fd = (int)syscall(SYS_openat2, root_a, "../b/file", &how, sizeof(how));
	CHECK(fd < 0 && errno == EXDEV);

	/* the log: writable (append and truncate), not readable */
	fd = open(file_log, O_WRONLY | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ_INT(write(fd, "line\n", 5), 5);
		close(fd);
	}
	CHECK_EQ_INT(try_open(file_log, O_WRONLY | O_TRUNC), 0);
	CHECK_EQ_INT(try_open(file_log, O_RDONLY), -EACCES);

	/* a descriptor opened before the sandbox keeps working */
	CHECK(before_b >= 0);
	if (before_b >= 0) {
		CHECK_EQ_INT(read(before_b, buf, sizeof(buf)), 2);
		close(before_b);
	}
}

static void child_landlock_logdir(void)
{
	struct sandbox_path paths[] = {{dir_logs, SANDBOX_WRITE}};
	struct sandbox_spec spec = {.paths = paths, .n_paths = 1, .flags = SANDBOX_NO_SECCOMP};
	struct sandbox_report rep;
	char f[192], g[192];
	snprintf(f, sizeof(f), "%s/access.log", dir_logs);
	snprintf(g, sizeof(g), "%s/access.log.1", dir_logs);

	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK_EQ_INT(rep.n_write, 1);
	/* a writable directory: a rotated-away log can be created again */
	CHECK_EQ_INT(try_open(f, O_WRONLY | O_APPEND | O_CREAT), 0);
	CHECK_EQ_INT(try_open(f, O_RDONLY), -EACCES);
	CHECK_EQ_INT(ERR(rename(f, g)), EACCES); /* no removing, no renaming */
	CHECK_EQ_INT(ERR(unlink(f)), EACCES);
	CHECK_EQ_INT(ERR(symlink("x", g)), EACCES);
	CHECK_EQ_INT(ERR(mkfifo(g, 0600)), EACCES);
}

/* ---- seccomp ------------------------------------------------------------------------- */

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	got_usr1 = 1;
}

struct pipe_job {
	int in, out;
	int result;
};

/* A thread started after the sandbox: it reads a byte, writes it back, allocates. */
static void *echo_thread(void *arg)
{
	struct pipe_job *j = arg;
	char c;
	void *big = malloc(1 << 20); /* mmap */
	j->result = read(j->in, &c, 1) == 1 && write(j->out, &c, 1) == 1 && big ? 1 : -1;
	free(big);
	return NULL;
}

/* Pipes for check_threads_work, made before the sandbox (pipe2 is not allowed after). */
static int tp_a[2], tp_b[2];

static void make_thread_pipes(void)
{
	CHECK(pipe2(tp_a, O_CLOEXEC) == 0 && pipe2(tp_b, O_CLOEXEC) == 0);
}

static void check_threads_work(void)
{
	struct pipe_job j = {.in = tp_a[0], .out = tp_b[1]};
	pthread_t t;
	int r = pthread_create(&t, NULL, echo_thread, &j);
	CHECK_EQ_INT(r, 0);
	char c = 'x';
	CHECK_EQ_INT(write(tp_a[1], &c, 1), 1);
	c = 0;
	CHECK_EQ_INT(read(tp_b[0], &c, 1), 1);
	CHECK_EQ_INT(c, 'x');
	if (r == 0)
		CHECK_EQ_INT(pthread_join(t, NULL), 0);
	CHECK_EQ_INT(j.result, 1);
}

static void child_seccomp(void)
{
	struct sandbox_spec spec = {.flags = SANDBOX_NO_LANDLOCK};
	struct sandbox_report rep;
	int lsock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(lsock >= 0 && bind(lsock, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	      listen(lsock, 8) == 0);
	int other = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) == 0);
	signal(SIGUSR1, on_usr1);
	make_thread_pipes();

	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK(rep.seccomp > 50);
	CHECK(!rep.strict);
	CHECK_EQ_INT(rep.landlock_abi, 0);

	/* what ferry does */
	CHECK_EQ_INT(getpid() > 0, 1);
	struct timespec ts;
	CHECK_EQ_INT(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(ev >= 0);
	struct epoll_event e = {.events = EPOLLIN};
	CHECK_EQ_INT(epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e), 0);
	uint64_t one = 1;
	CHECK_EQ_INT(write(ev, &one, 8), 8);
	CHECK_EQ_INT(epoll_wait(ep, &e, 1, 0), 1);
	CHECK_EQ_INT(accept4(lsock, NULL, NULL, SOCK_CLOEXEC) < 0 ? errno : 0, EAGAIN);
	CHECK_EQ_INT(send(sp[0], "hi", 2, MSG_NOSIGNAL), 2); /* sd_notify's kept socket */
	char buf[8];
	CHECK_EQ_INT(recv(sp[1], buf, sizeof(buf), 0), 2);
	int n = -1;
	CHECK_EQ_INT(ioctl(sp[1], FIONREAD, &n), 0);
	CHECK_EQ_INT(raise(SIGUSR1), 0); /* tgkill to ourselves */
	CHECK_EQ_INT(got_usr1, 1);
	struct rlimit rl;
	CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
	void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(rw != MAP_FAILED);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR2);
	CHECK_EQ_INT(pthread_sigmask(SIG_BLOCK, &ss, NULL), 0);
	int sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	CHECK(sfd >= 0);

	/* the proxy's pass-through bodies: socket -> pipe -> socket */
	int pp[2];
	CHECK_EQ_INT(pipe2(pp, O_CLOEXEC | O_NONBLOCK), 0);
	CHECK_EQ_INT(send(sp[0], "hi", 2, 0), 2);
	CHECK_EQ_INT(splice(sp[1], NULL, pp[1], NULL, 2, SPLICE_F_NONBLOCK), 2);
	CHECK_EQ_INT(splice(pp[0], NULL, sp[0], NULL, 2, SPLICE_F_NONBLOCK), 2);
	CHECK_EQ_INT(recv(sp[1], buf, sizeof(buf), 0), 2);

	/* what it must not */
	char *const argv[] = {"true", NULL};
	CHECK_EQ_INT(ERR(execve("/bin/true", argv, argv + 1)), EPERM);
	CHECK_EQ_INT(ERR(execve("/nonexistent", argv, argv + 1)), EPERM);
	CHECK_EQ_INT(ERR(unshare(CLONE_NEWUSER)), EPERM);
	CHECK_EQ_INT(ERR(mount("none", "/mnt", "tmpfs", 0, NULL)), EPERM);
	/* reboot with no magic numbers: EINVAL if it ever got through */
	CHECK_EQ_INT(ERR(syscall(SYS_reboot, 0, 0, 0, NULL)), EPERM);
	CHECK_EQ_INT(ERR(socket(AF_INET, SOCK_STREAM, 0)), EPERM);
	CHECK_EQ_INT(ERR(socket(AF_UNIX, SOCK_DGRAM, 0)), EPERM);
	CHECK_EQ_INT(ERR(socket(AF_PACKET, SOCK_RAW, 0)), EPERM);
	CHECK_EQ_INT(ERR(socketpair(AF_UNIX, SOCK_STREAM, 0, sp)), EPERM);
	CHECK_EQ_INT(ERR(bind(other, (struct sockaddr *)&sin, sizeof(sin))), EPERM);
	CHECK_EQ_INT(ERR(listen(other, 1)), EPERM);
	CHECK_EQ_INT(ERR(connect(other, (struct sockaddr *)&sin, sizeof(sin))), EPERM);
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
	      MAP_FAILED);
	CHECK_EQ_INT(errno, EPERM);
	CHECK_EQ_INT(ERR(mprotect(rw, 4096, PROT_READ | PROT_EXEC)), EPERM);
	CHECK_EQ_INT(ERR(ioctl(sp[1], TIOCSTI, "x")), EPERM);
	CHECK_EQ_INT(ERR(setuid(0)), EPERM);
	CHECK_EQ_INT(ERR(chmod(file_a, 0777)), EPERM);
	CHECK_EQ_INT(ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL)), EPERM);
#ifdef __x86_64__
	CHECK_EQ_INT(ERR(syscall(0x40000000 | SYS_getpid)), EPERM); /* x32 */
#endif
#ifndef SANITIZER_BUILD
	/* the sanitizer build lets LeakSanitizer clone and ptrace, and signal */
	CHECK_EQ_INT(ERR(ptrace(PTRACE_TRACEME, 0, NULL, NULL)), EPERM);
	CHECK_EQ_INT(ERR(kill(getppid(), 0)), EPERM);
	CHECK_EQ_INT(ERR(syscall(SYS_tgkill, getppid(), getppid(), 0)), EPERM);
	rl.rlim_cur = 16;
	CHECK_EQ_INT(ERR(setrlimit(RLIMIT_NOFILE, &rl)), EPERM);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	CHECK_EQ_INT(pid < 0 ? errno : 0, EPERM);
#endif

	/* threads started now work, and ran under the filter too */
	check_threads_work();
}

static void child_strict(void)
{
	struct sandbox_spec spec = {.flags = SANDBOX_NO_LANDLOCK | SANDBOX_STRICT};
	struct sandbox_report rep;
	if (sandbox_apply(&spec, &rep) < 0)
		_exit(2);
	/* socket() is refused, not fatal: sd_notify may retry it */
	if (socket(AF_UNIX, SOCK_DGRAM, 0) >= 0 || errno != EPERM)
		_exit(3);
	syscall(SYS_reboot, 0, 0, 0, NULL);
	_exit(0);
}

#ifdef __x86_64__
/* getpid through the i386 entry point (int $0x80, where getpid is 20). */
static long int80_getpid(void)
{
	long ret = 20;
	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "rcx", "r11");
	return ret;
}

static void child_int80_plain(void)
{
	_exit(int80_getpid() == getpid() ? 0 : 1);
}

static void child_int80_filtered(void)
{
	struct sandbox_spec spec = {.flags = SANDBOX_NO_LANDLOCK};
	struct sandbox_report rep;
	if (sandbox_apply(&spec, &rep) < 0)
		_exit(2);
	int80_getpid();
	_exit(0);
}
#endif

static void test_seccomp_kills(void)
{
	int st = child_status(child_strict);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
#ifdef __x86_64__
	st = child_status(child_int80_plain);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		st = child_status(child_int80_filtered);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	} else {
		fprintf(stderr, "skipping the i386 syscall check: int $0x80 unsupported here\n");
	}
#endif
}

/* ---- the thread check ---------------------------------------------------------------- */

static void *blocked_thread(void *arg)
{
	char c;
	ssize_t n = read(*(int *)arg, &c, 1);
	(void)n;
	return NULL;
}

static void child_threads_refused(void)
{
	int p[2];
	pthread_t t;
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK_EQ_INT(pthread_create(&t, NULL, blocked_thread, &p[0]), 0);
	struct sandbox_path paths[] = {{dir_a, SANDBOX_READ}};
	struct sandbox_spec spec = {.paths = paths, .n_paths = 1};
	struct sandbox_report rep;
	CHECK_EQ_INT(sandbox_apply(&spec, &rep), -EBUSY);
	CHECK_STREQ(rep.step, "threads");
	CHECK(!rep.no_new_privs); /* nothing done */
	CHECK_EQ_INT(try_open(file_b, O_RDONLY), 0);
	/* seccomp alone is fine with threads: TSYNC covers them */
	struct sandbox_spec sc = {.flags = SANDBOX_NO_LANDLOCK};
	CHECK_EQ_INT(apply(&sc, &rep), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(pthread_join(t, NULL), 0);
}

/* ---- users --------------------------------------------------------------------------- */

static void child_user(void)
{
	struct sandbox_user u;
	CHECK_EQ_INT(sandbox_user_resolve("nobody", "/etc/passwd", "/etc/group", &u), 0);
	struct sandbox_path paths[] = {{dir_a, SANDBOX_READ}};
	struct sandbox_spec spec = {.paths = paths, .n_paths = 1, .user = &u};
	struct sandbox_report rep;
	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK(rep.user_changed);
	CHECK_EQ_INT(rep.uid, u.uid);
	CHECK_EQ_INT(getuid(), u.uid);
	CHECK_EQ_INT(geteuid(), u.uid);
	CHECK_EQ_INT(getgid(), u.gid);
	gid_t groups[8];
	int n = getgroups(8, groups);
	CHECK_EQ_INT(n, (int)u.n_groups);
	CHECK_EQ_INT(ERR(setuid(0)), EPERM);
	CHECK_EQ_INT(try_open(file_a, O_RDONLY), 0);
	if (landlock_abi > 0)
		CHECK_EQ_INT(try_open(file_b, O_RDONLY), -EACCES);
	char buf[160];
	sandbox_report_format(&rep, buf, sizeof(buf));
	CHECK(strstr(buf, ", user 65534:65534") != NULL);
}

static void child_user_not_root(void)
{
	struct sandbox_user u = {.uid = 1, .gid = 1, .n_groups = 1, .groups = {1}};
	struct sandbox_spec spec = {.user = &u, .flags = SANDBOX_NO_LANDLOCK | SANDBOX_NO_SECCOMP};
	struct sandbox_report rep;
	CHECK_EQ_INT(setresuid(65534, 65534, 65534), 0);
	CHECK_EQ_INT(sandbox_apply(&spec, &rep), -EPERM);
	CHECK_STREQ(rep.step, "user");
	/* becoming who we are is fine */
	struct sandbox_user same = {
	    .uid = 65534, .gid = getgid(), .n_groups = 1, .groups = {getgid()}};
	spec.user = &same;
	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK(!rep.user_changed);
}

/* ---- connecting ---------------------------------------------------------------------- */

static int unix_listener(const char *name, int type)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 8) < 0))
		return -1;
	return fd;
}

static int unix_connect(const char *name, int type)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
	if (connect(fd, (struct sockaddr *)&sun, len) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void child_unix(void)
{
	char up[192], other[192], abs_up[64], abs_other[64], notify[64];
	snprintf(up, sizeof(up), "%s/upstream.sock", dir_b);
	snprintf(other, sizeof(other), "%s/other.sock", dir_b);
	snprintf(abs_up, sizeof(abs_up), "@ferry-test-up-%d", (int)getpid());
	snprintf(abs_other, sizeof(abs_other), "@ferry-test-other-%d", (int)getpid());
	snprintf(notify, sizeof(notify), "@ferry-test-notify-%d", (int)getpid());
	int l1 = unix_listener(up, SOCK_STREAM), l2 = unix_listener(other, SOCK_STREAM);
	int l3 = unix_listener(abs_up, SOCK_STREAM), l4 = unix_listener(abs_other, SOCK_STREAM);
	int nrecv = unix_listener(notify, SOCK_DGRAM);
	int nsend = unix_connect(notify, SOCK_DGRAM); /* sd_notify_init's kept socket */
	CHECK(l1 >= 0 && l2 >= 0 && l3 >= 0 && l4 >= 0 && nrecv >= 0 && nsend >= 0);

	struct sandbox_path paths[] = {
	    {dir_a, SANDBOX_READ},
	    {up, SANDBOX_UNIX_CONNECT},
	    {abs_up, SANDBOX_UNIX_CONNECT},
	};
	struct sandbox_spec spec = {.paths = paths, .n_paths = 3};
	struct sandbox_report rep;
	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK_EQ_INT(rep.n_unix, 2);
	CHECK_EQ_INT(rep.n_read, 1);
	CHECK(rep.seccomp > 0);

	int fd = unix_connect(up, SOCK_STREAM);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	fd = unix_connect(abs_up, SOCK_STREAM);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* The limit of Landlock up to ABI 7: a socket path outside every rule still connects.
	 * Only the seccomp part (socket(AF_UNIX) allowed at all) comes from the spec. */
	fd = unix_connect(other, SOCK_STREAM);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* abstract sockets were named here, so abstract scoping is off: this one connects too */
	fd = unix_connect(abs_other, SOCK_STREAM);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(ERR(socket(AF_INET, SOCK_STREAM, 0)), EPERM);
	CHECK_EQ_INT(send(nsend, "READY=1", 7, MSG_NOSIGNAL), 7);
}

static void child_unix_scoped(void)
{
	char up[192], abs_other[64], notify[64];
	snprintf(up, sizeof(up), "%s/upstream2.sock", dir_b);
	snprintf(abs_other, sizeof(abs_other), "@ferry-test-other2-%d", (int)getpid());
	snprintf(notify, sizeof(notify), "@ferry-test-notify2-%d", (int)getpid());
	int l1 = unix_listener(up, SOCK_STREAM), l2 = unix_listener(abs_other, SOCK_STREAM);
	int nrecv = unix_listener(notify, SOCK_DGRAM);
	int nsend = unix_connect(notify, SOCK_DGRAM);
	CHECK(l1 >= 0 && l2 >= 0 && nrecv >= 0 && nsend >= 0);

	struct sandbox_path paths[] = {{up, SANDBOX_UNIX_CONNECT}};
	struct sandbox_spec spec = {.paths = paths, .n_paths = 1};
	struct sandbox_report rep;
	CHECK_EQ_INT(apply(&spec, &rep), 0);
	int fd = unix_connect(up, SOCK_STREAM);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* no abstract upstream: abstract sockets outside the sandbox are out of reach (ABI 6)... */
	if (landlock_abi >= 6)
		CHECK_EQ_INT(unix_connect(abs_other, SOCK_STREAM), -EPERM);
	/* ...but a datagram socket connected before, like sd_notify's, still sends */
	CHECK_EQ_INT(send(nsend, "WATCHDOG=1", 10, MSG_NOSIGNAL), 10);
	char buf[16];
	CHECK_EQ_INT(recv(nrecv, buf, sizeof(buf), MSG_DONTWAIT), 10);
}

static int tcp_listener(uint16_t *ret_port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	*ret_port = ntohs(sin.sin_port);
	return fd;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

static void child_tcp(void)
{
	uint16_t p1 = 0, p2 = 0;
	int l1 = tcp_listener(&p1), l2 = tcp_listener(&p2);
	CHECK(l1 >= 0 && l2 >= 0);
	const uint16_t ports[] = {p1};
	struct sandbox_spec spec = {.tcp_connect_ports = ports, .n_tcp_connect_ports = 1};
	struct sandbox_report rep;
	CHECK_EQ_INT(apply(&spec, &rep), 0);
	CHECK_EQ_INT(rep.n_ports, 1);
	CHECK_EQ_INT(tcp_connect(p1), 0);
	CHECK_EQ_INT(tcp_connect(p2), -EACCES); /* Landlock, ABI 4 */
	CHECK_EQ_INT(ERR(socket(AF_UNIX, SOCK_STREAM, 0)), EPERM);
}

/* ---- everything together, ferry-like ------------------------------------------------- */

static void child_ferry_like(void)
{
	struct sandbox_path paths[] = {
	    {dir_a, SANDBOX_READ},
	    {file_log, SANDBOX_WRITE},
	};
	struct sandbox_spec spec = {.paths = paths, .n_paths = 2};
	struct sandbox_report rep;
	int root = open(dir_a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int log = open(file_log, O_WRONLY | O_APPEND | O_CLOEXEC);
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	make_thread_pipes();

	CHECK_EQ_INT(apply(&spec, &rep), 0);
	char line[200];
	sandbox_report_format(&rep, line, sizeof(line));
	fprintf(stderr, "sandbox: %s\n", line);
	CHECK(rep.landlock_abi == landlock_abi || (landlock_abi < 0 && rep.landlock_abi < 0));
	CHECK(rep.seccomp > 50 && rep.no_new_privs);

	/* a file beneath the root, sent with sendfile, stat'ed like static.c does */
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, root, "file", &how, sizeof(how));
	CHECK(fd >= 0);
	struct stat st;
	CHECK_EQ_INT(fstat(fd, &st), 0);
	off_t off = 0;
	CHECK_EQ_INT(sendfile(sp[0], fd, &off, (size_t)st.st_size), st.st_size);
	char buf[16];
	CHECK_EQ_INT(read(sp[1], buf, sizeof(buf)), 2);
	CHECK_EQ_INT(pread(fd, buf, 1, 1), 1);
	close(fd);
	struct iovec iov[2] = {{"HTTP/1.1 ", 9}, {"200\r\n", 5}};
	CHECK_EQ_INT(writev(sp[0], iov, 2), 14);
	CHECK_EQ_INT(write(log, "GET /\n", 6), 6);
	CHECK_EQ_INT(shutdown(sp[0], SHUT_WR), 0);
	/* the config file and roots re-read on SIGHUP */
	CHECK_EQ_INT(try_open(file_a, O_RDONLY), 0);
	CHECK_EQ_INT(try_open(dir_a, O_RDONLY | O_DIRECTORY), 0);
	CHECK_EQ_INT(try_open(file_log, O_WRONLY | O_APPEND | O_CREAT), 0);
	/* the outside, by any route */
	CHECK_EQ_INT(sandbox_self_test_open(file_b), landlock_abi > 0 ? -EACCES : 0);
	char *const argv[] = {"sh", NULL};
	CHECK_EQ_INT(ERR(execve("/bin/sh", argv, argv + 1)), EPERM);
	CHECK_EQ_INT(ERR(unshare(CLONE_NEWNS)), EPERM);
	check_threads_work();
	/* malloc beyond the brk heap, in threads too (arenas grow with mprotect) */
	void *p = malloc(64 << 20);
	CHECK(p != NULL);
	free(p);
}

/* ---- setup --------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/ferry-sandbox.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	chmod(dir, 0755); /* for the user test */
	snprintf(dir_a, sizeof(dir_a), "%s/a", dir);
	snprintf(dir_b, sizeof(dir_b), "%s/b", dir);
	snprintf(dir_logs, sizeof(dir_logs), "%s/logs", dir);
	snprintf(file_a, sizeof(file_a), "%s/file", dir_a);
	snprintf(file_a_sub, sizeof(file_a_sub), "%s/sub/file", dir_a);
	snprintf(file_b, sizeof(file_b), "%s/file", dir_b);
	snprintf(file_log, sizeof(file_log), "%s/access.log", dir);
	char sub[160];
	snprintf(sub, sizeof(sub), "%s/sub", dir_a);
	if (mkdir(dir_a, 0755) < 0 || mkdir(dir_b, 0755) < 0 || mkdir(dir_logs, 0755) < 0 ||
	    mkdir(sub, 0755) < 0) {
		perror("mkdir");
		exit(1);
	}
	write_file(file_a, "a\n");
	write_file(file_a_sub, "s\n");
	write_file(file_b, "b\n");
	write_file(file_log, "");

	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	landlock_abi = v < 0 ? -errno : (int)v;
	fprintf(stderr, "Landlock ABI on this kernel: %d%s\n", landlock_abi,
		landlock_abi < 0 ? " (unavailable)" : "");
}

int main(void)
{
	setup();
	test_passwd();
	test_group();
	test_resolve();
	test_report_format();
	test_spec_errors();

	if (have_landlock("Landlock file checks")) {
		in_child("landlock files", child_landlock_files);
		in_child("landlock log directory", child_landlock_logdir);
	}
	in_child("seccomp", child_seccomp);
	test_seccomp_kills();
	in_child("threads refused", child_threads_refused);
	if (geteuid() == 0) {
		in_child("user", child_user);
		in_child("user, not root", child_user_not_root);
	} else {
		fprintf(stderr, "skipping user changes: not root\n");
	}
	in_child("unix connect", child_unix);
	in_child("unix connect, abstract scoped", child_unix_scoped);
	if (landlock_abi >= 4)
		in_child("tcp connect", child_tcp);
	else
		fprintf(stderr, "skipping TCP port rules: Landlock ABI %d < 4\n", landlock_abi);
	in_child("ferry-like", child_ferry_like);

	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	TEST_MAIN_END();
}
