/* HTTP/3: QUIC connections (ngtcp2) on a UDP socket, HTTP/3 (nghttp3) on each, and every
 * request stream as an http_exchange. The shape is h2.c's: callbacks of the libraries only
 * record (a header field, body bytes, "ready"), a pass (conn_process) serves the streams that
 * became ready, tells streaming handlers what changed, then writes packets; handlers are
 * never called from inside ngtcp2 or nghttp3, and a handler's call that has something to send
 * asks for a pass after the current batch of events (kick).
 *
 * Response bytes go to ngtcp2 without a copy, so they must stay put until the client
 * acknowledges them: each stream keeps them in a chain of 16 KiB chunks (memory bodies are
 * copied in, files read in with pread as the window allows), freed as ACKs come. */
#include "proto/h3.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/macro.h"
#include "base/str.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "core/log.h"
#include "core/server.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"
#include "http/reqhead.h"
#include "net/addr.h"
#include "net/udprx.h"
#include "proto/accesslog.h"
#include "proto/h3dispatch.h"
#include "xport/tls.h"

#define H3_CID_LEN H3DISPATCH_CID_LEN /* the server's connection IDs */
#define H3_STREAM_WINDOW (256 << 10) /* request body bytes a stream may hold, at first */
#define H3_CONN_WINDOW (1 << 20)     /* ... all streams of a connection together */
/* ... and as ngtcp2 grows the windows for a fast client (auto-tuning) */
#define H3_STREAM_WINDOW_MAX (1 << 20)
#define H3_CONN_WINDOW_MAX (4 << 20)
#define H3_OUT_MAX (256 << 10)       /* response bytes a stream holds until acknowledged */
#define H3_CHUNK 16384
#define H3_RSP_HEAD_MAX 65536
#define H3_RSP_FIELDS_MAX 256
#define H3_COPY_MAX (1 << 20)
#define H3_DISCARD_MAX (64ull << 20)
#define H3_TX_SIZE 65536  /* packets of one connection sent together (GSO) */
#define H3_TX_PKTS 32
#define H3_MAX_CIDS 16    /* connection IDs a connection is found by */
#define H3_MAP_BUCKETS 4096
#define H3_ROUNDS 32
#define H3_RETRY_TIMEOUT (10 * NGTCP2_SECONDS)
#define H3_INBOX_MAX 2048 /* datagrams waiting for their worker (then dropped) */
#define H3_GOAWAY_MS 50    /* from the GOAWAY notice to the final one, at least */
#define H3_RETRIED_MAX 64 /* client connection IDs answered with a Retry mid-flight ... */
#define H3_RETRIED_NS (3 * NGTCP2_SECONDS) /* ... remembered this long */
/* Streams the client resets or stops (rapid reset, CVE-2023-44487, as in h2.c): a token
 * bucket per connection; empty: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD). */
#define H3_RESET_BURST 200
#define H3_RESET_RATE 30

/* QUIC carries TLS 1.3 only, without the middlebox compatibility mode (RFC 9001 §8.4). */
static const char H3_PRIORITY[] =
	"NONE:+VERS-TLS1.3:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:+ECDHE-ECDSA:"
	"+ECDHE-RSA:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+SIGN-ALL:-SIGN-RSA-SHA1:"
	"-SIGN-ECDSA-SHA1:-SIGN-RSA-SHA224:-SIGN-ECDSA-SHA224:+COMP-NULL:+CTYPE-X509:"
	"%DISABLE_TLS13_COMPAT_MODE";

enum h3s_state { S_HEAD, S_BODY, S_SERVE, S_HANDLER, S_WRITE };
enum h3s_src { SRC_NONE, SRC_MEM, SRC_FILE };

struct chunk {
	struct chunk *next;
	size_t len;
	char data[H3_CHUNK];
};

struct h3_conn;

struct h3_stream {
	struct http_exchange x; /* first: the handler's view */
	struct h3_conn *c;
	struct h3_stream *prev, *next;
	int64_t id;
	enum h3s_state state;
	bool ready, notify, streams, reroute, remote_done, reset;
	bool head_done, head_sent, has_body, ended, blocked, send_full;
	bool too_large, rsp_overflow, forwarded;
	int error;
	int status;
	uint64_t body_bytes;
	uint64_t dropped;
	size_t hdr_bytes;
	unsigned n_fields;
	struct timer deadline;
	struct http_route rt;

	struct buf rsp; /* response head being built: records of (name, value) */
	unsigned n_rsp;

	/* the body's source not yet in the chunks */
	enum h3s_src src;
	const char *mem;
	size_t mem_len;
	void *owned; /* http_resp_body_owned: freed with the stream */
	int file_fd;
	off_t file_off, file_end;
	/* the body in chunks: acknowledged up to (ack, ack_off), handed to nghttp3 up to
	 * (snd, snd_off), filled up to the last one's len */
	struct chunk *ack, *snd, *last;
	size_t ack_off, snd_off;
	size_t held;   /* bytes in the chunks not acknowledged yet */
	size_t unsent; /* ... not handed to nghttp3 yet */

	struct buf in; /* request body bytes the streaming handler has not consumed */
	const struct http_stream_cb *cb;
	void *cb_arg;

	struct buf head; /* request fields: records of (name, value) */
	struct http_request req;
};

struct cid_ent {
	struct cid_ent *next;
	ngtcp2_cid cid;
	struct h3_conn *c;
};

struct h3_conn {
	struct conn_link link;
	struct worker *wk;
	int fd;
	ngtcp2_conn *q;
	nghttp3_conn *h;
	gnutls_session_t tls;
	ngtcp2_crypto_conn_ref ref;
	struct server_gen *gen; /* held during the handshake (the certificates) */
	bool counted;           /* in `handshakes` */
	bool processing, kick_pending, closed, dirty;
	bool stopping;     /* GOAWAY is due: the notice first (once HTTP/3 is set up) ... */
	bool goaway_final; /* ... then, a round trip later, the last request stream taken */
	uint64_t app_error; /* the HTTP/3 error code a failed callback left for the close */
	unsigned reset_tokens;
	uint64_t reset_ms;
	struct h3_conn *next_dirty;
	struct h3_conn *prev_all, *next_all; /* the worker's connections (h3_worker.all) */
	char *tls_name;
	size_t tls_name_len;
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	ngtcp2_cid cids[H3_MAX_CIDS];
	size_t n_cids;
	struct timer timer; /* ngtcp2's expiry (deadline heap) */
	struct timer idle;  /* keepalive-timeout with no request stream open */
	struct timer final; /* from the GOAWAY notice to the final GOAWAY */
	struct deferred defer;
	struct h3_stream *streams, *lastst;
	unsigned n_streams;
};

/* A datagram read by one worker for a connection of another. */
struct h3_pkt {
	struct h3_pkt *next;
	int fd;
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	size_t len;
	uint8_t data[];
};

/* Each worker's: what the others read for its connections. */
struct h3_inbox {
	pthread_mutex_t lock;
	struct h3_pkt *head, *tail;
	unsigned n;
	struct watcher w; /* eventfd: something was put in */
	struct worker *wk;
};

/* Per process: one inbox per worker, made with the first worker (before any thread runs),
 * freed by the last one to exit. */
static struct h3_inbox *inboxes;
static unsigned n_inboxes;
static atomic_uint inbox_users;

struct h3_worker {
	struct cid_ent *map[H3_MAP_BUCKETS];
	uint8_t tx[H3_TX_SIZE];
	struct h3_conn *dirty;
	struct h3_conn *all;
	uint64_t gen_id; /* the generation the connections were told about */
	bool no_gso;
	struct udprx rx; /* its buffer made at the first read */
	/* The client connection IDs whose first flight got a Retry after it had begun (see
	 * conn_read): a late packet of that flight must not start a second connection. */
	struct {
		ngtcp2_cid dcid;
		ngtcp2_tstamp until;
	} retried[H3_RETRIED_MAX];
	unsigned retried_next;
};

static atomic_uint handshakes; /* in progress, in every worker */
static uint8_t secret[32];     /* stateless reset and Retry tokens */
static gnutls_priority_t priority;
static ngtcp2_callbacks qcb;
static nghttp3_callbacks hcb;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static const gnutls_datum_t alpn_h3 = {(unsigned char *)"h3", 2};

static const struct http_exchange_ops h3_ops;
static void conn_process(struct h3_conn *c);
static void conn_close(struct h3_conn *c, bool send_close, uint64_t app_error);
static void conn_close_err(struct h3_conn *c, const ngtcp2_ccerr *err);
static void kick(struct h3_conn *c);
static void goaway_notice(struct h3_conn *c);
static void send_retry(struct worker *wk, int fd, const ngtcp2_path *path,
		       const ngtcp2_pkt_hd *hd);

static struct h3_worker *h3w(struct worker *wk)
{
	return worker_slot(wk, WORKER_SLOT_H3, sizeof(struct h3_worker));
}

static const struct config *cfg_of(const struct h3_conn *c)
{
	return c->wk->gen->cfg;
}

static struct h3_stream *stream_of(struct http_exchange *x)
{
	return container_of(x, struct h3_stream, x);
}

static ngtcp2_tstamp now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NGTCP2_SECONDS + (uint64_t)ts.tv_nsec;
}

static void rand_bytes(void *p, size_t n)
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, p, n) < 0)
		abort(); /* no randomness: no QUIC */
}

/* ---- connection IDs -> connections (per worker) ---------------------------------------- */

/* The IDs ferry makes start with their worker's index (h3dispatch.h), and a client's own
 * first ID (its Initial packets) falls on one worker as well, whichever reads it. */
static void new_cid(const struct worker *wk, ngtcp2_cid *cid)
{
	cid->datalen = H3_CID_LEN;
	rand_bytes(cid->data, H3_CID_LEN);
	h3dispatch_mark(cid->data, H3_CID_LEN, wk->id);
}

static size_t cid_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)(h % H3_MAP_BUCKETS);
}

static struct h3_conn *map_find(struct h3_worker *w, const uint8_t *p, size_t n)
{
	for (struct cid_ent *e = w->map[cid_hash(p, n)]; e; e = e->next)
		if (e->cid.datalen == n && memcmp(e->cid.data, p, n) == 0)
			return e->c;
	return NULL;
}

