/* Small helpers for bench/run.sh (built into its temp dir, not part of ferry).
 *
 *   helper port
 *       Print a free TCP port on 127.0.0.1 (bound to port 0, then closed).
 *   helper first-byte HOST PORT PATH
 *       connect() to HOST:PORT, send "GET PATH", and print the microseconds from just before
 *       connect() to the first response byte, then read the rest of the response head and
 *       fail (exit 1) unless the status line is "HTTP/1.x 200". Under systemd-socket-activate
 *       the connection is what makes it exec the server, so this measures
 *       connect -> exec -> server startup -> accept -> first response byte.
 *   helper respond-fd3
 *       The floor for that figure: accept one connection on the inherited listening fd 3, read
 *       the request head, answer 200 with an empty body, exit. (Built static, like ferry.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmd_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("helper port");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

static int cmd_first_byte(const char *host, const char *port, const char *path)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "helper: bad address %s\n", host);
		return 2;
	}
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", path, host,
			 port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	double t0 = now_us();
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		return 1;
	}
	if (write(fd, req, (size_t)n) != n) {
		perror("write");
		return 1;
	}
	char buf[4096];
	size_t got = 0;
	double t1 = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("read");
			return 1;
		}
		if (r == 0)
			break;
		if (got == 0)
			t1 = now_us();
		got += (size_t)r;
		buf[got] = 0;
		if (strstr(buf, "\r\n\r\n") || got == sizeof(buf) - 1)
			break;
	}
	close(fd);
	if (got == 0) {
		fprintf(stderr, "helper: connection closed before any response byte\n");
		return 1;
	}
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 && strncmp(buf, "HTTP/1.0 200 ", 13) != 0) {
		char *eol = strstr(buf, "\r\n");
		if (eol)
			*eol = 0;
		fprintf(stderr, "helper: unexpected status line: %s\n", buf);
		return 1;
	}
	printf("%.1f\n", t1 - t0);
	return 0;
}

static int cmd_respond_fd3(void)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	int c = accept(3, NULL, NULL);
	if (c < 0) {
		perror("accept");
		return 1;
	}
	char buf[4096];
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = 0;
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	if (write(c, resp, sizeof(resp) - 1) < 0)
		return 1;
	close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "port") == 0)
		return cmd_port();
	if (argc == 2 && strcmp(argv[1], "respond-fd3") == 0)
		return cmd_respond_fd3();
	if (argc == 5 && strcmp(argv[1], "first-byte") == 0)
		return cmd_first_byte(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: helper port | first-byte HOST PORT PATH | respond-fd3\n");
	return 2;
}
