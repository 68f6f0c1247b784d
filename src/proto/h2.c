/* HTTP/2: a connection's nghttp2 session over its transport, and each stream as an
 * http_exchange. nghttp2 does the framing, HPACK, flow control and most of RFC 9113 §8's
 * checks (pseudo-header fields, connection-specific fields, upper-case names, TE,
 * content-length against DATA); this file turns a header block into an http_request, routes
 * it, serves it, and puts the response into frames. Bytes move through the transport
 * (xport/), edge-triggered like h1.c. The stream table and the limits are in h2.h.
 *
 * One pass over the connection (conn_process): read what the socket has into the worker's
 * scratch buffer and let nghttp2 parse it (its callbacks only record what happened), serve the
 * streams that became ready and tell streaming handlers what changed, then let nghttp2 write
 * frames into the connection's output buffer and send that; repeat while anything moves.
 * Handlers are never called from inside nghttp2, and nghttp2 is never entered from a handler's
 * call: an op that has something to send asks for a pass (kick), run after the current batch
 * of events. */
#include "proto/h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
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
#include "net/cidr.h"
#include "net/proxyproto.h"
#include "proto/accesslog.h"
#include "xport/tls.h"
#include "xport/xport.h"

#define H2_STREAM_WINDOW 65535  /* request body bytes a stream may hold (its window) */
#define H2_CONN_WINDOW (1 << 20) /* ... all streams of a connection together */
#define H2_OUT_MAX (4 * (9 + 16384) + 4096) /* frames for the socket: 4 DATA and more */
#define H2_SEND_MAX 65536      /* streamed response bytes a stream buffers for its window */
#define H2_RSP_HEAD_MAX 65536  /* a response head being built */
#define H2_RSP_FIELDS_MAX 256  /* ... and its fields */
#define H2_COPY_MAX (1 << 20)  /* a body copied from the handler (small by contract) */
#define H2_DISCARD_MAX (64ull << 20) /* a larger body for a non-streaming route: 413 */
#define H2_MEM_MAX (2u << 20)  /* nghttp2's own allocations per connection */
#define H2_FRAMEBUF_MIN 16384  /* nghttp2's frame buffer is the one this large it makes first */
#define H2_RELEASE_MS 500      /* idle this long: the frame buffer's pages go (release_framebuf) */
#define H2_SPARE_MAX 32        /* freed stream structs kept per worker */
#define H2_ROUNDS 32           /* rounds of a pass before the other connections' turn */
#define H2_PPHDR_MAX 4096
#define H2_GONE_MAX 4          /* streams the client closed, remembered after nghttp2 forgets */
#define H2_PREFACE_LEN 24      /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
/* Token buckets (tokens, refill per second), one of each per connection. Resets: RST_STREAM
 * from the client and the stream errors it provoked (rapid reset, CVE-2023-44487, and the
 * "made you reset" kind); nghttp2's own limit (1000, 33/s) stays behind it. Floods: frames
 * that cost work and carry no request: SETTINGS, PING, PRIORITY, empty DATA, empty
 * CONTINUATION, unknown types, invalid frames. An empty bucket: GOAWAY(ENHANCE_YOUR_CALM). */
#define H2_RESET_BURST 200
#define H2_RESET_RATE 30
#define H2_FLOOD_BURST 1000
#define H2_FLOOD_RATE 200
#define H2_MAX_OUTBOUND_ACK 256 /* SETTINGS/PING ACKs queued for a peer that does not read */
#define H2_MAX_CONTINUATIONS 8

enum h2s_state { S_HEAD, S_BODY, S_SERVE, S_HANDLER, S_WRITE };
/* Where the response body comes from: memory the handler keeps, our buffer (a copied body,
 * or a streamed one), a file. */
enum h2s_src { SRC_NONE, SRC_MEM, SRC_BUF, SRC_FILE };
enum h2_tkind { T_NONE, T_HEADER, T_BODY, T_SEND, T_IDLE };

struct h2_conn;

struct h2_stream {
	struct http_exchange x; /* first: the handler's view */
	struct h2_conn *c;
	struct h2_stream *prev, *next;
	int32_t id;
	enum h2s_state state;
	bool ready;       /* serve it after this read pass */
	bool notify;      /* the streaming handler's event is due */
	bool streams;     /* its route streams the body: DATA is kept for the handler */
	bool reroute;     /* routed again at dispatch (its body was dropped meanwhile) */
	bool remote_done; /* END_STREAM received */
	bool reset;       /* RST_STREAM submitted (or the stream is otherwise broken) */
	bool head_done;   /* the final response head is complete */
	bool head_sent;   /* ... and submitted */
	bool has_body;    /* ... with a data provider */
	bool ended;       /* the body source is complete */
	bool deferred;    /* the data provider said NGHTTP2_ERR_DEFERRED */
	bool send_full;   /* http_x_send refused bytes: tell the handler when there is room */
	bool too_large;   /* the header list passed the limits: 431 */
	bool rsp_overflow; /* a response head past its limits: 500 instead */
	bool forwarded;   /* the head is an origin's (HTTP_RESP_FORWARDED): its Date, Server */
	int error;        /* answer this status instead of routing */
	int status;
	uint64_t body_bytes; /* for the access log */
	uint64_t dropped;    /* request body bytes dropped */
	size_t hdr_bytes;    /* header list size (RFC 9113 §6.5.2: name + value + 32 each) */
	unsigned n_fields;
	struct timer deadline; /* body-total-timeout while BODY */
	struct http_route rt;

	/* response head being built: records of (name, value), names lower-case */
	struct buf rsp;
	unsigned n_rsp;

	enum h2s_src src;
	const char *mem;
	size_t mem_len;
	void *owned; /* http_resp_body_owned: freed with the stream */
	struct buf out; /* SRC_BUF: copied or streamed body bytes from out_off on */
	size_t out_off;
	int file_fd;
	off_t file_off, file_end;

	struct buf in; /* request body bytes the streaming handler has not consumed */

	const struct http_stream_cb *cb;
	void *cb_arg;

	struct buf head; /* request fields as received: records of (name, value) */
	struct http_request req;
};

struct bucket {
	unsigned tokens;
	uint64_t last_ms;
};

struct h2_conn {
	struct watcher w;
	struct xport *xp; /* &tcp, or an adopted transport */
	struct xport tcp;
	bool secure; /* over TLS (ALPN h2): every stream is https, with the handshake's name */
	const char *tls_name;
	size_t tls_name_len;
	struct conn_link link;
	struct worker *wk;
	struct timer timer;
	enum h2_tkind tkind;
	struct timer yield; /* the rest of a busy pass, in the loop's next iteration */
	struct timer release; /* idle for H2_RELEASE_MS: release_framebuf */
	uint64_t idle_since; /* loop clock, ms: when it last became idle */
	struct deferred defer; /* a pass asked for by a handler (kick), or the free after close */
	nghttp2_session *ng;
	struct h2_stream *streams, *last; /* in the order they opened */
	unsigned n_streams;
	bool readable, writable;
	bool peer_shut;   /* EPOLLRDHUP/HUP: an EOF is queued, reported once */
	bool out_watched; /* EPOLLOUT is registered (from the first blocked write on) */
	bool processing, kick_pending, closed, failed;
	bool pphdr;   /* a PROXY header comes first */
	bool started; /* a stream was opened: idle now means keep-alive */
	bool goaway;  /* GOAWAY submitted: no new streams */
	bool calm;    /* ... as ENHANCE_YOUR_CALM */
	bool did_read, did_write; /* this pass */
	struct sockaddr_storage peer;
	socklen_t peer_len;

