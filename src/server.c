/* The running server: worker threads and their accept loops, the main thread's signals,
 * sd_notify and watchdog, and graceful stop. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "base/xalloc.h"
#include "handler/echo.h"
#include "http/conn.h"
#include "http/parser.h"
#include "http/status.h"
#include "log.h"
#include "sd/notify.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100 /* after EMFILE/ENFILE */
#define IO_BUF_SIZE 65536
#define FILE_CACHE_ENTRIES 256
#define FILE_CACHE_MAX_FILE 8192
#define FILE_CACHE_VALID_MS 1000

/* ---- connections --------------------------------------------------------------------- */

const char *worker_date(struct worker *wk)
{
	time_t now = time(NULL);
	if (now != wk->date_sec) {
		wk->date_sec = now;
		http_date_format(now, wk->date);
	}
	return wk->date;
}

static void listeners_resume(struct worker *wk);

void worker_conn_added(struct worker *wk, struct conn_link *link)
{
	link->next = wk->conns.next;
	link->prev = &wk->conns;
	wk->conns.next->prev = link;
	wk->conns.next = link;
	wk->n_conns++;
	atomic_fetch_add_explicit(&wk->srv->active_conns, 1, memory_order_relaxed);
}

void worker_conn_removed(struct worker *wk, struct conn_link *link)
{
	link->prev->next = link->next;
	link->next->prev = link->prev;
	link->next = link->prev = NULL;
	wk->n_conns--;
	unsigned before = atomic_fetch_sub_explicit(&wk->srv->active_conns, 1, memory_order_relaxed);
	bool stopping = atomic_load_explicit(&wk->srv->stopping, memory_order_relaxed);
	if (wk->n_conns == 0 && (stopping || wk->srv->single_fd >= 0))
		wk->loop.stop = true;
	else if (!stopping && before == wk->srv->cfg->max_connections)
		listeners_resume(wk);
}

/* ---- accepting ----------------------------------------------------------------------- */

struct lwatch {
	struct watcher w;
	struct worker *wk;
	struct listener *l;
	bool active;
	struct timer pause;
};

static void on_accept(struct loop *loop, struct watcher *w, uint32_t events);

static void lwatch_enable(struct lwatch *lw, bool on)
{
	if (lw->active == on)
		return;
	/* EPOLLEXCLUSIVE forbids EPOLL_CTL_MOD: pausing is a DEL, resuming an ADD. */
	if (on) {
		uint32_t ev = EPOLLIN | (lw->l->dgram ? 0 : EPOLLEXCLUSIVE);
		if (loop_add(&lw->wk->loop, &lw->w, ev) == 0)
			lw->active = true;
	} else {
		loop_del(&lw->wk->loop, &lw->w);
		lw->active = false;
	}
}

static void listeners_pause(struct worker *wk)
{
	struct lwatch *lws = wk->lwatch;
	for (size_t i = 0; i < wk->srv->n_listeners; i++) {
		timer_cancel(&lws[i].pause);
		lwatch_enable(&lws[i], false);
	}
}

static void listeners_resume(struct worker *wk)
{
	struct lwatch *lws = wk->lwatch;
	if (atomic_load_explicit(&wk->srv->stopping, memory_order_relaxed))
		return;
	for (size_t i = 0; i < wk->srv->n_listeners; i++) {
		timer_cancel(&lws[i].pause);
		lwatch_enable(&lws[i], true);
	}
}

static void on_accept_pause_end(struct loop *loop, struct timer *t)
{
	struct lwatch *lw = (struct lwatch *)((char *)t - offsetof(struct lwatch, pause));
	if (!atomic_load_explicit(&lw->wk->srv->stopping, memory_order_relaxed))
		lwatch_enable(lw, true);
}

static void start_conn(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t plen)
{
	if (wk->srv->mode == SERVER_ECHO)
		echo_conn_start(wk, fd);
	else
		http_conn_start(wk, fd, peer, plen);
}

