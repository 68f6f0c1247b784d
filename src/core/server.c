/* The running server: worker threads and their accept loops, the main thread's signals,
 * sd_notify and watchdog, and graceful stop. */
#include "core/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "core/certwatch.h"
#include "core/confwatch.h"
#include "core/fdstore.h"
#include "core/log.h"
#include "http/status.h"
#include "sd/notify.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100 /* after EMFILE/ENFILE */

/* ---- connections --------------------------------------------------------------------- */

static void worker_clock(struct worker *wk)
{
	time_t now = time(NULL);
	if (now != wk->date_sec) {
		struct tm tm;
		wk->date_sec = now;
		http_date_format(now, wk->date);
		gmtime_r(&now, &tm);
		strftime(wk->log_date, sizeof(wk->log_date), "%d/%b/%Y:%H:%M:%S +0000", &tm);
		strftime(wk->iso_date, sizeof(wk->iso_date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
}

const char *worker_date(struct worker *wk)
{
	worker_clock(wk);
	return wk->date;
}

const char *worker_log_date(struct worker *wk)
{
	worker_clock(wk);
	return wk->log_date;
}

const char *worker_iso_date(struct worker *wk)
{
	worker_clock(wk);
	return wk->iso_date;
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

void worker_conn_accepted(struct worker *wk)
{
	atomic_fetch_add_explicit(&wk->srv->accepted, 1, memory_order_relaxed);
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
	else if (!stopping && before == wk->gen->cfg->max_connections)
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
static void worker_use_gen(struct worker *wk, struct server_gen *g);

static void lwatch_enable(struct lwatch *lw, bool on)
{
	if (lw->active == on)
		return;
	/* EPOLLEXCLUSIVE forbids EPOLL_CTL_MOD: pausing is a DEL, resuming an ADD. */
	if (on) {
		/* An echo socket wakes every worker; a QUIC one, as a stream one, one worker
		 * (proto/h3.c hands a datagram to the worker that has its connection). */
		uint32_t ev = EPOLLIN | (lw->l->dgram && !lw->l->quic ? 0 : EPOLLEXCLUSIVE);
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
		/* A QUIC socket carries the connections that finish during a graceful stop too
		 * (proto/h3.c takes no new ones then). */
		if (!lws[i].l->quic)
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
	struct lwatch *lw = container_of(t, struct lwatch, pause);
	if (!atomic_load_explicit(&lw->wk->srv->stopping, memory_order_relaxed))
		lwatch_enable(lw, true);
}

static void start_conn(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t plen,
		       const struct listener *l)
{
	wk->srv->app->conn_start(wk, fd, peer, plen, l);
}

static void on_accept(struct loop *loop, struct watcher *w, uint32_t events)
{
	struct lwatch *lw = (struct lwatch *)w;
	struct worker *wk = lw->wk;
	struct server *srv = wk->srv;
	/* Paused earlier in this epoll batch (graceful stop, or the limit): an accept now would
	 * start a connection that the stopping loop never serves. */
	if (!lw->active)
		return;
	/* A reload is announced (READY=1) once the new generation is published: a connection
	 * accepted after that gets it, even when the wake-up sits later in this epoll batch. */
	struct server_gen *g = server_gen(srv);
	if (g != wk->gen)
		worker_use_gen(wk, g);
	if (lw->l->dgram) {
		/* Activity for idle-exit; the connections the protocol makes of these datagrams
		 * count themselves (worker_conn_accepted). */
		atomic_fetch_add_explicit(&srv->datagram_batches, 1, memory_order_relaxed);
		srv->app->datagrams(wk, lw->l);
		return;
	}
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (atomic_load_explicit(&srv->active_conns, memory_order_relaxed) >=
		    wk->gen->cfg->max_connections) {
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
		atomic_fetch_add_explicit(&srv->accepted, 1, memory_order_relaxed);
		start_conn(wk, fd, (struct sockaddr *)&peer, plen, lw->l);
	}
}

/* ---- workers ------------------------------------------------------------------------- */

static void flush_access_log(struct worker *wk)
{
	struct buf *b = &wk->access_log;
	size_t off = 0;
	while (off < b->len && wk->gen->access_log_fd >= 0) {
		ssize_t n = write(wk->gen->access_log_fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a full disk must not stop the server: drop the lines */
		off += (size_t)n;
	}
	buf_reset(b);
}

/* Apply a generation's settings to this worker. */
static void worker_use_gen(struct worker *wk, struct server_gen *g)
{
	const struct config *cfg = g->cfg;
	wk->gen = g;
	if (wk->srv->app->worker_gen)
		wk->srv->app->worker_gen(wk);
	/* Timers already armed keep their deadlines; new ones use the new durations. Until the
	 * old ones are gone a list may be out of order, which only delays an expiry by at most
	 * the old duration. */
	wk->t_header.duration_ms = cfg->header_timeout_ms;
	wk->t_body.duration_ms = cfg->body_timeout_ms;
	wk->t_body_total.duration_ms = cfg->body_total_timeout_ms;
	wk->t_keepalive.duration_ms = cfg->keepalive_timeout_ms;
	wk->t_send.duration_ms = cfg->send_timeout_ms;
	atomic_store_explicit(&wk->seen_gen, g->id, memory_order_release);
}

static void worker_iteration_end(struct loop *loop)
{
	struct worker *wk = loop->data;
	if (wk->access_log.len)
		flush_access_log(wk);
	fdstore_flush(wk);
	struct server_gen *g = server_gen(wk->srv);
	if (g != wk->gen)
		worker_use_gen(wk, g);
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
	atomic_fetch_add_explicit(&wk->heartbeat, 1, memory_order_relaxed);
	if (atomic_load(&wk->srv->stopping))
		worker_stop(wk);
}

static int worker_init(struct server *srv, struct worker *wk, unsigned id)
{
	struct server_gen *g = server_gen(srv);
	const struct config *cfg = g->cfg;
	wk->srv = srv;
	wk->id = id;
	int r = loop_init(&wk->loop);
	if (r < 0)
		return r;
	wk->loop.data = wk;
	wk->loop.on_iteration_end = worker_iteration_end;
	loop_timer_list_init(&wk->loop, &wk->t_header, cfg->header_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_body, cfg->body_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_body_total, cfg->body_total_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_keepalive, cfg->keepalive_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_send, cfg->send_timeout_ms);
	loop_timer_list_init(&wk->loop, &wk->t_linger, 2000);
	loop_timer_list_init(&wk->loop, &wk->t_accept_pause, ACCEPT_PAUSE_MS);
	wk->conns.next = wk->conns.prev = &wk->conns;
	buf_init(&wk->access_log, 1 << 20);
	wk->io_buf = xmalloc(WORKER_IO_BUF_SIZE);
	worker_use_gen(wk, g);

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

/* After the thread has ended. */
static void worker_free(struct worker *wk)
{
	buf_free(&wk->access_log);
	free(wk->io_buf);
	free(wk->lwatch);
	free(wk->fdstore_fds);
	if (wk->wake.fd >= 0)
		close(wk->wake.fd);
	loop_done(&wk->loop);
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
		start_conn(wk, wk->srv->single_fd, (struct sockaddr *)&peer, plen, NULL);
		if (wk->n_conns == 0)
			wk->loop.stop = true;
	}
	fdstore_resume(wk);
	int r = loop_run(&wk->loop);
	if (r < 0)
		log_error("worker %u: %s", wk->id, strerror(-r));
	flush_access_log(wk);
	fdstore_flush(wk);
	if (wk->srv->app->worker_exit)
		wk->srv->app->worker_exit(wk);
	atomic_store(&wk->exited, true);
	uint64_t one = 1;
	ssize_t w = write(wk->srv->done_fd, &one, sizeof(one));
	(void)w;
	return NULL;
}

/* ---- generations --------------------------------------------------------------------- */

static int open_root(const char *path, const char *file, unsigned line, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (line)
			buf_printf(err, "%s:%u: root %s: %s\n", file ? file : "config", line, path,
				   strerror(e));
		else
			buf_printf(err, "root %s: %s\n", path, strerror(e));
		return -e;
	}
	return fd;
}

void server_gen_hold(struct server_gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void server_gen_free(struct server_gen *g)
{
	if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) > 1)
		return;
	if (g->tls_free)
		g->tls_free(g->tls);
	for (size_t i = 0; i < g->n_root_fds; i++)
		if (g->root_fds[i] >= 0)
			close(g->root_fds[i]);
	free(g->root_fds);
	if (g->default_root_fd >= 0)
		close(g->default_root_fd);
	if (g->access_log_fd > 2)
		close(g->access_log_fd);
	config_free(g->cfg);
	free(g);
}

/* The CPUs this process may run on (a cpuset or `taskset` counts, as for nginx's
 * `worker_processes auto`), else those online. Asked before the sandbox, which hides /sys. */
static unsigned cpus_usable(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (unsigned)cpus : 1;
}

static unsigned workers_of(const struct config *cfg, unsigned workers)
{
	if (workers)
		return workers;
	if (cfg->workers)
		return cfg->workers;
	return cpus_usable();
}

unsigned server_workers(const struct config *cfg)
{
	return workers_of(cfg, 0);
}

size_t server_fds_needed(const struct config *cfg, unsigned workers)
{
	return cfg->n_roots + SERVER_FD_RESERVE +
	       (size_t)SERVER_FD_PER_WORKER * workers_of(cfg, workers);
}

int server_check_nofile(const struct config *cfg, size_t extra, uint64_t limit,
			struct buf *err)
{
	size_t need = server_fds_needed(cfg, 0) + extra;
	if (limit == RLIM_INFINITY || need <= limit)
		return 0;
	char prev[96] = "";
	if (extra)
		snprintf(prev, sizeof(prev), " and the %zu of the configuration being replaced",
			 extra);
	buf_printf(err, "%s: %zu distinct root director%s need%s as many file descriptors, %zu "
			"with those for sockets, logs and workers%s; the limit (RLIMIT_NOFILE) is "
			"%llu: raise it (LimitNOFILE= in the service), or let sites share roots\n",
		   cfg->path ? cfg->path : "config", cfg->n_roots, cfg->n_roots == 1 ? "y" : "ies",
		   cfg->n_roots == 1 ? "s" : "", need, prev, (unsigned long long)limit);
	return -EMFILE;
}

/* The metrics page's slots of cfg's sites (by first name) and upstreams (by spec): a name
 * keeps its slot for the life of the process, whatever the generation (core/stats.h). */
static void gen_stats_slots(struct server *srv, struct config *cfg)
{
	struct stats_names *sn = &srv->site_names, *un = &srv->upstream_names;
	stats_names_slot(sn, STATS_SITES, ""); /* STATS_SITE_NONE, first */
	for (size_t i = 0; i < cfg->n_sites; i++) {
		struct config_site *cs = &cfg->sites[i];
		cs->stats_slot = cs->n_names ? stats_names_slot(sn, STATS_SITES, cs->names[0])
					     : STATS_SITE_NONE;
		for (size_t k = 0; k < cs->n_paths; k++) {
			struct config_proxy *px = &cs->paths[k].proxy;
			for (size_t u = 0; u < px->n_ups; u++)
				px->ups[u].stats_slot = stats_names_slot(un, STATS_UPSTREAMS,
									 px->ups[u].spec);
		}
		for (size_t u = 0; u < cs->proxy.n_ups; u++)
			cs->proxy.ups[u].stats_slot = stats_names_slot(un, STATS_UPSTREAMS,
								       cs->proxy.ups[u].spec);
	}
}

int server_gen_new(struct server *srv, struct config *cfg, struct buf *err,
		   struct server_gen **ret)
{
	static uint64_t next_id = 1;
	struct server_gen *g = xcalloc(1, sizeof(*g));
	int r = 0;
	g->id = next_id++;
	g->cfg = cfg;
	atomic_init(&g->refs, 1);
	g->default_root_fd = -1;
	g->access_log_fd = -1;
	g->root_fds = xmalloc((cfg->n_roots ? cfg->n_roots : 1) * sizeof(*g->root_fds));
	g->n_root_fds = cfg->n_roots;
	for (size_t i = 0; i < cfg->n_roots; i++)
		g->root_fds[i] = -1;
	if (srv->mode == SERVER_HTTP) {
		/* Say it with the numbers, rather than fail on the root that hits the limit. */
		const struct server_gen *old = server_gen(srv);
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    (r = server_check_nofile(cfg, old ? old->n_root_fds : 0, rl.rlim_cur, err)) < 0)
			goto out;
		if (srv->cli_root && cfg->n_sites > 0) {
			buf_printf(err, "--root cannot be combined with site blocks in %s; set root "
					"inside a site\n", cfg->path ? cfg->path : "the config");
			r = -EINVAL;
		} else if (srv->cli_root) {
			int fd = open_root(srv->cli_root, NULL, 0, err);
			if (fd < 0)
				r = fd;
			g->default_root_fd = fd;
		}
		for (size_t i = 0; i < cfg->n_roots; i++) {
			const struct config_root *cr = &cfg->roots[i];
			g->root_fds[i] = open_root(cr->path, cr->file, cr->line, err);
			if (g->root_fds[i] < 0)
				r = g->root_fds[i];
		}
		switch (cfg->access_log) {
		case CONFIG_LOG_OFF:
			break;
		case CONFIG_LOG_STDERR:
			g->access_log_fd = 2;
			break;
		case CONFIG_LOG_FILE:
			g->access_log_fd = open(cfg->access_log_path,
						O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			if (g->access_log_fd < 0) {
				r = -errno;
				buf_printf(err, "%s: access-log %s: %s\n",
					   cfg->path ? cfg->path : "config", cfg->access_log_path,
					   strerror(errno));
			}
			break;
		}
		if (r == 0 && srv->app && srv->app->gen_init)
			r = srv->app->gen_init(g, err);
	}
out:
	if (r < 0) {
		g->cfg = NULL; /* still the caller's */
		server_gen_free(g);
		return r;
	}
	gen_stats_slots(srv, cfg);
	*ret = g;
	return 0;
}

/* ---- the main thread ----------------------------------------------------------------- */

#define STATUS_INTERVAL_MS 5000
#define RELOAD_WAIT_MS 10000
/* reload-on-change: an editor's save is several events; reload once they stopped */
#define RELOAD_DEBOUNCE_MS 300

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
		const struct listener *l = &srv->listeners[i];
		/* systemd calls unnamed sockets "unknown": the address says more. */
		const char *label = l->name[0] && strcmp(l->name, "unknown") != 0
					    ? l->name
					    : net_addr_format(&l->addr, a, sizeof(a));
		n += snprintf(buf + n, size - (size_t)n, "%s%s", i ? ", " : ": ", label);
	}
	if (n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "; %u connections, %llu requests",
			      atomic_load(&srv->active_conns),
			      (unsigned long long)atomic_load(&srv->requests));
	if (srv->status_extra[0] && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "; %s", srv->status_extra);
}

/* The helper's status lines (server.h: status_fd): keep the last whole one. True when it
 * changed. At EOF (the helper is gone) the pipe is closed and what it said last stays. */
static bool status_fd_read(struct server *srv)
{
	char buf[4096];
	bool changed = false;
	for (;;) {
		ssize_t n = read(srv->status_fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				close(srv->status_fd);
				srv->status_fd = -1;
			}
			return changed;
		}
		buf[n] = '\0';
		/* the helper writes each line whole (less than PIPE_BUF): the last one counts */
		char *end = strrchr(buf, '\n');
		if (!end)
			continue;
		*end = '\0';
		char *line = strrchr(buf, '\n');
		line = line ? line + 1 : buf;
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = ' ';
		size_t len = strnlen(line, sizeof(srv->status_extra) - 1);
		memcpy(srv->status_extra, line, len);
		srv->status_extra[len] = '\0';
		changed = true;
	}
}

static void wake_workers(struct server *srv)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		uint64_t one = 1;
		ssize_t w = write(srv->workers[i].wake.fd, &one, sizeof(one));
		(void)w;
	}
}

