/* The echo server: stream connections and datagram sockets. */
#include "proto/echo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/xalloc.h"
#include "core/server.h"

#define ECHO_BUF 65536
#define ECHO_DGRAM_BATCH 64

struct echo_conn {
	struct watcher w;
	struct conn_link link;
	struct worker *wk;
	struct timer timer;
	struct deferred defer;
	bool closed, eof, readable, writable;
	size_t off, len; /* pending bytes in buf[off .. off+len) */
	char buf[ECHO_BUF];
};

static void echo_free(struct deferred *d)
{
	free(container_of(d, struct echo_conn, defer));
}

static void echo_close(struct echo_conn *e)
{
	if (e->closed)
		return;
	e->closed = true;
	timer_cancel(&e->timer);
	close(e->w.fd);
	worker_conn_removed(e->wk, &e->link);
	e->defer.fn = echo_free;
	loop_defer(&e->wk->loop, &e->defer);
}

static void echo_run(struct echo_conn *e)
{
	for (;;) {
		if (e->len > 0) {
			if (!e->writable)
				return;
			ssize_t n = send(e->w.fd, e->buf + e->off, e->len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN) {
					e->writable = false;
					timer_arm(&e->wk->loop, &e->wk->t_send, &e->timer);
					return;
				}
				if (errno == EINTR)
					continue;
				echo_close(e);
				return;
			}
			e->off += (size_t)n;
			e->len -= (size_t)n;
			continue;
		}
		e->off = 0;
		if (e->eof) {
			/* Everything echoed: half-close like the peer did, then we are done. */
			shutdown(e->w.fd, SHUT_WR);
			echo_close(e);
			return;
		}
		if (!e->readable) {
			timer_arm(&e->wk->loop, &e->wk->t_keepalive, &e->timer);
			return;
		}
		ssize_t n = read(e->w.fd, e->buf, sizeof(e->buf));
		if (n > 0) {
			e->len = (size_t)n;
			continue;
		}
		if (n == 0) {
			e->eof = true;
			continue;
		}
		if (errno == EAGAIN) {
			e->readable = false;
			continue;
		}
		if (errno == EINTR)
			continue;
		echo_close(e);
		return;
	}
}

static void on_event(struct loop *l, struct watcher *w, uint32_t events)
{
	struct echo_conn *e = (struct echo_conn *)w;
	if (e->closed)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		e->readable = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		e->writable = true;
	echo_run(e);
}

static void on_timeout(struct loop *l, struct timer *t)
{
	echo_close(container_of(t, struct echo_conn, timer));
}

static void on_stop(struct conn_link *link)
{
	struct echo_conn *e = container_of(link, struct echo_conn, link);
	/* Nothing is "in flight" in an echo stream except unsent bytes: stop reading, send
	 * what is pending, then close. */
	e->eof = true;
	if (e->len == 0)
		echo_close(e);
}

void echo_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		     const struct listener *l)
{
	struct echo_conn *e = xmalloc(sizeof(*e));
	memset(e, 0, offsetof(struct echo_conn, buf));
	e->w.fd = fd;
	e->w.cb = on_event;
	e->wk = wk;
	e->timer.cb = on_timeout;
	e->link.on_stop = on_stop;
	if (loop_add(&wk->loop, &e->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		close(fd);
		free(e);
		return;
	}
	worker_conn_added(wk, &e->link);
	e->readable = e->writable = true;
	echo_run(e);
}

void echo_datagrams(struct worker *wk, const struct listener *l)
{
	int fd = l->fd;
	for (int i = 0; i < ECHO_DGRAM_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, wk->io_buf, 65536, MSG_DONTWAIT, (struct sockaddr *)&from,
				     &flen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or an error queued by an earlier send: next event */
		}
		/* An unnamed Unix datagram sender cannot be answered (flen has no path). */
		if (flen <= sizeof(sa_family_t))
			continue;
		sendto(fd, wk->io_buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
		       (struct sockaddr *)&from, flen);
	}
}