static void on_accept(struct loop *loop, struct watcher *w, uint32_t events)
{
	struct lwatch *lw = (struct lwatch *)w;
	struct worker *wk = lw->wk;
	struct server *srv = wk->srv;
	if (lw->l->dgram) {
		echo_datagrams(wk, lw->l->fd);
		return;
	}
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (atomic_load_explicit(&srv->active_conns, memory_order_relaxed) >=
		    srv->cfg->max_connections) {
			/* At the limit: stop accepting (the kernel queues new connections in the
			 * backlog) until a connection closes here, or a moment passes (the one
			 * that closes may belong to another worker). */
			lwatch_enable(lw, false);
			timer_arm(loop, &wk->t_accept_pause, &lw->pause);
			return;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(lw->l->fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				log_warning("accept on %s: %s; pausing", lw->l->name, strerror(errno));
				lwatch_enable(lw, false);
				timer_arm(loop, &wk->t_accept_pause, &lw->pause);
				return;
			default:
				log_error("accept on %s: %s", lw->l->name, strerror(errno));
				return;
			}
		}
		start_conn(wk, fd, (struct sockaddr *)&peer, plen);
	}
}

/* ---- workers ------------------------------------------------------------------------- */

static void flush_access_log(struct loop *loop)
{
	struct worker *wk = loop->data;
	struct buf *b = &wk->access_log;
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(wk->srv->access_log_fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a full disk must not stop the server: drop the lines */
		off += (size_t)n;
	}
	buf_reset(b);
}

static void worker_stop(struct worker *wk)
{
	listeners_pause(wk);
	struct conn_link *l = wk->conns.next;
	while (l != &wk->conns) {
		struct conn_link *next = l->next;
		l->on_stop(l);
		l = next;
	}
	if (wk->n_conns == 0)
		wk->loop.stop = true;
}

static void on_wake(struct loop *loop, struct watcher *w, uint32_t events)
{
	struct worker *wk = loop->data;
	uint64_t v;
	ssize_t r = read(w->fd, &v, sizeof(v));
	(void)r;
	if (atomic_load(&wk->srv->stopping))
		worker_stop(wk);
}

static int worker_init(struct server *srv, struct worker *wk, unsigned id)
{
	const struct config *cfg = srv->cfg;
	wk->srv = srv;
	wk->id = id;
	int r = loop_init(&wk->loop);
	if (r < 0)
		return r;
	wk->loop.data = wk;
	if (srv->access_log_fd >= 0)
		wk->loop.on_iteration_end = flush_access_log;
	loop_timer_list_init(&wk->loop, &wk->t_header, cfg->header_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_body, cfg->body_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_keepalive, cfg->keepalive_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_send, cfg->send_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_linger, 2000);
	loop_timer_list_init(&wk->loop, &wk->t_accept_pause, ACCEPT_PAUSE_MS);
	wk->conns.next = wk->conns.prev = &wk->conns;
	buf_init(&wk->access_log, 1 << 20);
	wk->req_scratch = xcalloc(1, sizeof(*wk->req_scratch));
	wk->io_buf = xmalloc(IO_BUF_SIZE);
	file_cache_init(&wk->fcache, FILE_CACHE_ENTRIES, FILE_CACHE_MAX_FILE, FILE_CACHE_VALID_MS);

	wk->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wk->wake.fd < 0)
		return -errno;
	wk->wake.cb = on_wake;
	r = loop_add(&wk->loop, &wk->wake, EPOLLIN);
	if (r < 0)
		return r;

	struct lwatch *lws = xcalloc(srv->n_listeners ? srv->n_listeners : 1, sizeof(*lws));
	wk->lwatch = lws;
	for (size_t i = 0; i < srv->n_listeners; i++) {
		lws[i].w.fd = srv->listeners[i].fd;
		lws[i].w.cb = on_accept;
		lws[i].wk = wk;
		lws[i].l = &srv->listeners[i];
		lws[i].pause.cb = on_accept_pause_end;
		lwatch_enable(&lws[i], true);
		if (!lws[i].active)
			return -errno;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	if (wk->srv->single_fd >= 0 && wk->id == 0) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		if (getpeername(wk->srv->single_fd, (struct sockaddr *)&peer, &plen) < 0)
			plen = 0;
		int fl = fcntl(wk->srv->single_fd, F_GETFL);
		fcntl(wk->srv->single_fd, F_SETFL, fl | O_NONBLOCK);
		start_conn(wk, wk->srv->single_fd, (struct sockaddr *)&peer, plen);
		if (wk->n_conns == 0)
			wk->loop.stop = true;
	}
	int r = loop_run(&wk->loop);
	if (r < 0)
		log_error("worker %u: %s", wk->id, strerror(-r));
	if (wk->srv->access_log_fd >= 0)
		flush_access_log(&wk->loop);
	uint64_t one = 1;
	ssize_t w = write(wk->srv->done_fd, &one, sizeof(one));
	(void)w;
	return NULL;
}

