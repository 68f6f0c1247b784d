/* Tests for src/sd/notify.c: datagrams to path and abstract NOTIFY_SOCKETs, malformed values,
 * the kept socket of sd_notify_init() (in a child, since it runs once per process) under
 * concurrent senders, and the watchdog variables. */
#include "sd/notify.h"
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bind a datagram socket: a path, or "@name" for the abstract namespace. */
static int receiver(const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	socklen_t len;
	int fd;

	if (n > sizeof(sun.sun_path) - (name[0] != '@'))
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memcpy(sun.sun_path, name, n);
	if (name[0] == '@') {
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Receive one datagram within a second, NUL-terminated into buf; "" on timeout. */
static const char *recv_one(int fd, char *buf, size_t size)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, 1000) != 1)
		return buf;
	n = recv(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool nothing_pending(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

static void test_send(void)
{
	char dir[] = "/tmp/ferry-test-notify.XXXXXX";
	char path[200], abs[64], buf[1024];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	CHECK_EQ_INT(sd_notify("READY=1"), 0);
	CHECK_EQ_INT(sd_notifyf("STATUS=%d", 1), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	CHECK_EQ_INT(sd_notify("READY=1"), 0);

	/* Path. */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = receiver(path);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_EQ_INT(sd_notify("READY=1\nSTATUS=Serving"), 1);
	CHECK_STREQ(recv_one(fd, buf, sizeof(buf)), "READY=1\nSTATUS=Serving");
	CHECK_EQ_INT(sd_notifyf("STATUS=%s on %d sockets", "listening", 3), 1);
	CHECK_STREQ(recv_one(fd, buf, sizeof(buf)), "STATUS=listening on 3 sockets");
	/* Longer than sd_notifyf's stack buffer. */
	char big[700];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_INT(sd_notifyf("STATUS=%s", big), 1);
	recv_one(fd, buf, sizeof(buf));
	CHECK_EQ_INT(strlen(buf), 7 + sizeof(big) - 1);
	CHECK(strncmp(buf, "STATUS=xxx", 10) == 0);
	CHECK(nothing_pending(fd));
	close(fd);
	/* Receiver gone: the file remains but nobody listens. */
	CHECK_EQ_INT(sd_notify("READY=1"), -ECONNREFUSED);
	unlink(path);
	CHECK_EQ_INT(sd_notify("READY=1"), -ENOENT);
	rmdir(dir);

	/* Abstract. */
	snprintf(abs, sizeof(abs), "@ferry-test-notify-%d", (int)getpid());
	fd = receiver(abs);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", abs, 1);
	CHECK_EQ_INT(sd_notify("WATCHDOG=1"), 1);
	CHECK_STREQ(recv_one(fd, buf, sizeof(buf)), "WATCHDOG=1");
	close(fd);
	CHECK_EQ_INT(sd_notify("WATCHDOG=1"), -ECONNREFUSED);

	/* The longest abstract name (107 bytes) works: no stray NUL counted in the length. */
	memset(buf, 'a', 108);
	buf[0] = '@';
	buf[108] = '\0';
	fd = receiver(buf);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", buf, 1);
	CHECK_EQ_INT(sd_notify("READY=1"), 1);
	CHECK_STREQ(recv_one(fd, buf, sizeof(buf)), "READY=1");
	close(fd);

	/* Malformed values. */
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK_EQ_INT(sd_notify("READY=1"), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "tcp:1.2.3.4:5", 1);
	CHECK_EQ_INT(sd_notify("READY=1"), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "@", 1);
	CHECK_EQ_INT(sd_notify("READY=1"), -EINVAL);
	memset(buf, 'p', 108);
	buf[0] = '/';
	buf[108] = '\0';
	setenv("NOTIFY_SOCKET", buf, 1);
	CHECK_EQ_INT(sd_notify("READY=1"), -EINVAL);
	buf[0] = '@';
	buf[109] = '\0';
	buf[108] = 'p';
	setenv("NOTIFY_SOCKET", buf, 1);
	CHECK_EQ_INT(sd_notify("READY=1"), -EINVAL);
	const char *bad_vsock[] = {"vsock:", "vsock:2", "vsock:2:", "vsock::5", "vsock:x:5",
				   "vsock:-1:5", "vsock:4294967295:5", "vsock:2:4294967296",
				   "vsock:2:5 "};
	for (size_t i = 0; i < sizeof(bad_vsock) / sizeof(bad_vsock[0]); i++) {
		setenv("NOTIFY_SOCKET", bad_vsock[i], 1);
		CHECK_EQ_INT(sd_notify("READY=1"), -EINVAL);
	}
	CHECK_EQ_INT(sd_notify(NULL), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

#define THREADS 4
#define PER_THREAD 50

static void *sender(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < PER_THREAD; i++)
		if (sd_notifyf("STATUS=t%ld-%d", id, i) != 1)
			return (void *)1;
	return NULL;
}

/* Child: keep the socket, lose the variable, then send from several threads at once. Exit
 * status says which step failed. */
static int init_child(void)
{
	pthread_t t[THREADS];

	if (sd_notify_init() != 1)
		return 10;
	if (sd_notify_init() != 1) /* once per process, same answer */
		return 11;
	unsetenv("NOTIFY_SOCKET");
	if (sd_notify("READY=1") != 1)
		return 12;
	setenv("NOTIFY_SOCKET", "/nonexistent/elsewhere", 1);
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, sender, (void *)i) != 0)
			return 13;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		if (r)
			return 14;
	}
	return 0;
}

static void test_init(void)
{
	char abs[64], buf[256];
	int seen[THREADS] = {0};
	int fd, status = -1;
	pid_t pid;

	snprintf(abs, sizeof(abs), "@ferry-test-notify-init-%d", (int)getpid());
	fd = receiver(abs);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", abs, 1);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(init_child());

	CHECK_STREQ(recv_one(fd, buf, sizeof(buf)), "READY=1");
	/* Every datagram whole, each thread's in order. */
	for (int i = 0; i < THREADS * PER_THREAD; i++) {
		int id, k;
		recv_one(fd, buf, sizeof(buf));
		if (sscanf(buf, "STATUS=t%d-%d", &id, &k) != 2 || id < 0 || id >= THREADS) {
			CHECK(!"malformed or missing datagram");
			fprintf(stderr, "  got \"%s\"\n", buf);
			break;
		}
		CHECK_EQ_INT(k, seen[id]);
		seen[id] = k + 1;
	}
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ_INT(seen[i], PER_THREAD);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ_INT(WEXITSTATUS(status), 0);
	CHECK(nothing_pending(fd));
	close(fd);

	/* Init in a child with NOTIFY_SOCKET unset: 0, and later sends read the variable anew. */
	unsetenv("NOTIFY_SOCKET");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (sd_notify_init() != 0)
			_exit(1);
		_exit(sd_notify("READY=1") == 0 ? 0 : 2);
	}
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Init with a receiver that is not there: the error is returned. */
	setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(sd_notify_init() == -ENOENT ? 0 : 1);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unsetenv("NOTIFY_SOCKET");
}

