/* Tests for src/core/fdstore.c's pure part: the FDNAME of a stored connection (listener key,
 * a PROXY peer in IPv4 or IPv6) and its parsing, which must take back exactly what was made
 * and refuse anything else; and for sd_notify_with_fds/sd_notify_barrier (src/sd/notify.c):
 * the fds arrive as SCM_RIGHTS, the barrier returns once the receiver closed its pipe. */
#include "core/fdstore.h"
#include "sd/notify.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void test_names(void)
{
	char name[FDSTORE_NAME_MAX + 1];
	struct sockaddr_storage ss;
	socklen_t len = 123;
	uint32_t key = 0;

	CHECK(fdstore_conn_name(name, sizeof(name), 0x0badcafe, NULL, 0) > 0);
	CHECK_STREQ(name, "ferry-conn-0badcafe");
	CHECK_EQ_INT(fdstore_conn_name_parse(name, &key, &ss, &len), 0);
	CHECK_EQ_INT(key, 0x0badcafe);
	CHECK_EQ_INT(len, 0);

	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(8080)};
	inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
	CHECK(fdstore_conn_name(name, sizeof(name), 1, (struct sockaddr *)&in, sizeof(in)) > 0);
	CHECK_STREQ(name, "ferry-conn-00000001-4-c0000207-1f90");
	CHECK_EQ_INT(fdstore_conn_name_parse(name, &key, &ss, &len), 0);
	CHECK_EQ_INT(key, 1);
	CHECK_EQ_INT(len, sizeof(in));
	CHECK(memcmp(&ss, &in, sizeof(in)) == 0);

	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	CHECK(fdstore_conn_name(name, sizeof(name), 0xffffffff, (struct sockaddr *)&in6,
				sizeof(in6)) > 0);
	CHECK_STREQ(name, "ferry-conn-ffffffff-6-20010db8000000000000000000000001-01bb");
	CHECK(strchr(name, ':') == NULL);
	CHECK_EQ_INT(fdstore_conn_name_parse(name, &key, &ss, &len), 0);
	CHECK_EQ_INT(len, sizeof(in6));
	struct sockaddr_in6 *got6 = (struct sockaddr_in6 *)&ss;
	CHECK(memcmp(&got6->sin6_addr, &in6.sin6_addr, 16) == 0);
	CHECK_EQ_INT(ntohs(got6->sin6_port), 443);

	/* Other families carry no peer: getpeername gives it. */
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	CHECK(fdstore_conn_name(name, sizeof(name), 2, (struct sockaddr *)&un, sizeof(un)) > 0);
	CHECK_STREQ(name, "ferry-conn-00000002");
	CHECK_EQ_INT(fdstore_conn_name(name, 12, 2, NULL, 0), -ENOBUFS);

	static const char *bad[] = {
	    "",
	    "ferry-conn-",
	    "ferry-conn-0badcaf",
	    "ferry-conn-0BADCAFE",
	    "ferry-listen",
	    "ferry-conn-0badcafe-",
	    "ferry-conn-0badcafe-4-c0000207-1f9",
	    "ferry-conn-0badcafe-4-c0000207-1f900",
	    "ferry-conn-0badcafe-5-c0000207-1f90",
	    "ferry-conn-0badcafe-4-c000020g-1f90",
	    "ferry-conn-0badcafe-4-c0000207_1f90",
	    "ferry-conn-0badcafe-6-c0000207-1f90",
	    "ferry-conn-0badcafex",
	    "conn-0badcafe",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		key = 7;
		len = 9;
		CHECK_EQ_INT(fdstore_conn_name_parse(bad[i], &key, &ss, &len), -EINVAL);
		CHECK_EQ_INT(key, 7); /* untouched */
		CHECK_EQ_INT(len, 9);
	}

	struct net_addr a, b;
	CHECK_EQ_INT(net_addr_parse("127.0.0.1:8080", &a), 0);
	CHECK_EQ_INT(net_addr_parse("127.0.0.1:8081", &b), 0);
	CHECK(fdstore_listener_key(&a) == fdstore_listener_key(&a));
	CHECK(fdstore_listener_key(&a) != fdstore_listener_key(&b));
}

static void test_notify_fds(void)
{
	char dir[] = "/tmp/ferry-test-fdstore-XXXXXX", path[128];
	int fds[3], rx;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/notify", dir);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(rx >= 0 && bind(rx, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	setenv("NOTIFY_SOCKET", path, 1);

	for (int i = 0; i < 3; i++)
		fds[i] = dup(2);
	CHECK_EQ_INT(sd_notify_with_fds("FDSTORE=1\nFDNAME=x", fds, 3), 1);
	char buf[64];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = {buf, sizeof(buf) - 1};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = ctl.b,
			   .msg_controllen = sizeof(ctl.b)};
	ssize_t n = recvmsg(rx, &m, MSG_DONTWAIT);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STREQ(buf, "FDSTORE=1\nFDNAME=x");
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	CHECK(c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int) * 3));
	if (c && c->cmsg_len == CMSG_LEN(sizeof(int) * 3)) {
		int got[3];
		struct stat a, b;
		memcpy(got, CMSG_DATA(c), sizeof(got));
		CHECK(fstat(got[0], &a) == 0 && fstat(2, &b) == 0 && a.st_ino == b.st_ino);
		for (int i = 0; i < 3; i++)
			close(got[i]);
	}
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	CHECK_EQ_INT(sd_notify_with_fds("X=1", fds, SD_NOTIFY_FDS_MAX + 1), -EINVAL);

	/* Nobody answers the barrier: it times out... */
	CHECK_EQ_INT(sd_notify_barrier(50), -ETIMEDOUT);
	/* ...and returns once the receiver dropped the pipe. Received here, then closed. */
	n = recvmsg(rx, &m, MSG_DONTWAIT);
	c = CMSG_FIRSTHDR(&m);
	if (n > 0 && c && c->cmsg_type == SCM_RIGHTS)
		close(*(int *)CMSG_DATA(c));
	CHECK(n > 0);

	setenv("FDSTORE", "17", 1);
	CHECK_EQ_INT(sd_fdstore_max(), 17);
	setenv("FDSTORE", "17x", 1);
	CHECK_EQ_INT(sd_fdstore_max(), 0);
	unsetenv("FDSTORE");
	CHECK_EQ_INT(sd_fdstore_max(), 0);

	unsetenv("NOTIFY_SOCKET");
	CHECK_EQ_INT(sd_notify_barrier(10), 0);
	close(rx);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_names();
	test_notify_fds();
	TEST_MAIN_END();
}