/* ---- the main thread ----------------------------------------------------------------- */

static void reap_children(void)
{
	/* As PID 1 in a container we inherit orphans: reap them. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void status_line(struct server *srv, char *buf, size_t size)
{
	int n = snprintf(buf, size, "serving %zu socket%s", srv->n_listeners,
			 srv->n_listeners == 1 ? "" : "s");
	for (size_t i = 0; i < srv->n_listeners && n > 0 && (size_t)n < size; i++) {
		char a[NET_ADDR_STRLEN];
		const char *label = srv->listeners[i].name[0]
					    ? srv->listeners[i].name
					    : net_addr_format(&srv->listeners[i].addr, a, sizeof(a));
		n += snprintf(buf + n, size - (size_t)n, "%s%s", i ? ", " : ": ", label);
	}
}

int server_run(struct server *srv)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGQUIT);
	/* Blocked before threads start, so only the signalfd sees them: explicit handling is
	 * what makes SIGTERM work when ferry is PID 1 in a container. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	srv->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->done_fd < 0) {
		log_error("eventfd: %s", strerror(errno));
		return 1;
	}

	if (srv->single_fd >= 0)
		srv->n_workers = 1;
	srv->workers = xcalloc(srv->n_workers, sizeof(*srv->workers));
	for (unsigned i = 0; i < srv->n_workers; i++) {
		int r = worker_init(srv, &srv->workers[i], i);
		if (r < 0) {
			log_error("worker %u: %s", i, strerror(-r));
			return 1;
		}
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		int r = pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
		if (r != 0) {
			log_error("pthread_create: %s", strerror(r));
			return 1;
		}
	}

	char status[512];
	status_line(srv, status, sizeof(status));
	sd_notifyf("READY=1\nSTATUS=%s", status);

	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(getpid(), &wd_usec) <= 0)
		wd_usec = 0;
	uint64_t wd_next = wd_usec ? time_now_usec() + wd_usec / 2 : 0;

	unsigned done = 0;
	bool stopping = false;
	uint64_t deadline_ms = 0;
	int rc = 0;
	while (done < srv->n_workers) {
		int timeout = -1;
		uint64_t now_us = time_now_usec();
		if (wd_usec) {
			if (now_us >= wd_next) {
				sd_notify("WATCHDOG=1");
				wd_next = now_us + wd_usec / 2;
			}
			timeout = (int)((wd_next - now_us) / 1000) + 1;
		}
		if (stopping) {
			uint64_t now = now_us / 1000;
			if (now >= deadline_ms) {
				log_warning("shutdown timeout: %u connections still open",
					    atomic_load(&srv->active_conns));
				break;
			}
			int left = (int)(deadline_ms - now) + 1;
			timeout = timeout < 0 ? left : MIN(timeout, left);
		}
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = srv->done_fd, .events = POLLIN}};
		int n = poll(pfd, 2, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			rc = 1;
			break;
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t v;
			if (read(srv->done_fd, &v, sizeof(v)) == sizeof(v))
				done += (unsigned)v;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGCHLD:
				reap_children();
				break;
			case SIGHUP:
				log_notice("SIGHUP: configuration reload is not implemented yet; "
					   "restart to apply changes");
				break;
			default: /* SIGTERM, SIGINT, SIGQUIT */
				if (stopping) {
					log_notice("second signal: exiting now");
					goto out;
				}
				stopping = true;
				sd_notify("STOPPING=1\nSTATUS=stopping: finishing requests in flight");
				atomic_store(&srv->stopping, true);
				deadline_ms = time_now_ms() + srv->cfg->shutdown_timeout_ms;
				for (unsigned i = 0; i < srv->n_workers; i++) {
					uint64_t one = 1;
					ssize_t w = write(srv->workers[i].wake.fd, &one, sizeof(one));
					(void)w;
				}
				break;
			}
		}
	}
	if (done >= srv->n_workers)
		for (unsigned i = 0; i < srv->n_workers; i++)
			pthread_join(srv->workers[i].thread, NULL);
out:
	if (!stopping && srv->single_fd < 0)
		sd_notify("STOPPING=1");
	return rc;
}
