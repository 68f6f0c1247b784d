/* The reverse proxy: per-worker upstream state (addresses, passive health, keep-alive
 * pools), and the exchange that carries one client request to an upstream and its response
 * back. The state table is in proxy.h.
 *
 * Data flow of an exchange, each arrow bounded, so memory stays flat whatever the bodies:
 *
 *   client socket -> conn's in buffer (64 KiB past the head) -> rq (re-framed) -> upstream
 *   upstream -> rs (64 KiB, raw) -> co (re-framed) -> client socket
 *
 * The request body is re-framed from what the core parser decided (exactly Content-Length
 * bytes, or chunked decoded and encoded again), so no client byte beyond the body reaches
 * an upstream, and the response likewise from what the response parser decided. */
#include "base/macro.h"
#include "handler/proxy.h"
#include "handler/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/str.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "config/config.h"
#include "handler/encode.h"
#include "http/chunked.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/forward.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/response.h"
#include "core/log.h"
#include "event/loop.h"
#include "net/cidr.h"
#include "net/dns.h"
#include "net/proxyproto.h"
#include "core/server.h"
#include "xport/tls.h"
#include "xport/xport.h"

#define BODY_ROOM 65536        /* request body bytes waiting to go upstream */
#define RS_MAX 65536           /* upstream bytes read ahead (and the response head limit) */
#define CO_MAX (RS_MAX + 4096) /* bytes waiting to go to the client */
#define X_SPARE_MAX 8          /* freed exchanges kept per worker, buffers and all */
#define SPLICE_MIN (256 * 1024) /* a body this long passes through a pipe, never user space */
#define ENC_IN_MAX 65536       /* de-framed body bytes waiting for the encoder */
#define SPLICE_CHUNK (64 * 1024) /* bytes moved per splice call (a default pipe holds 64 KiB) */
#define X_SPARE_BUF 16384      /* ... when none of their buffers grew past this */
#define RETRY_MS 100           /* a Unix socket that is not there yet */
#define DOWN_MS 2000           /* an upstream that refused a connection is skipped */
#define UP_MAX_ADDRS 8
#define UP_TABLE_MAX 512 /* upstream entries per worker ({host} makes new ones) */

/* ---- per-worker state ------------------------------------------------------------------ */

struct pconn;
struct proxy_x;

/* An upstream as this worker knows it: addresses, health, idle connections. Outlives
 * configuration generations (keyed by its spec), so an exchange never points into a
 * config that a reload may free. */
struct upstream {
	struct upstream *next;
	char *key; /* the spec, and for https the CA file: also the TLS resumption cache's key */
	bool is_unix, numeric;
	bool tls;        /* https:// */
	char *tls_name;  /* https: the name verified and sent as SNI (or the IP literal) */
	char *ca;        /* https: upstream-ca (NULL: the system's) */
	char *host; /* to resolve */
	uint16_t port;
	struct net_addr addrs[UP_MAX_ADDRS];
	unsigned n_addrs, next_addr;
	uint64_t expires_ms; /* DNS TTL */
	bool resolving;
	struct proxy_x *waiters; /* exchanges waiting for the name */
	uint64_t down_until_ms;
	unsigned stats_slot; /* its series on the metrics page: its config's (core/stats.h) */
	struct pconn *idle; /* most recently used first */
	unsigned n_idle;
	unsigned refs; /* exchanges that may use it */
	uint64_t last_used_ms;
};

struct proxy_worker {
	struct worker *wk;
	uint64_t gen_id;
	struct timer_list t_connect, t_io, t_idle, t_retry;
	struct upstream *ups;
	unsigned n_ups;
	unsigned rr;
	bool exiting; /* the worker's loop has ended: nothing is deferred any more */
	struct dns_resolver *dns;
	struct http_response resp; /* parser scratch */
	struct proxy_x *spare;     /* freed exchanges kept with their buffers, for the next */
	unsigned n_spare;
	unsigned n_idle; /* idle upstream connections, all upstreams together */
};

/* An upstream connection: in use by one exchange, or idle in its upstream's pool. Its bytes
 * move through a transport (xport/): plain, or TLS for https://; w.fd is the transport's. */
struct pconn {
	struct watcher w;
	struct xport *xp; /* &tcp, or a TLS transport over it */
	struct xport tcp;
	struct upstream *up;
	struct proxy_x *x;
	struct pconn *prev, *next; /* pool */
	struct timer timer;        /* idle timeout */
	struct deferred defer;
	bool readable, writable;
	bool shut; /* EPOLLRDHUP/HUP/ERR seen: an EOF is queued, and epoll says so only once */
	bool out_watched; /* EPOLLOUT registered: only while connecting or after a send blocked */
};

enum x_state { X_RESOLVE, X_CONNECT, X_HANDSHAKE, X_EXCHANGE, X_TUNNEL };
enum body_mode { B_NONE, B_LENGTH, B_CHUNKED, B_CLOSE, B_RAW };
#define GONE (-1) /* the exchange was freed: unwind */
#define INTERIM_MAX 8 /* 1xx responses passed on before the final one: more is an error */

struct proxy_x {
	struct http_exchange *c; /* the client side */
	struct proxy_worker *pw;
	enum x_state state;
	struct timer timer;
	bool retry_pending;
	struct proxy_x *next_waiter;
	struct upstream *cand[CONFIG_MAX_UPSTREAMS];
	unsigned n_cand, cur;
	uint32_t tried;
	struct cidr *allow; /* {host}: the networks it may reach (a copy) */
	size_t n_allow;
	int pp;
	struct pconn *pc;
	bool reused;
	uint64_t connect_deadline_ms;
	enum http_method method;
	bool upgrading, idempotent;
	unsigned n_interim; /* 1xx responses passed on */

	/* client -> upstream */
	struct buf rq;
	size_t rq_off;
	bool replay_ok; /* rq still holds everything sent on this upstream connection */
	enum body_mode q_mode;
	uint64_t q_left;
	bool q_done, q_broken, c_eof;

	/* upstream -> client */
	struct buf rs;
	bool got_bytes; /* from the upstream, on this connection */
	bool head_done; /* the final response head is in co */
	enum body_mode r_mode;
	uint64_t r_left;
	struct http_chunked r_ch;
	bool r_done, up_eof, resp_keep, client_close;
	bool up_err; /* the upstream connection failed (a reset), rather than closed */
	/* A long body that passes through unchanged goes upstream socket -> pipe -> client
	 * socket with splice(2): pipe[0] < 0 when not in use. */
	int pipe[2];
	size_t pipe_len; /* bytes in the pipe */
	int q_pipe[2];     /* the same for a long request body: client -> pipe -> upstream */
	size_t q_pipe_len;
	struct buf co;
	size_t co_off;
	int status;
	uint64_t bytes;
	uint64_t up_start_us; /* the first connection attempt, when c->start_us is set */
	/* proxy-header-down of the proxy block: a copy (ops, names and values in one
	 * allocation), since a reload may free the configuration before the response comes */
	struct http_field_op *down;
	size_t n_down;

	/* `encode`: the coding the client takes (-1: none), set at the request. At the final
	 * head: enc_hdr, the response is eligible and goes out encoded (Content-Encoding, no
	 * Content-Length, a weak ETag); enc_vary, eligible whatever the client takes (Vary);
	 * enc, the encoder (none for a response without a body). The de-framed body waits in
	 * eb for the encoder, whose output goes to co: rs -> eb -> enc -> co, each bounded, so
	 * the upstream is not read while compressed bytes wait for the client. */
	bool enc_block; /* the block has `encode` */
	int enc_coding;
	bool enc_hdr, enc_vary;
	bool enc_flushed; /* nothing given to the encoder since its last flush */
	bool enc_ended;
	struct encoder *enc;
	struct buf eb;
};

static pthread_key_t pw_key;
static pthread_once_t pw_once = PTHREAD_ONCE_INIT;
static __thread struct proxy_worker *tls_pw;

static void pconn_close(struct pconn *pc);

static void upstream_free(struct upstream *up)
{
	while (up->idle)
		pconn_close(up->idle);
	free(up->key);
	free(up->host);
	free(up->tls_name);
	free(up->ca);
	free(up);
}

/* Thread exit: the worker's loop has ended. */
static void pw_free(void *p)
{
	struct proxy_worker *pw = p;
	pw->exiting = true;
	while (pw->ups) {
		struct upstream *up = pw->ups;
		pw->ups = up->next;
		upstream_free(up);
	}
	dns_resolver_free(pw->dns);
	xport_tls_client_forget();
	while (pw->spare) {
		struct proxy_x *x = pw->spare;
		pw->spare = x->next_waiter;
		buf_free(&x->rq);
		buf_free(&x->rs);
		buf_free(&x->co);
		free(x);
	}
	free(pw);
	tls_pw = NULL;
}

static void pw_key_init(void)
{
	pthread_key_create(&pw_key, pw_free);
}

static void on_x_timer(struct loop *l, struct timer *t);

