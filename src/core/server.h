/* The running server: listeners, worker threads (one epoll loop each), signals, sd_notify.
 *
 * Threads: the main thread owns signals (signalfd), sd_notify and the watchdog; each worker
 * owns an epoll loop, its connections and its timers. Workers share the listening sockets
 * with EPOLLEXCLUSIVE, so one connection wakes one worker. Nothing in a worker is shared
 * but the read-only config and the stopping flag. */
#ifndef FERRY_SERVER_H
#define FERRY_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "config/config.h"
#include "core/stats.h"
#include "event/loop.h"
#include "net/addr.h"

struct lwatch;
struct fdstore_conn;
struct worker;
struct listener;

enum server_mode { SERVER_HTTP, SERVER_ECHO };

struct listener {
	int fd;
	struct net_addr addr;
	char name[256]; /* FileDescriptorName, or "" for bound ones */
	bool inherited;
	bool dgram;
	bool proxy_protocol; /* connections start with a PROXY header */
	bool h2c;            /* HTTP/2 with prior knowledge */
	bool tls;            /* then a TLS handshake */
	uint32_t key;        /* fdstore_listener_key: names its connections in the fd store */
	bool metrics;        /* serves only the metrics page (`metrics NAME`) */
	bool quic;           /* a datagram socket serving HTTP/3 (proto/h3.c) */
	bool gro;            /* ... with UDP_GRO (net/udprx.h) */
};

struct worker;

struct xport_tls_certs;

/* One configuration generation: the parsed config and what was opened from it. SIGHUP builds
 * a new one and swaps srv->gen; workers pick it up at their next loop iteration and say so in
 * seen_gen; the main thread drops its reference once every worker has moved on. A holder that
 * needs the generation longer (a TLS handshake in progress: its certificate is picked from the
 * client's SNI later) takes a reference of its own; the last one frees it, on any thread. */
struct server_gen {
	uint64_t id;
	struct config *cfg;
	/* One directory fd per distinct root (cfg->roots: a site's or path block's root_id is
	 * its index), however many sites share it. */
	int *root_fds;
	size_t n_root_fds;
	int default_root_fd;   /* --root, when the config has no sites; else -1 (embedded page) */
	int access_log_fd;     /* -1: off; 2: stderr; else owned */
	/* The sites' certificates (xport/tls.c), made by server_app.gen_init; NULL: none */
	struct xport_tls_certs *tls;
	void (*tls_free)(struct xport_tls_certs *t);
	atomic_uint refs;
};

/* What runs on the connections: the protocol and handler layers above core register these
 * (main.c wires them), so that core never includes them. */
struct server_app {
	/* A new connection, accepted on l (or the Accept=yes / inetd one: l is NULL). */
	void (*conn_start)(struct worker *wk, int fd, const struct sockaddr *peer,
			   socklen_t peer_len, const struct listener *l);
	/* A connection taken back from systemd's fd store (core/fdstore.c), accepted on l by the
	 * ferry before this one and idle between requests when it was handed over. NULL: this
	 * app hands nothing over. */
	void (*conn_resume)(struct worker *wk, int fd, const struct sockaddr *peer,
			    socklen_t peer_len, const struct listener *l);
	/* A datagram listener is readable. */
	void (*datagrams)(struct worker *wk, const struct listener *l);
	/* This worker now uses a new generation (e.g. drop caches keyed by its root fds). */
	void (*worker_gen)(struct worker *wk);
	/* The worker's loop has ended: free what the layers above keep in wk->app_data. */
	void (*worker_exit)(struct worker *wk);
	/* A generation is being built (main thread; for the first one, before the sandbox
	 * closes): load what the layers above need of it, g->tls (and g->tls_free). < 0 with
	 * err appended: the generation fails (startup exits, a reload keeps the old one). */
	int (*gen_init)(struct server_gen *g, struct buf *err);
};

struct server {
	enum server_mode mode;
	const struct server_app *app;
	const char *config_path; /* re-read on SIGHUP; NULL: built-in defaults */
	const char *cli_root;    /* --root, applied to every generation */
	_Atomic(struct server_gen *) gen;

	struct listener *listeners;
	size_t n_listeners;
	uint16_t quic_port; /* the UDP port HTTP/3 is served on (Alt-Svc); 0: none */

	int single_fd; /* Accept=yes / inetd connection, or -1 */

	unsigned n_workers;
	struct worker *workers;

	/* systemd's fd store (core/fdstore.c) */
	unsigned fdstore_max;   /* FileDescriptorStoreMax=; 0: none, nothing handed over */
	atomic_int fdstore_room; /* how many more fds it takes */
	atomic_uint fdstore_sent; /* connections handed over at this stop */
	struct fdstore_conn *resume; /* connections taken back from it at start */
	size_t n_resume;

	atomic_bool stopping;
	atomic_uint active_conns;
	atomic_uint_fast64_t accepted; /* connections so far (ferry_connections_accepted_total) */
	atomic_uint_fast64_t datagram_batches; /* wake-ups of datagram sockets: activity for
						  * idle-exit, not connections */
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t reloads, reload_failures; /* main thread writes, metrics read */
	/* A listener serves the metrics page (set before the workers start): only then are
	 * responses counted by site and upstream times measured. */
	bool metrics;
	/* The metrics page's label values by slot (core/stats.h), named as each generation is
	 * built: the sites' first names (slot 0: ""), the upstreams' specs. */
	struct stats_names site_names, upstream_names;
	int done_fd; /* eventfd: workers report they have finished */
	/* A helper process's state for STATUS= (the integrated ACME client, acmeproc.c): lines
	 * on a pipe, the last one kept; -1: none */
	int status_fd;
	char status_extra[512];
};

