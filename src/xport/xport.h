/* Transports: how a connection's bytes move, behind one ops table (redis's connection.h,
 * haproxy's xprt_ops). Protocol code (proto/) reads and writes through a struct xport and never
 * calls read/send/sendfile/splice on a client socket itself; plain TCP and Unix sockets are
 * xport/tcp.c, TLS is xport/tls.c.
 *
 * Conventions (every op): a count of bytes >= 0 on progress, -EAGAIN when the transport can go
 * no further until the socket is ready (want tells which direction), other -errno on failure.
 * read returns 0 at the peer's orderly end of stream (EOF, or TLS close_notify).
 *
 * Edge-triggered epoll and transports that buffer: a TLS library may hold decrypted bytes that
 * the socket no longer signals. After a read that did not fill the caller's buffer, the caller
 * must ask pending(): while it says true, read again without waiting for epoll. */
#ifndef FERRY_XPORT_XPORT_H
#define FERRY_XPORT_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct xport;

enum xport_want { XPORT_WANT_READ = 1, XPORT_WANT_WRITE = 2 };

struct xport_ops {
	const char *name; /* "tcp", "tls" */
	/* A read may wait for the socket to be writable and a write for it to be readable
	 * (TLS: handshake messages, key updates): x->want says which after an -EAGAIN. */
	bool crossed;
	/* The transport's own start (TLS handshake): 1 done, -EAGAIN (see x->want), -errno.
	 * NULL: nothing to do. */
	int (*handshake)(struct xport *x);
	ssize_t (*read)(struct xport *x, void *buf, size_t len);
	/* more: further bytes follow at once (MSG_MORE / cork), so small writes share a segment */
	ssize_t (*writev)(struct xport *x, const struct iovec *iov, int iovcnt, bool more);
	/* Optional capabilities (NULL when the bytes cannot bypass user space, e.g. TLS without
	 * kTLS): file -> socket, pipe -> socket, socket -> pipe. */
	ssize_t (*sendfile)(struct xport *x, int file_fd, off_t *off, size_t len);
	ssize_t (*splice_out)(struct xport *x, int pipe_fd, size_t len);
	ssize_t (*splice_in)(struct xport *x, int pipe_fd, size_t len);
	/* Bytes the transport holds that a read returns without the socket becoming readable. */
	bool (*pending)(const struct xport *x);
	/* Our side is done writing (FIN; TLS: close_notify first). */
	int (*shutdown)(struct xport *x);
	/* Close the socket and free what the transport owns (not x itself when embedded). */
	void (*close)(struct xport *x);
};

struct xport {
	const struct xport_ops *ops;
	int fd;
	unsigned want; /* XPORT_WANT_*: what the last -EAGAIN waits for */
};

static inline ssize_t xport_read(struct xport *x, void *buf, size_t len)
{
	return x->ops->read(x, buf, len);
}

static inline ssize_t xport_writev(struct xport *x, const struct iovec *iov, int n, bool more)
{
	return x->ops->writev(x, iov, n, more);
}

static inline ssize_t xport_write(struct xport *x, const void *p, size_t len, bool more)
{
	struct iovec iov = {(void *)p, len};
	return x->ops->writev(x, &iov, 1, more);
}

static inline bool xport_pending(const struct xport *x)
{
	return x->ops->pending && x->ops->pending(x);
}

/* Plain stream socket (TCP, Unix, vsock): every capability, nothing buffered. */
void xport_tcp_init(struct xport *x, int fd);

struct net_addr;
/* A new non-blocking stream socket to a (TCP_NODELAY unless a Unix socket), connecting:
 * 1 connected, 0 in progress (writable when done: xport_tcp_connected says how it ended),
 * -errno (x->fd is -1). */
int xport_tcp_connect(struct xport *x, const struct net_addr *a);
/* How a connect in progress ended: 0 or -errno (SO_ERROR). */
int xport_tcp_connected(const struct xport *x);
extern const struct xport_ops xport_tcp_ops;

#endif