static struct proxy_worker *pw_get(struct worker *wk)
{
	struct proxy_worker *pw = tls_pw;
	const struct config *cfg = wk->gen->cfg;
	if (!pw) {
		pthread_once(&pw_once, pw_key_init);
		pw = xcalloc(1, sizeof(*pw));
		pw->wk = wk;
		loop_timer_list_init(&wk->loop, &pw->t_connect, cfg->proxy_connect_timeout_ms);
		loop_timer_list_init(&wk->loop, &pw->t_io, cfg->proxy_timeout_ms);
		loop_timer_list_init(&wk->loop, &pw->t_idle, cfg->proxy_idle_timeout_ms);
		loop_timer_list_init(&wk->loop, &pw->t_retry, RETRY_MS);
		pw->gen_id = wk->gen->id;
		tls_pw = pw;
		pthread_setspecific(pw_key, pw);
	}
	if (pw->gen_id != wk->gen->id) {
		/* A reload: new durations apply to timers armed from now on. */
		pw->t_connect.duration_ms = cfg->proxy_connect_timeout_ms;
		pw->t_io.duration_ms = cfg->proxy_timeout_ms;
		pw->t_idle.duration_ms = cfg->proxy_idle_timeout_ms;
		pw->gen_id = wk->gen->id;
		/* TLS sessions and kept-alive TLS connections were verified against the old
		 * generation's CAs, which the reload may have changed: start over. */
		xport_tls_client_forget();
		for (struct upstream *up = pw->ups; up; up = up->next)
			while (up->tls && up->idle)
				pconn_close(up->idle);
		/* A changed `resolver` applies now (no-op when unchanged); the resolver stays, and
		 * sends its lookups in flight again to the new server. */
		if (pw->dns) {
			bool has = cfg->has_resolver;
			int r = dns_resolver_set_servers(pw->dns, has ? &cfg->resolver : NULL, has);
			if (r < 0)
				log_warning("proxy: new resolver: %s", strerror(-r));
		}
	}
	return pw;
}

/* ---- upstream table -------------------------------------------------------------------- */

static struct upstream *upstream_get(struct proxy_worker *pw, const char *key)
{
	struct upstream **pp = &pw->ups;
	for (struct upstream *up = pw->ups; up; pp = &up->next, up = up->next) {
		if (strcmp(up->key, key) == 0) {
			/* Move to the front: the table stays in recently-used order. */
			*pp = up->next;
			up->next = pw->ups;
			pw->ups = up;
			return up;
		}
	}
	if (pw->n_ups >= UP_TABLE_MAX) {
		/* Drop the least recently used entry nobody holds. */
		struct upstream **victim = NULL;
		for (pp = &pw->ups; *pp; pp = &(*pp)->next)
			if ((*pp)->refs == 0 && !(*pp)->resolving)
				victim = pp;
		if (victim) {
			struct upstream *v = *victim;
			*victim = v->next;
			upstream_free(v);
			pw->n_ups--;
		}
	}
	struct upstream *up = xcalloc(1, sizeof(*up));
	up->key = xstrdup(key);
	up->next = pw->ups;
	pw->ups = up;
	pw->n_ups++;
	return up;
}

/* An https:// upstream's TLS setup: the name its certificate must have (host without
 * brackets), and the CAs (part of the key, so that a changed upstream-ca is a new pool). */
static void upstream_set_tls(struct upstream *up, const char *name, const char *ca)
{
	if (up->tls)
		return;
	up->tls = true;
	up->tls_name = xstrdup(name);
	up->ca = ca ? xstrdup(ca) : NULL;
}

static struct upstream *upstream_of_config(struct proxy_worker *pw,
					   const struct config_upstream *cu, const char *ca)
{
	char key[PATH_MAX + 320];
	if (cu->tls)
		snprintf(key, sizeof(key), "%s ca=%s", cu->spec, ca ? ca : "system");
	struct upstream *up = upstream_get(pw, cu->tls ? key : cu->spec);
	if (!up->numeric && !up->host) {
		up->is_unix = cu->is_unix;
		up->port = cu->port;
		if (cu->numeric) {
			up->numeric = true;
			up->addrs[0] = cu->addr;
			up->n_addrs = 1;
		} else {
			up->host = xstrdup(cu->host);
		}
	}
	if (cu->tls && !up->tls) {
		/* the host as the spec writes it, brackets off: https://HOST:PORT */
		const char *h = cu->spec + STRLEN("https://"), *e = strrchr(h, ':');
		char name[300];
		size_t n = (size_t)(e - h);
		if (h[0] == '[') {
			h++;
			n -= 2;
		}
		snprintf(name, sizeof(name), "%.*s", (int)n, h);
		upstream_set_tls(up, name, ca);
	}
	return up;
}

/* The host a request names: the authority of an absolute-form target, else Host; without
 * its port and, for IPv6, its brackets. 0 or -EINVAL. */
static int request_host(const struct http_request *req, char *out, size_t size)
{
	const char *h = req->host;
	size_t n = req->host ? req->host_len : 0;
	const char *t = req->target;
	if (req->target_len > 7 && t[0] != '/') {
		const char *s = memchr(t, ':', req->target_len);
		if (s && s + 3 <= t + req->target_len && s[1] == '/' && s[2] == '/') {
			h = s + 3;
			const char *e = h;
			while (e < t + req->target_len && *e != '/' && *e != '?')
				e++;
			n = (size_t)(e - h);
		}
	}
	if (!h || n == 0)
		return -EINVAL;
	if (h[0] == '[') {
		const char *e = memchr(h, ']', n);
		if (!e)
			return -EINVAL;
		h++;
		n = (size_t)(e - h);
	} else {
		const char *colon = memchr(h, ':', n);
		if (colon)
			n = (size_t)(colon - h);
		if (n > 0 && h[n - 1] == '.')
			n--;
	}
	if (n == 0 || n >= size)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		out[i] = ascii_lower(h[i]);
	out[n] = '\0';
	return 0;
}

static bool valid_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.' || *s == '_'))
			return false;
	return true;
}

/* The upstream for http[s]://{host}:PORT and this request. */
static struct upstream *upstream_of_host(struct proxy_worker *pw, const char *host,
					 uint16_t port, bool tls, const char *ca)
{
	char key[PATH_MAX + 320], spec[300];
	bool v6 = strchr(host, ':') != NULL;
	snprintf(spec, sizeof(spec), v6 ? "[%s]:%u" : "%s:%u", host, port);
	if (tls)
		snprintf(key, sizeof(key), "{host} https %s ca=%s", spec, ca ? ca : "system");
	else
		snprintf(key, sizeof(key), "{host} %s", spec);
	struct upstream *up = upstream_get(pw, key);
	if (!up->numeric && !up->host) {
		up->port = port;
		struct net_addr a;
		struct in_addr ip4;
		if ((v6 || inet_pton(AF_INET, host, &ip4) == 1) && net_addr_parse(spec, &a) == 0) {
			up->numeric = true;
			up->addrs[0] = a;
			up->n_addrs = 1;
		} else {
			up->host = xstrdup(host);
		}
	}
	if (tls)
		upstream_set_tls(up, host, ca);
	return up;
}

/* ---- pooled connections ---------------------------------------------------------------- */

static void x_upstream_event(struct proxy_x *x, uint32_t events);

static void pconn_free(struct deferred *d)
{
	free(container_of(d, struct pconn, defer));
}

static void pool_unlink(struct pconn *pc)
{
	struct upstream *up = pc->up;
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		up->idle = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	pc->prev = pc->next = NULL;
	up->n_idle--;
	tls_pw->n_idle--;
}

static void pconn_close(struct pconn *pc)
{
	if (!pc->x)
		pool_unlink(pc);
	timer_cancel(&pc->timer);
	pc->xp->ops->close(pc->xp); /* the socket, and the TLS session (pc->xp then gone) */
	pc->xp = NULL;
	pc->w.fd = -1;
	pc->x = NULL;
	pc->up = NULL;
	/* epoll may still hold an event for it in this batch (unless the loop has ended). */
	struct proxy_worker *pw = tls_pw;
	if (pw->exiting)
		free(pc);
	else
		loop_defer(&pw->wk->loop, &pc->defer);
}

static void on_pconn_event(struct loop *l, struct watcher *w, uint32_t events)
{
	struct pconn *pc = (struct pconn *)w;
	if (pc->w.fd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		pc->readable = true;
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		pc->shut = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		pc->writable = true;
	if (pc->x) {
		x_upstream_event(pc->x, events);
		return;
	}
	/* Idle: the upstream closed it, or sent bytes nobody asked for; but a TLS upstream
	 * may send a record that is no data (a TLS 1.3 ticket or key update): read to see. */
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
		pconn_close(pc);
	} else if (events & EPOLLIN) {
		char b;
		ssize_t n;
		do
			n = xport_read(pc->xp, &b, 1);
		while (n == -EAGAIN && xport_pending(pc->xp));
		if (n != -EAGAIN)
			pconn_close(pc);
	}
}

static void on_pconn_idle_timeout(struct loop *l, struct timer *t)
{
	pconn_close(container_of(t, struct pconn, timer));
}