	struct buf out; /* serialized frames from out_off on */
	size_t out_off;
	uint64_t written;

	struct buf pp; /* the PROXY header as it comes */
	struct bucket resets, floods;
	/* The client's stream IDs (RFC 9113 §5.1.1): the highest a HEADERS frame used, and the
	 * last run of IDs it skipped over to get there (0, 0: none), which are closed unused. */
	int32_t sid_max, skip_lo, skip_hi;
	/* The last streams that closed after the client ended or reset them (nghttp2 forgets
	 * closed streams: no_closed_streams); a ring. */
	int32_t gone[H2_GONE_MAX];
	unsigned gone_next;
	/* Frame boundaries in what the client sends (see feed): the bytes of the preface or of
	 * a frame's payload still to pass, and a frame header as it comes. */
	uint32_t fr_skip;
	uint8_t fr_hd[9], fr_have;
	size_t mem; /* nghttp2's allocations */
	/* nghttp2's frame buffer (one frame being packed, 16 KiB), page-aligned: its pages go
	 * back to the kernel while the connection is idle (see release_framebuf). */
	bool in_new;       /* nghttp2_session_server_new3 is running: the next big one is it */
	bool framebuf_used; /* nghttp2 packed frames into it since its pages were released */
	void *framebuf;
	size_t framebuf_size;
};

/* Per worker: stream structs (each holds a parsed head, ~8 KiB) freed streams gave back. */
struct h2_worker {
	struct h2_stream *spare[H2_SPARE_MAX];
	unsigned n_spare;
};

static void conn_process(struct h2_conn *c);
static void conn_close(struct h2_conn *c);
static void kick(struct h2_conn *c);
static const struct http_exchange_ops h2_ops;

static const struct config *cfg_of(const struct h2_conn *c)
{
	return c->wk->gen->cfg;
}

static struct h2_stream *stream_of(struct http_exchange *x)
{
	return container_of(x, struct h2_stream, x);
}

static bool bucket_take(struct bucket *b, uint64_t now_ms, unsigned burst, unsigned rate)
{
	uint64_t add = (now_ms - b->last_ms) * rate / 1000;
	if (add > 0) {
		uint64_t t = b->tokens + add;
		b->tokens = t >= burst ? burst : (unsigned)t;
		b->last_ms = b->tokens == burst ? now_ms : b->last_ms + add * 1000 / rate;
	}
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}

/* The peer is abusing the connection: GOAWAY(ENHANCE_YOUR_CALM), streams cut, then close. */
static void calm(struct h2_conn *c, const char *what)
{
	if (c->calm)
		return;
	char host[NET_ADDR_STRLEN];
	net_addr_host((const struct sockaddr *)&c->peer, c->peer_len, host, sizeof(host));
	log_warning("h2: %s: too many %s: GOAWAY(ENHANCE_YOUR_CALM)", host, what);
	c->calm = c->goaway = true;
	nghttp2_session_terminate_session(c->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* ---- nghttp2's memory, counted per connection --------------------------------------------- */

union mem_hdr {
	size_t size;
	max_align_t align;
};

static size_t page_size;

/* nghttp2_session_server_new3 allocates the frame buffer of its outbound queue
 * (aob.framebufs: one chunk of 9 + 1 + 16384 bytes, kept for the session's life). That one
 * alone goes on whole pages of its own (aligned, rounded up), without our header, so that
 * they can be dropped while idle. */
static void *framebuf_alloc(struct h2_conn *c, size_t size)
{
	size_t n = (size + page_size - 1) / page_size * page_size;
	void *p = aligned_alloc(page_size, n);
	if (!p)
		abort(); /* as xmalloc */
	c->framebuf = p;
	c->framebuf_size = size;
	c->mem += size;
	return p;
}

static void *mem_malloc(size_t size, void *ud)
{
	struct h2_conn *c = ud;
	if (size > H2_MEM_MAX - c->mem)
		return NULL; /* nghttp2 says NOMEM: the stream or the connection fails */
	if (c->in_new && !c->framebuf && size >= H2_FRAMEBUF_MIN)
		return framebuf_alloc(c, size);
	union mem_hdr *h = xmalloc(sizeof(*h) + size);
	h->size = size;
	c->mem += size;
	return h + 1;
}

static void mem_free(void *p, void *ud)
{
	struct h2_conn *c = ud;
	if (!p)
		return;
	if (p == c->framebuf) {
		c->mem -= c->framebuf_size;
		c->framebuf = NULL;
		free(p);
		return;
	}
	union mem_hdr *h = (union mem_hdr *)p - 1;
	c->mem -= h->size;
	free(h);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = mem_malloc(n * size, ud);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
	struct h2_conn *c = ud;
	if (!p)
		return mem_malloc(size, ud);
	if (p == c->framebuf) { /* (nghttp2 never does): an ordinary block from now on */
		size_t old = c->framebuf_size;
		void *q = mem_malloc(size, ud);
		if (!q)
			return NULL;
		memcpy(q, p, MIN(old, size));
		mem_free(p, ud);
		return q;
	}
	union mem_hdr *h = (union mem_hdr *)p - 1;
	if (size > h->size && size - h->size > H2_MEM_MAX - c->mem)
		return NULL;
	size_t old = h->size;
	h = xrealloc(h, sizeof(*h) + size);
	h->size = size;
	c->mem = c->mem - old + size;
	return h + 1;
}

/* ---- per-worker pool ---------------------------------------------------------------------- */

static struct h2_worker *h2w(struct worker *wk)
{
	return worker_slot(wk, WORKER_SLOT_H2, sizeof(struct h2_worker));
}

void h2_worker_exit(struct worker *wk)
{
	struct h2_worker *w = wk->app_data[WORKER_SLOT_H2];
	if (!w)
		return;
	while (w->n_spare)
		free(w->spare[--w->n_spare]);
	free(w);
	wk->app_data[WORKER_SLOT_H2] = NULL;
}

/* ---- output: frames into c->out, out to the transport ------------------------------------- */

static size_t out_pending(const struct h2_conn *c)
{
	return c->out.len - c->out_off;
}

static void wait_writable(struct h2_conn *c)
{
	c->writable = !loop_watch_writable(&c->wk->loop, &c->w, &c->out_watched);
}

/* Send what is pending. 1 all sent, 0 the socket is full, -1 on error (c->failed). */
static int flush(struct h2_conn *c)
{
	while (out_pending(c) > 0) {
		if (c->failed)
			return -1;
		if (!c->writable)
			return 0;
		ssize_t n = xport_write(c->xp, c->out.data + c->out_off, c->out.len - c->out_off,
					false);
		if (n > 0) {
			c->out_off += (size_t)n;
			if (c->out_off == c->out.len)
				c->out.len = c->out_off = 0;
			c->written += (uint64_t)n;
			c->did_write = true;
			continue;
		}
		if (n == -EAGAIN) {
			if (c->xp->want & XPORT_WANT_WRITE)
				wait_writable(c);
			else
				c->writable = false; /* TLS waits for the peer's bytes first */
			return 0;
		}
		c->failed = true;
		return -1;
	}
	return 1;
}

/* Room for n more bytes at the end of out (making it by sending when needed). */
static bool out_room(struct h2_conn *c, size_t n)
{
	if (c->out.cap == 0 && buf_reserve(&c->out, c->out.max) < 0)
		return false;
	if (buf_space(&c->out) >= n)
		return true;
	if (c->out_off > 0) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
		if (buf_space(&c->out) >= n)
			return true;
	}
	if (flush(c) < 0)
		return false;
	if (c->out_off > 0) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	return buf_space(&c->out) >= n;
}

/* nghttp2's frames (all but the DATA it leaves to data_send). */
static ssize_t on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct h2_conn *c = ud;
	if (!out_room(c, 1))
		return c->failed ? NGHTTP2_ERR_CALLBACK_FAILURE : NGHTTP2_ERR_WOULDBLOCK;
	size_t n = MIN(len, buf_space(&c->out));
	memcpy(c->out.data + c->out.len, data, n);
	c->out.len += n;
	return (ssize_t)n;
}