/* Does the new config ask for sockets this process does not have? They are the socket
 * unit's to create: say so, keep serving what we have. */
static void reload_check_listens(struct server *srv, const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_listens; i++) {
		const struct config_listen *cl = &cfg->listens[i];
		const struct listener *have = NULL;
		for (size_t j = 0; j < srv->n_listeners && !have; j++) {
			const struct listener *l = &srv->listeners[j];
			if (!cl->is_addr && strcmp(l->name, cl->spec) == 0)
				have = l;
			if ((cl->is_addr || cl->has_fallback) && net_addr_equal(&l->addr, &cl->addr))
				have = l;
		}
		/* What a connection starts with is the listener's, set at startup. */
		if (have && (have->tls != cl->tls || have->proxy_protocol != cl->proxy_protocol ||
			     have->metrics != cl->metrics))
			log_warning("%s:%u: listen %s: tls, proxy-protocol and metrics take a restart "
				    "to change: not applied",
				    cfg->path ? cfg->path : "config", cl->line, cl->spec);
		if (!have)
			log_warning("%s:%u: listen %s: no such socket in this process; sockets come "
				    "from the socket unit (or a restart for --listen): not applied",
				    cl->file ? cl->file : "config", cl->line, cl->spec);
	}
}

/* reload-on-change: watch the config file when the current generation asks for it (a reload
 * may turn it on or off). Renewed on each reload (a symbolic link may point elsewhere now):
 * the new watch is set before the old one is read and closed, so no change in between is
 * lost. Returns true when the old one had seen a change since. A failure is logged; SIGHUP
 * still works. */
