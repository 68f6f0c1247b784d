/* Tests for src/net/addr.c: every address form, formatting round trips, equality, and real
 * listeners (TCP v4/v6/dual-stack, UDP, unix path/abstract/datagram, vsock when available). */
#include "net/addr.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void check_valid(const char *in, int family, int type, const char *formatted)
{
	struct net_addr a, b;
	char buf[NET_ADDR_STRLEN];
	int r = net_addr_parse(in, &a);

	CHECK_EQ_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "  (input \"%s\")\n", in);
		return;
	}
	CHECK_EQ_INT(a.family, family);
	CHECK_EQ_INT(a.type, type);
	CHECK_STREQ(net_addr_format(&a, buf, sizeof(buf)), formatted);
	/* The formatted string parses back to the same bytes. */
	CHECK_EQ_INT(net_addr_parse(buf, &b), 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(net_addr_equal(&a, &b));
}

static void check_invalid(const char *in)
{
	struct net_addr a;
	memset(&a, 0x5a, sizeof(a));
	int r = net_addr_parse(in, &a);
	CHECK_EQ_INT(r, -EINVAL);
	if (r != -EINVAL)
		fprintf(stderr, "  (input \"%s\" was accepted)\n", in);
	/* Output untouched on failure. */
	CHECK_EQ_INT(a.family, 0x5a5a5a5a);
}