/* ---- response bodies: the data provider --------------------------------------------------- */

static ssize_t data_avail(const struct h2_stream *s)
{
	switch (s->src) {
	case SRC_MEM:
		return (ssize_t)s->mem_len;
	case SRC_BUF:
		return (ssize_t)(s->out.len - s->out_off);
	case SRC_FILE:
		return (ssize_t)(s->file_end - s->file_off);
	case SRC_NONE:
		break;
	}
	return 0;
}

/* How much of the body the next DATA frame carries (at most 16 KiB: nghttp2's frame buffer);
 * the bytes themselves go in data_send (NO_COPY), straight from the source into the output,
 * files with pread: the output then leaves in 64 KiB writes, 4 frames each, which measured
 * as cheap as a header write and a sendfile per frame and faster for the client. */
static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *source, void *ud)
{
	struct h2_stream *s = source->ptr;
	size_t avail = (size_t)data_avail(s);
	size_t n = MIN(len, avail);
	if (n == 0 && !s->ended) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (n == avail && s->ended)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int data_send(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
		     size_t len, nghttp2_data_source *source, void *ud)
{
	struct h2_conn *c = ud;
	struct h2_stream *s = source->ptr;
	if (!out_room(c, 9 + len))
		return c->failed ? NGHTTP2_ERR_CALLBACK_FAILURE : NGHTTP2_ERR_WOULDBLOCK;
	char *dst = c->out.data + c->out.len + 9;
	switch (len ? s->src : SRC_NONE) { /* (an empty DATA frame: END_STREAM only) */
	case SRC_MEM:
		memcpy(dst, s->mem, len);
		s->mem += len;
		s->mem_len -= len;
		break;
	case SRC_BUF:
		memcpy(dst, s->out.data + s->out_off, len);
		s->out_off += len;
		if (s->out_off == s->out.len)
			s->out.len = s->out_off = 0;
		if (s->send_full) {
			s->send_full = false;
			s->notify = true;
		}
		break;
	case SRC_FILE: {
		ssize_t r = pread(s->file_fd, dst, len, s->file_off);
		if (r != (ssize_t)len)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* it shrank: RST_STREAM */
		s->file_off += (off_t)len;
		break;
	}
	case SRC_NONE:
		break;
	}
	memcpy(c->out.data + c->out.len, framehd, 9);
	c->out.len += 9 + len;
	return 0;
}

/* ---- streams: life and death --------------------------------------------------------------- */

static struct h2_stream *stream_new(struct h2_conn *c, int32_t id)
{
	struct h2_worker *w = h2w(c->wk);
	struct h2_stream *s = w->n_spare ? w->spare[--w->n_spare] : xmalloc(sizeof(*s));
	/* Everything but the parsed head, which build_request fills. */
	memset(s, 0, offsetof(struct h2_stream, req));
	s->x.ops = &h2_ops;
	s->x.wk = c->wk;
	s->x.peer = (const struct sockaddr *)&c->peer;
	s->x.peer_len = c->peer_len;
	s->x.secure = c->secure;
	s->x.alt_svc_port = c->secure ? c->wk->srv->quic_port : 0;
	s->x.tls_name = c->tls_name;
	s->x.tls_name_len = c->tls_name_len;
	s->c = c;
	s->id = id;
	s->state = S_HEAD;
	s->file_fd = -1;
	s->status = 0;
	buf_init(&s->head, 2 * cfg_of(c)->max_header_bytes + 64); /* + joined cookies */
	buf_init(&s->rsp, H2_RSP_HEAD_MAX);
	buf_init(&s->out, H2_SEND_MAX);
	buf_init(&s->in, H2_STREAM_WINDOW);
	s->prev = c->last;
	if (c->last)
		c->last->next = s;
	else
		c->streams = s;
	c->last = s;
	c->n_streams++;
	c->started = true;
	return s;
}

static void stream_close_file(struct h2_conn *c, struct h2_stream *s)
{
	if (s->file_fd >= 0)
		close(s->file_fd);
	s->file_fd = -1;
}

static void stream_free(struct h2_conn *c, struct h2_stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		c->last = s->prev;
	c->n_streams--;
	timer_cancel(&s->deadline);
	stream_close_file(c, s);
	free(s->owned);
	s->owned = NULL;
	buf_free(&s->head);
	buf_free(&s->rsp);
	buf_free(&s->out);
	buf_free(&s->in);
	struct h2_worker *w = h2w(c->wk);
	if (w->n_spare < H2_SPARE_MAX)
		w->spare[w->n_spare++] = s;
	else
		free(s);
}

/* The stream is over (closed by nghttp2, or its connection ends): a streaming handler that
 * still has it lets go (http_stream_cb.abort), then it is freed. */
static void stream_gone(struct h2_conn *c, struct h2_stream *s)
{
	if (s->cb) {
		const struct http_stream_cb *cb = s->cb;
		s->cb = NULL;
		cb->abort(s->cb_arg);
	}
	stream_free(c, s);
}

static void stream_reset(struct h2_conn *c, struct h2_stream *s, uint32_t code)
{
	if (s->reset)
		return;
	s->reset = true;
	nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, code);
	kick(c);
}

/* The handler is done with the request body: what it did not take is dropped, and the
 * window it held is given back. */
static void stream_drop_body(struct h2_conn *c, struct h2_stream *s)
{
	s->streams = false;
	if (s->in.len > 0)
		nghttp2_session_consume(c->ng, s->id, s->in.len);
	buf_free(&s->in);
}

static void ready(struct h2_stream *s)
{
	s->state = S_SERVE;
	s->ready = true;
}

/* body-total-timeout: the body a non-streaming route waits for took too long. */
static void on_stream_deadline(struct loop *l, struct timer *t)
{
	struct h2_stream *s = container_of(t, struct h2_stream, deadline);
	stream_reset(s->c, s, NGHTTP2_CANCEL);
}

/* ---- the request head ---------------------------------------------------------------------- */

/* The field records of s->head -> s->req (its views point into s->head, which no longer
 * grows): 0, a status to answer, or -1: malformed, a stream error (http/reqhead.h). */
static int build_request(struct h2_stream *s, bool end_stream)
{
	if (s->too_large) {
		http_reqhead_reset(&s->req, 20);
		return 431;
	}
	return http_reqhead_build(&s->head, &s->req, 20, end_stream);
}