static void pool_put(struct proxy_worker *pw, struct pconn *pc)
{
	struct upstream *up = pc->up;
	const struct config *cfg = pw->wk->gen->cfg;
	if (cfg->proxy_idle_max == 0 || atomic_load_explicit(&pw->wk->srv->stopping,
							     memory_order_relaxed)) {
		pconn_close(pc); /* still marked in use: not unlinked from the pool */
		return;
	}
	pc->x = NULL;
	pc->next = up->idle;
	pc->prev = NULL;
	if (up->idle)
		up->idle->prev = pc;
	up->idle = pc;
	up->n_idle++;
	pw->n_idle++;
	timer_arm(&pw->wk->loop, &pw->t_idle, &pc->timer);
	if (cfg->proxy_idle_max == CONFIG_AUTO) {
		/* As many as were busy at once: a connection is opened only when none is idle, so
		 * an upstream's pool never outgrows the worker's peak concurrency to it, whatever
		 * that is, and proxy-idle-timeout closes what a lower load leaves unused (the pool
		 * hands out the most recently used first). Bounded in all by max-connections, the
		 * most clients the worker could ever have to use them: past that, the worker's
		 * least recently used idle connection goes, whatever its upstream (the idle timer
		 * list is in that order). */
		while (pw->n_idle > cfg->max_connections)
			pconn_close(container_of(pw->t_idle.head, struct pconn, timer));
		return;
	}
	while (up->n_idle > cfg->proxy_idle_max) {
		struct pconn *last = up->idle;
		while (last->next)
			last = last->next;
		pconn_close(last);
	}
}

static struct pconn *pool_take(struct upstream *up)
{
	struct pconn *pc = up->idle;
	if (!pc)
		return NULL;
	pool_unlink(pc);
	timer_cancel(&pc->timer);
	return pc;
}

/* ---- exchange: life and death ---------------------------------------------------------- */

static void x_release_upstream(struct proxy_x *x, bool reuse)
{
	struct pconn *pc = x->pc;
	if (!pc)
		return;
	x->pc = NULL;
	if (reuse) {
		pool_put(x->pw, pc);
	} else {
		pconn_close(pc); /* pc->x is still set: not in the pool */
	}
}

static void x_unwait(struct proxy_x *x)
{
	struct upstream *up = x->n_cand ? x->cand[x->cur] : NULL;
	if (!up)
		return;
	for (struct proxy_x **pp = &up->waiters; *pp; pp = &(*pp)->next_waiter) {
		if (*pp == x) {
			*pp = x->next_waiter;
			break;
		}
	}
}

static void x_pipe_close(struct proxy_x *x)
{
	if (x->pipe[0] >= 0) {
		close(x->pipe[0]);
		close(x->pipe[1]);
	}
	if (x->q_pipe[0] >= 0) {
		close(x->q_pipe[0]);
		close(x->q_pipe[1]);
	}
	x->pipe[0] = x->pipe[1] = x->q_pipe[0] = x->q_pipe[1] = -1;
	x->pipe_len = x->q_pipe_len = 0;
}

static void x_free(struct proxy_x *x)
{
	x_pipe_close(x);
	encoder_free(x->enc);
	x->enc = NULL;
	buf_free(&x->eb);
	x_unwait(x);
	timer_cancel(&x->timer);
	x_release_upstream(x, false);
	for (unsigned i = 0; i < x->n_cand; i++)
		x->cand[i]->refs--;
	free(x->allow);
	free(x->down);
	x->down = NULL;
	x->n_down = 0;
	struct proxy_worker *pw = x->pw;
	if (!pw->exiting && pw->n_spare < X_SPARE_MAX && x->rq.cap <= X_SPARE_BUF &&
	    x->rs.cap <= X_SPARE_BUF && x->co.cap <= X_SPARE_BUF) {
		/* Kept for the next exchange: no malloc/realloc/free of three buffers per
		 * request. x_new clears the rest. */
		x->next_waiter = pw->spare;
		pw->spare = x;
		pw->n_spare++;
		return;
	}
	buf_free(&x->rq);
	buf_free(&x->rs);
	buf_free(&x->co);
	free(x);
}

/* A cleared exchange, with the buffers of a spare one if there is one. */
static struct proxy_x *x_new(struct proxy_worker *pw)
{
	struct proxy_x *x = pw->spare;
	if (!x) {
		x = xcalloc(1, sizeof(*x));
		x->pipe[0] = x->pipe[1] = x->q_pipe[0] = x->q_pipe[1] = -1;
		return x;
	}
	pw->spare = x->next_waiter;
	pw->n_spare--;
	struct buf rq = x->rq, rs = x->rs, co = x->co;
	memset(x, 0, sizeof(*x));
	x->rq = rq;
	x->rs = rs;
	x->co = co;
	buf_reset(&x->rq);
	buf_reset(&x->rs);
	buf_reset(&x->co);
	x->pipe[0] = x->pipe[1] = x->q_pipe[0] = x->q_pipe[1] = -1;
	return x;
}

/* Close the client connection: after a response was started, nothing else is honest. */
static int x_abort(struct proxy_x *x)
{
	struct http_exchange *c = x->c;
	http_x_set_stream(c, NULL, NULL);
	x_free(x);
	http_x_stream_abort(c);
	return GONE;
}

/* Answer the client with an error instead of a response from upstream. */
static int x_error(struct proxy_x *x, int status)
{
	struct http_exchange *c = x->c;
	if (x->head_done || x->co.len > 0)
		return x_abort(x);
	http_x_set_stream(c, NULL, NULL);
	x_free(x);
	if (status == 503 && !rules_has_error_page(c, 503)) { /* else the block's page */
		static const char body[] = "<!DOCTYPE html>\n<html><head><title>503 Service "
					   "Unavailable</title></head><body><h1>503 Service "
					   "Unavailable</h1></body></html>\n";
		http_resp_close(c);
		http_resp_start(c, 503);
		http_resp_header(c, "Retry-After", "2", 1);
		http_resp_header(c, "Content-Type", "text/html; charset=utf-8", 24);
		http_resp_end_head(c, (int64_t)STRLEN(body));
		http_resp_body_mem(c, body, STRLEN(body));
	} else {
		http_resp_close(c);
		http_resp_error(c, status);
	}
	http_x_stream_respond(c);
	return GONE;
}

/* The exchange is complete: the upstream connection to the pool (or closed), the client
 * connection back to http/conn.c. */
static int x_end(struct proxy_x *x, bool reuse, bool keep)
{
	struct http_exchange *c = x->c;
	int status = x->status;
	uint64_t bytes = x->bytes;
	x_release_upstream(x, reuse);
	http_x_set_stream(c, NULL, NULL);
	x_free(x);
	http_x_stream_end(c, status, bytes, keep);
	return GONE;
}

/* ---- connecting ------------------------------------------------------------------------ */

static int x_connect(struct proxy_x *x);
static int x_run(struct proxy_x *x);

static bool up_down(const struct proxy_worker *pw, const struct upstream *up)
{
	return up->down_until_ms > pw->wk->loop.now_ms;
}

/* The next candidate not tried yet and not down, from cur on; false if none. */
static bool x_pick(struct proxy_x *x)
{
	for (unsigned i = 0; i < x->n_cand; i++) {
		unsigned k = (x->cur + i) % x->n_cand;
		if (!(x->tried & (1u << k)) && !up_down(x->pw, x->cand[k])) {
			x->cur = k;
			return true;
		}
	}
	return false;
}

/* This upstream failed before anything was answered: try another one, or answer status. */
static int x_next_upstream(struct proxy_x *x, int status)
{
	x_release_upstream(x, false);
	x->tried |= 1u << x->cur;
	if (!x_pick(x))
		return x_error(x, status);
	return x_connect(x);
}

static int up_resolve(struct proxy_worker *pw, struct upstream *up);

/* The upstream refused or reset a new connection: skip it for a while, and look its name
 * up again (a container that restarted may have a new address). */
static void up_failed(struct proxy_x *x, struct upstream *up)
{
	struct worker *wk = x->pw->wk;
	up->down_until_ms = wk->loop.now_ms + DOWN_MS;
	worker_set(&wk->stats.up[up->stats_slot].down_until_ms, up->down_until_ms);
	if (!up->numeric) {
		/* Ask at once: new addresses end the down time (see on_resolved). */
		up->expires_ms = 0;
		up_resolve(x->pw, up);
	}
}

static bool addr_allowed(const struct proxy_x *x, const struct net_addr *a)
{
	return !x->allow ||
	       cidr_list_match(x->allow, x->n_allow, (const struct sockaddr *)&a->sa, a->len);
}

static void on_resolved(void *ctx, int err, const struct sockaddr_storage *addrs,
			const socklen_t *lens, unsigned n, uint32_t ttl_s);