static void test_parse(void)
{
	char s[300];

	check_valid("127.0.0.1:8080", AF_INET, SOCK_STREAM, "127.0.0.1:8080");
	check_valid("0.0.0.0:80", AF_INET, SOCK_STREAM, "0.0.0.0:80");
	check_valid("255.255.255.255:65535", AF_INET, SOCK_STREAM, "255.255.255.255:65535");
	check_valid("localhost:1", AF_INET, SOCK_STREAM, "127.0.0.1:1");
	check_valid("LocalHost:443", AF_INET, SOCK_STREAM, "127.0.0.1:443");
	check_valid("*:8080", AF_INET6, SOCK_STREAM, "[::]:8080");
	check_valid(":8080", AF_INET6, SOCK_STREAM, "[::]:8080");
	check_valid("8080", AF_INET6, SOCK_STREAM, "[::]:8080");
	check_valid("[::]:8080", AF_INET6, SOCK_STREAM, "[::]:8080");
	check_valid("[::1]:8080", AF_INET6, SOCK_STREAM, "[::1]:8080");
	check_valid("[2001:DB8:0:0::1]:80", AF_INET6, SOCK_STREAM, "[2001:db8::1]:80");
	check_valid("[::ffff:10.0.0.1]:80", AF_INET6, SOCK_STREAM, "[::ffff:10.0.0.1]:80");
	check_valid("udp:127.0.0.1:53", AF_INET, SOCK_DGRAM, "udp:127.0.0.1:53");
	check_valid("udp:[::1]:53", AF_INET6, SOCK_DGRAM, "udp:[::1]:53");
	check_valid("udp:*:53", AF_INET6, SOCK_DGRAM, "udp:[::]:53");
	check_valid("udp:53", AF_INET6, SOCK_DGRAM, "udp:[::]:53");
	check_valid("udp:localhost:7", AF_INET, SOCK_DGRAM, "udp:127.0.0.1:7");
	check_valid("unix:/run/ferry.sock", AF_UNIX, SOCK_STREAM, "unix:/run/ferry.sock");
	check_valid("unix:/", AF_UNIX, SOCK_STREAM, "unix:/");
	check_valid("unix:/a b", AF_UNIX, SOCK_STREAM, "unix:/a b");
	check_valid("unix:@ferry", AF_UNIX, SOCK_STREAM, "unix:@ferry");
	check_valid("unix:@@", AF_UNIX, SOCK_STREAM, "unix:@@");
	check_valid("unixgram:/tmp/echo", AF_UNIX, SOCK_DGRAM, "unixgram:/tmp/echo");
	check_valid("unixgram:@echo", AF_UNIX, SOCK_DGRAM, "unixgram:@echo");
	check_valid("vsock:-1:3000", AF_VSOCK, SOCK_STREAM, "vsock:4294967295:3000");
	check_valid("vsock:4294967295:3000", AF_VSOCK, SOCK_STREAM, "vsock:4294967295:3000");
	check_valid("vsock:2:0", AF_VSOCK, SOCK_STREAM, "vsock:2:0");
	check_valid("vsock:0:4294967295", AF_VSOCK, SOCK_STREAM, "vsock:0:4294967295");

	/* Exact sockaddr contents. */
	struct net_addr a;
	CHECK_EQ_INT(net_addr_parse("10.1.2.3:8080", &a), 0);
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	CHECK_EQ_INT(a.len, sizeof(struct sockaddr_in));
	CHECK_EQ_INT(sin->sin_family, AF_INET);
	CHECK_EQ_INT(ntohs(sin->sin_port), 8080);
	CHECK_EQ_INT(ntohl(sin->sin_addr.s_addr), 0x0a010203);
	CHECK_EQ_INT(net_addr_parse("*:1", &a), 0);
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;
	CHECK_EQ_INT(a.len, sizeof(struct sockaddr_in6));
	CHECK(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	CHECK_EQ_INT(net_addr_parse("unix:/x", &a), 0);
	CHECK_EQ_INT(a.len, offsetof(struct sockaddr_un, sun_path) + 3);
	CHECK_EQ_INT(net_addr_parse("unix:@x", &a), 0);
	struct sockaddr_un *sun = (struct sockaddr_un *)&a.sa;
	CHECK_EQ_INT(a.len, offsetof(struct sockaddr_un, sun_path) + 2);
	CHECK_EQ_INT(sun->sun_path[0], 0);
	CHECK_EQ_INT(sun->sun_path[1], 'x');
	CHECK_EQ_INT(net_addr_parse("vsock:-1:5", &a), 0);
	struct sockaddr_vm *svm = (struct sockaddr_vm *)&a.sa;
	CHECK_EQ_INT(svm->svm_cid, VMADDR_CID_ANY);
	CHECK_EQ_INT(svm->svm_port, 5);
	CHECK_EQ_INT(a.len, sizeof(struct sockaddr_vm));

	/* Unix length limits: 107-byte path and 107-byte abstract name fit, 108 does not. */
	memcpy(s, "unix:/", 6);
	memset(s + 6, 'p', 106);
	s[112] = '\0';
	check_valid(s, AF_UNIX, SOCK_STREAM, s);
	s[112] = 'p';
	s[113] = '\0';
	check_invalid(s);
	memcpy(s, "unix:@", 6);
	memset(s + 6, 'n', 107);
	s[113] = '\0';
	check_valid(s, AF_UNIX, SOCK_STREAM, s);
	CHECK_EQ_INT(net_addr_parse(s, &a), 0);
	CHECK_EQ_INT(a.len, sizeof(struct sockaddr_un));
	s[113] = 'n';
	s[114] = '\0';
	check_invalid(s);

	const char *bad[] = {
		"",
		" ",
		" 80",
		"80 ",
		"127.0.0.1:80 ",
		" 127.0.0.1:80",
		"127.0.0.1: 80",
		"127.0.0.1 :80",
		"\t80",
		"0",
		"00",
		"080",
		"65536",
		"99999999999999999999999",
		"-1",
		"+80",
		"0x50",
		"8o",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:80x",
		"127.0.0.1:80:80",
		"127.1:80",
		"127.0.0.01:80",
		"256.0.0.1:80",
		"1.2.3.4.5:80",
		"example.com:80",
		"localhost",
		"localhost:",
		"localhostx:80",
		"**:80",
		"*",
		"*:",
		":",
		"::1:80",
		"[::1]",
		"[::1]:",
		"[::1]:0",
		"[::1]80",
		"[::1]:80x",
		"[::1]:80]",
		"[]:80",
		"[::1:80",
		"::1]:80",
		"[fe80::1%eth0]:80",
		"[fe80::1%1]:80",
		"[127.0.0.1]:80",
		"[::g]:80",
		"[ ::1]:80",
		"udp:",
		"udp",
		"udp:0",
		"udp:unix:/x",
		"UDP:53",
		"tcp:80",
		"unix:",
		"unix:relative",
		"unix:./x",
		"unix:@",
		"unix: /x",
		"unix:/x\n",
		"unix:/x\ty",
		"unix:/x\x7f",
		"unixgram:",
		"unixgram:x",
		"Unix:/x",
		"vsock:",
		"vsock:1",
		"vsock:1:",
		"vsock::1",
		"vsock:-2:1",
		"vsock:-1:-1",
		"vsock:4294967296:1",
		"vsock:1:4294967296",
		"vsock:01:1",
		"vsock:1:01",
		"vsock:1:1:1",
		"vsock:a:1",
		"vsock:1:1 ",
		"vsock: 1:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_invalid(bad[i]);
	CHECK_EQ_INT(net_addr_parse(NULL, &a), -EINVAL);
}

static void test_format(void)
{
	struct net_addr a;
	char buf[NET_ADDR_STRLEN], small[8];

	/* Truncation stays NUL-terminated. */
	CHECK_EQ_INT(net_addr_parse("unix:/a/very/long/path", &a), 0);
	CHECK_STREQ(net_addr_format(&a, small, sizeof(small)), "unix:/a");
	CHECK_EQ_INT(net_addr_parse("[2001:db8::1]:65535", &a), 0);
	CHECK_STREQ(net_addr_format(&a, small, sizeof(small)), "[2001:d");
	CHECK_EQ_INT(net_addr_parse("unix:@abstract", &a), 0);
	CHECK_STREQ(net_addr_format(&a, small, sizeof(small)), "unix:@a");
	CHECK_STREQ(net_addr_format(&a, small, 1), "");

	/* Unnamed unix socket, as getsockname reports an unbound one. */
	memset(&a, 0, sizeof(a));
	a.family = AF_UNIX;
	a.type = SOCK_STREAM;
	a.sa.ss_family = AF_UNIX;
	a.len = sizeof(sa_family_t);
	CHECK_STREQ(net_addr_format(&a, buf, sizeof(buf)), "unix:(unnamed)");
	a.type = SOCK_DGRAM;
	CHECK_STREQ(net_addr_format(&a, buf, sizeof(buf)), "unixgram:(unnamed)");

	/* Path whose reported length includes extra bytes after the NUL. */
	struct sockaddr_un *sun = (struct sockaddr_un *)&a.sa;
	a.type = SOCK_STREAM;
	memcpy(sun->sun_path, "/p\0zz", 5);
	a.len = offsetof(struct sockaddr_un, sun_path) + 5;
	CHECK_STREQ(net_addr_format(&a, buf, sizeof(buf)), "unix:/p");

	/* Abstract name holding a NUL byte. */
	memcpy(sun->sun_path, "\0a\0b", 4);
	a.len = offsetof(struct sockaddr_un, sun_path) + 4;
	CHECK_STREQ(net_addr_format(&a, buf, sizeof(buf)), "unix:@a@b");

	/* Garbage family. */
	memset(&a, 0, sizeof(a));
	a.family = 12345;
	CHECK_STREQ(net_addr_format(&a, buf, sizeof(buf)), "(family 12345)");
}

static void test_equal(void)
{
	struct net_addr a, b;

	CHECK_EQ_INT(net_addr_parse("*:80", &a), 0);
	CHECK_EQ_INT(net_addr_parse("[::]:80", &b), 0);
	CHECK(net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("80", &b), 0);
	CHECK(net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("[::]:81", &b), 0);
	CHECK(!net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("0.0.0.0:80", &b), 0);
	CHECK(!net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("udp:*:80", &b), 0);
	CHECK(!net_addr_equal(&a, &b));

	CHECK_EQ_INT(net_addr_parse("localhost:80", &a), 0);
	CHECK_EQ_INT(net_addr_parse("127.0.0.1:80", &b), 0);
	CHECK(net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("127.0.0.2:80", &b), 0);
	CHECK(!net_addr_equal(&a, &b));

	/* v6: flowinfo and scope id ignored. */
	CHECK_EQ_INT(net_addr_parse("[fe80::1]:80", &a), 0);
	b = a;
	((struct sockaddr_in6 *)&b.sa)->sin6_scope_id = 2;
	((struct sockaddr_in6 *)&b.sa)->sin6_flowinfo = 7;
	CHECK(net_addr_equal(&a, &b));

	/* Unix: a path with or without its NUL counted, and with junk after the NUL. */
	CHECK_EQ_INT(net_addr_parse("unix:/run/x.sock", &a), 0);
	b = a;
	b.len--;
	CHECK(net_addr_equal(&a, &b));
	CHECK(net_addr_equal(&b, &a));
	((struct sockaddr_un *)&b.sa)->sun_path[12] = 'j';
	b.len = a.len + 1;
	CHECK(net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("unix:/run/x.soc", &b), 0);
	CHECK(!net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("unixgram:/run/x.sock", &b), 0);
	CHECK(!net_addr_equal(&a, &b));
	/* Abstract "@/run/x.sock" is not the path "/run/x.sock". */
	CHECK_EQ_INT(net_addr_parse("unix:@/run/x.sock", &b), 0);
	CHECK(!net_addr_equal(&a, &b));
	/* Abstract names are exact-length: "@x" with a trailing NUL is another name. */
	CHECK_EQ_INT(net_addr_parse("unix:@x", &a), 0);
	b = a;
	b.len++;
	CHECK(!net_addr_equal(&a, &b));

	CHECK_EQ_INT(net_addr_parse("vsock:-1:80", &a), 0);
	CHECK_EQ_INT(net_addr_parse("vsock:4294967295:80", &b), 0);
	CHECK(net_addr_equal(&a, &b));
	CHECK_EQ_INT(net_addr_parse("vsock:3:80", &b), 0);
	CHECK(!net_addr_equal(&a, &b));
}

static void test_host(void)
{
	char buf[NET_ADDR_STRLEN];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sockaddr_vm svm = {.svm_family = AF_VSOCK, .svm_cid = 3, .svm_port = 9};

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sin, sizeof(sin), buf, sizeof(buf)),
		    "192.0.2.7");
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf)), "::1");
	inet_pton(AF_INET6, "::ffff:1.2.3.4", &sin6.sin6_addr);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf)),
		    "1.2.3.4");
	inet_pton(AF_INET6, "2001:db8::ffff:1.2.3.4", &sin6.sin6_addr);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf)),
		    "2001:db8::ffff:102:304");
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sun, sizeof(sa_family_t), buf, sizeof(buf)),
		    "unix");
	CHECK_STREQ(net_addr_host((struct sockaddr *)&svm, sizeof(svm), buf, sizeof(buf)),
		    "vsock:3");
	/* Too short for its family, or nothing at all. */
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sin, 4, buf, sizeof(buf)), "?");
	CHECK_STREQ(net_addr_host(NULL, 0, buf, sizeof(buf)), "?");
	/* Buffer too small for the address. */
	char tiny[4];
	CHECK_STREQ(net_addr_host((struct sockaddr *)&sin, sizeof(sin), tiny, sizeof(tiny)), "?");
}

