/* Tests for src/sd/listen.c: LISTEN_FDNAMES parsing, and sd_listen_fds_get against a real
 * environment with sockets and pipes dup2'ed onto fds 3 and 4. */
#include "sd/listen.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_names(void)
{
	struct sd_listen_fd fds[4];
	char longname[SD_FDNAME_MAX + 2], buf[600];

	memset(fds, 0, sizeof(fds));
	CHECK_EQ_INT(sd_listen_names_parse(NULL, 2, fds), 0);
	CHECK_STREQ(fds[0].name, "unknown");
	CHECK_STREQ(fds[1].name, "unknown");
	CHECK_EQ_INT(sd_listen_names_parse("", 3, fds), 0);
	CHECK_STREQ(fds[2].name, "unknown");
	CHECK_EQ_INT(sd_listen_names_parse(NULL, 0, NULL), 0);
	CHECK_EQ_INT(sd_listen_names_parse("", 0, NULL), 0);

	CHECK_EQ_INT(sd_listen_names_parse("http", 1, fds), 0);
	CHECK_STREQ(fds[0].name, "http");
	CHECK_EQ_INT(sd_listen_names_parse("http:https:metrics", 3, fds), 0);
	CHECK_STREQ(fds[0].name, "http");
	CHECK_STREQ(fds[1].name, "https");
	CHECK_STREQ(fds[2].name, "metrics");
	/* .fd is left to the caller. */
	fds[0].fd = 42;
	CHECK_EQ_INT(sd_listen_names_parse("x", 1, fds), 0);
	CHECK_EQ_INT(fds[0].fd, 42);

	/* Empty fields. */
	CHECK_EQ_INT(sd_listen_names_parse(":b:", 3, fds), 0);
	CHECK_STREQ(fds[0].name, "unknown");
	CHECK_STREQ(fds[1].name, "b");
	CHECK_STREQ(fds[2].name, "unknown");
	CHECK_EQ_INT(sd_listen_names_parse("::::", 4, fds), -E2BIG);
	CHECK_EQ_INT(sd_listen_names_parse(":::", 4, fds), 0);
	CHECK_STREQ(fds[3].name, "unknown");
	CHECK_EQ_INT(sd_listen_names_parse("a b:~!", 2, fds), 0);
	CHECK_STREQ(fds[0].name, "a b");
	CHECK_STREQ(fds[1].name, "~!");

	/* Count mismatches; failure leaves fds alone. */
	strcpy(fds[0].name, "keep");
	CHECK_EQ_INT(sd_listen_names_parse("a:b", 1, fds), -E2BIG);
	CHECK_EQ_INT(sd_listen_names_parse("a:b", 3, fds), -E2BIG);
	CHECK_EQ_INT(sd_listen_names_parse("a", 2, fds), -E2BIG);
	CHECK_EQ_INT(sd_listen_names_parse("a", 0, fds), -E2BIG);
	CHECK_EQ_INT(sd_listen_names_parse(":", 1, fds), -E2BIG);
	CHECK_STREQ(fds[0].name, "keep");

	/* Lengths: 255 fits, 256 does not, in any position. */
	memset(longname, 'n', SD_FDNAME_MAX);
	longname[SD_FDNAME_MAX] = '\0';
	CHECK_EQ_INT(sd_listen_names_parse(longname, 1, fds), 0);
	CHECK_EQ_INT(strlen(fds[0].name), SD_FDNAME_MAX);
	snprintf(buf, sizeof(buf), "a:%s:b", longname);
	CHECK_EQ_INT(sd_listen_names_parse(buf, 3, fds), 0);
	CHECK_EQ_INT(strlen(fds[1].name), SD_FDNAME_MAX);
	CHECK_STREQ(fds[2].name, "b");
	strcpy(fds[0].name, "keep");
	longname[SD_FDNAME_MAX] = 'n';
	longname[SD_FDNAME_MAX + 1] = '\0';
	CHECK_EQ_INT(sd_listen_names_parse(longname, 1, fds), -EINVAL);
	snprintf(buf, sizeof(buf), "a:%s", longname);
	CHECK_EQ_INT(sd_listen_names_parse(buf, 2, fds), -EINVAL);
	CHECK_STREQ(fds[0].name, "keep");

	/* Characters outside printable ASCII. */
	CHECK_EQ_INT(sd_listen_names_parse("a\tb", 1, fds), -EINVAL);
	CHECK_EQ_INT(sd_listen_names_parse("a\nb", 1, fds), -EINVAL);
	CHECK_EQ_INT(sd_listen_names_parse("ok:\x7f", 2, fds), -EINVAL);
	CHECK_EQ_INT(sd_listen_names_parse("caf\xc3\xa9", 1, fds), -EINVAL);
	CHECK_EQ_INT(sd_listen_names_parse("\x01", 1, fds), -EINVAL);
	CHECK_STREQ(fds[0].name, "keep");
}