static void map_del(struct h3_worker *w, const ngtcp2_cid *cid)
{
	for (struct cid_ent **pe = &w->map[cid_hash(cid->data, cid->datalen)]; *pe;
	     pe = &(*pe)->next) {
		struct cid_ent *e = *pe;
		if (ngtcp2_cid_eq(&e->cid, cid)) {
			*pe = e->next;
			free(e);
			return;
		}
	}
}

static int conn_add_cid(struct h3_conn *c, const ngtcp2_cid *cid)
{
	struct h3_worker *w = h3w(c->wk);
	if (c->n_cids == H3_MAX_CIDS || map_find(w, cid->data, cid->datalen))
		return -1;
	struct cid_ent *e = xmalloc(sizeof(*e));
	e->cid = *cid;
	e->c = c;
	size_t b = cid_hash(cid->data, cid->datalen);
	e->next = w->map[b];
	w->map[b] = e;
	c->cids[c->n_cids++] = *cid;
	return 0;
}

static void conn_del_cid(struct h3_conn *c, const ngtcp2_cid *cid)
{
	for (size_t i = 0; i < c->n_cids; i++) {
		if (ngtcp2_cid_eq(&c->cids[i], cid)) {
			map_del(h3w(c->wk), cid);
			c->cids[i] = c->cids[--c->n_cids];
			return;
		}
	}
}

/* ---- sending datagrams ------------------------------------------------------------------- */

/* len bytes of packets (each seg bytes but the last) to the path's remote, from its local
 * address (the socket may be bound to a wildcard one). */
static void send_packets(struct h3_worker *w, int fd, const ngtcp2_path *path, const uint8_t *p,
			 size_t len, size_t seg)
{
	char ctl[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
	memset(ctl, 0, sizeof(ctl));
	struct iovec iov = {(void *)p, len};
	struct msghdr m = {.msg_name = path->remote.addr, .msg_namelen = path->remote.addrlen,
			   .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl};
	size_t cl = 0;
	struct cmsghdr *cm = (struct cmsghdr *)ctl;
	const struct sockaddr *la = path->local.addr;
	if (la && la->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)la;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			struct in_pktinfo pi = {0};
			memcpy(&pi.ipi_spec_dst, &s6->sin6_addr.s6_addr[12], 4);
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			cl += CMSG_SPACE(sizeof(pi));
		} else if (!IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr)) {
			struct in6_pktinfo pi = {.ipi6_addr = s6->sin6_addr};
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			cl += CMSG_SPACE(sizeof(pi));
		}
	} else if (la && la->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)la;
		if (s4->sin_addr.s_addr != INADDR_ANY) {
			struct in_pktinfo pi = {.ipi_spec_dst = s4->sin_addr};
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			cl += CMSG_SPACE(sizeof(pi));
		}
	}
	if (seg < len && !w->no_gso) {
		cm = (struct cmsghdr *)(ctl + cl);
		uint16_t s = (uint16_t)seg;
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(s));
		memcpy(CMSG_DATA(cm), &s, sizeof(s));
		cl += CMSG_SPACE(sizeof(s));
	}
	m.msg_controllen = cl;
	if (cl == 0)
		m.msg_control = NULL;
	if (seg < len && w->no_gso) {
		/* one packet at a time */
		size_t base = cl;
		m.msg_controllen = base;
		for (size_t off = 0; off < len; off += seg) {
			iov.iov_base = (void *)(p + off);
			iov.iov_len = MIN(seg, len - off);
			while (sendmsg(fd, &m, MSG_DONTWAIT) < 0 && errno == EINTR)
				;
		}
		return;
	}
	ssize_t r;
	do
		r = sendmsg(fd, &m, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EIO && seg < len) {
		/* No GSO on this path (a device without checksum offload): packet by packet. */
		w->no_gso = true;
		send_packets(w, fd, path, p, len, seg);
	}
	/* EAGAIN: the socket buffer is full; the packets count as lost and ngtcp2 resends. */
}

/* ---- the output chunks ------------------------------------------------------------------- */

static size_t chunk_room(struct h3_stream *s)
{
	return s->last ? H3_CHUNK - s->last->len : 0;
}

static char *chunk_tail(struct h3_stream *s, size_t *ret_room)
{
	if (!s->last || s->last->len == H3_CHUNK) {
		struct chunk *k = xmalloc(sizeof(*k));
		k->next = NULL;
		k->len = 0;
		if (s->last)
			s->last->next = k;
		else
			s->ack = s->snd = k;
		s->last = k;
	}
	*ret_room = chunk_room(s);
	return s->last->data + s->last->len;
}

static void chunk_append(struct h3_stream *s, const void *p, size_t n)
{
	while (n > 0) {
		size_t room;
		char *d = chunk_tail(s, &room);
		size_t k = MIN(room, n);
		memcpy(d, p, k);
		s->last->len += k;
		s->held += k;
		s->unsent += k;
		p = (const char *)p + k;
		n -= k;
	}
}

/* Move what the source has into the chunks: no more than the client's window for the stream
 * lets go out (want) beyond what waits already, and H3_OUT_MAX held in all, so that a client
 * that does not read costs no memory. -1: a read failed. */