static int up_resolve(struct proxy_worker *pw, struct upstream *up)
{
	if (up->resolving)
		return 0;
	if (!pw->dns) {
		const struct config *cfg = pw->wk->gen->cfg;
		struct dns_setup s = {
			.servers = cfg->has_resolver ? &cfg->resolver : NULL,
			.n_servers = cfg->has_resolver ? 1 : 0,
			/* Test hooks (tests/integration/test_dns.py): a resolv.conf and a hosts
			 * file of the test's own. Never set them in production. */
			.resolv_conf = getenv("FERRY_INSECURE_TEST_RESOLV_CONF"),
			.hosts = getenv("FERRY_INSECURE_TEST_HOSTS"),
		};
		if (s.resolv_conf || s.hosts)
			log_warning("FERRY_INSECURE_TEST_RESOLV_CONF/HOSTS set: the resolver reads "
				    "%s and %s (a test hook)", s.resolv_conf ? s.resolv_conf : "-",
				    s.hosts ? s.hosts : "-");
		int r = dns_resolver_new(&pw->wk->loop, &s, &pw->dns);
		if (r < 0)
			return r;
	}
	up->resolving = true;
	int r = dns_resolve(pw->dns, up->host, on_resolved, up);
	if (r < 0)
		up->resolving = false;
	return r;
}