/* Listen on prefix + a random high port, retrying when the port is taken. */
static int listen_random(const char *prefix, struct net_addr *ret)
{
	static unsigned seed;
	char s[64];
	int r = -EADDRINUSE;

	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int i = 0; i < 50 && r == -EADDRINUSE; i++) {
		unsigned port = 20000 + rand_r(&seed) % 40000;
		snprintf(s, sizeof(s), "%s%u", prefix, port);
		if (net_addr_parse(s, ret) < 0)
			return -EINVAL;
		r = net_listen(ret, 16);
	}
	return r;
}

static void check_fd_flags(int fd)
{
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

static void check_info(int fd, const struct net_addr *want, bool listening)
{
	struct net_addr got;
	bool l = !listening;
	char b1[NET_ADDR_STRLEN], b2[NET_ADDR_STRLEN];

	CHECK_EQ_INT(net_sock_info(fd, &got, &l), 0);
	CHECK_EQ_INT(l, listening);
	CHECK_EQ_INT(got.family, want->family);
	CHECK_EQ_INT(got.type, want->type);
	CHECK(net_addr_equal(&got, want));
	CHECK_STREQ(net_addr_format(&got, b1, sizeof(b1)), net_addr_format(want, b2, sizeof(b2)));
}

static void test_listen_tcp4(void)
{
	struct net_addr a, peer;
	char buf[NET_ADDR_STRLEN];
	int fd = listen_random("127.0.0.1:", &a);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	check_fd_flags(fd);
	check_info(fd, &a, true);

	/* A second listener on the same address fails and leaves nothing open. */
	CHECK_EQ_INT(net_listen(&a, 16), -EADDRINUSE);

	/* A connected stream socket is not listening. */
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0);
	CHECK_EQ_INT(connect(c, (struct sockaddr *)&a.sa, a.len), 0);
	peer.len = sizeof(peer.sa);
	int s = accept4(fd, (struct sockaddr *)&peer.sa, &peer.len, SOCK_CLOEXEC);
	CHECK(s >= 0);
	bool l = true;
	struct net_addr local;
	CHECK_EQ_INT(net_sock_info(s, &local, &l), 0);
	CHECK(!l);
	CHECK(net_addr_equal(&local, &a));
	CHECK_EQ_INT(net_sock_info(c, NULL, &l), 0);
	CHECK(!l);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&peer.sa, peer.len, buf, sizeof(buf)),
		    "127.0.0.1");
	close(s);
	close(c);
	close(fd);
}