static int fill(struct h3_stream *s, uint64_t want)
{
	while (s->held < H3_OUT_MAX && s->unsent < want) {
		size_t cap = (size_t)MIN((uint64_t)(H3_OUT_MAX - s->held), want - s->unsent);
		if (s->src == SRC_MEM) {
			size_t k = MIN(s->mem_len, cap);
			chunk_append(s, s->mem, k);
			s->mem += k;
			s->mem_len -= k;
			if (s->mem_len == 0)
				s->src = SRC_NONE;
			continue;
		}
		if (s->src != SRC_FILE)
			return 0;
		if (s->file_off >= s->file_end) {
			close(s->file_fd);
			s->file_fd = -1;
			s->src = SRC_NONE;
			return 0;
		}
		size_t room;
		char *d = chunk_tail(s, &room);
		size_t n = (size_t)MIN((off_t)MIN(room, cap), s->file_end - s->file_off);
		ssize_t r = pread(s->file_fd, d, n, s->file_off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1; /* an error, or the file shrank: the response cannot be complete */
		s->last->len += (size_t)r;
		s->held += (size_t)r;
		s->unsent += (size_t)r;
		s->file_off += r;
	}
	return 0;
}

static void chunks_free(struct h3_stream *s)
{
	struct chunk *k = s->ack;
	while (k) {
		struct chunk *n = k->next;
		free(k);
		k = n;
	}
	s->ack = s->snd = s->last = NULL;
	s->ack_off = s->snd_off = 0;
	s->held = s->unsent = 0;
}

/* n more bytes were acknowledged. */
static void chunks_acked(struct h3_stream *s, uint64_t n)
{
	while (n > 0 && s->ack) {
		size_t k = (size_t)MIN((uint64_t)(s->ack->len - s->ack_off), n);
		s->ack_off += k;
		s->held -= k;
		n -= k;
		if (s->ack_off == s->ack->len && s->ack->len == H3_CHUNK) {
			struct chunk *done = s->ack;
			s->ack = done->next;
			s->ack_off = 0;
			if (s->snd == done) {
				s->snd = done->next;
				s->snd_off = 0;
			}
			if (s->last == done)
				s->last = NULL;
			free(done);
		} else if (k == 0) {
			break;
		}
	}
}

/* ---- streams ----------------------------------------------------------------------------- */

static struct h3_stream *stream_new(struct h3_conn *c, int64_t id)
{
	struct h3_stream *s = xmalloc(sizeof(*s));
	memset(s, 0, offsetof(struct h3_stream, req));
	s->x.ops = &h3_ops;
	s->x.wk = c->wk;
	s->x.peer = (const struct sockaddr *)&c->peer;
	s->x.peer_len = c->peer_len;
	s->x.secure = true;
	s->x.tls_name = c->tls_name;
	s->x.tls_name_len = c->tls_name_len;
	s->c = c;
	s->id = id;
	s->state = S_HEAD;
	s->file_fd = -1;
	buf_init(&s->head, 2 * cfg_of(c)->max_header_bytes + 64);
	buf_init(&s->rsp, H3_RSP_HEAD_MAX);
	buf_init(&s->in, H3_STREAM_WINDOW_MAX);
	s->prev = c->lastst;
	if (c->lastst)
		c->lastst->next = s;
	else
		c->streams = s;
	c->lastst = s;
	c->n_streams++;
	timer_cancel(&c->idle);
	return s;
}

static void stream_close_file(struct h3_stream *s)
{
	if (s->file_fd >= 0)
		close(s->file_fd);
	s->file_fd = -1;
	if (s->src == SRC_FILE)
		s->src = SRC_NONE;
}

static void stream_free(struct h3_conn *c, struct h3_stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		c->lastst = s->prev;
	c->n_streams--;
	if (c->n_streams == 0 && !c->closed && !c->stopping)
		timer_arm(&c->wk->loop, &c->wk->t_keepalive, &c->idle);
	timer_cancel(&s->deadline);
	stream_close_file(s);
	free(s->owned);
	chunks_free(s);
	buf_free(&s->head);
	buf_free(&s->rsp);
	buf_free(&s->in);
	free(s);
}

static void stream_gone(struct h3_conn *c, struct h3_stream *s)
{
	if (s->cb) {
		const struct http_stream_cb *cb = s->cb;
		s->cb = NULL;
		cb->abort(s->cb_arg);
	}
	stream_free(c, s);
}

/* RESET_STREAM and STOP_SENDING with code; the stream is freed when ngtcp2 closes it. */
static void stream_reset(struct h3_conn *c, struct h3_stream *s, uint64_t code)
{
	if (s->reset)
		return;
	s->reset = true;
	ngtcp2_conn_shutdown_stream(c->q, 0, s->id, code);
	kick(c);
}

/* Bytes of the request body were used (or dropped): the client may send as many more. */
static void open_window(struct h3_conn *c, int64_t id, size_t n)
{
	ngtcp2_conn_extend_max_stream_offset(c->q, id, n);
	ngtcp2_conn_extend_max_offset(c->q, n);
}

static void stream_drop_body(struct h3_conn *c, struct h3_stream *s)
{
	s->streams = false;
	if (s->in.len > 0 && !s->reset)
		open_window(c, s->id, s->in.len);
	buf_free(&s->in);
}

/* send-timeout: a response the client does not take (its window shut, no ACKs) is reset. */
static void on_send_timeout(struct loop *l, struct timer *t)
{
	struct h3_stream *s = container_of(t, struct h3_stream, deadline);
	stream_reset(s->c, s, NGHTTP3_H3_REQUEST_CANCELLED);
}

static void write_begins(struct h3_stream *s)
{
	s->state = S_WRITE;
	s->deadline.cb = on_send_timeout;
	timer_arm(&s->c->wk->loop, &s->c->wk->t_send, &s->deadline);
}

static void ready(struct h3_stream *s)
{
	s->state = S_SERVE;
	s->ready = true;
}

static void on_stream_deadline(struct loop *l, struct timer *t)
{
	struct h3_stream *s = container_of(t, struct h3_stream, deadline);
	stream_reset(s->c, s, NGHTTP3_H3_REQUEST_CANCELLED);
}

/* ---- the request head ---------------------------------------------------------------------- */

/* s->head -> s->req: 0, a status to answer, or -1: malformed (RFC 9114 §4.1.2), a stream
 * error (http/reqhead.h). */
static int build_request(struct h3_stream *s, bool end_stream)
{
	if (s->too_large) {
		http_reqhead_reset(&s->req, 30);
		return 431;
	}
	return http_reqhead_build(&s->head, &s->req, 30, end_stream);
}

static void request_complete(struct h3_conn *c, struct h3_stream *s, bool end_stream)
{
	s->remote_done = end_stream;
	int st = build_request(s, end_stream);
	if (st < 0) {
		stream_reset(c, s, NGHTTP3_H3_MESSAGE_ERROR);
		return;
	}
	s->x.req = &s->req;
	s->x.is_head = s->req.method_id == HTTP_M_HEAD;
	if (cfg_of(c)->access_log_format == CONFIG_LOG_JSON)
		s->x.start_us = time_now_usec();
	if (st > 0) {
		s->error = st;
		ready(s);
		return;
	}
	http_route(&s->x, &s->req, &s->rt);
	s->streams = s->rt.handler->streams_body && !s->rt.at_once;
	if (s->rt.at_once || end_stream || s->streams || s->req.expect_continue) {
		ready(s);
	} else if (s->req.content_length > (int64_t)H3_DISCARD_MAX) {
		s->error = 413;
		ready(s);
	} else {
		s->state = S_BODY;
		s->deadline.cb = on_stream_deadline;
		timer_arm(&c->wk->loop, &c->wk->t_body_total, &s->deadline);
	}
}

/* ---- the response -------------------------------------------------------------------------- */

static nghttp3_ssize read_data(nghttp3_conn *h, int64_t id, nghttp3_vec *vec, size_t veccnt,
			       uint32_t *pflags, void *ud, void *sud)
{
	struct h3_stream *s = sud;
	if (!s)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	if (s->reset)
		return NGHTTP3_ERR_WOULDBLOCK; /* RESET_STREAM is on its way */
	if (fill(s, ngtcp2_conn_get_max_stream_data_left(s->c->q, id)) < 0) {
		stream_reset(s->c, s, NGHTTP3_H3_INTERNAL_ERROR);
		return NGHTTP3_ERR_WOULDBLOCK;
	}
	size_t n = 0;
	while (n < veccnt && s->snd) {
		size_t avail = s->snd->len - s->snd_off;
		if (avail > 0) {
			vec[n].base = (uint8_t *)s->snd->data + s->snd_off;
			vec[n].len = avail;
			n++;
			s->snd_off += avail;
			s->unsent -= avail;
		}
		if (s->snd_off == H3_CHUNK && s->snd->next) {
			s->snd = s->snd->next;
			s->snd_off = 0;
		} else {
			break;
		}
	}
	bool all_given = !s->snd || (s->snd_off == s->snd->len && !s->snd->next);
	if (s->ended && s->src == SRC_NONE && all_given) {
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		return (nghttp3_ssize)n;
	}
	if (n == 0) {
		s->blocked = true;
		return NGHTTP3_ERR_WOULDBLOCK;
	}
	return (nghttp3_ssize)n;
}

static void resume(struct h3_stream *s)
{
	if (s->blocked && s->c->h) {
		s->blocked = false;
		nghttp3_conn_resume_stream(s->c->h, s->id);
	}
	kick(s->c);
}

static int submit_head(struct h3_conn *c, struct h3_stream *s, bool final, bool with_body)
{
	nghttp3_nv nva[H3_RSP_FIELDS_MAX + 3];
	char status[8];
	size_t n = 0, pos = 0, nl, vl;
	const char *name, *value;
	bool own = !s->forwarded;

	snprintf(status, sizeof(status), "%03d", s->status % 1000);
#define NV(nm, nlen, v, vlen)                                                                  \
	(nva[n++] = (nghttp3_nv){(uint8_t *)(nm), (uint8_t *)(v), (nlen), (vlen), NGHTTP3_NV_FLAG_NONE})
	NV(":status", 7, status, 3);
	if (own && final) {
		NV("server", 6, "ferry", 5);
		NV("date", 4, worker_date(c->wk), 29);
	}
	while (http_rec_next(&s->rsp, &pos, &name, &nl, &value, &vl))
		NV(name, nl, value, vl);
#undef NV
	int rv;
	if (final) {
		nghttp3_data_reader dr = {.read_data = read_data};
		rv = nghttp3_conn_submit_response(c->h, s->id, nva, n, with_body ? &dr : NULL);
	} else {
		rv = nghttp3_conn_submit_info(c->h, s->id, nva, n);
	}
	buf_free(&s->rsp);
	s->n_rsp = 0;
	if (rv != 0) {
		stream_reset(c, s, NGHTTP3_H3_INTERNAL_ERROR);
		return -1;
	}
	if (final) {
		s->head_sent = true;
		s->has_body = with_body;
		/* The response is complete before the request (RFC 9114 §4.1): the rest of the
		 * request body is not wanted. */
		if (s->ended && !s->remote_done && !s->streams)
			ngtcp2_conn_shutdown_stream_read(c->q, 0, s->id, NGHTTP3_H3_NO_ERROR);
	}
	kick(c);
	return 0;
}

static void h3_resp_start(struct http_exchange *x, int status, const char *reason,
			  size_t reason_len, unsigned flags)
{
	struct h3_stream *s = stream_of(x);
	s->status = status;
	s->forwarded = flags & HTTP_RESP_FORWARDED;
	s->rsp_overflow = false;
	s->n_rsp = 0;
	buf_reset(&s->rsp);
}

static void h3_resp_header(struct http_exchange *x, const char *name, size_t nl,
			   const char *value, size_t len)
{
	struct h3_stream *s = stream_of(x);
	if (http_reqhead_connection_specific(name, nl)) /* RFC 9114 §4.2 */
		return;
	if (s->n_rsp >= H3_RSP_FIELDS_MAX ||
	    http_rec_put(&s->rsp, name, nl, value, len, true) < 0) {
		s->rsp_overflow = true;
		return;
	}
	s->n_rsp++;
}

static void h3_resp_end_head(struct http_exchange *x, int64_t content_length)
{
	struct h3_stream *s = stream_of(x);
	struct h3_conn *c = s->c;
	bool no_body = s->status == 204 || s->status == 304 || s->status < 200;
	if (content_length >= 0 && s->status >= 200 && s->status != 204) {
		char v[20];
		size_t k = str_fmt_u64(v, (uint64_t)content_length);
		h3_resp_header(x, "content-length", 14, v, k);
	}
	if (s->status < 200) {
		if (s->status != 101 && !s->rsp_overflow && !s->reset)
			submit_head(c, s, false, false);
		buf_free(&s->rsp);
		return;
	}
	s->head_done = true;
	if (!x->is_head && content_length >= 0 && !no_body)
		s->body_bytes = (uint64_t)content_length;
	if (s->state == S_HANDLER && s->cb) {
		/* A streamed response: the head now, the body as the handler sends it. */
		if (s->rsp_overflow) {
			stream_reset(c, s, NGHTTP3_H3_INTERNAL_ERROR);
			return;
		}
		bool body = !x->is_head && !no_body &&
			    (content_length > 0 || content_length == HTTP_LENGTH_STREAM);
		s->ended = !body;
		if (!s->reset)
			submit_head(c, s, true, body);
	}
}

static void h3_resp_body_mem(struct http_exchange *x, const void *p, size_t len)
{
	struct h3_stream *s = stream_of(x);
	if (x->is_head)
		return;
	/* Copied into the chunks as the window allows (the memory outlives the response). */
	s->src = SRC_MEM;
	s->mem = p;
	s->mem_len = len;
}

static void h3_resp_body_owned(struct http_exchange *x, void *p, size_t len)
{
	struct h3_stream *s = stream_of(x);
	free(s->owned);
	s->owned = p;
	h3_resp_body_mem(x, p, len);
}

static void h3_resp_body_copy(struct http_exchange *x, const void *p, size_t len)
{
	struct h3_stream *s = stream_of(x);
	if (x->is_head)
		return;
	if (s->held + len > H3_COPY_MAX) {
		s->rsp_overflow = true;
		return;
	}
	chunk_append(s, p, len);
}

static void h3_resp_body_file(struct http_exchange *x, int fd, off_t off, off_t len)
{
	struct h3_stream *s = stream_of(x);
	if (x->is_head) {
		close(fd);
		return;
	}
	stream_close_file(s);
	s->src = SRC_FILE;
	s->file_fd = fd;
	s->file_off = off;
	s->file_end = off + len;
}

static void h3_resp_close(struct http_exchange *x)
{
}

static void log_response(struct h3_conn *c, struct h3_stream *s)
{
	accesslog_write(c->wk, &s->x, (const struct sockaddr *)&c->peer, c->peer_len,
			s->req.method ? &s->req : NULL, s->status, s->body_bytes);
	atomic_fetch_add_explicit(&c->wk->srv->requests, 1, memory_order_relaxed);
}

static bool has_data(const struct h3_stream *s)
{
	return s->held > 0 || s->src != SRC_NONE;
}

static void finish_response(struct h3_conn *c, struct h3_stream *s)
{
	if (s->reset)
		return;
	if (!s->head_done || s->rsp_overflow) {
		stream_close_file(s);
		s->src = SRC_NONE;
		chunks_free(s);
		s->head_done = false;
		http_resp_error(&s->x, 500);
		if (!s->head_done || s->rsp_overflow) {
			stream_reset(c, s, NGHTTP3_H3_INTERNAL_ERROR);
			return;
		}
	}
	write_begins(s);
	s->ended = true;
	bool body = !s->x.is_head && s->status >= 200 && s->status != 204 && s->status != 304 &&
		    has_data(s);
	if (!body) {
		stream_close_file(s);
		s->src = SRC_NONE;
		chunks_free(s);
	}
	log_response(c, s);
	submit_head(c, s, true, body);
}

static void dispatch(struct h3_conn *c, struct h3_stream *s)
{
	s->ready = false;
	if (s->reset)
		return;
	if (!s->error && s->reroute) {
		http_route(&s->x, &s->req, &s->rt);
		if (s->rt.handler->streams_body && !s->rt.at_once)
			s->error = 503;
	}
	if (s->error) {
		http_resp_error(&s->x, s->error);
		finish_response(c, s);
		return;
	}
	const struct http_route *rt = &s->rt;
	if (s->streams && !rt->at_once) {
		s->state = S_HANDLER;
		rt->handler->serve(&s->x, &s->req, rt);
		return;
	}
	stream_drop_body(c, s);
	rt->handler->serve(&s->x, &s->req, rt);
	finish_response(c, s);
}

static bool run_streams(struct h3_conn *c)
{
	bool ran = false;
	for (struct h3_stream *s = c->streams; s; s = s->next) {
		if (s->ready) {
			dispatch(c, s);
			ran = true;
		}
		if (s->notify) {
			s->notify = false;
			if (s->cb) {
				s->cb->event(s->cb_arg);
				ran = true;
			}
		}
	}
	return ran;
}

/* ---- the streaming ops (the proxy) --------------------------------------------------------- */

static void h3_set_stream(struct http_exchange *x, const struct http_stream_cb *cb, void *arg)
{
	struct h3_stream *s = stream_of(x);
	s->cb = cb;
	s->cb_arg = arg;
}

static bool h3_keep_alive(const struct http_exchange *x)
{
	const struct h3_stream *s = container_of(x, const struct h3_stream, x);
	return !s->c->stopping;
}

static int h3_body_peek(struct http_exchange *x, const char **ret_p, size_t *ret_len)
{
	struct h3_stream *s = stream_of(x);
	if (s->reset)
		return -1;
	*ret_p = s->in.data;
	*ret_len = s->in.len;
	return s->remote_done ? 1 : 0;
}

static void h3_body_consume(struct http_exchange *x, size_t n)
{
	struct h3_stream *s = stream_of(x);
	if (n == 0 || n > s->in.len)
		return;
	buf_consume(&s->in, n);
	open_window(s->c, s->id, n);
	kick(s->c);
}

static int h3_body_read(struct http_exchange *x)
{
	struct h3_stream *s = stream_of(x);
	if (s->reset)
		return -1;
	return s->in.len > 0 ? 1 : 0;
}

static ssize_t h3_send(struct http_exchange *x, const void *p, size_t n)
{
	struct h3_stream *s = stream_of(x);
	if (s->reset)
		return -1;
	if (n == 0)
		return 0;
	if (!s->head_sent)
		return -1;
	if (!s->has_body)
		return (ssize_t)n;
	size_t room = s->held < H3_OUT_MAX ? H3_OUT_MAX - s->held : 0;
	size_t take = MIN(n, room);
	if (take < n)
		s->send_full = true;
	if (take == 0)
		return 0;
	chunk_append(s, p, take);
	resume(s);
	return (ssize_t)take;
}

static ssize_t h3_splice_out(struct http_exchange *x, int pipe_fd, size_t n)
{
	return -1;
}

static ssize_t h3_splice_in(struct http_exchange *x, int pipe_fd, size_t n, bool pipe_empty)
{
	return -1;
}

/* No tunnels over HTTP/3 (extended CONNECT, RFC 9220, is not offered). */
static void h3_tunnel(struct http_exchange *x)
{
	struct h3_stream *s = stream_of(x);
	stream_reset(s->c, s, NGHTTP3_H3_REQUEST_REJECTED);
}

static int h3_local_addr(const struct http_exchange *x, struct sockaddr_storage *ret,
			 socklen_t *ret_len)
{
	const struct h3_stream *s = container_of(x, const struct h3_stream, x);
	memcpy(ret, &s->c->local, s->c->local_len);
	*ret_len = s->c->local_len;
	return 0;
}

static void h3_stream_end(struct http_exchange *x, int status, uint64_t body_bytes,
			  bool keep_alive)
{
	struct h3_stream *s = stream_of(x);
	struct h3_conn *c = s->c;
	s->cb = NULL;
	s->status = status;
	s->body_bytes = body_bytes;
	stream_drop_body(c, s);
	if (!s->head_sent) {
		stream_reset(c, s, NGHTTP3_H3_INTERNAL_ERROR);
		return;
	}
	log_response(c, s);
	write_begins(s);
	s->ended = true;
	if (s->has_body)
		resume(s);
	if (!s->remote_done && !s->reset)
		ngtcp2_conn_shutdown_stream_read(c->q, 0, s->id, NGHTTP3_H3_NO_ERROR);
	kick(c);
}

static void h3_stream_respond(struct http_exchange *x)
{
	struct h3_stream *s = stream_of(x);
	s->cb = NULL;
	stream_drop_body(s->c, s);
	finish_response(s->c, s);
}

static void h3_stream_abort(struct http_exchange *x)
{
	struct h3_stream *s = stream_of(x);
	s->cb = NULL;
	stream_drop_body(s->c, s);
	stream_reset(s->c, s, NGHTTP3_H3_INTERNAL_ERROR);
}

static const struct http_exchange_ops h3_ops = {
	.resp_start = h3_resp_start,
	.resp_header = h3_resp_header,
	.resp_end_head = h3_resp_end_head,
	.resp_body_mem = h3_resp_body_mem,
	.resp_body_copy = h3_resp_body_copy,
	.resp_body_owned = h3_resp_body_owned,
	.resp_body_file = h3_resp_body_file,
	.resp_close = h3_resp_close,
	.set_stream = h3_set_stream,
	.keep_alive = h3_keep_alive,
	.body_peek = h3_body_peek,
	.body_consume = h3_body_consume,
	.body_read = h3_body_read,
	.tunnel = h3_tunnel,
	.send = h3_send,
	.splice_out = h3_splice_out,
	.splice_in = h3_splice_in,
	.local_addr = h3_local_addr,
	.stream_end = h3_stream_end,
	.stream_respond = h3_stream_respond,
	.stream_abort = h3_stream_abort,
};

/* ---- nghttp3's callbacks: they record, the pass acts ---------------------------------------- */

static int on_begin_headers(nghttp3_conn *h, int64_t id, void *ud, void *sud)
{
	struct h3_conn *c = ud;
	if (sud)
		return 0;
	struct h3_stream *s = stream_new(c, id);
	nghttp3_conn_set_stream_user_data(h, id, s);
	ngtcp2_conn_set_stream_user_data(c->q, id, s);
	return 0;
}

static int on_recv_header(nghttp3_conn *h, int64_t id, int32_t token, nghttp3_rcbuf *name,
			  nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
	struct h3_conn *c = ud;
	struct h3_stream *s = sud;
	if (!s || s->too_large)
		return 0;
	nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
	const struct config *cfg = cfg_of(c);
	s->hdr_bytes += n.len + v.len + 32;
	if (++s->n_fields > cfg->max_header_fields || s->hdr_bytes > cfg->max_header_bytes ||
	    http_rec_put(&s->head, (const char *)n.base, n.len, (const char *)v.base, v.len,
			 false) < 0) {
		s->too_large = true;
		buf_free(&s->head);
	}
	return 0;
}

static int on_end_headers(nghttp3_conn *h, int64_t id, int fin, void *ud, void *sud)
{
	struct h3_stream *s = sud;
	if (s && s->state == S_HEAD)
		request_complete(ud, s, fin);
	return 0;
}

static int on_recv_data(nghttp3_conn *h, int64_t id, const uint8_t *data, size_t len, void *ud,
			void *sud)
{
	struct h3_conn *c = ud;
	struct h3_stream *s = sud;
	if (s && s->streams && s->state != S_WRITE) {
		if (buf_append(&s->in, data, len) == 0) {
			s->notify = true;
			return 0;
		}
		stream_reset(c, s, NGHTTP3_H3_EXCESSIVE_LOAD); /* more than the window allowed */
	} else if (s && s->state == S_BODY) {
		s->dropped += len;
		if (s->dropped > H3_DISCARD_MAX) {
			s->error = 413;
			timer_cancel(&s->deadline);
			ready(s);
		}
	}
	open_window(c, id, len);
	return 0;
}

static int on_deferred_consume(nghttp3_conn *h, int64_t id, size_t n, void *ud, void *sud)
{
	open_window(ud, id, n);
	return 0;
}

static int on_end_stream(nghttp3_conn *h, int64_t id, void *ud, void *sud)
{
	struct h3_stream *s = sud;
	if (!s)
		return 0;
	s->remote_done = true;
	if (s->state == S_BODY) {
		timer_cancel(&s->deadline);
		s->reroute = true;
		ready(s);
	} else if (s->cb) {
		s->notify = true;
	}
	return 0;
}

static int on_h3_stream_close(nghttp3_conn *h, int64_t id, uint64_t code, void *ud, void *sud)
{
	struct h3_stream *s = sud;
	if (s)
		stream_gone(ud, s);
	return 0;
}

static int on_acked_stream_data(nghttp3_conn *h, int64_t id, uint64_t n, void *ud, void *sud)
{
	struct h3_stream *s = sud;
	if (!s)
		return 0;
	chunks_acked(s, n);
	if (s->state == S_WRITE) /* progress: the send timeout starts again */
		timer_arm(&s->c->wk->loop, &s->c->wk->t_send, &s->deadline);
	if (s->send_full && s->held < H3_OUT_MAX) {
		s->send_full = false;
		if (s->cb)
			s->notify = true;
	}
	if (s->blocked && (s->src != SRC_NONE))
		resume(s);
	return 0;
}

static int on_stop_sending(nghttp3_conn *h, int64_t id, uint64_t code, void *ud, void *sud)
{
	struct h3_conn *c = ud;
	ngtcp2_conn_shutdown_stream_read(c->q, 0, id, code);
	return 0;
}

static int on_reset_stream(nghttp3_conn *h, int64_t id, uint64_t code, void *ud, void *sud)
{
	struct h3_conn *c = ud;
	ngtcp2_conn_shutdown_stream_write(c->q, 0, id, code);
	return 0;
}

/* ---- ngtcp2's callbacks -------------------------------------------------------------------- */

static void q_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	rand_bytes(dest, len);
}