static void on_resolved(void *ctx, int err, const struct sockaddr_storage *addrs,
			const socklen_t *lens, unsigned n, uint32_t ttl_s)
{
	struct upstream *up = ctx;
	struct proxy_worker *pw = tls_pw;
	up->resolving = false;
	if (err == 0 && n > 0) {
		struct net_addr fresh[UP_MAX_ADDRS];
		unsigned m = 0;
		for (unsigned i = 0; i < n && m < UP_MAX_ADDRS; i++) {
			struct net_addr *a = &fresh[m++];
			memset(a, 0, sizeof(*a));
			memcpy(&a->sa, &addrs[i], lens[i]);
			a->len = lens[i];
			a->family = addrs[i].ss_family;
			a->type = SOCK_STREAM;
			if (a->family == AF_INET)
				((struct sockaddr_in *)&a->sa)->sin_port = htons(up->port);
			else
				((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(up->port);
		}
		if (m != up->n_addrs || memcmp(fresh, up->addrs, m * sizeof(fresh[0])) != 0) {
			/* New addresses: what failed before says nothing about them. */
			up->down_until_ms = 0;
			worker_set(&pw->wk->stats.up[up->stats_slot].down_until_ms, 0);
			while (up->idle)
				pconn_close(up->idle);
		}
		memcpy(up->addrs, fresh, m * sizeof(fresh[0]));
		up->n_addrs = m;
		up->expires_ms = pw->wk->loop.now_ms + (uint64_t)(ttl_s ? ttl_s : 1) * 1000;
	} else if (up->n_addrs > 0 && err != -ENOENT) {
		/* No answer (a timeout, a server down): keep the stale addresses a little longer
		 * rather than fail everything. A name that is gone (NXDOMAIN, or no address: a
		 * stopped container) drops them: a quick 502, not connects to an old address. */
		up->expires_ms = pw->wk->loop.now_ms + 1000;
	} else {
		up->n_addrs = 0;
		up->expires_ms = 0;
	}
	/* Wake the waiters; each may free itself, so unhook the whole list first. */
	struct proxy_x *w = up->waiters;
	up->waiters = NULL;
	while (w) {
		struct proxy_x *next = w->next_waiter;
		w->next_waiter = NULL;
		if (up->n_addrs == 0) {
			log_warning("proxy: cannot resolve %s: %s", up->host,
				    err ? strerror(-err) : "no address");
			x_next_upstream(w, 502);
		} else {
			x_connect(w);
		}
		w = next;
	}
}

static void pconn_wait_writable(struct pconn *pc);
static int x_handshake(struct proxy_x *x);

static int x_connected(struct proxy_x *x)
{
	if (x->pc->up->tls && !x->reused) {
		x->state = X_HANDSHAKE; /* the connect timer still runs */
		return x_handshake(x);
	}
	x->state = X_EXCHANGE;
	timer_arm(&x->pw->wk->loop, &x->pw->t_io, &x->timer);
	return x_run(x);
}

/* A new connection to up failed with err (synchronously or as SO_ERROR). */
static int x_connect_failed(struct proxy_x *x, int err)
{
	struct upstream *up = x->cand[x->cur];
	struct proxy_worker *pw = x->pw;
	x_release_upstream(x, false);
	if (up->is_unix && (err == ENOENT || err == ECONNREFUSED || err == EAGAIN) &&
	    pw->wk->loop.now_ms < x->connect_deadline_ms) {
		/* Its container is still starting: the socket will appear. */
		x->retry_pending = true;
		timer_arm(&pw->wk->loop, &pw->t_retry, &x->timer);
		return 0;
	}
	char a[NET_ADDR_STRLEN];
	log_warning("proxy: connect to %s: %s", net_addr_format(&up->addrs[0], a, sizeof(a)),
		    strerror(err));
	up_failed(x, up);
	return x_next_upstream(x, 502);
}

/* The exchange takes an upstream connection, new or from the pool: what was known of the
 * previous one (bytes sent, bytes or EOF or an error received, a broken send) starts over,
 * and the request goes again from its first byte. Every path that gives an exchange a
 * connection goes through here, so no retry or failover inherits a stale flag. */
static void x_attach(struct proxy_x *x, struct pconn *pc, bool reused)
{
	pc->x = x;
	x->pc = pc;
	x->reused = reused;
	x->rq_off = 0;
	x->got_bytes = false;
	x->up_eof = x->up_err = x->q_broken = false;
	buf_reset(&x->rs);
}

static int x_connect(struct proxy_x *x)
{
	struct proxy_worker *pw = x->pw;
	struct loop *l = &pw->wk->loop;
	struct upstream *up = x->cand[x->cur];

	if (!up->numeric && (up->n_addrs == 0 || up->expires_ms <= l->now_ms)) {
		int r = up_resolve(pw, up);
		if (r < 0) {
			log_warning("proxy: resolving %s: %s", up->host, strerror(-r));
			if (up->n_addrs == 0)
				return x_next_upstream(x, 502);
		} else {
			x->state = X_RESOLVE;
			x->next_waiter = up->waiters;
			up->waiters = x;
			if (!timer_armed(&x->timer))
				timer_arm(l, &pw->t_connect, &x->timer);
			return 0;
		}
	}

	/* {host}: only addresses inside upstream-allow. */
	unsigned n = up->n_addrs, k = up->next_addr++;
	const struct net_addr *addr = NULL;
	for (unsigned i = 0; i < n && !addr; i++)
		if (addr_allowed(x, &up->addrs[(k + i) % n]))
			addr = &up->addrs[(k + i) % n];
	if (!addr)
		return x_error(x, 403);

	up->last_used_ms = l->now_ms;
	x->c->upstream = up->key; /* for the access log (the key outlives the log line) */
	struct pconn *pc = x->pp ? NULL : pool_take(up);
	if (pc) {
		x_attach(x, pc, true);
		return x_connected(x);
	}
	pc = xcalloc(1, sizeof(*pc));
	/* Connect first, then register: EPOLLOUT only to learn when a connect in progress ends
	 * (a Unix socket connects at once). Watching it on a connected socket would wake the
	 * loop each time the upstream consumes a request (Unix sockets report write space for
	 * every message read). */
	int r = xport_tcp_connect(&pc->tcp, addr);
	if (r < 0) {
		free(pc);
		if (r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM)
			return x_error(x, 502);
		return x_connect_failed(x, -r);
	}
	pc->xp = &pc->tcp;
	if (up->tls) {
		struct xport *t;
		int q = xport_tls_client_new(pw->wk->gen, up->ca, pc->tcp.fd, up->tls_name, up->key,
					     &t);
		if (q < 0) {
			log_warning("proxy: %s: TLS: %s", up->key,
				    q == -ENOENT   ? "no CA credentials in this generation"
				    : q == -EINVAL ? "the CA certificates do not parse"
						   : strerror(-q));
			pc->tcp.ops->close(&pc->tcp);
			free(pc);
			return x_error(x, 502);
		}
		pc->xp = t;
	}
	pc->w.fd = pc->xp->fd;
	pc->w.cb = on_pconn_event;
	pc->up = up;
	pc->timer.cb = on_pconn_idle_timeout;
	pc->defer.fn = pconn_free;
	x_attach(x, pc, false);
	pc->out_watched = r == 0;
	if (loop_add(l, &pc->w, EPOLLIN | EPOLLRDHUP | EPOLLET | (pc->out_watched ? EPOLLOUT : 0)) <
	    0) {
		pc->xp->ops->close(pc->xp);
		free(pc);
		x->pc = NULL;
		return x_error(x, 502);
	}
	if (r == 1) {
		pc->writable = true;
		return x_connected(x);
	}
	x->state = X_CONNECT;
	if (!timer_armed(&x->timer) || x->timer.list != &pw->t_connect)
		timer_arm(l, &pw->t_connect, &x->timer);
	return 0;
}

/* https://: the TLS handshake, still under proxy-connect-timeout. A failure is the
 * upstream's (a certificate that does not verify, no common protocol): 502, and it is said
 * why with the upstream's name. */
static int x_handshake(struct proxy_x *x)
{
	struct pconn *pc = x->pc;
	int r = pc->xp->ops->handshake(pc->xp);
	if (r == -EAGAIN) {
		if (pc->xp->want & XPORT_WANT_WRITE)
			pconn_wait_writable(pc);
		else
			pc->readable = false;
		return 0;
	}
	if (r < 0) {
		struct upstream *up = pc->up;
		bool v6 = strchr(up->tls_name, ':') != NULL;
		log_warning(v6 ? "proxy: https://[%s]:%u: TLS handshake failed: %s"
			       : "proxy: https://%s:%u: TLS handshake failed: %s",
			    up->tls_name, up->port, xport_tls_error(pc->xp));
		return x_next_upstream(x, 502);
	}
	x->state = X_EXCHANGE;
	timer_arm(&x->pw->wk->loop, &x->pw->t_io, &x->timer);
	return x_run(x);
}

static void x_upstream_event(struct proxy_x *x, uint32_t events)
{
	if (x->state == X_CONNECT) {
		if (!x->pc->writable)
			return;
		int err = xport_tcp_connected(&x->pc->tcp);
		if (err) {
			x_connect_failed(x, -err);
			return;
		}
		x_connected(x);
		return;
	}
	if (x->state == X_HANDSHAKE) {
		x_handshake(x);
		return;
	}
	if (x->state == X_EXCHANGE || x->state == X_TUNNEL)
		x_run(x);
}

static void on_x_timer(struct loop *l, struct timer *t)
{
	struct proxy_x *x = container_of(t, struct proxy_x, timer);
	if (x->retry_pending) {
		x->retry_pending = false;
		x_connect(x);
		return;
	}
	switch (x->state) {
	case X_RESOLVE:
	case X_CONNECT:
	case X_HANDSHAKE:
		if (x->state == X_HANDSHAKE)
			log_warning("proxy: https://%s:%u: no TLS handshake within "
				    "proxy-connect-timeout", x->cand[x->cur]->tls_name,
				    x->cand[x->cur]->port);
		x_unwait(x);
		x->state = X_CONNECT;
		if (x->pc)
			up_failed(x, x->cand[x->cur]);
		x_next_upstream(x, 504);
		return;
	case X_EXCHANGE:
		x_error(x, 504);
		return;
	case X_TUNNEL:
		x_abort(x);
		return;
	}
}

/* ---- moving bytes ---------------------------------------------------------------------- */

/* Room for n more bytes at the end of rq; compacting it drops what was already sent (after
 * which the request can no longer be replayed on another connection). */
static bool rq_room(struct proxy_x *x, size_t n)
{
	if (x->rq.len - x->rq_off + n > BODY_ROOM + 64 && x->rq_off < x->rq.len)
		return false;
	if (x->rq.len + n > x->rq.max || x->rq_off == x->rq.len) {
		buf_consume(&x->rq, x->rq_off);
		if (x->rq_off)
			x->replay_ok = false;
		x->rq_off = 0;
	}
	return buf_reserve(&x->rq, n) == 0;
}

static void put_chunk_head(struct buf *b, size_t n)
{
	char h[24];
	int k = snprintf(h, sizeof(h), "%zx\r\n", n);
	buf_append(b, h, (size_t)k);
}

/* Client -> pipe, for a long request body in splice mode. */
static int q_splice_in(struct proxy_x *x)
{
	int progress = 0;
	while (!x->q_done && x->q_pipe_len < SPLICE_CHUNK) {
		size_t want = MIN(SPLICE_CHUNK - x->q_pipe_len, x->q_left);
		ssize_t n = http_x_splice_in(x->c, x->q_pipe[1], want, x->q_pipe_len == 0);
		if (n < 0)
			return x_abort(x); /* the client left mid-body */
		if (n == 0)
			break;
		x->q_pipe_len += (size_t)n;
		x->q_left -= (uint64_t)n;
		x->q_done = x->q_left == 0;
		progress = 1;
	}
	return progress;
}

/* Client body bytes -> rq, re-framed. 1 progress, 0 blocked, GONE. */
static int q_fill(struct proxy_x *x)
{
	if (x->q_done && x->state != X_TUNNEL)
		return 0;
	if (x->q_pipe[0] >= 0)
		return q_splice_in(x);
	int progress = 0;
	for (;;) {
		const char *p;
		size_t avail;
		int end = http_x_body_peek(x->c, &p, &avail);
		if (end < 0)
			return x_error(x, 400);
		if (avail == 0 && !end) {
			if (x->c_eof)
				return progress;
			if (x->q_mode == B_LENGTH && x->q_left >= SPLICE_MIN && x->state == X_EXCHANGE &&
			    x->c->can_splice && x->pc && x->pc->xp->ops->splice_out &&
			    pipe2(x->q_pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
				/* A long body with nothing of it buffered: the rest goes through a
				 * pipe, never user space. It can no longer be sent again elsewhere. */
				x->replay_ok = false;
				return q_splice_in(x) | progress;
			}
			int r = http_x_body_read(x->c);
			if (r < 0) {
				if (x->state == X_TUNNEL) {
					x->c_eof = true;
					return 1;
				}
				return x_abort(x); /* the client left mid-body */
			}
			if (r == 0)
				return progress;
			continue;
		}
		size_t n = MIN(avail, (size_t)BODY_ROOM);
		size_t frame = x->q_mode == B_CHUNKED ? 32 : 0;
		while (n > 0 && !rq_room(x, n + frame))
			n /= 2;
		if (n == 0 && avail > 0)
			return progress;
		if (n > 0) {
			if (x->q_mode == B_CHUNKED)
				put_chunk_head(&x->rq, n);
			buf_append(&x->rq, p, n);
			if (x->q_mode == B_CHUNKED)
				buf_append(&x->rq, "\r\n", 2);
			if (x->q_mode == B_LENGTH)
				x->q_left -= n;
			http_x_body_consume(x->c, n);
			progress = 1;
		}
		if (end && n == avail) {
			if (x->q_mode == B_CHUNKED) {
				if (!rq_room(x, 5))
					return progress;
				buf_append(&x->rq, "0\r\n\r\n", 5);
			}
			x->q_done = true;
			return 1;
		}
	}
}

/* A send would block: watch EPOLLOUT from now on. */
static void pconn_wait_writable(struct pconn *pc)
{
	pc->writable = !loop_watch_writable(&tls_pw->wk->loop, &pc->w, &pc->out_watched);
}

/* rq -> upstream. */
static int q_flush(struct proxy_x *x)
{
	struct pconn *pc = x->pc;
	int progress = 0;
	while (x->rq_off < x->rq.len && pc->writable && !x->q_broken) {
		ssize_t n = xport_write(pc->xp, x->rq.data + x->rq_off, x->rq.len - x->rq_off,
					false);
		if (n < 0) {
			if (n == -EAGAIN && (pc->xp->want & XPORT_WANT_WRITE))
				pconn_wait_writable(pc);
			else if (n == -EAGAIN)
				pc->readable = false; /* (TLS) it waits for a record first */
			else
				x->q_broken = true; /* the response (or the EOF) says what happened */
			break;
		}
		x->rq_off += (size_t)n;
		progress = 1;
	}
	if (x->rq_off == x->rq.len && x->got_bytes && x->rq.len) {
		buf_reset(&x->rq);
		x->rq_off = 0;
	}
	/* Then what waits in the request pipe (it came after rq's bytes). */
	while (x->rq_off == x->rq.len && x->q_pipe_len > 0 && pc->writable && !x->q_broken) {
		ssize_t n = pc->xp->ops->splice_out(pc->xp, x->q_pipe[0], x->q_pipe_len);
		if (n <= 0) {
			if (n == -EAGAIN)
				pconn_wait_writable(pc);
			else
				x->q_broken = true;
			break;
		}
		x->q_pipe_len -= (size_t)n;
		progress = 1;
	}
	return progress;
}

/* upstream -> pipe, for a body in splice mode. */
static int r_splice_in(struct proxy_x *x)
{
	struct pconn *pc = x->pc;
	int progress = 0;
	while (pc->readable && !x->up_eof && !x->r_done && x->pipe_len < SPLICE_CHUNK) {
		size_t want = SPLICE_CHUNK - x->pipe_len;
		if (x->r_mode == B_LENGTH && want > x->r_left)
			want = (size_t)x->r_left;
		ssize_t n = pc->xp->ops->splice_in(pc->xp, x->pipe[1], want);
		if (n > 0) {
			x->pipe_len += (size_t)n;
			x->bytes += (uint64_t)n;
			progress = 1;
			if (x->r_mode == B_LENGTH) {
				x->r_left -= (uint64_t)n;
				x->r_done = x->r_left == 0;
			}
			continue;
		}
		if (n == 0) {
			x->up_eof = true;
			progress = 1;
			break;
		}
		if (n == -EAGAIN) {
			/* The socket is drained, or the pipe is full (it holds a limited number of
			 * pieces, whatever their size): only an empty pipe says which. */
			if (x->pipe_len == 0)
				pc->readable = false;
			break;
		}
		x->up_eof = x->up_err = true;
		progress = 1;
		break;
	}
	return progress;
}

/* upstream -> rs. */
static int r_fill(struct proxy_x *x)
{
	struct pconn *pc = x->pc;
	int progress = 0;
	if (x->pipe[0] >= 0)
		return r_splice_in(x);
	while (pc->readable && !x->up_eof && x->rs.len < RS_MAX) {
		if (buf_reserve(&x->rs, MIN((size_t)16384, RS_MAX - x->rs.len)) < 0)
			break;
		size_t space = MIN(buf_space(&x->rs), RS_MAX - x->rs.len);
		ssize_t n = xport_read(pc->xp, x->rs.data + x->rs.len, space);
		if (n > 0) {
			x->rs.len += (size_t)n;
			x->got_bytes = true;
			progress = 1;
			/* A short read drained the socket: new bytes will raise a new edge, so do not
			 * spend a recv on EAGAIN (one syscall per response). An EOF already queued
			 * is reported once only: then read on until it shows. A TLS transport may
			 * hold more than the socket does (pending). */
			if ((size_t)n < space && !pc->shut && !xport_pending(pc->xp)) {
				pc->readable = false;
				break;
			}
			continue;
		}
		if (n == -EAGAIN) {
			if (pc->xp->want & XPORT_WANT_WRITE)
				pconn_wait_writable(pc); /* (TLS) a record to finish sending first */
			else
				pc->readable = false;
			break;
		}
		x->up_eof = true; /* EOF, or reset */
		x->up_err = n < 0;
		progress = 1;
	}
	return progress;
}

/* Could this request go to another connection? Nothing of a response came, everything sent
 * is still in rq, and sending it twice is harmless. */
static bool x_retryable(const struct proxy_x *x)
{
	return !x->got_bytes && x->replay_ok && x->rq_off <= x->rq.len && x->co.len == 0 &&
	       x->idempotent;
}

static void emit_field(void *arg, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	struct proxy_x *x = arg;
	struct http_exchange *c = x->c;
	/* The site's `hsts` replaces the origin's (http_resp_start_forwarded wrote it). */
	if (c->hsts && str_ieq(name, name_len, "strict-transport-security"))
		return;
	/* proxy-header-down names it: removed, or replaced below */
	for (size_t i = 0; i < x->n_down; i++)
		if (str_ieqn(x->down[i].name, x->down[i].name_len, name, name_len))
			return;
	if (x->enc_hdr) {
		/* Encoded: no byte ranges of it, and its ETag cannot be the identity's strong
		 * one (RFC 9110 §8.8.3.3: a weak one, as nginx does). */
		if (str_ieq(name, name_len, "accept-ranges"))
			return;
		if (str_ieq(name, name_len, "etag") && value_len > 0 && value[0] == '"') {
			char weak[512];
			if (value_len + 2 > sizeof(weak))
				return;
			memcpy(weak, "W/", 2);
			memcpy(weak + 2, value, value_len);
			http_resp_header_n(c, name, name_len, weak, value_len + 2);
			return;
		}
	}
	http_resp_header_n(c, name, name_len, value, value_len);
}

static void start_head(void *arg, const struct http_response *resp)
{
	struct proxy_x *x = arg;
	http_resp_start_forwarded(x->c, resp->status, resp->reason, resp->reason_len);
}

/* The upstream's head, to the client through its protocol: status, reason and the end-to-end
 * fields (Date and Server included: the origin's), with proxy-header-down's changes on a
 * final response. cl as http_resp_end_head takes it. */
static int x_forward_head(struct proxy_x *x, const struct http_response *resp, int64_t cl)
{
	struct http_exchange *c = x->c;
	size_t n_down = x->n_down;
	if (resp->status < 200)
		x->n_down = 0; /* interim responses pass as they are */
	/* Checked in full before start_head is called: a head is never left half written. */
	int r = http_forward_response_each(resp, start_head, emit_field, x);
	if (r == 0)
		for (size_t i = 0; i < x->n_down; i++)
			if (x->down[i].value)
				http_resp_header_n(c, x->down[i].name, x->down[i].name_len,
						   x->down[i].value, x->down[i].value_len);
	x->n_down = n_down;
	if (r < 0)
		return r;
	if (resp->status >= 200 && x->enc_vary)
		http_resp_header(c, "Vary", "Accept-Encoding", 15);
	if (resp->status >= 200 && x->enc_hdr) {
		const char *name = http_coding_name((enum http_coding)x->enc_coding);
		http_resp_header(c, "Content-Encoding", name, strlen(name));
	}
	http_resp_end_head(c, cl);
	return 0;
}

/* Does a comma-separated field value hold this token (alone, or with "=...")? */
static bool value_has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);
	for (size_t i = 0; i < n;) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',' && v[i] != '=' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (str_ieqn(v + s, i - s, tok, tl))
			return true;
		while (i < n && v[i] != ',')
			i++; /* (a quoted "," in a parameter value only starts a token that fails) */
	}
	return false;
}

