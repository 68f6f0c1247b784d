/* The sending side of sd_notify(3) and the watchdog variables: turning NOTIFY_SOCKET into a
 * socket address, sending one datagram per state change (optionally through a socket opened
 * once, before a sandbox takes socket() away), and reading WATCHDOG_USEC/WATCHDOG_PID. */
#include "sd/notify.h"

#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/vm_sockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

struct notify_addr {
	int type; /* SOCK_DGRAM for AF_UNIX, SOCK_SEQPACKET for AF_VSOCK */
	socklen_t len;
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_vm vm;
	};
};

/* Set once by sd_notify_init(); read without a lock by sd_notify() in any thread. */
static atomic_int notify_fd = -1;
static pthread_once_t notify_once = PTHREAD_ONCE_INIT;
static int notify_init_result;

static int parse_u32(const char *s, size_t n, unsigned *ret)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

/* "/path", "@abstract" or "vsock:CID:PORT" (the CID is required and cannot be "any"). */
static int notify_addr_parse(const char *e, struct notify_addr *ret)
{
	struct notify_addr a;
	size_t n = strlen(e);

	memset(&a, 0, sizeof(a));
	if (e[0] == '/' || e[0] == '@') {
		/* A path needs room for its NUL; an abstract name's '@' becomes the leading NUL,
		 * so "@" plus 107 bytes still fits. */
		size_t max = e[0] == '@' ? sizeof(a.un.sun_path) : sizeof(a.un.sun_path) - 1;
		if (n > max || (e[0] == '@' && n < 2))
			return -EINVAL;
		a.type = SOCK_DGRAM;
		a.un.sun_family = AF_UNIX;
		memcpy(a.un.sun_path, e, n);
		if (e[0] == '@') {
			/* Abstract: leading NUL, and no trailing one counted in the length, or the
			 * kernel would look for a different name. */
			a.un.sun_path[0] = '\0';
			a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		} else
			a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	} else if (strncmp(e, "vsock:", 6) == 0) {
		const char *cid = e + 6, *colon = strchr(cid, ':');
		unsigned c, p;
		if (!colon || parse_u32(cid, (size_t)(colon - cid), &c) < 0 ||
		    parse_u32(colon + 1, strlen(colon + 1), &p) < 0 || c == VMADDR_CID_ANY)
			return -EINVAL;
		/* Datagrams over vsock exist only for VMware's transport; systemd falls back to
		 * SOCK_SEQPACKET, which keeps message boundaries too, so we use that directly. */
		a.type = SOCK_SEQPACKET;
		a.vm.svm_family = AF_VSOCK;
		a.vm.svm_cid = c;
		a.vm.svm_port = p;
		a.len = sizeof(a.vm);
	} else
		return -EAFNOSUPPORT;

	*ret = a;
	return 0;
}