static char pidbuf[32];

static void set_env(const char *pid, const char *nfds, const char *names)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid)
		setenv("LISTEN_PID", pid, 1);
	if (nfds)
		setenv("LISTEN_FDS", nfds, 1);
	if (names)
		setenv("LISTEN_FDNAMES", names, 1);
}

static bool env_cleared(void)
{
	return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

/* Put a socket on fd 3 and a pipe's read end on fd 4, neither close-on-exec; close 5. */
static void setup_fds(void)
{
	int sp[2], p[2];

	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	CHECK_EQ_INT(pipe(p), 0);
	CHECK_EQ_INT(dup2(sp[0], 3), 3);
	CHECK_EQ_INT(dup2(p[0], 4), 4);
	/* Close the originals unless they already are 3 or 4. */
	if (sp[0] > 4)
		close(sp[0]);
	if (sp[1] > 4)
		close(sp[1]);
	if (p[0] > 4)
		close(p[0]);
	if (p[1] > 4)
		close(p[1]);
	close(5);
	CHECK_EQ_INT(fcntl(3, F_GETFD) & FD_CLOEXEC, 0);
	CHECK_EQ_INT(fcntl(4, F_GETFD) & FD_CLOEXEC, 0);
	CHECK(fcntl(5, F_GETFD) < 0);
}

static void clear_cloexec(void)
{
	fcntl(3, F_SETFD, 0);
	fcntl(4, F_SETFD, 0);
}

static void test_get(void)
{
	struct sd_listen_fd *fds = (void *)1;
	size_t n = 99;

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	setup_fds();

	/* The normal case. */
	set_env(pidbuf, "2", "web:admin");
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK(fds != NULL);
	if (fds && n == 2) {
		CHECK_EQ_INT(fds[0].fd, 3);
		CHECK_EQ_INT(fds[1].fd, 4);
		CHECK_STREQ(fds[0].name, "web");
		CHECK_STREQ(fds[1].name, "admin");
	}
	CHECK(fcntl(3, F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(4, F_GETFD) & FD_CLOEXEC);
	CHECK(env_cleared());
	free(fds);

	/* No names; keep the environment when asked to. */
	clear_cloexec();
	set_env(pidbuf, "1", NULL);
	fds = NULL;
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), false, &fds, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (fds && n == 1) {
		CHECK_EQ_INT(fds[0].fd, 3);
		CHECK_STREQ(fds[0].name, "unknown");
	}
	CHECK(fcntl(3, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ_INT(fcntl(4, F_GETFD) & FD_CLOEXEC, 0);
	CHECK_STREQ(getenv("LISTEN_PID"), pidbuf);
	CHECK_STREQ(getenv("LISTEN_FDS"), "1");
	free(fds);

	/* Not for us: unset, someone else's, or garbage LISTEN_PID. Nothing touched. */
	const char *others[] = {NULL, "1", "0", "", "abc", "-1", " 1", "99999999999999999999"};
	char other[32];
	snprintf(other, sizeof(other), "%d", (int)getpid() + 1);
	others[1] = other;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		clear_cloexec();
		set_env(others[i], "2", "a:b");
		fds = (void *)1;
		n = 99;
		CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), 0);
		CHECK_EQ_INT(n, 0);
		CHECK(fds == NULL);
		CHECK_EQ_INT(fcntl(3, F_GETFD) & FD_CLOEXEC, 0);
		CHECK_STREQ(getenv("LISTEN_FDS"), "2");
	}
	/* LISTEN_FDS unset or 0: nothing, but the variables are ours and go. */
	set_env(pidbuf, NULL, NULL);
	fds = (void *)1;
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK(fds == NULL);
	CHECK(env_cleared());
	set_env(pidbuf, "0", NULL);
	fds = (void *)1;
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK(fds == NULL);
	CHECK(env_cleared());

	/* Malformed LISTEN_FDS: -EINVAL, outputs untouched, env still cleared. */
	const char *bad[] = {"", "abc", "-1", "+1", " 1", "1 ", "1x", "0x2", "4097",
			     "18446744073709551617"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_env(pidbuf, bad[i], NULL);
		fds = (void *)1;
		n = 99;
		CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), -EINVAL);
		CHECK(fds == (void *)1);
		CHECK_EQ_INT(n, 99);
		CHECK(env_cleared());
	}

	/* Count mismatch, and names without fds. */
	set_env(pidbuf, "2", "a:b:c");
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), -E2BIG);
	CHECK(env_cleared());
	set_env(pidbuf, "2", "a");
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), -E2BIG);
	set_env(pidbuf, "0", "a");
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), -E2BIG);
	CHECK(env_cleared());

	/* Bad name. */
	set_env(pidbuf, "2", "a:b\tc");
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), false, &fds, &n), -EINVAL);
	CHECK(!env_cleared());

	/* fd 5 is closed: -EBADF. */
	set_env(pidbuf, "3", NULL);
	fds = (void *)1;
	CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), -EBADF);
	CHECK(fds == (void *)1);
	CHECK(env_cleared());

	/* The pid argument is what counts, not getpid(): Podman passes LISTEN_PID=1. */
	set_env("1", "1", "pod");
	fds = NULL;
	CHECK_EQ_INT(sd_listen_fds_get(1, true, &fds, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (fds && n == 1)
		CHECK_STREQ(fds[0].name, "pod");
	free(fds);

	/* The maximum count is accepted when every fd is open (if RLIMIT_NOFILE lets us). */
	int maxfd = SD_LISTEN_FDS_START + SD_LISTEN_FDS_MAX - 1;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)maxfd + 1 &&
	    rl.rlim_max >= (rlim_t)maxfd + 1) {
		rl.rlim_cur = (rlim_t)maxfd + 1;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (dup2(3, maxfd) == maxfd) {
		for (int fd = 5; fd < maxfd; fd++)
			dup2(3, fd);
		set_env(pidbuf, "4096", NULL);
		fds = NULL;
		CHECK_EQ_INT(sd_listen_fds_get(getpid(), true, &fds, &n), 0);
		CHECK_EQ_INT(n, SD_LISTEN_FDS_MAX);
		if (fds && n == SD_LISTEN_FDS_MAX) {
			CHECK_EQ_INT(fds[SD_LISTEN_FDS_MAX - 1].fd, maxfd);
			CHECK_STREQ(fds[SD_LISTEN_FDS_MAX - 1].name, "unknown");
		}
		CHECK(fcntl(maxfd, F_GETFD) & FD_CLOEXEC);
		free(fds);
		for (int fd = 5; fd <= maxfd; fd++)
			close(fd);
	} else
		printf("test-listen: skipping %d fds: %s\n", SD_LISTEN_FDS_MAX, strerror(errno));

	close(3);
	close(4);
}

int main(void)
{
	test_names();
	test_get();
	TEST_MAIN_END();
}