/* The header block of a request ended: check it, route it, and decide when to serve it. */
static void request_complete(struct h2_conn *c, struct h2_stream *s, bool end_stream)
{
	s->remote_done = end_stream;
	int st = build_request(s, end_stream);
	if (st < 0) {
		stream_reset(c, s, NGHTTP2_PROTOCOL_ERROR);
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
	if (s->rt.at_once || end_stream || s->streams) {
		ready(s);
	} else if (s->req.expect_continue) {
		/* The body would only be dropped: answer before the client sends it. */
		ready(s);
	} else if (s->req.content_length > (int64_t)H2_DISCARD_MAX) {
		s->error = 413;
		ready(s);
	} else {
		s->state = S_BODY;
		s->deadline.cb = on_stream_deadline;
		timer_arm(&c->wk->loop, &c->wk->t_body_total, &s->deadline);
	}
}

static void remote_end(struct h2_conn *c, struct h2_stream *s)
{
	s->remote_done = true;
	if (s->state == S_BODY) {
		timer_cancel(&s->deadline);
		s->reroute = true; /* a reload may have come in between */
		ready(s);
	} else if (s->cb) {
		s->notify = true;
	}
}

/* ---- the response -------------------------------------------------------------------------- */

/* The head in s->rsp as HEADERS: final with a data provider (with_body) or END_STREAM, or
 * interim. */
static int submit_head(struct h2_conn *c, struct h2_stream *s, bool final, bool with_body)
{
	nghttp2_nv nva[H2_RSP_FIELDS_MAX + 3];
	char status[8];
	size_t n = 0, pos = 0, nl, vl;
	const char *name, *value;
	bool own = !s->forwarded;

	snprintf(status, sizeof(status), "%03d", s->status % 1000);
#define NV(nm, nlen, v, vlen)                                                                  \
	(nva[n++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(v), (nlen), (vlen), NGHTTP2_NV_FLAG_NONE})
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
		nghttp2_data_provider prd = {.source.ptr = s, .read_callback = data_read};
		rv = nghttp2_submit_response(c->ng, s->id, nva, n, with_body ? &prd : NULL);
	} else {
		rv = nghttp2_submit_headers(c->ng, NGHTTP2_FLAG_NONE, s->id, NULL, nva, n, NULL);
	}
	buf_free(&s->rsp);
	s->n_rsp = 0;
	if (rv < 0) {
		stream_reset(c, s, NGHTTP2_INTERNAL_ERROR);
		return -1;
	}
	if (final) {
		s->head_sent = true;
		s->has_body = with_body;
	}
	kick(c);
	return 0;
}

/* The reason phrase has no place in HTTP/2 (§8.3.2: :status only). */
static void h2_resp_start(struct http_exchange *x, int status, const char *reason,
			  size_t reason_len, unsigned flags)
{
	struct h2_stream *s = stream_of(x);
	s->status = status;
	s->forwarded = flags & HTTP_RESP_FORWARDED;
	s->rsp_overflow = false;
	s->n_rsp = 0;
	buf_reset(&s->rsp);
}

static void h2_resp_header(struct http_exchange *x, const char *name, size_t nl,
			   const char *value, size_t len)
{
	struct h2_stream *s = stream_of(x);
	if (http_reqhead_connection_specific(name, nl)) /* RFC 9113 §8.2.2 */
		return;
	if (s->n_rsp >= H2_RSP_FIELDS_MAX ||
	    http_rec_put(&s->rsp, name, nl, value, len, true) < 0) {
		s->rsp_overflow = true;
		return;
	}
	s->n_rsp++;
}

static void h2_resp_end_head(struct http_exchange *x, int64_t content_length)
{
	struct h2_stream *s = stream_of(x);
	struct h2_conn *c = s->c;
	bool no_body = s->status == 204 || s->status == 304 || s->status < 200;
	if (content_length >= 0 && s->status >= 200 && s->status != 204) {
		char v[20];
		size_t k = str_fmt_u64(v, (uint64_t)content_length);
		h2_resp_header(x, "content-length", 14, v, k);
	}
	if (s->status < 200) {
		/* Interim (§8.1): sent at once; 101 does not exist in HTTP/2. */
		if (s->status != 101 && !s->rsp_overflow && !s->reset)
			submit_head(c, s, false, false);
		buf_free(&s->rsp);
		return;
	}
	s->head_done = true;
	if (!x->is_head && content_length >= 0 && !no_body)
		s->body_bytes = (uint64_t)content_length;
	if (s->state == S_HANDLER && s->cb) {
		/* A streamed response: the head goes now, the body as the handler sends it. */
		s->src = SRC_BUF;
		if (s->rsp_overflow) {
			stream_reset(c, s, NGHTTP2_INTERNAL_ERROR);
			return;
		}
		bool body = !x->is_head && !no_body &&
			    (content_length > 0 || content_length == HTTP_LENGTH_STREAM);
		s->ended = !body;
		if (!s->reset)
			submit_head(c, s, true, body);
	}
}

static void h2_resp_body_mem(struct http_exchange *x, const void *p, size_t len)
{
	struct h2_stream *s = stream_of(x);
	if (x->is_head)
		return;
	s->src = SRC_MEM;
	s->mem = p;
	s->mem_len = len;
}

static void h2_resp_body_owned(struct http_exchange *x, void *p, size_t len)
{
	struct h2_stream *s = stream_of(x);
	free(s->owned);
	s->owned = p;
	if (x->is_head)
		return;
	s->src = SRC_MEM;
	s->mem = p;
	s->mem_len = len;
}

static void h2_resp_body_copy(struct http_exchange *x, const void *p, size_t len)
{
	struct h2_stream *s = stream_of(x);
	if (x->is_head)
		return;
	s->out.max = MAX(s->out.max, (size_t)H2_COPY_MAX);
	if (buf_append(&s->out, p, len) < 0) {
		s->rsp_overflow = true;
		return;
	}
	s->src = SRC_BUF;
}

static void h2_resp_body_file(struct http_exchange *x, int fd, off_t off, off_t len)
{
	struct h2_stream *s = stream_of(x);
	if (x->is_head) {
		close(fd);
		return;
	}
	stream_close_file(s->c, s);
	s->src = SRC_FILE;
	s->file_fd = fd;
	s->file_off = off;
	s->file_end = off + len;
}

/* An HTTP/2 stream does not close its connection. */
static void h2_resp_close(struct http_exchange *x)
{
}

static void log_response(struct h2_conn *c, struct h2_stream *s)
{
	/* A head that was not kept (431) logs as one that did not parse: "-". */
	accesslog_write(c->wk, &s->x, (const struct sockaddr *)&c->peer, c->peer_len,
			s->req.method ? &s->req : NULL, s->status, s->body_bytes);
	atomic_fetch_add_explicit(&c->wk->srv->requests, 1, memory_order_relaxed);
}

/* A complete response from http_resp_* (a non-streaming handler, or a streaming one that
 * answered instead): submit it with its body. */
static void finish_response(struct h2_conn *c, struct h2_stream *s)
{
	if (s->reset)
		return;
	if (!s->head_done || s->rsp_overflow) {
		/* A handler that did not answer, or answered past the limits. */
		stream_close_file(c, s);
		s->src = SRC_NONE;
		buf_free(&s->out);
		s->out_off = 0;
		s->head_done = false;
		http_resp_error(&s->x, 500);
		if (!s->head_done || s->rsp_overflow) {
			stream_reset(c, s, NGHTTP2_INTERNAL_ERROR);
			return;
		}
	}
	s->state = S_WRITE;
	s->ended = true;
	bool body = !s->x.is_head && s->status >= 200 && s->status != 204 && s->status != 304 &&
		    data_avail(s) > 0;
	if (!body) {
		stream_close_file(c, s);
		s->src = SRC_NONE;
	}
	log_response(c, s);
	submit_head(c, s, true, body);
}

/* ---- serving ------------------------------------------------------------------------------- */

static void dispatch(struct h2_conn *c, struct h2_stream *s)
{
	s->ready = false;
	if (s->reset)
		return;
	if (!s->error && s->reroute) {
		http_route(&s->x, &s->req, &s->rt);
		/* Now proxied (a reload), but its body is gone already: it cannot be sent on. */
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
		return; /* it has the stream now (http_x_set_stream), or answered already */
	}
	stream_drop_body(c, s);
	rt->handler->serve(&s->x, &s->req, rt);
	finish_response(c, s);
}