static bool confwatch_update(struct server *srv, struct confwatch *cw)
{
	bool want = srv->config_path && server_gen(srv)->cfg->reload_on_change;
	struct confwatch old = *cw;
	*cw = (struct confwatch){.fd = -1};
	if (want) {
		const char *paths[] = {srv->config_path};
		int r = confwatch_open(cw, paths, 1);
		if (r < 0)
			log_error("reload-on-change: cannot watch %s: %s (SIGHUP still reloads)",
				  srv->config_path, strerror(-r));
		else if (old.fd < 0)
			log_info("reload-on-change: watching %s", srv->config_path);
	}
	bool changed = old.fd >= 0 && confwatch_read(&old) > 0;
	confwatch_close(&old);
	return changed && cw->fd >= 0;
}

/* SIGHUP: re-read the config; swap it in if valid, else keep serving the old one. Returns the
 * generation to free once every worker has moved on, or NULL. */
static struct server_gen *reload(struct server *srv)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	struct buf err;
	buf_init(&err, 1 << 20);
	struct config *cfg = NULL;
	struct server_gen *g = NULL, *old = NULL;
	int r;
	if (srv->config_path)
		r = config_load(srv->config_path, &cfg, &err);
	else
		cfg = config_new_default(), r = 0;
	if (r == 0) {
		r = server_gen_new(srv, cfg, &err, &g);
		if (r < 0)
			config_free(cfg);
	}
	char status[1200];
	if (r < 0) {
		log_lines(LOG_ERR, "reload: ", err.data, err.len);
		log_error("SIGHUP: reload failed: still serving the previous configuration");
		atomic_fetch_add_explicit(&srv->reload_failures, 1, memory_order_relaxed);
		status_line(srv, status, sizeof(status));
		sd_notifyf("READY=1\nSTATUS=reload failed, see the log; %s", status);
	} else {
		reload_check_listens(srv, g->cfg);
		unsigned want = g->cfg->workers ? g->cfg->workers : srv->n_workers;
		if (want != srv->n_workers && srv->single_fd < 0)
			log_notice("reload: workers %u -> %u takes a restart; keeping %u", srv->n_workers,
				   want, srv->n_workers);
		old = atomic_exchange_explicit(&srv->gen, g, memory_order_acq_rel);
		atomic_fetch_add_explicit(&srv->reloads, 1, memory_order_relaxed);
		wake_workers(srv);
		log_notice("SIGHUP: reloaded %s", srv->config_path ? srv->config_path : "the defaults");
		status_line(srv, status, sizeof(status));
		sd_notifyf("READY=1\nSTATUS=%s", status);
	}
	buf_free(&err);
	return old;
}

