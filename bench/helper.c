/* Small helpers for the scripts of bench/ (built into their temp dir, not part of ferry).
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
 *   helper hold HOST PORT PATH N
 *       For bench/idle.sh: open N connections to HOST:PORT one after the other; on each, send
 *       one complete keep-alive "GET PATH HTTP/1.1" request and read its whole response (a
 *       200 with a Content-Length body), then leave the connection open and idle. Print
 *       "open N" on stdout once all are, then wait for a line (or end of file) on stdin;
 *       then count the connections the server closed meanwhile (or sent anything on), print
 *       "still-open M closed C unexpected-data D", close them all and exit (0 when M == N).
 *       Needs RLIMIT_NOFILE above N.
 *   helper ready RELOADS CMD ARGS...
 *       For bench/sites.sh: run CMD with NOTIFY_SOCKET set to a socket of its own and print
 *       "ready_us N": the microseconds from just before fork() to the READY=1 it sends (its
 *       start-up: exec, config parse, roots opened, sockets, workers). Then RELOADS times: send
 *       SIGHUP and print "reload_us N", from the signal to the READY=1 after its RELOADING=1.
 *       Then "rss_kib N" (VmRSS), SIGTERM, and wait for it. Fails (exit 1) when it exits
 *       first or says nothing within 30 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stddef.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* Read one whole response on fd (head, then a Content-Length body); 0 if it is a 200. */
static int read_response(int fd, int i)
{
	char buf[16384];
	size_t got = 0;
	char *end = NULL;
	while (!end) {
		if (got == sizeof(buf) - 1) {
			fprintf(stderr, "helper hold: connection %d: response head too large\n", i);
			return -1;
		}
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "helper hold: connection %d: %s before a whole response head\n", i,
				r == 0 ? "closed" : strerror(errno));
			return -1;
		}
		got += (size_t)r;
		buf[got] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) {
		char *eol = strstr(buf, "\r\n");
		*eol = 0;
		fprintf(stderr, "helper hold: connection %d: unexpected status line: %s\n", i, buf);
		return -1;
	}
	*end = 0;
	long len = -1;
	for (char *l = strstr(buf, "\r\n"); l; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "content-length:", 15) == 0)
			len = strtol(l + 17, NULL, 10);
	if (len < 0) {
		fprintf(stderr, "helper hold: connection %d: no Content-Length\n", i);
		return -1;
	}
	size_t body = got - (size_t)(end + 4 - buf);
	while (body < (size_t)len) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "helper hold: connection %d: body cut short\n", i);
			return -1;
		}
		body += (size_t)r;
	}
	if (body != (size_t)len) {
		fprintf(stderr, "helper hold: connection %d: %zu body bytes for a Content-Length of %ld\n",
			i, body, len);
		return -1;
	}
	return 0;
}

static int cmd_hold(const char *host, const char *port, const char *path, int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || n < 1) {
		fprintf(stderr, "helper hold: bad address %s or count %d\n", host, n);
		return 2;
	}
	char req[1024];
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", path, host,
			   port);
	int *fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		return 1;
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			fprintf(stderr, "helper hold: socket for connection %d: %s\n", i, strerror(errno));
			return 1;
		}
		struct timeval tv = {.tv_sec = 10};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			fprintf(stderr, "helper hold: connect %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (write(fd, req, (size_t)len) != len) {
			fprintf(stderr, "helper hold: write %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (read_response(fd, i) != 0)
			return 1;
		fds[i] = fd;
	}
	printf("open %d\n", n);
	fflush(stdout);

	char line[64];
	if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
		perror("helper hold: stdin");

	int open = 0, closed = 0, data = 0;
	for (int i = 0; i < n; i++) {
		char c;
		ssize_t r = recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r > 0)
			data++;
		else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			open++;
		else
			closed++;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	printf("still-open %d closed %d unexpected-data %d\n", open, closed, data);
	fflush(stdout);
	return open == n ? 0 : 1;
}

/* Wait for a notify datagram holding word (READY=1, RELOADING=1); 0 when one came. */
static int wait_notify(int fd, pid_t pid, const char *word)
{
	char buf[4096];
	for (int waited = 0; waited < 30000;) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				fprintf(stderr, "helper ready: the server exited\n");
				return -1;
			}
			waited += 100;
			continue;
		}
		buf[n] = '\0';
		for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strncmp(l, word, strlen(word)) == 0 &&
			    (l[strlen(word)] == '\n' || l[strlen(word)] == '\0'))
				return 0;
	}
	fprintf(stderr, "helper ready: no %s within 30 s\n", word);
	return -1;
}

static int cmd_ready(int reloads, char **cmd)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	/* Abstract: nothing to clean up. */
	int len = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "ferry-bench-ready-%d", getpid());
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 +
						      (socklen_t)len) < 0) {
		perror("helper ready: socket");
		return 1;
	}
	char env[128];
	snprintf(env, sizeof(env), "@%s", a.sun_path + 1);
	setenv("NOTIFY_SOCKET", env, 1);
	double t0 = now_us();
	pid_t pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		perror(cmd[0]);
		_exit(127);
	}
	int rc = 0;
	if (pid < 0 || wait_notify(fd, pid, "READY=1") < 0) {
		rc = 1;
		goto out;
	}
	printf("ready_us %.0f\n", now_us() - t0);
	fflush(stdout);
	for (int i = 0; i < reloads; i++) {
		double t = now_us();
		kill(pid, SIGHUP);
		if (wait_notify(fd, pid, "RELOADING=1") < 0 || wait_notify(fd, pid, "READY=1") < 0) {
			rc = 1;
			goto out;
		}
		printf("reload_us %.0f\n", now_us() - t);
		fflush(stdout);
	}
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			printf("rss_kib %ld\n", strtol(line + 6, NULL, 10));
	if (f)
		fclose(f);
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "port") == 0)
		return cmd_port();
	if (argc == 2 && strcmp(argv[1], "respond-fd3") == 0)
		return cmd_respond_fd3();
	if (argc == 5 && strcmp(argv[1], "first-byte") == 0)
		return cmd_first_byte(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc >= 4 && strcmp(argv[1], "ready") == 0)
		return cmd_ready(atoi(argv[2]), argv + 3);
	fprintf(stderr, "usage: helper port | first-byte HOST PORT PATH | respond-fd3 |\n"
			"       hold HOST PORT PATH N | ready RELOADS CMD ARGS...\n");
	return 2;
}