/* Serve what became ready, tell streaming handlers what changed. true when anything ran. */
static bool run_streams(struct h2_conn *c)
{
	bool ran = false;
	/* No stream is freed in here: only nghttp2's on_stream_close frees, and nghttp2 is not
	 * entered from a handler's call. */
	for (struct h2_stream *s = c->streams; s; s = s->next) {
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

static void h2_set_stream(struct http_exchange *x, const struct http_stream_cb *cb, void *arg)
{
	struct h2_stream *s = stream_of(x);
	s->cb = cb;
	s->cb_arg = arg;
}

static bool h2_keep_alive(const struct http_exchange *x)
{
	const struct h2_stream *s = container_of(x, const struct h2_stream, x);
	return !s->c->goaway;
}

static int h2_body_peek(struct http_exchange *x, const char **ret_p, size_t *ret_len)
{
	struct h2_stream *s = stream_of(x);
	if (s->reset)
		return -1;
	*ret_p = s->in.data;
	*ret_len = s->in.len;
	return s->remote_done ? 1 : 0;
}

static void h2_body_consume(struct http_exchange *x, size_t n)
{
	struct h2_stream *s = stream_of(x);
	struct h2_conn *c = s->c;
	if (n == 0 || n > s->in.len)
		return;
	buf_consume(&s->in, n);
	/* The window opens as the handler takes the bytes: the client sends what it can take. */
	nghttp2_session_consume(c->ng, s->id, n);
	kick(c);
}

static int h2_body_read(struct http_exchange *x)
{
	struct h2_stream *s = stream_of(x);
	if (s->reset)
		return -1;
	return s->in.len > 0 ? 1 : 0; /* DATA arrives with the connection's reads: event */
}

static ssize_t h2_send(struct http_exchange *x, const void *p, size_t n)
{
	struct h2_stream *s = stream_of(x);
	struct h2_conn *c = s->c;
	if (s->reset)
		return -1;
	if (n == 0)
		return 0; /* "send what you hold": heads are submitted as they end */
	if (!s->head_sent)
		return -1;
	if (!s->has_body)
		return (ssize_t)n; /* HEAD, 204, 304: no body bytes, whatever comes */
	if (s->out_off > 0 && s->out.len + n > s->out.max) {
		buf_consume(&s->out, s->out_off);
		s->out_off = 0;
	}
	size_t room = s->out.max - s->out.len;
	size_t take = MIN(n, room);
	if (take < n)
		s->send_full = true;
	if (take == 0)
		return 0;
	buf_append(&s->out, p, take);
	if (s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(c->ng, s->id);
	}
	kick(c);
	return (ssize_t)take;
}

static ssize_t h2_splice_out(struct http_exchange *x, int pipe_fd, size_t n)
{
	return -1; /* can_splice is false: DATA frames carry every byte */
}

static ssize_t h2_splice_in(struct http_exchange *x, int pipe_fd, size_t n, bool pipe_empty)
{
	return -1;
}

/* No tunnels over HTTP/2 (extended CONNECT, RFC 8441, is not offered): reset. */
static void h2_tunnel(struct http_exchange *x)
{
	struct h2_stream *s = stream_of(x);
	stream_reset(s->c, s, NGHTTP2_CONNECT_ERROR);
}

static int h2_local_addr(const struct http_exchange *x, struct sockaddr_storage *ret,
			 socklen_t *ret_len)
{
	const struct h2_stream *s = container_of(x, const struct h2_stream, x);
	*ret_len = sizeof(*ret);
	return getsockname(s->c->xp->fd, (struct sockaddr *)ret, ret_len) < 0 ? -errno : 0;
}

static void h2_stream_end(struct http_exchange *x, int status, uint64_t body_bytes,
			  bool keep_alive)
{
	struct h2_stream *s = stream_of(x);
	struct h2_conn *c = s->c;
	s->cb = NULL;
	s->status = status;
	s->body_bytes = body_bytes;
	stream_drop_body(c, s);
	if (!s->head_sent) {
		stream_reset(c, s, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	log_response(c, s);
	s->state = S_WRITE;
	s->ended = true;
	if (s->has_body && s->deferred) {
		s->deferred = false;
		nghttp2_session_resume_data(c->ng, s->id);
	}
	kick(c);
}

static void h2_stream_respond(struct http_exchange *x)
{
	struct h2_stream *s = stream_of(x);
	s->cb = NULL;
	stream_drop_body(s->c, s);
	finish_response(s->c, s);
}

static void h2_stream_abort(struct http_exchange *x)
{
	struct h2_stream *s = stream_of(x);
	s->cb = NULL;
	stream_drop_body(s->c, s);
	stream_reset(s->c, s, NGHTTP2_INTERNAL_ERROR);
}

static const struct http_exchange_ops h2_ops = {
	.resp_start = h2_resp_start,
	.resp_header = h2_resp_header,
	.resp_end_head = h2_resp_end_head,
	.resp_body_mem = h2_resp_body_mem,
	.resp_body_copy = h2_resp_body_copy,
	.resp_body_owned = h2_resp_body_owned,
	.resp_body_file = h2_resp_body_file,
	.resp_close = h2_resp_close,
	.set_stream = h2_set_stream,
	.keep_alive = h2_keep_alive,
	.body_peek = h2_body_peek,
	.body_consume = h2_body_consume,
	.body_read = h2_body_read,
	.tunnel = h2_tunnel,
	.send = h2_send,
	.splice_out = h2_splice_out,
	.splice_in = h2_splice_in,
	.local_addr = h2_local_addr,
	.stream_end = h2_stream_end,
	.stream_respond = h2_stream_respond,
	.stream_abort = h2_stream_abort,
};

/* ---- nghttp2's callbacks: they record, the pass acts ----------------------------------------- */

static struct h2_stream *stream_get(nghttp2_session *ng, int32_t id)
{
	return id ? nghttp2_session_get_stream_user_data(ng, id) : NULL;
}

/* A HEADERS frame's stream ID. A new stream must have a higher ID than every stream before
 * it, and the IDs it skips are closed (RFC 9113 §5.1.1): HEADERS on one of those opens no
 * stream, a connection error PROTOCOL_ERROR. nghttp2 ignores such a frame (it cannot tell
 * it from trailers sent on a stream it reset), so it is caught here; a lower ID a stream did
 * use is left to nghttp2. Only the last skipped run is kept: clients skip none. */
static void stream_ids(struct h2_conn *c, int32_t id)
{
	if (id <= 0 || !(id & 1))
		return; /* stream 0 or a server's ID: nghttp2's error */
	if (id > c->sid_max) {
		if (id > c->sid_max + 2) {
			c->skip_lo = c->sid_max + 2;
			c->skip_hi = id - 2;
		}
		c->sid_max = id;
	} else if (id >= c->skip_lo && id <= c->skip_hi && !c->goaway) {
		char host[NET_ADDR_STRLEN];
		net_addr_host((const struct sockaddr *)&c->peer, c->peer_len, host, sizeof(host));
		log_info("h2: %s: HEADERS on stream %d after stream %d: GOAWAY(PROTOCOL_ERROR)",
			 host, (int)id, (int)c->sid_max);
		c->goaway = true;
		nghttp2_session_terminate_session(c->ng, NGHTTP2_PROTOCOL_ERROR);
	}
}

static void gone_add(struct h2_conn *c, int32_t id)
{
	c->gone[c->gone_next++ % H2_GONE_MAX] = id;
}

/* DATA or HEADERS on a stream nghttp2 no longer has (RFC 9113 §5.1, "closed"): after the
 * client's END_STREAM a connection error STREAM_CLOSED; after its RST_STREAM a stream error
 * STREAM_CLOSED, which this treats as a connection error (§5.4.1 allows it; nghttp2 does
 * not send RST_STREAM for the newest stream once it is closed). A stream only ferry reset,
 * or one closed too long ago to be remembered, is left to nghttp2, which ignores the frame,
 * as the RFC asks after sending RST_STREAM. */
static void closed_stream_frame(struct h2_conn *c, int32_t id)
{
	if (id <= 0 || id > c->sid_max || !(id & 1) || c->goaway ||
	    nghttp2_session_find_stream(c->ng, id))
		return;
	for (unsigned i = 0; i < H2_GONE_MAX; i++) {
		if (c->gone[i] == id) {
			c->goaway = true;
			nghttp2_session_terminate_session(c->ng, NGHTTP2_STREAM_CLOSED);
			return;
		}
	}
}

static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
	struct h2_conn *c = ud;
	bool costs;
	switch (hd->type) {
	case NGHTTP2_SETTINGS:
	case NGHTTP2_PING:
		costs = !(hd->flags & NGHTTP2_FLAG_ACK);
		break;
	case NGHTTP2_DATA:
		costs = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM);
		break;
	case NGHTTP2_CONTINUATION:
		costs = hd->length == 0;
		break;
	case NGHTTP2_HEADERS:
		closed_stream_frame(c, hd->stream_id);
		stream_ids(c, hd->stream_id);
		costs = false;
		break;
	case NGHTTP2_RST_STREAM: /* its own bucket */
	case NGHTTP2_WINDOW_UPDATE:
	case NGHTTP2_GOAWAY:
		costs = false;
		break;
	default: /* PRIORITY, PUSH_PROMISE (an error anyway), unknown extension frames */
		costs = true;
		break;
	}
	if (costs && !bucket_take(&c->floods, c->wk->loop.now_ms, H2_FLOOD_BURST, H2_FLOOD_RATE))
		calm(c, "control frames");
	return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *c = ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *s = stream_new(c, frame->hd.stream_id);
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, s);
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	struct h2_conn *c = ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers: not kept */
	struct h2_stream *s = stream_get(ng, frame->hd.stream_id);
	if (!s || s->too_large)
		return 0;
	const struct config *cfg = cfg_of(c);
	s->hdr_bytes += nl + vl + 32;
	if (nl > 0 && name[0] != ':')
		s->n_fields++;
	/* Past the limits: the rest is decoded (HPACK needs it) but not kept, and the answer is
	 * 431 (RFC 9113 §10.5.1). */
	if (s->hdr_bytes > cfg->max_header_bytes || s->n_fields > cfg->max_header_fields ||
	    http_rec_put(&s->head, (const char *)name, nl, (const char *)value, vl, false) < 0) {
		s->too_large = true;
		buf_free(&s->head);
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *c = ud;
	struct h2_stream *s = stream_get(ng, frame->hd.stream_id);
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		if (!s)
			break;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			request_complete(c, s, end);
		else if (end)
			remote_end(c, s); /* after trailers */
		break;
	case NGHTTP2_DATA:
		if (s && end)
			remote_end(c, s);
		break;
	case NGHTTP2_RST_STREAM:
		gone_add(c, frame->hd.stream_id);
		if (!bucket_take(&c->resets, c->wk->loop.now_ms, H2_RESET_BURST, H2_RESET_RATE))
			calm(c, "stream resets");
		break;
	}
	return 0;
}

static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *frame, int err, void *ud)
{
	struct h2_conn *c = ud;
	if (!bucket_take(&c->floods, c->wk->loop.now_ms, H2_FLOOD_BURST, H2_FLOOD_RATE))
		calm(c, "invalid frames");
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	struct h2_conn *c = ud;
	struct h2_stream *s = stream_get(ng, id);
	if (s && s->streams && !s->reset) {
		/* Kept until the handler takes it; the window (65535) bounds it. */
		if (buf_append(&s->in, data, len) == 0) {
			if (s->cb)
				s->notify = true;
			return 0;
		}
		stream_reset(c, s, NGHTTP2_FLOW_CONTROL_ERROR);
	}
	nghttp2_session_consume(ng, id, len);
	if (!s)
		return 0;
	s->dropped += len;
	if (s->state == S_BODY && s->dropped > H2_DISCARD_MAX) {
		timer_cancel(&s->deadline);
		s->error = 413;
		ready(s);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *c = ud;
	if (frame->hd.type == NGHTTP2_RST_STREAM) {
		/* Resets the client provoked count like the ones it sends. */
		switch (frame->rst_stream.error_code) {
		case NGHTTP2_PROTOCOL_ERROR:
		case NGHTTP2_FLOW_CONTROL_ERROR:
		case NGHTTP2_STREAM_CLOSED:
		case NGHTTP2_FRAME_SIZE_ERROR:
		case NGHTTP2_REFUSED_STREAM:
			if (!bucket_take(&c->resets, c->wk->loop.now_ms, H2_RESET_BURST,
					 H2_RESET_RATE))
				calm(c, "stream errors");
			break;
		}
		return 0;
	}
	if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct h2_stream *s = stream_get(ng, frame->hd.stream_id);
	if (s && !s->remote_done && !s->reset) {
		/* The response is complete before the request (§8.1): the client may stop. */
		s->reset = true;
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2_conn *c = ud;
	struct h2_stream *s = c->closed ? NULL : stream_get(ng, id);
	if (s && s->remote_done)
		gone_add(c, id);
	if (s)
		stream_gone(c, s);
	return 0;
}

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

/* Once per process; kept for its life. */
static void setup(void)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&options) != 0)
		abort(); /* out of memory at the first connection */
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, data_send);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	callbacks = cb;

	/* Windows open as handlers consume (nghttp2_session_consume), not as bytes arrive. */
	nghttp2_option_set_no_auto_window_update(options, 1);
	nghttp2_option_set_max_outbound_ack(options, H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(options, 32);
	nghttp2_option_set_max_continuations(options, H2_MAX_CONTINUATIONS);
	/* Ours (H2_RESET_*) answers first, with ENHANCE_YOUR_CALM. */
	nghttp2_option_set_stream_reset_rate_limit(options, 1000, 100);
	nghttp2_option_set_no_closed_streams(options, 1);
	long ps = sysconf(_SC_PAGESIZE);
	page_size = ps > 0 ? (size_t)ps : 4096;
}