/* Graceful stop: workers stop accepting, finish what is in flight, close idle connections. */
static void begin_stop(struct server *srv, bool *stopping, uint64_t *deadline_ms)
{
	*stopping = true;
	/* The flag first, STOPPING=1 after: whoever hears STOPPING=1 (systemd, a test) may rely
	 * on every response started from then on saying Connection: close. */
	atomic_store(&srv->stopping, true);
	*deadline_ms = time_now_ms() + server_gen(srv)->cfg->shutdown_timeout_ms;
	wake_workers(srv);
	sd_notify("STOPPING=1\nSTATUS=stopping: finishing requests in flight");
}

static bool workers_moved_on(struct server *srv, uint64_t id)
{
	for (unsigned i = 0; i < srv->n_workers; i++)
		if (atomic_load_explicit(&srv->workers[i].seen_gen, memory_order_acquire) < id)
			return false;
	return true;
}

/* Every signal whose default action would end ferry, but those the kernel sends for a fault
 * of the process (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP: blocking them
 * would hide the fault): the main thread reads them all from its signalfd, so a stray
 * `kill -USR2` (or a timer, a terminal resize) is logged and ignored, never fatal. SIGPIPE is
 * ignored outright (SIG_IGN: EPIPE is what every write wants), SIGTSTP and friends keep their
 * default (a stop, not an end). */