static void test_listen_tcp6(void)
{
	struct net_addr a, peer;
	char buf[NET_ADDR_STRLEN];
	int fd = listen_random("[::1]:", &a);

	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		printf("test-addr: skipping [::1] listener: %s\n", strerror(-fd));
		return;
	}
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	check_fd_flags(fd);
	check_info(fd, &a, true);
	close(fd);

	/* "*:P" is dual-stack: an IPv4 client reaches it, and is logged as IPv4. */
	fd = listen_random("*:", &a);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	check_info(fd, &a, true);
	int v6only = -1;
	socklen_t ol = sizeof(v6only);
	CHECK_EQ_INT(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol), 0);
	CHECK_EQ_INT(v6only, 0);
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = ((struct sockaddr_in6 *)&a.sa)->sin6_port,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ_INT(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
	peer.len = sizeof(peer.sa);
	int s = accept4(fd, (struct sockaddr *)&peer.sa, &peer.len, SOCK_CLOEXEC);
	CHECK(s >= 0);
	CHECK_EQ_INT(peer.sa.ss_family, AF_INET6);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&peer.sa, peer.len, buf, sizeof(buf)),
		    "127.0.0.1");
	close(s);
	close(c);
	close(fd);
}

static void test_listen_udp(void)
{
	struct net_addr a;
	int fd = listen_random("udp:127.0.0.1:", &a);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	check_fd_flags(fd);
	check_info(fd, &a, false);
	/* No SO_REUSEADDR on UDP: a second bind must fail rather than share the port. */
	CHECK_EQ_INT(net_listen(&a, 16), -EADDRINUSE);
	close(fd);

	fd = listen_random("udp:[::1]:", &a);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		printf("test-addr: skipping udp:[::1]: %s\n", strerror(-fd));
		return;
	}
	CHECK(fd >= 0);
	if (fd >= 0) {
		check_info(fd, &a, false);
		close(fd);
	}
}