/* `encode` for a final response: worth compressing (a body the client would see, of a
 * text-like type, not encoded already, not a range, not too small, no `no-transform`)?
 * Then it varies by Accept-Encoding; and when the client takes a coding, it is encoded. */
static void x_encode_decide(struct proxy_x *x, const struct http_response *resp, int framing)
{
	int s = resp->status;
	if (s < 200 || s == 204 || s == 206 || s == 304 || framing == HTTP_FRAMING_TUNNEL)
		return;
	if (framing == HTTP_FRAMING_LENGTH && resp->content_length < ENCODE_MIN_SIZE)
		return;
	if (framing == HTTP_FRAMING_NONE && resp->content_length >= 0 &&
	    resp->content_length < ENCODE_MIN_SIZE) /* HEAD: the size it would have */
		return;
	bool type_ok = false;
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		if (str_ieq(h->name, h->name_len, "content-encoding") ||
		    str_ieq(h->name, h->name_len, "content-range"))
			return;
		if (str_ieq(h->name, h->name_len, "cache-control") &&
		    value_has_token(h->value, h->value_len, "no-transform"))
			return;
		if (str_ieq(h->name, h->name_len, "content-type")) {
			char t[128];
			size_t n = MIN(h->value_len, sizeof(t) - 1);
			for (size_t k = 0; k < n; k++) /* (media types are case-insensitive) */
				t[k] = (char)(h->value[k] >= 'A' && h->value[k] <= 'Z'
						      ? h->value[k] + 32 : h->value[k]);
			t[n] = '\0';
			type_ok = encode_type_ok(t);
		}
	}
	if (!type_ok)
		return;
	x->enc_vary = true;
	if (x->enc_coding < 0)
		return;
	if (framing != HTTP_FRAMING_NONE) {
		x->enc = encoder_new((enum http_coding)x->enc_coding);
		if (!x->enc)
			return; /* (the library could not start one: identity) */
		buf_init(&x->eb, ENC_IN_MAX);
		x->enc_flushed = true;
	}
	x->enc_hdr = true;
}

static int r_head(struct proxy_x *x)
{
	struct proxy_worker *pw = x->pw;
	struct http_response *resp = &pw->resp;
	struct http_response_limits lim = {.max_head = RS_MAX, .max_headers = HTTP_MAX_HEADERS_HARD};
	for (;;) {
		ssize_t r = x->rs.len ? http_parse_response(x->rs.data, x->rs.len, &lim, resp) : 0;
		if (r == 0) {
			if (!x->up_eof)
				return 0;
			if (x->rs.len == 0 && x_retryable(x)) {
				if (x->reused) {
					/* A pooled connection the upstream had closed: a new one. */
					x_release_upstream(x, false);
					return x_connect(x);
				}
				up_failed(x, x->cand[x->cur]);
				return x_next_upstream(x, 502);
			}
			return x_error(x, 502);
		}
		if (r < 0)
			return x_error(x, 502);
		int f = http_response_framing(resp, x->method, x->upgrading);
		if (f < 0 || resp->te_other)
			return x_error(x, 502);
		if (http_response_is_interim(resp)) {
			/* (the protocol drops them for clients that do not take them) */
			if (++x->n_interim > INTERIM_MAX || x_forward_head(x, resp, -1) < 0)
				return x_error(x, 502);
			buf_consume(&x->rs, (size_t)r);
			continue;
		}
		int64_t cl = -1;
		x->status = resp->status;
		if (x->up_start_us) {
			uint64_t us = time_now_usec() - x->up_start_us;
			x->c->upstream_us = (int64_t)us;
			struct worker *wk = x->pw->wk;
			if (wk->srv->metrics)
				stats_observe(&wk->stats.up[x->cand[x->cur]->stats_slot], us);
		}
		x->resp_keep = resp->keep_alive;
		x->client_close = !http_x_keep_alive(x->c) || !x->q_done;
		switch (f) {
		case HTTP_FRAMING_NONE:
			x->r_mode = B_NONE;
			/* Kept on responses to HEAD and on 304: there it states the size of the
			 * representation (RFC 9110 §8.6); never on a 204. */
			cl = resp->status == 204 ? -1 : resp->content_length;
			break;
		case HTTP_FRAMING_LENGTH:
			x->r_mode = B_LENGTH;
			x->r_left = (uint64_t)resp->content_length;
			cl = resp->content_length;
			break;
		case HTTP_FRAMING_CHUNKED:
			x->r_mode = B_CHUNKED;
			http_chunked_init(&x->r_ch);
			cl = HTTP_LENGTH_STREAM;
			break;
		case HTTP_FRAMING_UNTIL_CLOSE:
			/* Delimited by the upstream's close: the client's protocol delimits it its
			 * own way (HTTP/1.1 chunked, so the client keeps its connection: the close
			 * is the upstream's, not the client's). */
			x->r_mode = B_CLOSE;
			x->resp_keep = false;
			cl = HTTP_LENGTH_STREAM;
			break;
		case HTTP_FRAMING_TUNNEL:
			if (!x->q_done || resp->status != 101)
				return x_error(x, 502);
			x->r_mode = B_RAW;
			x->q_mode = B_RAW;
			x->state = X_TUNNEL;
			x->resp_keep = false;
			break;
		}
		if (x->enc_block && x->state != X_TUNNEL) {
			x_encode_decide(x, resp, f);
			if (x->enc_hdr) /* (HEAD too: the head a GET would get) */
				cl = HTTP_LENGTH_STREAM;
		}
		if (x->client_close)
			http_resp_close(x->c);
		if (x_forward_head(x, resp, cl) < 0)
			return x_error(x, 502);
		if (x->state == X_TUNNEL)
			http_x_tunnel(x->c);
		buf_consume(&x->rs, (size_t)r);
		x->head_done = true;
		if (x->r_mode == B_NONE || (x->r_mode == B_LENGTH && x->r_left == 0))
			x->r_done = true;
		return 1;
	}
}