static int notify_connect(const struct notify_addr *a)
{
	int fd = socket(a->sa.sa_family, a->type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &a->sa, a->len) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int send_all(int fd, const char *state)
{
	size_t n = strlen(state);
	ssize_t w;

	/* One datagram is the whole message; MSG_NOSIGNAL so a vanished receiver is an error
	 * code, not a SIGPIPE. */
	do
		w = send(fd, state, n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	if ((size_t)w != n)
		return -EMSGSIZE;
	return 1;
}

/* One datagram with the fds as SCM_RIGHTS. */
static int send_with_fds(int fd, const char *state, const int *fds, size_t n_fds)
{
	size_t n = strlen(state);
	struct iovec iov = {.iov_base = (void *)state, .iov_len = n};
	size_t clen = CMSG_SPACE(sizeof(int) * n_fds);
	char small[CMSG_SPACE(sizeof(int) * 16)];
	char *control = clen <= sizeof(small) ? small : xmalloc(clen);
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = clen};
	memset(control, 0, clen);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	ssize_t w;
	do
		w = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	int r = w < 0 ? -errno : (size_t)w != n ? -EMSGSIZE : 1;
	if (control != small)
		free(control);
	return r;
}

/* Send state, with fds attached when n_fds > 0, through the kept socket or one opened for
 * this call. */
static int notify_send(const char *state, const int *fds, size_t n_fds)
{
	struct notify_addr a;
	const char *e;
	int fd, r;
	bool own = false;

	if (!state || n_fds > SD_NOTIFY_FDS_MAX)
		return -EINVAL;

	fd = atomic_load(&notify_fd);
	if (fd < 0) {
		e = getenv("NOTIFY_SOCKET");
		if (!e || !*e)
			return 0;
		r = notify_addr_parse(e, &a);
		if (r < 0)
			return r;
		if (n_fds > 0 && a.sa.sa_family != AF_UNIX)
			return -EOPNOTSUPP;
		fd = notify_connect(&a);
		if (fd < 0)
			return fd;
		own = true;
	}
	r = n_fds > 0 ? send_with_fds(fd, state, fds, n_fds) : send_all(fd, state);
	if (own)
		close(fd);
	return r;
}

int sd_notify(const char *state)
{
	return notify_send(state, NULL, 0);
}

int sd_notify_with_fds(const char *state, const int *fds, size_t n_fds)
{
	return notify_send(state, fds, n_fds);
}

int sd_notify_barrier(unsigned timeout_ms)
{
	int p[2], r;

	/* The manager closes its copy of the write end once it got here in its queue: then the
	 * read end sees POLLHUP (sd_notify_barrier(3)). */
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = notify_send("BARRIER=1", &p[1], 1);
	close(p[1]);
	if (r <= 0) {
		close(p[0]);
		return r;
	}
	struct pollfd pfd = {.fd = p[0], .events = 0};
	do
		r = poll(&pfd, 1, (int)timeout_ms);
	while (r < 0 && errno == EINTR);
	close(p[0]);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 1;
}

unsigned sd_fdstore_max(void)
{
	const char *e = getenv("FDSTORE");
	unsigned v;

	if (!e || parse_u32(e, strlen(e), &v) < 0)
		return 0;
	return v;
}

int sd_notifyf(const char *fmt, ...)
{
	char small[256], *p = small;
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(small)) {
		p = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	r = sd_notify(p);
	if (p != small)
		free(p);
	return r;
}

static void notify_init_once(void)
{
	struct notify_addr a;
	const char *e = getenv("NOTIFY_SOCKET");
	int fd, r;

	if (!e || !*e) {
		notify_init_result = 0;
		return;
	}
	r = notify_addr_parse(e, &a);
	if (r < 0) {
		notify_init_result = r;
		return;
	}
	/* A vsock receiver may take one message per connection, as systemd sends them, so vsock
	 * keeps connecting per call (and needs socket() and connect() after any sandbox). */
	if (a.sa.sa_family == AF_VSOCK) {
		notify_init_result = 1;
		return;
	}
	fd = notify_connect(&a);
	if (fd < 0) {
		notify_init_result = fd;
		return;
	}
	atomic_store(&notify_fd, fd);
	notify_init_result = 1;
}

int sd_notify_init(void)
{
	pthread_once(&notify_once, notify_init_once);
	return notify_init_result;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

int sd_watchdog_enabled(pid_t pid, uint64_t *ret_usec)
{
	const char *e;
	uint64_t usec, p;

	e = getenv("WATCHDOG_USEC");
	if (!e)
		return 0;
	/* 0 means no watchdog and UINT64_MAX is systemd's "infinity": neither is an interval. */
	if (parse_u64(e, &usec) < 0 || usec == 0 || usec == UINT64_MAX)
		return -EINVAL;

	e = getenv("WATCHDOG_PID");
	if (e) {
		if (parse_u64(e, &p) < 0 || p == 0 || p > INT32_MAX)
			return -EINVAL;
		if ((pid_t)p != pid)
			return 0;
	}

	*ret_usec = usec;
	return 1;
}