static void test_listen_unix(void)
{
	char dir[] = "/tmp/ferry-test-addr.XXXXXX";
	char s[256], path[200];
	struct net_addr a;
	struct stat st;
	int fd, fd2;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/http.sock", dir);
	snprintf(s, sizeof(s), "unix:%s", path);
	CHECK_EQ_INT(net_addr_parse(s, &a), 0);
	fd = net_listen(&a, 16);
	CHECK(fd >= 0);
	check_fd_flags(fd);
	check_info(fd, &a, true);
	CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0666); /* anyone who can reach the directory may connect */

	/* A stale socket file from an earlier run is replaced. */
	close(fd);
	fd = net_listen(&a, 16);
	CHECK(fd >= 0);
	check_info(fd, &a, true);

	/* A connected unix stream is not listening; its peer logs as "unix". */
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ_INT(connect(c, (struct sockaddr *)&a.sa, a.len), 0);
	struct net_addr peer;
	char buf[NET_ADDR_STRLEN];
	peer.len = sizeof(peer.sa);
	int acc = accept4(fd, (struct sockaddr *)&peer.sa, &peer.len, SOCK_CLOEXEC);
	CHECK(acc >= 0);
	bool l = true;
	CHECK_EQ_INT(net_sock_info(acc, NULL, &l), 0);
	CHECK(!l);
	CHECK_STREQ(net_addr_host((struct sockaddr *)&peer.sa, peer.len, buf, sizeof(buf)), "unix");
	struct net_addr cl;
	CHECK_EQ_INT(net_sock_info(c, &cl, &l), 0);
	CHECK_STREQ(net_addr_format(&cl, buf, sizeof(buf)), "unix:(unnamed)");
	close(acc);
	close(c);
	close(fd);

	/* Anything but a socket at the path is left alone, and bind fails. */
	unlink(path);
	fd2 = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd2 >= 0);
	close(fd2);
	CHECK_EQ_INT(net_listen(&a, 16), -EADDRINUSE);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	unlink(path);

	/* Missing directory. */
	snprintf(s, sizeof(s), "unix:%s/nodir/x.sock", dir);
	CHECK_EQ_INT(net_addr_parse(s, &a), 0);
	CHECK_EQ_INT(net_listen(&a, 16), -ENOENT);

	/* Datagram. */
	snprintf(s, sizeof(s), "unixgram:%s/echo.sock", dir);
	CHECK_EQ_INT(net_addr_parse(s, &a), 0);
	fd = net_listen(&a, 16);
	CHECK(fd >= 0);
	check_info(fd, &a, false);
	close(fd);
	snprintf(path, sizeof(path), "%s/echo.sock", dir);
	unlink(path);
	CHECK_EQ_INT(rmdir(dir), 0);

	/* Abstract: the kernel reports exactly the name we bound. */
	snprintf(s, sizeof(s), "unix:@ferry-test-addr-%d", (int)getpid());
	CHECK_EQ_INT(net_addr_parse(s, &a), 0);
	fd = net_listen(&a, 16);
	CHECK(fd >= 0);
	check_info(fd, &a, true);
	struct net_addr got;
	CHECK_EQ_INT(net_sock_info(fd, &got, NULL), 0);
	CHECK_EQ_INT(got.len, a.len);
	CHECK_EQ_INT(net_listen(&a, 16), -EADDRINUSE);
	close(fd);

	snprintf(s, sizeof(s), "unixgram:@ferry-test-addr-%d", (int)getpid());
	CHECK_EQ_INT(net_addr_parse(s, &a), 0);
	fd = net_listen(&a, 16);
	CHECK(fd >= 0);
	check_info(fd, &a, false);
	close(fd);
}