static const int server_signals[] = {
	SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT,		/* handled */
	SIGUSR1,						/* reopen the logs */
	SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGWINCH, SIGURG, SIGXCPU,
	SIGXFSZ, SIGSTKFLT,					/* logged and ignored */
};

static void server_sigset(sigset_t *mask)
{
	sigemptyset(mask);
	for (size_t i = 0; i < ARRAY_SIZE(server_signals); i++)
		sigaddset(mask, server_signals[i]);
	/* The real-time ones end a process too; glibc keeps its own below SIGRTMIN. */
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(mask, sig);
}

/* SIGUSR1, as nginx: open the log files again at their names, after a rotation renamed
 * them (logrotate's postrotate `kill -USR1`). The access log of the generation in use, then
 * stderr when it is a file; workers keep writing through the same fd numbers, so every
 * line lands in the old file or in the new one. */
static void reopen_logs(struct server *srv)
{
	struct server_gen *g = server_gen(srv);
	const struct config *cfg = g->cfg;
	int n = 0;
	if (cfg->access_log == CONFIG_LOG_FILE && g->access_log_fd > 2) {
		int r = log_reopen_fd(cfg->access_log_path, g->access_log_fd, true);
		if (r < 0)
			log_error("SIGUSR1: access-log %s: %s (still writing to the old file)",
				  cfg->access_log_path, strerror(-r));
		else
			n++;
	}
	int r = log_reopen();
	if (r < 0)
		log_error("SIGUSR1: error log %s: %s (still writing to the old file)",
			  log_file_path(), strerror(-r));
	else
		n += r;
	log_notice("SIGUSR1: reopened %d log file%s", n, n == 1 ? "" : "s");
}