/* Idle: nothing queued, so nghttp2's frame buffer holds no frame (the outbound item is done
 * and its buffers reset): its whole pages go back to the kernel (MADV_DONTNEED; they read as
 * zeros and fault in again with the next frame). 16 KiB of the ~26 KiB nghttp2 holds for an
 * idle connection. Only once the connection has stayed idle for H2_RELEASE_MS (a timer, armed
 * when it becomes idle): the call and the page faults after it cost a request that follows
 * at once about twice its own CPU time (h2load -m1 over TLS: 50 against 17 us a request). */
static void release_framebuf(struct h2_conn *c)
{
	if (!c->framebuf || !c->framebuf_used || nghttp2_session_want_write(c->ng))
		return;
	/* All its pages: the block is rounded up to them, no other block shares one. */
	madvise(c->framebuf, (c->framebuf_size + page_size - 1) / page_size * page_size,
		MADV_DONTNEED);
	c->framebuf_used = false;
}

/* ---- the connection ----------------------------------------------------------------------- */

static int feed_ng(struct h2_conn *c, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	ssize_t r = nghttp2_session_mem_recv(c->ng, p, n);
	if (r >= 0)
		return 0;
	switch (r) {
	case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
		nghttp2_session_terminate_session(c->ng, NGHTTP2_PROTOCOL_ERROR);
		break;
	case NGHTTP2_ERR_FLOODED:
		calm(c, "queued acknowledgements");
		break;
	case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
		calm(c, "CONTINUATION frames");
		break;
	default:
		return -1;
	}
	nghttp2_session_send(c->ng);
	flush(c);
	return -1;
}