/* Move the rest of the body with splice(2) rather than through user space? Only a long body
 * that passes through unchanged, once nothing of it waits in rs; a close-delimited one once
 * it has proved long. A tunnel keeps its buffers (it moves both ways). */
static void x_maybe_splice(struct proxy_x *x)
{
	bool long_body = (x->r_mode == B_LENGTH && x->r_left >= SPLICE_MIN) ||
			 (x->r_mode == B_CLOSE && x->bytes >= SPLICE_MIN);
	if (x->pipe[0] >= 0 || x->r_done || x->rs.len != 0 || !long_body || !x->c->can_splice ||
	    !x->pc->xp->ops->splice_in)
		return;
	if (pipe2(x->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		x->pipe[0] = x->pipe[1] = -1; /* out of fds: the buffers do it */
}

/* Does the response body go to the client byte for byte (no re-framing)? */
static bool passes_through(const struct proxy_x *x)
{
	return x->r_mode == B_LENGTH || x->r_mode == B_RAW || x->r_mode == B_CLOSE;
}

/* An encoded body: rs -> eb, de-framed; eb -> the encoder -> co. The encoder is flushed
 * whenever the upstream has nothing more for now (a slow stream goes out as it comes), and
 * ended with the body. */
static int r_encode(struct proxy_x *x)
{
	int progress = 0;
	while (!x->r_done && x->rs.len > 0 && x->eb.len < ENC_IN_MAX) {
		size_t n = MIN(x->rs.len, ENC_IN_MAX - x->eb.len), used;
		if (x->r_mode == B_CHUNKED) {
			size_t dlen;
			ssize_t r = http_chunked_decode(&x->r_ch, x->rs.data, n, &dlen);
			if (r < 0)
				return x_abort(x);
			if (dlen > 0 && buf_append(&x->eb, x->rs.data, dlen) < 0)
				return x_abort(x);
			used = (size_t)r;
			x->r_done = http_chunked_done(&x->r_ch);
		} else {
			if (x->r_mode == B_LENGTH && n > x->r_left)
				n = (size_t)x->r_left;
			if (buf_append(&x->eb, x->rs.data, n) < 0)
				return x_abort(x);
			used = n;
			if (x->r_mode == B_LENGTH) {
				x->r_left -= n;
				x->r_done = x->r_left == 0;
			}
		}
		buf_consume(&x->rs, used);
		progress = 1;
		if (used == 0)
			break;
	}
	if (!x->r_done && x->up_eof && x->rs.len == 0) {
		if (x->r_mode == B_CLOSE && !x->up_err)
			x->r_done = true;
		else
			return x_abort(x); /* cut short: the client must not take it as complete */
	}
	while (!x->enc_ended) {
		enum encode_op op = ENCODE_RUN;
		if (x->r_done)
			op = ENCODE_END;
		else if (x->rs.len == 0 && !x->pc->readable && !x->enc_flushed)
			op = ENCODE_FLUSH;
		if (op == ENCODE_RUN && x->eb.len == 0)
			break;
		if (x->co.len + 64 > CO_MAX || buf_reserve(&x->co, CO_MAX - x->co.len) < 0)
			break; /* the client has not taken what waits: read no more upstream */
		size_t in, out;
		int r = encoder_run(x->enc, x->eb.data, x->eb.len, &in, x->co.data + x->co.len,
				    CO_MAX - x->co.len, &out, op);
		if (r < 0)
			return x_abort(x);
		buf_consume(&x->eb, in);
		x->co.len += out;
		x->bytes += out;
		if (in || out)
			progress = 1;
		if (in)
			x->enc_flushed = false;
		if (r == 1 && op == ENCODE_FLUSH)
			x->enc_flushed = true;
		if (r == 1 && op == ENCODE_END)
			x->enc_ended = true;
		if (r == 1 && op != ENCODE_RUN)
			break;
		if (r == 0 && !in && !out)
			break;
	}
	return progress;
}

/* rs -> co: the head (to the client's protocol), then the body, de-framed. */
static int r_process(struct proxy_x *x)
{
	int progress = 0;
	if (!x->head_done) {
		int r = r_head(x);
		if (r <= 0 || !x->head_done)
			return r;
		progress = 1;
	}
	if (x->enc) {
		int r = r_encode(x);
		return r == GONE ? GONE : r | progress;
	}
	while (!x->r_done && x->rs.len > 0) {
		if (x->co.len == 0 && passes_through(x) &&
		    (x->r_mode != B_LENGTH || x->rs.len <= x->r_left)) {
			/* Body bytes that go out as they came, and nothing waiting before them:
			 * the read buffer becomes the write buffer (no copy). */
			size_t n = x->rs.len;
			buf_swap(&x->rs, &x->co);
			x->co_off = 0;
			x->bytes += n;
			if (x->r_mode == B_LENGTH) {
				x->r_left -= n;
				x->r_done = x->r_left == 0;
			}
			progress = 1;
			break;
		}
		size_t room = CO_MAX - x->co.len;
		if (room < 64)
			break;
		size_t n = MIN(x->rs.len, room - 32), used;
		switch (x->r_mode) {
		case B_CLOSE:
		case B_LENGTH:
			if (x->r_mode == B_LENGTH && n > x->r_left)
				n = (size_t)x->r_left;
			/* fallthrough */
		case B_RAW:
			buf_append(&x->co, x->rs.data, n);
			used = n;
			x->bytes += n;
			if (x->r_mode == B_LENGTH) {
				x->r_left -= n;
				x->r_done = x->r_left == 0;
			}
			break;
		case B_CHUNKED: {
			size_t dlen;
			ssize_t r = http_chunked_decode(&x->r_ch, x->rs.data, n, &dlen);
			if (r < 0)
				return x_abort(x);
			if (dlen > 0) {
				buf_append(&x->co, x->rs.data, dlen);
				x->bytes += dlen;
			}
			used = (size_t)r;
			if (http_chunked_done(&x->r_ch))
				x->r_done = true;
			break;
		}
		default:
			used = 0;
			break;
		}
		buf_consume(&x->rs, used);
		progress = 1;
		if (used == 0)
			break;
	}
	x_maybe_splice(x);
	if (!x->r_done && x->up_eof && x->rs.len == 0) {
		if (x->r_mode == B_CLOSE && !x->up_err) {
			x->r_done = true;
		} else if (x->r_mode != B_RAW) {
			return x_abort(x); /* cut short: the client must not take it as complete */
		}
	}
	return progress;
}

/* co -> client. */
static int c_flush(struct proxy_x *x)
{
	int progress = 0;
	/* A head (interim or final) with no body bytes yet goes out now. */
	if (x->co_off == x->co.len && http_x_send(x->c, NULL, 0) < 0)
		return x_abort(x);
	while (x->co_off < x->co.len) {
		ssize_t n = http_x_send(x->c, x->co.data + x->co_off, x->co.len - x->co_off);
		if (n < 0)
			return x_abort(x);
		if (n == 0)
			break;
		x->co_off += (size_t)n;
		progress = 1;
	}
	if (x->co_off == x->co.len) {
		buf_reset(&x->co);
		x->co_off = 0;
		/* Then what waits in the pipe (it came after co's bytes). */
		while (x->pipe_len > 0) {
			ssize_t n = http_x_splice_out(x->c, x->pipe[0], x->pipe_len);
			if (n < 0)
				return x_abort(x);
			if (n == 0)
				break;
			x->pipe_len -= (size_t)n;
			progress = 1;
		}
	}
	return progress;
}

static int x_check_done(struct proxy_x *x)
{
	bool flushed_up = x->rq_off == x->rq.len && x->q_pipe_len == 0,
	     flushed_client = x->co.len == 0 && x->pipe_len == 0;
	if (x->state == X_TUNNEL) {
		if ((x->c_eof && flushed_up) || (x->up_eof && x->rs.len == 0 && flushed_client) ||
		    x->q_broken)
			return x_abort(x);
		return 0;
	}
	if (!x->r_done || !flushed_client || (x->enc && !x->enc_ended))
		return 0;
	bool complete = x->q_done && flushed_up && !x->q_broken;
	bool reuse = complete && x->resp_keep && !x->up_eof && x->rs.len == 0 && !x->pp &&
		     x->r_mode != B_CLOSE;
	return x_end(x, reuse, complete && !x->client_close);
}

static int x_run(struct proxy_x *x)
{
	/* Each step moves bytes one hop on: 1 progress, 0 blocked, GONE (x was freed). */
	static int (*const steps[])(struct proxy_x *) = {q_fill, q_flush, r_fill, r_process,
							   c_flush};
	for (;;) {
		int p = 0;
		for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
			int r = steps[i](x);
			if (r == GONE)
				return GONE;
			p |= r;
		}
		if (x_check_done(x) == GONE)
			return GONE;
		if (x->state != X_EXCHANGE && x->state != X_TUNNEL)
			return 0; /* retrying on another connection */
		if (!p)
			return 0;
		timer_arm(&x->pw->wk->loop, &x->pw->t_io, &x->timer);
	}
}

/* The client side can make progress. */
static void proxy_client_event(void *arg)
{
	struct proxy_x *x = arg;
	if (x->state == X_EXCHANGE || x->state == X_TUNNEL)
		x_run(x);
}

/* The client connection is closing: drop the exchange (the upstream connection is closed). */
static void proxy_abort(void *arg)
{
	x_free(arg);
}

static const struct http_stream_cb proxy_stream_cb = {
	.event = proxy_client_event,
	.abort = proxy_abort,
};

/* ---- starting -------------------------------------------------------------------------- */

/* proxy-header-down's fields, copied for the exchange (see struct proxy_x). */
static void x_copy_down(struct proxy_x *x, const struct config_proxy *px)
{
	size_t size = px->n_hdr_down * sizeof(*x->down);
	for (size_t i = 0; i < px->n_hdr_down; i++)
		size += px->hdr_down[i].name_len + px->hdr_down[i].value_len;
	x->down = xmalloc(size);
	char *s = (char *)(x->down + px->n_hdr_down);
	for (size_t i = 0; i < px->n_hdr_down; i++) {
		const struct http_field_op *op = &px->hdr_down[i];
		struct http_field_op *d = &x->down[i];
		*d = *op;
		d->name = memcpy(s, op->name, op->name_len);
		s += op->name_len;
		if (op->value) {
			d->value = op->value_len ? memcpy(s, op->value, op->value_len) : s;
			s += op->value_len;
		}
	}
	x->n_down = px->n_hdr_down;
}

/* proxy-strip-prefix: the normalized path without the block's prefix (always starting with
 * '/'), encoded again, and the query as the client sent it. NULL (400) when the target does
 * not normalize (routing already refused those) or is not origin- or absolute-form. */
static char *strip_target(const struct http_request *req, size_t strip, size_t *ret_len)
{
	char path[HTTP_PATH_MAX];
	int n = http_path_normalize(req->target, req->target_len, path, sizeof(path));
	if (n < 0 || (size_t)n < strip)
		return NULL;
	const char *rest = path + strip;
	size_t rest_len = (size_t)n - strip;
	const char *q = memchr(req->target, '?', req->target_len);
	size_t q_len = q ? req->target_len - (size_t)(q - req->target) : 0;
	size_t size = 1 + 3 * rest_len + q_len + 1;
	char *t = xmalloc(size);
	size_t o = 0;
	if (rest_len == 0 || rest[0] != '/')
		t[o++] = '/';
	int e = http_path_encode(rest, rest_len, t + o, size - o - q_len);
	if (e < 0) {
		free(t);
		return NULL;
	}
	o += (size_t)e;
	if (q_len)
		memcpy(t + o, q, q_len);
	*ret_len = o + q_len;
	return t;
}

static bool method_idempotent(enum http_method m)
{
	switch (m) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
	case HTTP_M_PUT:
	case HTTP_M_DELETE:
	case HTTP_M_OPTIONS:
	case HTTP_M_TRACE:
		return true;
	default:
		return false;
	}
}