static void test_listen_vsock(void)
{
	struct net_addr a;
	int t = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (t < 0) {
		printf("test-addr: skipping vsock listener: socket(AF_VSOCK): %s\n",
		       strerror(errno));
		return;
	}
	close(t);
	int fd = listen_random("vsock:-1:", &a);
	if (fd < 0) {
		printf("test-addr: skipping vsock listener: %s\n", strerror(-fd));
		return;
	}
	check_fd_flags(fd);
	check_info(fd, &a, true);
	close(fd);
}

static void test_sock_info_errors(void)
{
	int p[2];
	struct net_addr a;
	bool l = true;

	memset(&a, 0x5a, sizeof(a));
	CHECK_EQ_INT(pipe2(p, O_CLOEXEC), 0);
	CHECK_EQ_INT(net_sock_info(p[0], &a, &l), -ENOTSOCK);
	CHECK_EQ_INT(a.family, 0x5a5a5a5a);
	CHECK(l);
	close(p[0]);
	close(p[1]);
	CHECK_EQ_INT(net_sock_info(p[0], &a, &l), -EBADF);

	/* A malformed address never reaches the kernel. */
	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	a.type = SOCK_STREAM;
	CHECK_EQ_INT(net_listen(&a, 16), -EINVAL);
}

int main(void)
{
	test_parse();
	test_format();
	test_equal();
	test_host();
	test_listen_tcp4();
	test_listen_tcp6();
	test_listen_udp();
	test_listen_unix();
	test_listen_vsock();
	test_sock_info_errors();
	TEST_MAIN_END();
}