/* Feed bytes to the session. 0, or -1: fatal, the connection ends (with a GOAWAY first when
 * the peer broke the protocol in a way nghttp2 does not answer itself). nghttp2 skips a DATA
 * frame on a stream it forgot without a callback, so the frame headers are followed here:
 * before each DATA frame what came before it is fed, and then its stream is checked
 * (closed_stream_frame); a HEADERS frame is checked in on_begin_frame. */
static int feed(struct h2_conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i = 0, fed = 0;
	while (i < n) {
		if (c->fr_skip > 0) {
			size_t k = MIN((size_t)c->fr_skip, n - i);
			c->fr_skip -= (uint32_t)k;
			i += k;
			continue;
		}
		size_t start = i, k = MIN(sizeof(c->fr_hd) - c->fr_have, n - i);
		memcpy(c->fr_hd + c->fr_have, b + i, k);
		c->fr_have += (uint8_t)k;
		i += k;
		if (c->fr_have < sizeof(c->fr_hd))
			break;
		const uint8_t *h = c->fr_hd;
		c->fr_have = 0;
		c->fr_skip = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
		if (h[3] != NGHTTP2_DATA)
			continue;
		/* (a header that began in an earlier call: what came before it is fed) */
		if (feed_ng(c, b + fed, start - fed) < 0)
			return -1;
		fed = start;
		closed_stream_frame(c, (int32_t)((uint32_t)(h[5] & 0x7f) << 24 | (uint32_t)h[6] << 16 |
						  (uint32_t)h[7] << 8 | h[8]));
	}
	return feed_ng(c, b + fed, n - fed);
}

/* A listener with proxy-protocol: the PROXY header first, then the client preface. */
static int read_pphdr(struct h2_conn *c)
{
	if (c->pp.cap == 0 && buf_reserve(&c->pp, H2_PPHDR_MAX) < 0)
		return -1;
	ssize_t n = xport_read(c->xp, c->pp.data + c->pp.len, H2_PPHDR_MAX - c->pp.len);
	if (n == -EAGAIN) {
		c->readable = false;
		return 0;
	}
	if (n <= 0)
		return -1;
	c->pp.len += (size_t)n;
	c->did_read = true;
	struct proxyproto_result res;
	ssize_t r = proxyproto_decode(c->pp.data, c->pp.len, H2_PPHDR_MAX, &res);
	if (r < 0 || (r == 0 && c->pp.len == H2_PPHDR_MAX))
		return -1;
	if (r == 0)
		return 1;
	if (res.proxied) {
		memcpy(&c->peer, &res.src, res.src_len);
		c->peer_len = res.src_len;
	}
	c->pphdr = false;
	int f = feed(c, c->pp.data + r, c->pp.len - (size_t)r);
	buf_free(&c->pp);
	return f < 0 ? -1 : 1;
}

/* Read once and feed it. 1 bytes came, 0 none (or not now), -1 the connection ends. */
static int conn_input(struct h2_conn *c)
{
	if (!c->readable)
		return 0;
	if (c->pphdr)
		return read_pphdr(c);
	if (!nghttp2_session_want_read(c->ng))
		return 0;
	/* A peer that does not read what we send does not get its next bytes read either. */
	if (out_pending(c) >= H2_OUT_MAX / 2 && !c->writable)
		return 0;
	char *buf = c->wk->io_buf;
	ssize_t n = xport_read(c->xp, buf, WORKER_IO_BUF_SIZE);
	if (n > 0) {
		/* A short read drained the socket (edge-triggered: new bytes raise a new edge),
		 * unless an EOF is queued or the transport holds more. */
		if ((size_t)n < WORKER_IO_BUF_SIZE && !c->peer_shut && !xport_pending(c->xp))
			c->readable = false;
		c->did_read = true;
		return feed(c, buf, (size_t)n) < 0 ? -1 : 1;
	}
	if (n == -EAGAIN) {
		c->readable = false;
		return 0;
	}
	return -1; /* EOF, or an error: the streams in flight go with it */
}

/* Frames out. 1 bytes went out, 0 none, -1 the connection ends. */
static int conn_output(struct h2_conn *c)
{
	uint64_t before = c->written;
	if (nghttp2_session_want_write(c->ng)) {
		c->framebuf_used = true;
		if (nghttp2_session_send(c->ng) < 0)
			return -1;
	}
	if (flush(c) < 0)
		return -1;
	return c->written != before;
}

/* The connection's one timer, from what it waits for (the table in h2.h). */
static void conn_rearm(struct h2_conn *c)
{
	struct worker *wk = c->wk;
	enum h2_tkind k = T_NONE;
	bool again = false;
	if (out_pending(c) > 0 && !c->writable) {
		k = T_SEND;
		again = c->did_write;
	} else if (c->n_streams == 0) {
		k = c->goaway ? T_SEND : c->started ? T_IDLE : T_HEADER;
	} else {
		bool head = false, body = false, write = false;
		for (const struct h2_stream *s = c->streams; s; s = s->next) {
			head |= s->state == S_HEAD;
			body |= s->state == S_BODY;
			write |= s->state == S_WRITE;
		}
		if (head) {
			k = T_HEADER;
		} else if (write) {
			k = T_SEND; /* a window the client keeps shut holds a response */
			again = c->did_write;
		} else if (body) {
			k = T_BODY;
			again = c->did_read;
		}
	}
	if (k == T_NONE) {
		timer_cancel(&c->timer);
		c->tkind = T_NONE;
		return;
	}
	if (k == c->tkind && timer_armed(&c->timer) && !again)
		return;
	struct timer_list *tl = k == T_HEADER ? &wk->t_header
			      : k == T_BODY   ? &wk->t_body
			      : k == T_SEND   ? &wk->t_send
					      : &wk->t_keepalive;
	c->tkind = k;
	timer_arm(&wk->loop, tl, &c->timer);
}

static void conn_free(struct h2_conn *c)
{
	buf_free(&c->out);
	buf_free(&c->pp);
	free(c);
}

/* A pass a handler's call asked for, or the free of a closed connection. */
static void on_deferred(struct deferred *d)
{
	struct h2_conn *c = container_of(d, struct h2_conn, defer);
	c->kick_pending = false;
	if (c->closed) {
		conn_free(c);
		return;
	}
	conn_process(c);
}

/* Something to send (or to serve) came from outside a pass: have one, after the current
 * batch of events (a handler's call must not re-enter nghttp2, nor the handler itself). */
static void kick(struct h2_conn *c)
{
	if (c->processing || c->kick_pending || c->closed)
		return;
	c->kick_pending = true;
	c->defer.fn = on_deferred;
	loop_defer(&c->wk->loop, &c->defer);
}

static void goaway(struct h2_conn *c)
{
	if (c->goaway)
		return;
	c->goaway = true;
	nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
			      NGHTTP2_NO_ERROR, NULL, 0);
}