#define WORKER_IO_BUF_SIZE 65536

enum worker_slot {
	WORKER_SLOT_H1,
	WORKER_SLOT_STATIC,
	WORKER_SLOT_H2,
	WORKER_SLOT_AUTH,
	WORKER_SLOT_H3,
	WORKER_SLOT_COUNT
};

struct worker {
	struct server *srv;
	struct server_gen *gen; /* the generation this worker uses now */
	atomic_uint_fast64_t seen_gen;  /* its id, for the main thread */
	atomic_uint_fast64_t heartbeat; /* bumped on every wake-up: the watchdog's proof of life */
	atomic_bool exited;             /* its loop has ended (graceful stop) */
	unsigned id;
	pthread_t thread;
	struct loop loop;
	struct watcher wake; /* eventfd: the main thread says "stop" */
	struct lwatch *lwatch; /* one per listener (server.c) */

	struct timer_list t_header, t_body, t_body_total, t_keepalive, t_send, t_linger;
	struct timer_list t_accept_pause;
	unsigned n_conns;
	struct conn_link {
		struct conn_link *prev, *next;
		void (*on_stop)(struct conn_link *link); /* graceful stop: finish, then close */
	} conns; /* every open connection, for graceful stop */

	struct buf access_log; /* flushed once per loop iteration */
	time_t date_sec;   /* the second date and log_date show (worker_date) */
	char date[32];     /* IMF-fixdate of date_sec */
	char log_date[32]; /* the same second as the access log writes it */
	char iso_date[24]; /* and as its json format does: 2026-11-23T14:19:13Z */
	char *io_buf;   /* scratch (WORKER_IO_BUF_SIZE bytes) for echo, datagrams, h2 input */
	void *app_data[WORKER_SLOT_COUNT]; /* state of the layers above: worker_slot() */
	/* connections on their way to the fd store: one FDSTORE=1 message per name and batch */
	int *fdstore_fds;
	unsigned fdstore_n;
	char fdstore_name[256];
	/* Counters for the metrics page (core/stats.h): written by this worker only, read by
	 * whichever worker serves the page; relaxed atomics are plain loads and stores here. */
	struct worker_stats stats;
};

/* The current Date value (IMF-fixdate) and the access log's time ("23/Nov/2026:14:19:13
 * +0000"), formatted once per second per worker. */
const char *worker_date(struct worker *wk);
const char *worker_log_date(struct worker *wk);
const char *worker_iso_date(struct worker *wk);


/* The per-worker state of a layer above (zeroed, size bytes, allocated on first use; the
 * layer frees it in its worker_exit hook). */
static inline void *worker_slot(struct worker *wk, enum worker_slot slot, size_t size)
{
	if (!wk->app_data[slot])
		wk->app_data[slot] = xcalloc(1, size);
	return wk->app_data[slot];
}

/* Block the signals the main thread handles (call first thing in main()). */
void server_block_signals(void);

/* Start workers and run until stopped. Returns the process exit code. */
int server_run(struct server *srv);

/* Build a generation for cfg (taking ownership of it on success): open each distinct root once
 * (and srv->cli_root) and the access log, then srv->app->gen_init (the certificates). On
 * failure returns -errno, appends what failed to err, and leaves cfg to the caller; -EMFILE
 * (before opening anything) when RLIMIT_NOFILE cannot hold the roots (server_check_nofile),
 * those of the generation being replaced too. It starts with one reference, the caller's. */
int server_gen_new(struct server *srv, struct config *cfg, struct buf *err,
		   struct server_gen **ret);
/* One more reference to g, dropped with server_gen_free. */
void server_gen_hold(struct server_gen *g);

/* The workers a config asks for: `workers N`, else one per CPU this process may use. */
unsigned server_workers(const struct config *cfg);

/* File descriptors a server with cfg keeps open besides its connections: the distinct roots
 * and a reserve for sockets, logs and each worker's loop. */
#define SERVER_FD_RESERVE 64
#define SERVER_FD_PER_WORKER 4
size_t server_fds_needed(const struct config *cfg, unsigned workers);

/* Whether limit (an RLIMIT_NOFILE value) holds cfg's roots, plus extra (the roots of a
 * generation still open during a reload): -EMFILE with the numbers in err (one line, which
 * starts with cfg's file) when not. */
int server_check_nofile(const struct config *cfg, size_t extra, uint64_t limit,
			struct buf *err);
/* Drop a reference (NULL: nothing); the last one frees g and what was opened for it. */
void server_gen_free(struct server_gen *g);

static inline struct server_gen *server_gen(struct server *srv)
{
	return atomic_load_explicit(&srv->gen, memory_order_acquire);
}


/* Connection bookkeeping shared by HTTP and echo connections. */
void worker_conn_added(struct worker *wk, struct conn_link *link);
/* A connection a protocol accepted on a datagram socket (a QUIC one: its first Initial
 * packet), counted as an accept(2) on a stream socket is. */
void worker_conn_accepted(struct worker *wk);
void worker_conn_removed(struct worker *wk, struct conn_link *link);

#endif
