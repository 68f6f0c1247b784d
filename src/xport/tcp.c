/* The plain transport: a connected stream socket (TCP, Unix, vsock) used directly, with
 * sendfile and splice, so that file and proxied bytes never pass through user space. */
#include "xport/xport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/addr.h"

static ssize_t result(struct xport *x, ssize_t n, unsigned want)
{
	if (n >= 0)
		return n;
	if (errno == EAGAIN) {
		x->want = want;
		return -EAGAIN;
	}
	return -errno;
}

static ssize_t tcp_read(struct xport *x, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(x->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return result(x, n, XPORT_WANT_READ);
}

static ssize_t tcp_writev(struct xport *x, const struct iovec *iov, int iovcnt, bool more)
{
	/* sendmsg, not writev: MSG_NOSIGNAL (a peer gone is an error, not a signal), MSG_MORE */
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n;
	do
		n = sendmsg(x->fd, &m, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	while (n < 0 && errno == EINTR);
	return result(x, n, XPORT_WANT_WRITE);
}

static ssize_t tcp_sendfile(struct xport *x, int file_fd, off_t *off, size_t len)
{
	ssize_t n;
	do
		n = sendfile(x->fd, file_fd, off, len);
	while (n < 0 && errno == EINTR);
	return result(x, n, XPORT_WANT_WRITE);
}

static ssize_t tcp_splice_out(struct xport *x, int pipe_fd, size_t len)
{
	ssize_t n;
	do
		n = splice(pipe_fd, NULL, x->fd, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	return result(x, n, XPORT_WANT_WRITE);
}

static ssize_t tcp_splice_in(struct xport *x, int pipe_fd, size_t len)
{
	ssize_t n;
	do
		n = splice(x->fd, NULL, pipe_fd, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	return result(x, n, XPORT_WANT_READ);
}

static int tcp_shutdown(struct xport *x)
{
	return shutdown(x->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void tcp_close(struct xport *x)
{
	if (x->fd >= 0)
		close(x->fd); /* also removes it from epoll */
	x->fd = -1;
}

const struct xport_ops xport_tcp_ops = {
	.name = "tcp",
	.read = tcp_read,
	.writev = tcp_writev,
	.sendfile = tcp_sendfile,
	.splice_out = tcp_splice_out,
	.splice_in = tcp_splice_in,
	.shutdown = tcp_shutdown,
	.close = tcp_close,
};

void xport_tcp_init(struct xport *x, int fd)
{
	x->ops = &xport_tcp_ops;
	x->fd = fd;
	x->want = 0;
}

int xport_tcp_connect(struct xport *x, const struct net_addr *a)
{
	xport_tcp_init(x, -1);
	int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	int r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
	if (r < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	x->fd = fd;
	return r == 0 ? 1 : 0;
}

int xport_tcp_connected(const struct xport *x)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}