static void conn_process(struct h2_conn *c)
{
	if (c->closed || c->processing)
		return;
	c->processing = true;
	c->did_read = c->did_write = false;
	bool fail = false, more = false;
	for (unsigned round = 0;; round++) {
		if (round == H2_ROUNDS) {
			more = true;
			break;
		}
		int in = conn_input(c);
		if (in < 0) {
			fail = true;
			break;
		}
		bool ran = run_streams(c);
		int out = conn_output(c);
		if (out < 0) {
			fail = true;
			break;
		}
		if (!in && !ran && !out)
			break;
	}
	c->processing = false;
	/* Over: an error, EOF, or GOAWAY with no stream left and everything sent. */
	if (fail || c->failed ||
	    (!c->pphdr && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
	     out_pending(c) == 0)) {
		conn_close(c);
		return;
	}
	if (c->n_streams == 0 && out_pending(c) == 0) {
		/* Idle: hold no output buffer, and after H2_RELEASE_MS none of the pages of
		 * nghttp2's frame buffer (nghttp2 keeps its HPACK tables). */
		buf_free(&c->out);
		c->out_off = 0;
		c->idle_since = c->wk->loop.now_ms;
		if (c->framebuf_used && !timer_armed(&c->release))
			timer_arm_at(&c->wk->loop, &c->release, c->idle_since + H2_RELEASE_MS);
	}
	conn_rearm(c);
	/* Still busy (a fast upload): the rest once the loop has seen its other events, at the
	 * next iteration (a deferred pass would run in this one, before them). */
	if (more)
		timer_arm_at(&c->wk->loop, &c->yield, c->wk->loop.now_ms + 1);
}

static void on_yield(struct loop *l, struct timer *t)
{
	conn_process(container_of(t, struct h2_conn, yield));
}

/* Busy again since: nothing (the next idle spell arms it again); idle, but not for long
 * enough (it was busy in between): wait for the rest. */
static void on_release(struct loop *l, struct timer *t)
{
	struct h2_conn *c = container_of(t, struct h2_conn, release);
	if (c->closed || c->n_streams > 0 || out_pending(c) > 0)
		return;
	if (l->now_ms - c->idle_since < H2_RELEASE_MS) {
		timer_arm_at(l, &c->release, c->idle_since + H2_RELEASE_MS);
		return;
	}
	release_framebuf(c);
}

static void conn_close(struct h2_conn *c)
{
	if (c->closed)
		return;
	c->closed = true; /* from here on nghttp2's callbacks find no stream */
	timer_cancel(&c->timer);
	timer_cancel(&c->yield);
	timer_cancel(&c->release);
	while (c->streams)
		stream_gone(c, c->streams);
	nghttp2_session_del(c->ng);
	c->ng = NULL;
	buf_free(&c->out);
	buf_free(&c->pp);
	c->xp->ops->close(c->xp); /* closes the socket: also removes it from epoll */
	worker_conn_removed(c->wk, &c->link);
	/* Freed after this batch of events (one may still point at it); a pending pass frees. */
	if (!c->kick_pending) {
		c->kick_pending = true;
		c->defer.fn = on_deferred;
		loop_defer(&c->wk->loop, &c->defer);
	}
}

static void on_event(struct loop *l, struct watcher *w, uint32_t events)
{
	struct h2_conn *c = container_of(w, struct h2_conn, w);
	if (c->closed)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->readable = true;
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->peer_shut = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->writable = true;
	/* A transport that waits for the other direction (TLS) goes on with either event. */
	if (c->xp->ops->crossed && c->xp->want && (events & (EPOLLIN | EPOLLOUT)))
		c->readable = c->writable = true;
	conn_process(c);
}

static void on_timeout(struct loop *l, struct timer *t)
{
	struct h2_conn *c = container_of(t, struct h2_conn, timer);
	enum h2_tkind k = c->tkind;
	c->tkind = T_NONE;
	if (k == T_IDLE && !c->goaway) {
		/* keepalive-timeout: say goodbye (GOAWAY), then close once it is out. */
		goaway(c);
		conn_process(c);
		return;
	}
	conn_close(c); /* header, body or send timeout */
}

/* Graceful stop: GOAWAY with the last stream we took, which finish; then close. */
static void on_stop(struct conn_link *link)
{
	struct h2_conn *c = container_of(link, struct h2_conn, link);
	goaway(c);
	conn_process(c);
}

static struct h2_conn *conn_new(struct worker *wk, const struct sockaddr *peer,
				socklen_t peer_len)
{
	pthread_once(&setup_once, setup);
	const struct config *cfg = wk->gen->cfg;
	struct h2_conn *c = xcalloc(1, sizeof(*c));
	c->wk = wk;
	c->w.cb = on_event;
	c->timer.cb = on_timeout;
	c->yield.cb = on_yield;
	c->release.cb = on_release;
	c->link.on_stop = on_stop;
	if (peer_len > sizeof(c->peer))
		peer_len = sizeof(c->peer);
	if (peer_len)
		memcpy(&c->peer, peer, peer_len);
	c->peer_len = peer_len;
	buf_init(&c->out, H2_OUT_MAX);
	buf_init(&c->pp, H2_PPHDR_MAX);
	c->resets = (struct bucket){H2_RESET_BURST, wk->loop.now_ms};
	c->floods = (struct bucket){H2_FLOOD_BURST, wk->loop.now_ms};
	c->sid_max = -1; /* the first stream may be 1 */
	c->fr_skip = H2_PREFACE_LEN;
	nghttp2_mem mem = {c, mem_malloc, mem_free, mem_calloc, mem_realloc};
	c->in_new = true;
	int r = nghttp2_session_server_new3(&c->ng, callbacks, c, options, &mem);
	c->in_new = false;
	if (r != 0) {
		free(c);
		return NULL;
	}
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->h2_max_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)MIN(cfg->max_header_bytes, UINT32_MAX)},
	};
	nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv));
	nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
	return c;
}

/* Register, count, and run the first pass (the preface is usually there already). */
static void conn_begin(struct h2_conn *c, bool registered, const void *data, size_t len)
{
	struct worker *wk = c->wk;
	c->w.fd = c->xp->fd;
	int r = registered ? loop_mod(&wk->loop, &c->w, EPOLLIN | EPOLLRDHUP | EPOLLET) : -ENOENT;
	if (r == -ENOENT)
		r = loop_add(&wk->loop, &c->w, EPOLLIN | EPOLLRDHUP | EPOLLET);
	if (r < 0) {
		nghttp2_session_del(c->ng);
		c->xp->ops->close(c->xp);
		conn_free(c);
		return;
	}
	worker_conn_added(wk, &c->link);
	c->readable = c->writable = true;
	if (len > 0) {
		c->processing = true;
		int f = feed(c, data, len);
		c->processing = false;
		if (f < 0) {
			conn_close(c);
			return;
		}
	}
	conn_process(c);
}

void h2_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		   const struct listener *l)
{
	struct h2_conn *c = conn_new(wk, peer, peer_len);
	if (!c) {
		close(fd);
		return;
	}
	xport_tcp_init(&c->tcp, fd);
	c->xp = &c->tcp;
	if (l && l->proxy_protocol) {
		const struct config *cfg = wk->gen->cfg;
		/* Only a trusted front may say who the client is. */
		if (cfg->n_trusted_proxies && !cidr_list_match(cfg->trusted_proxies,
							       cfg->n_trusted_proxies, peer, peer_len)) {
			nghttp2_session_del(c->ng);
			close(fd);
			conn_free(c);
			return;
		}
		c->pphdr = true;
	}
	conn_begin(c, false, NULL, 0);
}

void h2_conn_adopt(struct worker *wk, struct xport *xp, const struct sockaddr *peer,
		   socklen_t peer_len, const struct listener *l, const void *data, size_t len)
{
	struct h2_conn *c = conn_new(wk, peer, peer_len);
	if (!c) {
		xp->ops->close(xp);
		return;
	}
	c->xp = xp;
	if (xport_is_tls(xp)) {
		c->secure = true;
		c->tls_name = xport_tls_server_name(xp, &c->tls_name_len);
	}
	conn_begin(c, true, data, len);
}