void server_block_signals(void)
{
	/* Blocked from the first instruction on (a SIGTERM during startup is then handled once
	 * serving, not fatal) and before threads start, so only the signalfd sees them:
	 * explicit handling is also what makes SIGTERM work when ferry is PID 1. */
	sigset_t mask;
	server_sigset(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int server_run(struct server *srv)
{
	sigset_t mask;
	server_sigset(&mask);
	server_block_signals();
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
	for (size_t i = 0; i < srv->n_listeners; i++)
		srv->metrics |= srv->listeners[i].metrics;
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

	char status[600];
	status_line(srv, status, sizeof(status));
	sd_notifyf("READY=1\nSTATUS=%s", status);

	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(getpid(), &wd_usec) <= 0)
		wd_usec = 0;
	uint64_t wd_next_ms = wd_usec ? time_now_ms() : 0;
	uint64_t *pinged = xcalloc(srv->n_workers, sizeof(*pinged));
	uint64_t status_next_ms = time_now_ms() + STATUS_INTERVAL_MS;

	/* idle-exit: no connection for that long -> stop; systemd starts us on the next one. */
	uint32_t idle_exit_ms = server_gen(srv)->cfg->idle_exit_ms;
	uint64_t idle_since_ms = time_now_ms(), last_activity = 0;

	struct server_gen *retired = NULL;
	uint64_t retired_deadline_ms = 0;

	unsigned done = 0;
	bool stopping = false;
	uint64_t deadline_ms = 0;
	int rc = 0;
	bool reload_pending = false;
	/* reload-on-change: a change seen, reloaded once nothing else changed for a while */
	struct confwatch cw = {.fd = -1};
	uint64_t change_at_ms = 0;
	confwatch_update(srv, &cw);
	/* renewed certificate files: reloaded once the change has settled */
	struct certwatch certw;
	certwatch_init(&certw);
	certwatch_reset(&certw, server_gen(srv)->cfg, time_now_ms());
	while (done < srv->n_workers) {
		uint64_t now = time_now_ms();
		uint64_t next = status_next_ms;

		if (change_at_ms && now >= change_at_ms) {
			change_at_ms = 0;
			if (!stopping) {
				log_notice("reload-on-change: %s changed: reloading", srv->config_path);
				reload_pending = true;
			}
		}
		if (change_at_ms)
			next = MIN(next, change_at_ms);
		if (!stopping && certwatch_poll(&certw, server_gen(srv)->cfg, now)) {
			log_notice("certificate files changed: reloading");
			reload_pending = true;
		}
		if (reload_pending && !retired && !stopping) {
			reload_pending = false;
			retired = reload(srv);
			retired_deadline_ms = time_now_ms() + RELOAD_WAIT_MS;
			idle_exit_ms = server_gen(srv)->cfg->idle_exit_ms;
			if (confwatch_update(srv, &cw))
				change_at_ms = time_now_ms() + RELOAD_DEBOUNCE_MS;
			now = time_now_ms();
			/* the files as this attempt found them: a bad one is not retried until it
			 * changes again */
			certwatch_reset(&certw, server_gen(srv)->cfg, now);
		}
		if (certw.next_ms)
			next = MIN(next, certw.next_ms);

		if (wd_usec && now >= wd_next_ms) {
			/* Only vouch for workers that answered the previous ping: a stuck event loop
			 * stops the keep-alives and systemd's watchdog acts. */
			bool alive = true;
			for (unsigned i = 0; i < srv->n_workers; i++) {
				uint64_t hb = atomic_load(&srv->workers[i].heartbeat);
				if (pinged[i] && hb < pinged[i] && !atomic_load(&srv->workers[i].exited))
					alive = false;
				pinged[i] = hb + 1;
			}
			if (alive)
				sd_notify("WATCHDOG=1");
			else
				log_error("watchdog: a worker did not answer; not sending WATCHDOG=1");
			wake_workers(srv);
			wd_next_ms = now + wd_usec / 2000;
		}
		if (wd_usec)
			next = MIN(next, wd_next_ms);
		if (now >= status_next_ms) {
			status_line(srv, status, sizeof(status));
			sd_notifyf("STATUS=%s", stopping ? "stopping" : status);
			status_next_ms = now + STATUS_INTERVAL_MS;
		}
		if (retired) {
			if (workers_moved_on(srv, server_gen(srv)->id)) {
				server_gen_free(retired);
				retired = NULL;
				if (reload_pending)
					continue;
			} else if (now >= retired_deadline_ms) {
				log_warning("reload: a worker did not take the new configuration; "
					    "keeping the old one in memory");
				retired = NULL;
			} else {
				next = MIN(next, now + 10);
			}
		}
		if (idle_exit_ms && !stopping && srv->single_fd < 0) {
			uint64_t act = atomic_load(&srv->accepted) + atomic_load(&srv->datagram_batches);
			if (atomic_load(&srv->active_conns) > 0 || act != last_activity) {
				last_activity = act;
				idle_since_ms = now;
			} else if (now - idle_since_ms >= idle_exit_ms) {
				log_notice("idle for %u ms: exiting (socket activation starts ferry "
					   "again on the next connection)", idle_exit_ms);
				begin_stop(srv, &stopping, &deadline_ms);
			}
			next = MIN(next, now + MIN(1000u, idle_exit_ms));
		}
		if (stopping) {
			if (now >= deadline_ms) {
				log_warning("shutdown timeout: %u connections still open",
					    atomic_load(&srv->active_conns));
				break;
			}
			next = MIN(next, deadline_ms);
		}

		int timeout = next > now ? (int)MIN(next - now, 60000u) : 0;
		struct pollfd pfd[5] = {{.fd = sfd, .events = POLLIN},
					{.fd = srv->done_fd, .events = POLLIN},
					{.fd = cw.fd, .events = POLLIN}, /* -1: ignored */
					{.fd = srv->status_fd, .events = POLLIN},
					{.fd = certw.cw.fd, .events = POLLIN}};
		int n = poll(pfd, 5, timeout);
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
		if (cw.fd >= 0 && (pfd[2].revents & POLLIN)) {
			int r = confwatch_read(&cw);
			if (r > 0)
				change_at_ms = time_now_ms() + RELOAD_DEBOUNCE_MS;
			else if (r < 0)
				log_error("reload-on-change: %s", strerror(-r));
		}
		if (certw.cw.fd >= 0 && (pfd[4].revents & POLLIN))
			certwatch_event(&certw, time_now_ms());
		if (srv->status_fd >= 0 && pfd[3].revents && status_fd_read(srv) && !stopping) {
			status_line(srv, status, sizeof(status));
			sd_notifyf("STATUS=%s", status);
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
				if (stopping)
					break;
				reload_pending = true; /* done below, once the last one settled */
				break;
			case SIGUSR1:
				reopen_logs(srv);
				break;
			case SIGTERM:
			case SIGINT:
			case SIGQUIT:
				if (stopping) {
					log_notice("second signal: exiting now");
					goto out;
				}
				begin_stop(srv, &stopping, &deadline_ms);
				break;
			default: {
				const char *name = sigabbrev_np((int)si.ssi_signo);
				log_notice("signal %d (%s) from pid %u: ignored", (int)si.ssi_signo,
					   name ? name : "RT", (unsigned)si.ssi_pid);
				break;
			}
			}
		}
	}
	if (done >= srv->n_workers) {
		for (unsigned i = 0; i < srv->n_workers; i++)
			pthread_join(srv->workers[i].thread, NULL);
		/* Every worker has ended: free what they owned, so leak checkers stay useful. */
		for (unsigned i = 0; i < srv->n_workers; i++)
			worker_free(&srv->workers[i]);
		free(srv->workers);
		srv->workers = NULL;
		server_gen_free(retired);
		server_gen_free(atomic_exchange(&srv->gen, NULL));
		stats_names_free(&srv->site_names);
		stats_names_free(&srv->upstream_names);
	}
out:
	if (!stopping && srv->single_fd < 0)
		sd_notify("STOPPING=1");
	confwatch_close(&cw);
	certwatch_close(&certw);
	if (srv->status_fd >= 0)
		close(srv->status_fd);
	srv->status_fd = -1;
	free(pinged);
	close(sfd);
	close(srv->done_fd);
	return rc;
}