static int q_new_cid(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
	struct h3_conn *c = ud;
	do
		new_cid(c->wk, cid);
	while (map_find(h3w(c->wk), cid->data, cid->datalen));
	if (ngtcp2_crypto_generate_stateless_reset_token(token, secret, sizeof(secret), cid) != 0 ||
	    conn_add_cid(c, cid) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int q_remove_cid(ngtcp2_conn *q, const ngtcp2_cid *cid, void *ud)
{
	conn_del_cid(ud, cid);
	return 0;
}

static void handshake_over(struct h3_conn *c)
{
	if (c->counted)
		atomic_fetch_sub_explicit(&handshakes, 1, memory_order_relaxed);
	c->counted = false;
	if (c->gen)
		server_gen_free(c->gen);
	c->gen = NULL;
}

static int q_handshake_completed(ngtcp2_conn *q, void *ud)
{
	handshake_over(ud);
	return 0;
}

/* 1-RTT keys to send with: HTTP/3's control and QPACK streams can open. */
static int q_recv_tx_key(ngtcp2_conn *q, ngtcp2_encryption_level level, void *ud)
{
	struct h3_conn *c = ud;
	if (level != NGTCP2_ENCRYPTION_LEVEL_1RTT || c->h)
		return 0;
	const struct config *cfg = cfg_of(c);
	nghttp3_settings st;
	nghttp3_settings_default(&st);
	st.max_field_section_size = cfg->max_header_bytes;
	/* No QPACK dynamic table: a request's fields decode from what its own stream carries.
	 * With one, a request may refer to entries sent on the client's encoder stream, and
	 * waits for them; curl 8.14 over OpenSSL's QUIC, whose ClientHello's second datagram
	 * came late (a hand-over between workers, or the network), never sends its control
	 * and QPACK streams, and its requests waited for good. */
	st.qpack_max_dtable_capacity = 0;
	st.qpack_blocked_streams = 0;
	if (nghttp3_conn_server_new(&c->h, &hcb, &st, nghttp3_mem_default(), c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	const ngtcp2_transport_params *p = ngtcp2_conn_get_local_transport_params(q);
	nghttp3_conn_set_max_client_streams_bidi(c->h, p->initial_max_streams_bidi);
	int64_t ctrl, enc, dec;
	if (ngtcp2_conn_open_uni_stream(q, &ctrl, NULL) != 0 ||
	    nghttp3_conn_bind_control_stream(c->h, ctrl) != 0 ||
	    ngtcp2_conn_open_uni_stream(q, &enc, NULL) != 0 ||
	    ngtcp2_conn_open_uni_stream(q, &dec, NULL) != 0 ||
	    nghttp3_conn_bind_qpack_streams(c->h, enc, dec) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (c->stopping)
		goaway_notice(c); /* a reload or stop came during the handshake */
	return 0;
}

static int q_recv_stream_data(ngtcp2_conn *q, uint32_t flags, int64_t id, uint64_t offset,
			      const uint8_t *data, size_t len, void *ud, void *sud)
{
	struct h3_conn *c = ud;
	if (!c->h)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	nghttp3_ssize n = nghttp3_conn_read_stream(c->h, id, data, len,
						   flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		c->app_error = nghttp3_err_infer_quic_app_error_code((int)n);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	open_window(c, id, (size_t)n);
	return 0;
}

static int q_acked_stream_data_offset(ngtcp2_conn *q, int64_t id, uint64_t offset, uint64_t len,
				      void *ud, void *sud)
{
	struct h3_conn *c = ud;
	if (c->h && nghttp3_conn_add_ack_offset(c->h, id, len) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int q_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t id, uint64_t code, void *ud,
			  void *sud)
{
	struct h3_conn *c = ud;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		code = NGHTTP3_H3_NO_ERROR;
	if (!c->h)
		return 0;
	int r = nghttp3_conn_close_stream(c->h, id, code);
	if (r != 0 && r != NGHTTP3_ERR_STREAM_NOT_FOUND)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (ngtcp2_is_bidi_stream(id))
		ngtcp2_conn_extend_max_streams_bidi(q, 1);
	return 0;
}

/* One more stream the client reset or stopped: false when that is too many. */
static bool reset_allowed(struct h3_conn *c)
{
	uint64_t now = c->wk->loop.now_ms;
	uint64_t add = (now - c->reset_ms) * H3_RESET_RATE / 1000;
	if (add > 0) {
		uint64_t t = c->reset_tokens + add;
		c->reset_tokens = t >= H3_RESET_BURST ? H3_RESET_BURST : (unsigned)t;
		c->reset_ms = c->reset_tokens == H3_RESET_BURST ? now
								  : c->reset_ms + add * 1000 / H3_RESET_RATE;
	}
	if (c->reset_tokens == 0) {
		char host[NET_ADDR_STRLEN];
		net_addr_host((const struct sockaddr *)&c->peer, c->peer_len, host, sizeof(host));
		log_warning("h3: %s: too many streams reset: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD)",
			    host);
		c->app_error = NGHTTP3_H3_EXCESSIVE_LOAD;
		return false;
	}
	c->reset_tokens--;
	return true;
}

static int q_stream_reset(ngtcp2_conn *q, int64_t id, uint64_t final_size, uint64_t code,
			  void *ud, void *sud)
{
	struct h3_conn *c = ud;
	if (!reset_allowed(c))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (c->h && nghttp3_conn_shutdown_stream_read(c->h, id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int q_stream_stop_sending(ngtcp2_conn *q, int64_t id, uint64_t code, void *ud, void *sud)
{
	struct h3_conn *c = ud;
	if (!reset_allowed(c))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (c->h && nghttp3_conn_shutdown_stream_read(c->h, id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int q_extend_max_remote_streams_bidi(ngtcp2_conn *q, uint64_t max, void *ud)
{
	struct h3_conn *c = ud;
	if (c->h)
		nghttp3_conn_set_max_client_streams_bidi(c->h, max);
	return 0;
}

static int q_extend_max_stream_data(ngtcp2_conn *q, int64_t id, uint64_t max, void *ud,
				    void *sud)
{
	struct h3_conn *c = ud;
	struct h3_stream *s = sud;
	if (c->h && nghttp3_conn_unblock_stream(c->h, id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (s && s->blocked && s->src != SRC_NONE)
		resume(s); /* fill() waited for this window */
	return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct h3_conn *)ref->user_data)->q;
}

/* SNI -> the site's certificates, as xport/tls.c does for TCP. */
static int on_client_hello(gnutls_session_t ss)
{
	ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(ss);
	struct h3_conn *c = ref->user_data;
	if (!c->gen)
		return GNUTLS_E_INTERNAL_ERROR;
	char name[256];
	size_t len = sizeof(name);
	unsigned type;
	if (gnutls_server_name_get(ss, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS ||
	    len >= sizeof(name))
		len = 0;
	gnutls_certificate_credentials_t cred = xport_tls_site_credentials(c->gen, name, len);
	if (!cred)
		return GNUTLS_E_INTERNAL_ERROR;
	int r = gnutls_credentials_set(ss, GNUTLS_CRD_CERTIFICATE, cred);
	if (r < 0)
		return r;
	free(c->tls_name);
	c->tls_name = NULL;
	c->tls_name_len = 0;
	if (len > 0) {
		c->tls_name = xmalloc(len + 1);
		memcpy(c->tls_name, name, len);
		c->tls_name[len] = '\0';
		c->tls_name_len = len;
	}
	return 0;
}

static void setup(void)
{
	rand_bytes(secret, sizeof(secret));
	if (gnutls_priority_init(&priority, H3_PRIORITY, NULL) < 0)
		priority = NULL;
	qcb = (ngtcp2_callbacks){
		.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
		.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
		.handshake_completed = q_handshake_completed,
		.encrypt = ngtcp2_crypto_encrypt_cb,
		.decrypt = ngtcp2_crypto_decrypt_cb,
		.hp_mask = ngtcp2_crypto_hp_mask_cb,
		.recv_stream_data = q_recv_stream_data,
		.acked_stream_data_offset = q_acked_stream_data_offset,
		.stream_close = q_stream_close,
		.rand = q_rand,
		.get_new_connection_id = q_new_cid,
		.remove_connection_id = q_remove_cid,
		.update_key = ngtcp2_crypto_update_key_cb,
		.stream_reset = q_stream_reset,
		.extend_max_remote_streams_bidi = q_extend_max_remote_streams_bidi,
		.extend_max_stream_data = q_extend_max_stream_data,
		.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
		.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
		.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
		.stream_stop_sending = q_stream_stop_sending,
		.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
		.recv_tx_key = q_recv_tx_key,
	};
	hcb = (nghttp3_callbacks){
		.acked_stream_data = on_acked_stream_data,
		.stream_close = on_h3_stream_close,
		.recv_data = on_recv_data,
		.deferred_consume = on_deferred_consume,
		.begin_headers = on_begin_headers,
		.recv_header = on_recv_header,
		.end_headers = on_end_headers,
		.stop_sending = on_stop_sending,
		.end_stream = on_end_stream,
		.reset_stream = on_reset_stream,
	};
}

/* ---- the connection ------------------------------------------------------------------------ */

static void conn_free(struct h3_conn *c)
{
	free(c->tls_name);
	free(c);
}

static void on_deferred(struct deferred *d)
{
	struct h3_conn *c = container_of(d, struct h3_conn, defer);
	c->kick_pending = false;
	if (c->closed) {
		conn_free(c);
		return;
	}
	conn_process(c);
}

static void kick(struct h3_conn *c)
{
	if (c->processing || c->kick_pending || c->closed)
		return;
	c->kick_pending = true;
	c->defer.fn = on_deferred;
	loop_defer(&c->wk->loop, &c->defer);
}

static bool path_eq(const ngtcp2_path *a, const ngtcp2_path *b)
{
	return a->local.addrlen == b->local.addrlen && a->remote.addrlen == b->remote.addrlen &&
	       memcmp(a->local.addr, b->local.addr, a->local.addrlen) == 0 &&
	       memcmp(a->remote.addr, b->remote.addr, a->remote.addrlen) == 0;
}

/* Write what ngtcp2 and nghttp3 have, GSO batches of equal-sized packets per path. -1: the
 * connection failed (closed). */
static int write_packets(struct h3_conn *c)
{
	struct h3_worker *w = h3w(c->wk);
	ngtcp2_tstamp ts = now_ns();
	size_t max = ngtcp2_conn_get_max_tx_udp_payload_size(c->q);
	ngtcp2_path_storage ps, batch;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_path_storage_zero(&batch);
	ngtcp2_pkt_info pi;
	size_t off = 0, seg = 0, npk = 0;
	for (;;) {
		int64_t sid = -1;
		int fin = 0;
		nghttp3_vec vec[16];
		nghttp3_ssize sv = 0;
		if (c->h && ngtcp2_conn_get_max_data_left(c->q)) {
			sv = nghttp3_conn_writev_stream(c->h, &sid, &fin, vec, ARRAY_SIZE(vec));
			if (sv < 0) {
				log_info("h3: HTTP/3 frames: %s", nghttp3_strerror((int)sv));
				conn_close(c, true, nghttp3_err_infer_quic_app_error_code((int)sv));
				return -1;
			}
		}
		ngtcp2_ssize nd = -1;
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
		if (fin)
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		ngtcp2_ssize nw = ngtcp2_conn_writev_stream(c->q, &ps.path, &pi, w->tx + off, max,
							    &nd, flags, sid,
							    (const ngtcp2_vec *)vec, (size_t)sv, ts);
		if (nw < 0) {
			if (nw == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				nghttp3_conn_block_stream(c->h, sid);
				continue;
			}
			if (nw == NGTCP2_ERR_STREAM_SHUT_WR) {
				nghttp3_conn_shutdown_stream_write(c->h, sid);
				continue;
			}
			if (nw == NGTCP2_ERR_WRITE_MORE) {
				nghttp3_conn_add_write_offset(c->h, sid, (size_t)nd);
				continue;
			}
			log_info("h3: writing packets: %s", ngtcp2_strerror((int)nw));
			ngtcp2_ccerr err;
			ngtcp2_ccerr_set_liberr(&err, (int)nw, NULL, 0);
			conn_close_err(c, &err);
			return -1;
		}
		if (nd >= 0 && sid >= 0)
			nghttp3_conn_add_write_offset(c->h, sid, (size_t)nd);
		if (nw == 0)
			break;
		if (npk > 0 && (!path_eq(&batch.path, &ps.path) || (size_t)nw > seg)) {
			/* another path, or a larger packet: the batch so far goes first */
			send_packets(w, c->fd, &batch.path, w->tx, off, seg);
			memmove(w->tx, w->tx + off, (size_t)nw);
			off = 0;
			npk = 0;
		}
		if (npk == 0) {
			ngtcp2_path_storage_init(&batch, ps.path.local.addr, ps.path.local.addrlen,
						 ps.path.remote.addr, ps.path.remote.addrlen, NULL);
			seg = (size_t)nw;
		}
		off += (size_t)nw;
		npk++;
		if ((size_t)nw < seg || npk == H3_TX_PKTS || off + max > H3_TX_SIZE) {
			send_packets(w, c->fd, &batch.path, w->tx, off, seg);
			off = 0;
			npk = 0;
		}
	}
	if (npk > 0)
		send_packets(w, c->fd, &batch.path, w->tx, off, seg);
	ngtcp2_conn_update_pkt_tx_time(c->q, ts);
	return 0;
}

static void conn_rearm(struct h3_conn *c)
{
	ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->q);
	if (exp == UINT64_MAX) {
		timer_cancel(&c->timer);
		return;
	}
	ngtcp2_tstamp now = now_ns();
	uint64_t ms = exp > now ? (exp - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS : 0;
	timer_arm_at(&c->wk->loop, &c->timer, c->wk->loop.now_ms + ms);
}

/* Close: with CONNECTION_CLOSE (send_close: app_error, an HTTP/3 code, or the error ngtcp2
 * recorded), or silently (idle timeout, draining). Freed after this batch of events. */
static void conn_close(struct h3_conn *c, bool send_close, uint64_t app_error)
{
	if (!send_close) {
		conn_close_err(c, NULL);
		return;
	}
	ngtcp2_ccerr err;
	ngtcp2_ccerr_default(&err);
	if (app_error)
		ngtcp2_ccerr_set_application_error(&err, app_error, NULL, 0);
	else if (c->h)
		ngtcp2_ccerr_set_application_error(&err, NGHTTP3_H3_NO_ERROR, NULL, 0);
	conn_close_err(c, &err);
}

/* The same with err's CONNECTION_CLOSE (NULL: none). */
static void conn_close_err(struct h3_conn *c, const ngtcp2_ccerr *err)
{
	if (c->closed)
		return;
	if (err && c->q && !ngtcp2_conn_in_closing_period(c->q) &&
	    !ngtcp2_conn_in_draining_period(c->q)) {
		ngtcp2_path_storage ps;
		ngtcp2_path_storage_zero(&ps);
		ngtcp2_pkt_info pi;
		struct h3_worker *w = h3w(c->wk);
		ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
			c->q, &ps.path, &pi, w->tx, ngtcp2_conn_get_max_tx_udp_payload_size(c->q), err,
			now_ns());
		if (n > 0)
			send_packets(w, c->fd, &ps.path, w->tx, (size_t)n, (size_t)n);
	}
	c->closed = true;
	timer_cancel(&c->timer);
	timer_cancel(&c->idle);
	timer_cancel(&c->final);
	struct h3_worker *wl = h3w(c->wk);
	if (c->prev_all)
		c->prev_all->next_all = c->next_all;
	else if (wl->all == c)
		wl->all = c->next_all;
	if (c->next_all)
		c->next_all->prev_all = c->prev_all;
	c->prev_all = c->next_all = NULL;
	while (c->streams)
		stream_gone(c, c->streams);
	struct h3_worker *w = h3w(c->wk);
	for (size_t i = 0; i < c->n_cids; i++)
		map_del(w, &c->cids[i]);
	c->n_cids = 0;
	if (c->h)
		nghttp3_conn_del(c->h);
	c->h = NULL;
	if (c->q)
		ngtcp2_conn_del(c->q);
	c->q = NULL;
	if (c->tls)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	handshake_over(c);
	worker_conn_removed(c->wk, &c->link);
	if (!c->kick_pending) {
		c->kick_pending = true;
		c->defer.fn = on_deferred;
		loop_defer(&c->wk->loop, &c->defer);
	}
}

/* After GOAWAY: every request taken has ended. A stream ferry reset (send-timeout, an error)
 * counts as ended: nghttp3 keeps it until the client acknowledges the RESET_STREAM, and a
 * client that vanished never does, which held the connection to the shutdown timeout (or to
 * QUIC's idle timeout at a reload). */
static bool drained(struct h3_conn *c)
{
	if (nghttp3_conn_is_drained(c->h))
		return true;
	if (!c->streams)
		return false; /* a stream nghttp3 has without its head yet: it may come */
	for (const struct h3_stream *s = c->streams; s; s = s->next)
		if (!s->reset)
			return false;
	return true;
}

static void conn_process(struct h3_conn *c)
{
	if (c->closed || c->processing)
		return;
	c->processing = true;
	for (int round = 0; round < H3_ROUNDS; round++) {
		bool ran = run_streams(c);
		if (c->closed)
			break;
		if (write_packets(c) < 0)
			break;
		if (!ran)
			break;
	}
	c->processing = false;
	if (c->closed)
		return;
	if (c->goaway_final && drained(c)) {
		conn_close(c, true, 0);
		return;
	}
	conn_rearm(c);
}

static void on_timer(struct loop *l, struct timer *t)
{
	struct h3_conn *c = container_of(t, struct h3_conn, timer);
	int r = ngtcp2_conn_handle_expiry(c->q, now_ns());
	if (r != 0) {
		/* the idle timeout, the handshake timeout, or too many lost packets */
		conn_close(c, r != NGTCP2_ERR_IDLE_CLOSE && r != NGTCP2_ERR_HANDSHAKE_TIMEOUT, 0);
		return;
	}
	conn_process(c);
}

/* The GOAWAY notice (RFC 9114 §5.2: the largest ID, so that the requests the client sent
 * before it sees it are still taken), and one round trip later (at least H3_GOAWAY_MS) the
 * final GOAWAY with the last request stream taken; those finish, then the connection closes
 * (conn_process). Not inside an ngtcp2 callback: the caller runs conn_process after. */
static void goaway_notice(struct h3_conn *c)
{
	nghttp3_conn_submit_shutdown_notice(c->h);
	ngtcp2_conn_info ci;
	ngtcp2_conn_get_conn_info(c->q, &ci);
	uint64_t ms = MAX(ci.smoothed_rtt / NGTCP2_MILLISECONDS + 1, (uint64_t)H3_GOAWAY_MS);
	timer_arm_at(&c->wk->loop, &c->final, c->wk->loop.now_ms + ms);
}

static void on_goaway_final(struct loop *l, struct timer *t)
{
	struct h3_conn *c = container_of(t, struct h3_conn, final);
	if (c->closed || c->goaway_final)
		return;
	c->goaway_final = true;
	nghttp3_conn_shutdown(c->h);
	conn_process(c);
}

static void goaway(struct h3_conn *c)
{
	/* Once only: a stop after a reload's or idle's GOAWAY finds the connection going
	 * already (say, a client gone silent, whose ack of the GOAWAY never comes), and
	 * nghttp3 takes one shutdown notice per connection (a second one fails its assertion
	 * on the GOAWAY ID, or worse without assertions). */
	if (c->stopping)
		return;
	c->stopping = true;
	timer_cancel(&c->idle);
	if (!c->h)
		return; /* in its handshake: the notice once HTTP/3 is set up (q_recv_tx_key) */
	goaway_notice(c);
	conn_process(c);
}

/* Graceful stop: GOAWAY with the last request stream taken; those finish; then close. */
static void on_stop(struct conn_link *link)
{
	goaway(container_of(link, struct h3_conn, link));
}

/* keepalive-timeout without a request (however many PINGs keep QUIC's own idle timer
 * going): GOAWAY, then close. */
static void on_idle(struct loop *l, struct timer *t)
{
	struct h3_conn *c = container_of(t, struct h3_conn, idle);
	if (!c->stopping)
		goaway(c);
}

/* The client's first flight to dcid was answered with a Retry after a part of it had come:
 * the rest, handed over late by another worker, must not start a connection of its own (the
 * client, holding the Retry's token, would then see two servers and stall); it gets a Retry
 * too, which a client that has the first one ignores (RFC 9000 §17.2.5.2). */
static void retried_add(struct h3_worker *w, const ngtcp2_cid *dcid)
{
	unsigned i = w->retried_next++ % H3_RETRIED_MAX;
	w->retried[i].dcid = *dcid;
	w->retried[i].until = now_ns() + H3_RETRIED_NS;
}

static bool retried_has(const struct h3_worker *w, const ngtcp2_cid *dcid)
{
	ngtcp2_tstamp now = now_ns();
	for (unsigned i = 0; i < H3_RETRIED_MAX; i++)
		if (w->retried[i].until > now && ngtcp2_cid_eq(&w->retried[i].dcid, dcid))
			return true;
	return false;
}

/* One datagram for c. */
static void conn_read(struct h3_conn *c, const ngtcp2_path *path, const uint8_t *p, size_t n)
{
	ngtcp2_pkt_info pi = {0};
	int r = ngtcp2_conn_read_pkt(c->q, path, &pi, p, n, now_ns());
	if (r != 0) {
		if (r == NGTCP2_ERR_RETRY) {
			/* The client's first flight came out of order (its ClientHello spans two
			 * datagrams, and another worker handed the first one over late): ngtcp2
			 * buffers nothing before the address is validated. A Retry makes the
			 * client send it all again, to a connection ID of this worker; dropping
			 * the packet silently instead leaves the client to its loss timers. */
			ngtcp2_pkt_hd hd;
			if (ngtcp2_accept(&hd, p, n) == 0 && hd.type == NGTCP2_PKT_INITIAL) {
				retried_add(h3w(c->wk), &hd.dcid);
				send_retry(c->wk, c->fd, path, &hd);
			}
			conn_close(c, false, 0);
		} else if (r == NGTCP2_ERR_DRAINING || r == NGTCP2_ERR_DROP_CONN) {
			conn_close(c, false, 0);
		} else if (r == NGTCP2_ERR_CRYPTO) {
			/* a TLS alert (no certificate for the name, no ALPN h3): CRYPTO_ERROR */
			ngtcp2_ccerr err;
			ngtcp2_ccerr_set_tls_alert(&err, ngtcp2_conn_get_tls_alert(c->q), NULL, 0);
			conn_close_err(c, &err);
		} else if (c->app_error) {
			conn_close(c, true, c->app_error);
		} else {
			ngtcp2_ccerr err;
			ngtcp2_ccerr_set_liberr(&err, r, NULL, 0);
			conn_close_err(c, &err);
		}
		return;
	}
	/* the peer's address as this path has it (it may have moved) */
	if (path->remote.addrlen <= sizeof(c->peer)) {
		memcpy(&c->peer, path->remote.addr, path->remote.addrlen);
		c->peer_len = path->remote.addrlen;
	}
	if (!c->dirty) {
		struct h3_worker *w = h3w(c->wk);
		c->dirty = true;
		c->next_dirty = w->dirty;
		w->dirty = c;
	}
}

static struct h3_conn *conn_new(struct worker *wk, int fd, const ngtcp2_path *path,
				const ngtcp2_pkt_hd *hd, const ngtcp2_cid *odcid,
				ngtcp2_token_type token_type)
{
	const struct config *cfg = wk->gen->cfg;
	struct server_gen *g = wk->gen;
	if (!g->tls || !cfg->tls_default || !priority)
		return NULL; /* no certificates: no QUIC */
	struct h3_conn *c = xcalloc(1, sizeof(*c));
	c->wk = wk;
	c->fd = fd;
	c->timer.cb = on_timer;
	c->idle.cb = on_idle;
	c->final.cb = on_goaway_final;
	c->reset_tokens = H3_RESET_BURST;
	c->reset_ms = wk->loop.now_ms;
	c->link.on_stop = on_stop;
	memcpy(&c->peer, path->remote.addr, path->remote.addrlen);
	c->peer_len = path->remote.addrlen;
	memcpy(&c->local, path->local.addr, path->local.addrlen);
	c->local_len = path->local.addrlen;
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;

	ngtcp2_cid scid;
	do
		new_cid(wk, &scid);
	while (map_find(h3w(wk), scid.data, scid.datalen));

	ngtcp2_settings st;
	ngtcp2_settings_default(&st);
	st.initial_ts = now_ns();
	st.cc_algo = NGTCP2_CC_ALGO_CUBIC;
	st.max_window = H3_CONN_WINDOW_MAX;
	st.max_stream_window = H3_STREAM_WINDOW_MAX;
	st.handshake_timeout = (uint64_t)cfg->header_timeout_ms * NGTCP2_MILLISECONDS;
	st.token = hd->token;
	st.tokenlen = hd->tokenlen;
	st.token_type = token_type;

	ngtcp2_transport_params tp;
	ngtcp2_transport_params_default(&tp);
	tp.initial_max_stream_data_bidi_remote = H3_STREAM_WINDOW;
	tp.initial_max_stream_data_uni = H3_STREAM_WINDOW;
	tp.initial_max_data = H3_CONN_WINDOW;
	tp.initial_max_streams_bidi = cfg->h2_max_streams;
	tp.initial_max_streams_uni = 3;
	/* QUIC's silent close comes after keepalive-timeout's GOAWAY (on_idle) */
	tp.max_idle_timeout = 2 * (uint64_t)cfg->keepalive_timeout_ms * NGTCP2_MILLISECONDS;
	tp.active_connection_id_limit = 7;
	tp.stateless_reset_token_present = 1;
	ngtcp2_crypto_generate_stateless_reset_token(tp.stateless_reset_token, secret,
						     sizeof(secret), &scid);
	if (odcid) {
		tp.original_dcid = *odcid;
		tp.retry_scid = hd->dcid;
		tp.retry_scid_present = 1;
	} else {
		tp.original_dcid = hd->dcid;
	}
	tp.original_dcid_present = 1;

	if (ngtcp2_conn_server_new(&c->q, &hd->scid, &scid, path, hd->version, &qcb, &st, &tp, NULL,
				   c) != 0) {
		free(c);
		return NULL;
	}
	if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET |
					 GNUTLS_NO_END_OF_EARLY_DATA) < 0) {
		c->tls = NULL;
		goto fail;
	}
	gnutls_session_set_ptr(c->tls, &c->ref);
	if (gnutls_priority_set(c->tls, priority) < 0 ||
	    ngtcp2_crypto_gnutls_configure_server_session(c->tls) != 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
				   xport_tls_site_credentials(g, NULL, 0)) < 0 ||
	    gnutls_alpn_set_protocols(c->tls, &alpn_h3, 1, GNUTLS_ALPN_MANDATORY) < 0)
		goto fail;
	gnutls_handshake_set_post_client_hello_function(c->tls, on_client_hello);
	gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_IGNORE);
	ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
	server_gen_hold(g);
	c->gen = g;
	atomic_fetch_add_explicit(&handshakes, 1, memory_order_relaxed);
	c->counted = true;
	if (conn_add_cid(c, &scid) < 0)
		goto fail_counted;
	conn_add_cid(c, &hd->dcid); /* the client's Initials until it has ours */
	worker_conn_added(wk, &c->link);
	worker_conn_accepted(wk);
	timer_arm(&wk->loop, &wk->t_keepalive, &c->idle);
	struct h3_worker *w = h3w(wk);
	c->next_all = w->all;
	if (w->all)
		w->all->prev_all = c;
	w->all = c;
	return c;
fail_counted:
	handshake_over(c);
fail:
	if (c->tls)
		gnutls_deinit(c->tls);
	ngtcp2_conn_del(c->q);
	free(c);
	return NULL;
}

/* ---- datagrams without a connection -------------------------------------------------------- */

static void send_raw(struct h3_worker *w, int fd, const ngtcp2_path *path, const uint8_t *p,
		     size_t n)
{
	send_packets(w, fd, path, p, n, n);
}

static void version_negotiation(struct h3_worker *w, int fd, const ngtcp2_path *path,
				const struct h3dispatch *d)
{
	uint32_t sv[] = {NGTCP2_PROTO_VER_V1, NGTCP2_PROTO_VER_V2};
	uint8_t r;
	uint8_t out[1500];
	rand_bytes(&r, 1);
	ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(out, sizeof(out), r, d->scid,
							      d->scidlen, d->dcid, d->dcidlen,
							      sv, ARRAY_SIZE(sv));
	if (n > 0)
		send_raw(w, fd, path, out, (size_t)n);
}

/* A short-header packet of no connection we know (RFC 9000 §10.3): smaller than what came,
 * so that two endpoints cannot loop. */
static void stateless_reset(struct h3_worker *w, int fd, const ngtcp2_path *path,
			    const struct h3dispatch *d)
{
	size_t rlen = d->reset_len;
	if (rlen == 0)
		return;
	ngtcp2_cid cid;
	ngtcp2_cid_init(&cid, d->dcid, d->dcidlen);
	uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
	if (ngtcp2_crypto_generate_stateless_reset_token(token, secret, sizeof(secret), &cid) != 0)
		return;
	uint8_t rnd[H3DISPATCH_RESET_MAX], out[H3DISPATCH_RESET_MAX + 64];
	rand_bytes(rnd, rlen);
	ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(out, sizeof(out), token, rnd, rlen);
	if (n > 0)
		send_raw(w, fd, path, out, (size_t)n);
}

static void send_retry(struct worker *wk, int fd, const ngtcp2_path *path,
		       const ngtcp2_pkt_hd *hd)
{
	struct h3_worker *w = h3w(wk);
	ngtcp2_cid scid;
	new_cid(wk, &scid);
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN2];
	ngtcp2_ssize tl = ngtcp2_crypto_generate_retry_token2(
		token, secret, sizeof(secret), hd->version, path->remote.addr,
		path->remote.addrlen, &scid, &hd->dcid, now_ns());
	if (tl < 0)
		return;
	uint8_t out[1500];
	ngtcp2_ssize n = ngtcp2_crypto_write_retry(out, sizeof(out), hd->version, &hd->scid, &scid,
						   &hd->dcid, token, (size_t)tl);
	if (n > 0)
		send_raw(w, fd, path, out, (size_t)n);
}

/* A datagram of this worker's (d: its verdict, SHORT, LONG or VN). */
static void on_datagram(struct worker *wk, int fd, const ngtcp2_path *path, const uint8_t *p,
			size_t n, const struct h3dispatch *d)
{
	struct h3_worker *w = h3w(wk);
	if (d->verdict == H3DISPATCH_VN) {
		version_negotiation(w, fd, path, d);
		return;
	}
	struct h3_conn *c = map_find(w, d->dcid, d->dcidlen);
	if (c) {
		if (!c->closed)
			conn_read(c, path, p, n);
		return;
	}
	if (d->verdict == H3DISPATCH_SHORT) {
		stateless_reset(w, fd, path, d);
		return;
	}
	ngtcp2_pkt_hd hd;
	if (ngtcp2_accept(&hd, p, n) != 0 || hd.type != NGTCP2_PKT_INITIAL)
		return; /* 0-RTT without its connection, or not a client's first packet */
	if (atomic_load_explicit(&wk->srv->stopping, memory_order_relaxed))
		return;
	if (atomic_load_explicit(&wk->srv->active_conns, memory_order_relaxed) >=
	    wk->gen->cfg->max_connections)
		return;
	ngtcp2_cid odcid;
	const ngtcp2_cid *pod = NULL;
	ngtcp2_token_type tt = NGTCP2_TOKEN_TYPE_UNKNOWN;
	if (h3dispatch_retry_token(hd.token, hd.tokenlen)) {
		if (ngtcp2_crypto_verify_retry_token2(&odcid, hd.token, hd.tokenlen, secret,
						      sizeof(secret), hd.version, path->remote.addr,
						      path->remote.addrlen, &hd.dcid,
						      H3_RETRY_TIMEOUT, now_ns()) != 0)
			return; /* forged or stale: drop (the client times out) */
		pod = &odcid;
		tt = NGTCP2_TOKEN_TYPE_RETRY;
	} else {
		hd.token = NULL; /* we issue no NEW_TOKEN: whatever it is, ignore it */
		hd.tokenlen = 0;
	}
	if (!pod && (atomic_load_explicit(&handshakes, memory_order_relaxed) >=
			     wk->gen->cfg->max_tls_handshakes ||
		     retried_has(w, &hd.dcid))) {
		/* Under load: the client proves its address first (RFC 9000 §8.1.2). */
		send_retry(wk, fd, path, &hd);
		return;
	}
	c = conn_new(wk, fd, path, &hd, pod, tt);
	if (c)
		conn_read(c, path, p, n);
}

/* ---- the socket ---------------------------------------------------------------------------- */

/* Each connection that got packets: one pass (ACKs, responses). */
static void run_dirty(struct h3_worker *w)
{
	while (w->dirty) {
		struct h3_conn *c = w->dirty;
		w->dirty = c->next_dirty;
		c->dirty = false;
		conn_process(c);
	}
}

/* Put a datagram into its worker's inbox (dropped when that is full: QUIC resends). */
static void hand_over(unsigned owner, int fd, const ngtcp2_path *path, const uint8_t *p,
		      size_t n)
{
	struct h3_inbox *in = &inboxes[owner];
	struct h3_pkt *k = malloc(sizeof(*k) + n);
	if (!k)
		return;
	k->next = NULL;
	k->fd = fd;
	memcpy(&k->local, path->local.addr, path->local.addrlen);
	k->local_len = path->local.addrlen;
	memcpy(&k->remote, path->remote.addr, path->remote.addrlen);
	k->remote_len = path->remote.addrlen;
	k->len = n;
	memcpy(k->data, p, n);
	pthread_mutex_lock(&in->lock);
	bool wake = in->n == 0;
	if (in->n >= H3_INBOX_MAX) {
		pthread_mutex_unlock(&in->lock);
		free(k);
		return;
	}
	if (in->tail)
		in->tail->next = k;
	else
		in->head = k;
	in->tail = k;
	in->n++;
	pthread_mutex_unlock(&in->lock);
	if (wake) {
		uint64_t one = 1;
		ssize_t r = write(in->w.fd, &one, sizeof(one));
		(void)r;
	}
}

/* The datagrams other workers read for this one's connections. */
static void on_inbox(struct loop *l, struct watcher *wt, uint32_t events)
{
	struct h3_inbox *in = container_of(wt, struct h3_inbox, w);
	uint64_t v;
	ssize_t r = read(wt->fd, &v, sizeof(v));
	(void)r;
	pthread_mutex_lock(&in->lock);
	struct h3_pkt *k = in->head;
	in->head = in->tail = NULL;
	in->n = 0;
	pthread_mutex_unlock(&in->lock);
	pthread_once(&setup_once, setup);
	while (k) {
		struct h3_pkt *next = k->next;
		ngtcp2_path path = {
			.local = {(ngtcp2_sockaddr *)&k->local, k->local_len},
			.remote = {(ngtcp2_sockaddr *)&k->remote, k->remote_len},
		};
		struct h3dispatch d;
		/* the owner's now: its verdict is SHORT, LONG or VN */
		if (h3dispatch_classify(k->data, k->len, in->wk->id, n_inboxes, &d) >= 0 &&
		    d.verdict != H3DISPATCH_HANDOVER)
			on_datagram(in->wk, k->fd, &path, k->data, k->len, &d);
		free(k);
		k = next;
	}
	run_dirty(h3w(in->wk));
}

static void inbox_free_all(void)
{
	for (unsigned i = 0; i < n_inboxes; i++) {
		struct h3_inbox *in = &inboxes[i];
		struct h3_pkt *k = in->head;
		while (k) {
			struct h3_pkt *next = k->next;
			free(k);
			k = next;
		}
		if (in->w.fd >= 0)
			close(in->w.fd);
		pthread_mutex_destroy(&in->lock);
	}
	free(inboxes);
	inboxes = NULL;
	n_inboxes = 0;
}

/* A reload: each connection gets GOAWAY, finishes its requests and closes; the client's next
 * one has the new generation's certificates (a renewed one, a new site). */
static void goaway_all(struct h3_worker *w)
{
	for (struct h3_conn *c = w->all; c;) {
		struct h3_conn *next = c->next_all;
		if (!c->stopping && !c->closed)
			goaway(c);
		c = next;
	}
}

void h3_worker_init(struct worker *wk)
{
	struct server *srv = wk->srv;
	if (!srv->quic_port)
		return;
	struct h3_worker *w = wk->app_data[WORKER_SLOT_H3];
	if (w) {
		if (w->gen_id != wk->gen->id)
			goaway_all(w);
		w->gen_id = wk->gen->id;
		return;
	}
	w = h3w(wk);
	w->gen_id = wk->gen->id;
	if (srv->n_workers < 2)
		return;
	/* worker_init runs for every worker before any of them starts: no lock needed */
	if (!inboxes) {
		inboxes = xcalloc(srv->n_workers, sizeof(*inboxes));
		n_inboxes = srv->n_workers;
		for (unsigned i = 0; i < n_inboxes; i++) {
			pthread_mutex_init(&inboxes[i].lock, NULL);
			inboxes[i].w.fd = -1;
		}
	}
	if (wk->id >= n_inboxes)
		return;
	struct h3_inbox *in = &inboxes[wk->id];
	in->wk = wk;
	in->w.cb = on_inbox;
	in->w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (in->w.fd < 0 || loop_add(&wk->loop, &in->w, EPOLLIN) < 0) {
		log_error("HTTP/3: worker %u cannot take datagrams from the others", wk->id);
		return;
	}
	atomic_fetch_add_explicit(&inbox_users, 1, memory_order_relaxed);
}

void h3_datagrams(struct worker *wk, const struct listener *l)
{
	pthread_once(&setup_once, setup);
	struct h3_worker *w = h3w(wk);
	if (!w->rx.buf)
		udprx_init(&w->rx);
	unsigned workers = inboxes ? n_inboxes : 1;
	unsigned self = workers > 1 ? wk->id : 0;
	for (int batch = 0; batch < 8; batch++) {
		int n = udprx_read(&w->rx, l->fd, (const struct sockaddr *)&l->addr.sa, l->addr.len,
				   l->gro);
		if (n <= 0)
			break;
		struct udprx_dgram g;
		while (udprx_next(&w->rx, &g)) {
			ngtcp2_path path = {
				.local = {(ngtcp2_sockaddr *)g.local, g.local_len},
				.remote = {(ngtcp2_sockaddr *)g.peer, g.peer_len},
			};
			struct h3dispatch d;
			if (h3dispatch_classify(g.p, g.len, self, workers, &d) < 0)
				continue;
			if (d.verdict == H3DISPATCH_HANDOVER)
				hand_over(d.owner, l->fd, &path, g.p, g.len);
			else
				on_datagram(wk, l->fd, &path, g.p, g.len, &d);
		}
		run_dirty(w);
		if (n < udprx_slots(l->gro))
			break;
	}
}

void h3_worker_exit(struct worker *wk)
{
	struct h3_worker *w = wk->app_data[WORKER_SLOT_H3];
	if (!w)
		return;
	for (size_t i = 0; i < H3_MAP_BUCKETS; i++) {
		struct cid_ent *e = w->map[i];
		while (e) {
			struct cid_ent *n = e->next;
			free(e);
			e = n;
		}
	}
	udprx_free(&w->rx);
	free(w);
	wk->app_data[WORKER_SLOT_H3] = NULL;
	if (inboxes && wk->id < n_inboxes && inboxes[wk->id].wk == wk &&
	    atomic_fetch_sub_explicit(&inbox_users, 1, memory_order_acq_rel) == 1)
		inbox_free_all(); /* the last worker: nobody hands over any more */
}