static void set_wd(const char *usec, const char *pid)
{
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (usec)
		setenv("WATCHDOG_USEC", usec, 1);
	if (pid)
		setenv("WATCHDOG_PID", pid, 1);
}

static void test_watchdog(void)
{
	uint64_t usec = 7;
	char me[32], other[32];

	snprintf(me, sizeof(me), "%d", (int)getpid());
	snprintf(other, sizeof(other), "%d", (int)getpid() + 1);

	set_wd(NULL, NULL);
	CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), 0);
	set_wd(NULL, me);
	CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), 0);
	CHECK_EQ_INT(usec, 7);

	set_wd("30000000", NULL);
	CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), 1);
	CHECK_EQ_INT(usec, 30000000);
	set_wd("1", me);
	CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), 1);
	CHECK_EQ_INT(usec, 1);
	set_wd("18446744073709551614", me);
	CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), 1);
	CHECK(usec == UINT64_C(18446744073709551614));
	usec = 7;
	set_wd("30000000", other);
	CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), 0);
	CHECK_EQ_INT(usec, 7);

	const char *bad_usec[] = {"", "0", "-1", "abc", "10s", " 10", "10 ",
				  "18446744073709551615", "18446744073709551616",
				  "99999999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_usec) / sizeof(bad_usec[0]); i++) {
		set_wd(bad_usec[i], NULL);
		CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), -EINVAL);
	}
	const char *bad_pid[] = {"", "0", "-1", "abc", "1x", "99999999999"};
	for (size_t i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
		set_wd("1000", bad_pid[i]);
		CHECK_EQ_INT(sd_watchdog_enabled(getpid(), &usec), -EINVAL);
	}
	CHECK_EQ_INT(usec, 7);
	set_wd(NULL, NULL);
}

int main(void)
{
	test_send();
	test_init();
	test_watchdog();
	TEST_MAIN_END();
}