static void proxy_serve(struct http_exchange *c, const struct http_request *req,
			const struct http_route *rt)
{
	const struct config_proxy *px = rt->proxy;
	struct worker *wk = c->wk;
	struct proxy_worker *pw = pw_get(wk);
	const struct config *cfg = wk->gen->cfg;
	struct proxy_x *x = x_new(pw);
	x->c = c;
	x->pw = pw;
	x->timer.cb = on_x_timer;
	x->method = req->method_id;
	x->upgrading = req->upgrade;
	x->idempotent = method_idempotent(req->method_id);
	x->pp = px->proxy_protocol;
	x->replay_ok = true;
	x->state = X_CONNECT;
	x->rq.max = cfg->max_header_bytes + 16384 + BODY_ROOM; /* (buffers maybe from a spare) */
	x->rs.max = RS_MAX;
	x->co.max = CO_MAX;
	http_x_set_stream(c, &proxy_stream_cb, x);

	if (req->method_id == HTTP_M_CONNECT) {
		x_error(x, 405);
		return;
	}

	/* The upstreams it may go to; {host} names one from the request. */
	for (size_t i = 0; i < px->n_ups; i++) {
		const struct config_upstream *cu = &px->ups[i];
		struct upstream *up;
		if (cu->host_tmpl) {
			char host[256];
			if (request_host(req, host, sizeof(host)) < 0 ||
			    (!strchr(host, ':') && !valid_name(host))) {
				x_error(x, 400);
				return;
			}
			up = upstream_of_host(pw, host, cu->port, cu->tls, px->upstream_ca);
			if (!x->allow) {
				x->allow = xmalloc(px->n_allow * sizeof(*x->allow));
				memcpy(x->allow, px->allow, px->n_allow * sizeof(*x->allow));
				x->n_allow = px->n_allow;
			}
		} else {
			up = upstream_of_config(pw, cu, px->upstream_ca);
		}
		up->stats_slot = cu->stats_slot;
		up->refs++;
		x->cand[x->n_cand++] = up;
	}

	/* What goes upstream first: the PROXY header, then the head. */
	socklen_t plen = c->peer_len;
	const struct sockaddr *peer = c->peer;
	if (x->pp) {
		struct sockaddr_storage local;
		socklen_t llen = sizeof(local);
		if (http_x_local_addr(c, &local, &llen) < 0)
			llen = 0;
		char h[PROXYPROTO_ENCODE_MAX];
		ssize_t n = proxyproto_encode(x->pp, plen ? peer : NULL, plen,
					      llen ? (struct sockaddr *)&local : NULL, llen, h,
					      sizeof(h));
		if (n < 0 || buf_append(&x->rq, h, (size_t)n) < 0) {
			x_error(x, 500);
			return;
		}
	}
	if (px->n_hdr_down)
		x_copy_down(x, px);
	/* `encode`: the coding is chosen now, while the request is at hand (ranges: never) */
	x->enc_coding = -1;
	if (rt->rules && rt->rules->n_encode) {
		unsigned char order[HTTP_CODING_N];
		x->enc_block = true;
		if (!http_request_header(req, "range") &&
		    encode_accepted(req, rt->rules->encode, rt->rules->n_encode, order))
			x->enc_coding = order[0];
	}
	char *target = NULL;
	size_t target_len = 0;
	if (px->strip_prefix && !(target = strip_target(req, px->strip_prefix, &target_len))) {
		x_error(x, 400);
		return;
	}
	struct http_forward_opts fo = {
		.peer = plen ? peer : NULL,
		.peer_len = plen,
		.peer_trusted = plen && cidr_list_match(cfg->trusted_proxies,
							cfg->n_trusted_proxies, peer, plen),
		.content_length = req->chunked ? -1 : req->content_length,
		.chunked = req->chunked,
		.upgrade = req->upgrade,
		.https = c->secure,
		.host = px->host,
		.host_len = px->host ? strlen(px->host) : 0,
		.target = target,
		.target_len = target_len,
		.ops = px->hdr_up,
		.n_ops = px->n_hdr_up,
	};
	int r = http_forward_request(&x->rq, req, &fo);
	free(target);
	if (r < 0) {
		x_error(x, r == -EDESTADDRREQ ? 400 : 500);
		return;
	}
	if (req->chunked) {
		x->q_mode = B_CHUNKED; /* the protocol de-frames it, ferry chunks it upstream */
	} else if (req->content_length > 0) {
		x->q_mode = B_LENGTH;
		x->q_left = (uint64_t)req->content_length;
	} else {
		x->q_mode = B_NONE;
		x->q_done = true;
	}

	/* Round robin over the upstreams that are not down. */
	x->cur = x->n_cand ? pw->rr++ % x->n_cand : 0;
	if (!x_pick(x)) {
		x_error(x, 503);
		return;
	}
	x->connect_deadline_ms = wk->loop.now_ms + cfg->proxy_connect_timeout_ms;
	c->upstream_us = -1;
	/* the access log's json format and the metrics page want the upstream's time */
	if (c->start_us || wk->srv->metrics)
		x->up_start_us = time_now_usec();
	x_connect(x);
}

const struct http_handler proxy_handler = {
	.name = "proxy",
	.streams_body = true,
	.serve = proxy_serve,
};
