/* libFuzzer target for proto/h2.c: the input, after the client connection preface, is what a
 * client sends on one HTTP/2 connection, read through a fake transport in pieces whose sizes
 * the first byte chooses, and answered through the real exchange ops by two handlers: one that
 * answers at once (a memory body, an error page, a 304, or nothing at all, which must become a
 * 500), and one that streams (echoes the request body back as it comes, with an interim 100
 * when asked, or resets, or answers an error instead). The peer's writes are taken whole or in
 * part (the second byte chooses). The connection must end by itself at the input's EOF, with
 * every stream freed and every handler told (ASan's leak check sees the rest). Built with clang
 * -fsanitize=fuzzer, and with gcc against fuzz/replay.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config/config.h"
#include "core/server.h"
#include "event/loop.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"
#include "proto/h2.h"
#include "xport/xport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void require(bool ok)
{
	if (!ok)
		abort();
}

/* ---- the fake transport: the input, then EOF ---------------------------------------------- */

struct fake {
	struct xport x;
	const uint8_t *in;
	size_t len, pos;
	size_t piece;   /* bytes per read (0: all there is) */
	size_t wpiece;  /* bytes taken per write (0: all) */
	bool eof_told;
	bool closed;
	uint64_t written;
};

static struct fake *fake_of(struct xport *x)
{
	return (struct fake *)x;
}

static ssize_t fake_read(struct xport *x, void *buf, size_t len)
{
	struct fake *f = fake_of(x);
	if (f->pos == f->len) {
		f->eof_told = true;
		return 0;
	}
	size_t n = f->len - f->pos;
	if (f->piece && n > f->piece)
		n = f->piece;
	if (n > len)
		n = len;
	memcpy(buf, f->in + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static ssize_t fake_writev(struct xport *x, const struct iovec *iov, int iovcnt, bool more)
{
	struct fake *f = fake_of(x);
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		/* Touch every byte: ASan checks that what h2 writes is all initialized memory. */
		const volatile uint8_t *p = iov[i].iov_base;
		for (size_t k = 0; k < iov[i].iov_len; k++)
			(void)p[k];
		total += iov[i].iov_len;
	}
	if (f->wpiece && total > f->wpiece)
		total = f->wpiece;
	f->written += total;
	return (ssize_t)total;
}

/* Bytes (or the EOF) still to read: read on without waiting for epoll. */
static bool fake_pending(const struct xport *x)
{
	const struct fake *f = (const struct fake *)x;
	return !f->eof_told;
}

static int fake_shutdown(struct xport *x)
{
	return 0;
}

static void fake_close(struct xport *x)
{
	struct fake *f = fake_of(x);
	require(!f->closed);
	f->closed = true;
	close(x->fd);
}

static const struct xport_ops fake_ops = {
	.name = "fake",
	.read = fake_read,
	.writev = fake_writev,
	.pending = fake_pending,
	.shutdown = fake_shutdown,
	.close = fake_close,
};

/* ---- the handlers ------------------------------------------------------------------------- */

static unsigned live_echoes;

static void mem_serve(struct http_exchange *x, const struct http_request *req,
		      const struct http_route *rt)
{
	static const char body[] = "hello from the fuzzer\n";
	switch (req->target_len % 5) {
	case 0:
		http_resp_error(x, 404);
		break;
	case 1:
		http_resp_start(x, 200);
		http_resp_header(x, "Content-Type", "text/plain", 10);
		http_resp_header(x, "Connection", "close", 5); /* never in HTTP/2: dropped */
		http_resp_end_head(x, sizeof(body) - 1);
		http_resp_body_mem(x, body, sizeof(body) - 1);
		break;
	case 2:
		http_resp_start(x, 304);
		http_resp_header(x, "ETag", "\"x\"", 3);
		http_resp_end_head(x, -1);
		break;
	case 3:
		break; /* no answer: the protocol makes it a 500 */
	case 4:
		http_resp_start(x, 200);
		http_resp_end_head(x, 3000);
		for (int i = 0; i < 30; i++)
			http_resp_body_copy(x, "0123456789012345678901234567890123456789012345678901234567"
					       "89012345678901234567890123456789012345678901",
					    100);
		break;
	}
}

struct echo {
	struct http_exchange *x;
	uint64_t n;
};

static void echo_done(struct echo *e)
{
	free(e);
	live_echoes--;
}

static void echo_abort_now(struct echo *e)
{
	struct http_exchange *x = e->x;
	http_x_set_stream(x, NULL, NULL);
	echo_done(e);
	http_x_stream_abort(x);
}

static void echo_event(void *arg)
{
	struct echo *e = arg;
	for (;;) {
		const char *p;
		size_t len;
		int end = http_x_body_peek(e->x, &p, &len);
		if (end < 0) {
			echo_abort_now(e);
			return;
		}
		if (len > 0) {
			ssize_t n = http_x_send(e->x, p, len);
			if (n < 0) {
				echo_abort_now(e);
				return;
			}
			if (n == 0)
				return; /* the event comes when there is room */
			require((size_t)n <= len);
			http_x_body_consume(e->x, (size_t)n);
			e->n += (uint64_t)n;
			continue;
		}
		if (end) {
			struct http_exchange *x = e->x;
			uint64_t n = e->n;
			http_x_set_stream(x, NULL, NULL);
			echo_done(e);
			http_x_stream_end(x, 200, n, true);
			return;
		}
		int r = http_x_body_read(e->x);
		if (r < 0) {
			echo_abort_now(e);
			return;
		}
		if (r == 0)
			return;
	}
}

static void echo_abort(void *arg)
{
	echo_done(arg); /* the stream is gone: forget it */
}

static const struct http_stream_cb echo_cb = {.event = echo_event, .abort = echo_abort};

static void echo_serve(struct http_exchange *x, const struct http_request *req,
		       const struct http_route *rt)
{
	struct echo *e = calloc(1, sizeof(*e));
	require(e != NULL);
	e->x = x;
	live_echoes++;
	http_x_set_stream(x, &echo_cb, e);
	if (http_request_header(req, "x-reset")) {
		echo_abort_now(e);
		return;
	}
	if (http_request_header(req, "x-error")) {
		http_x_set_stream(x, NULL, NULL);
		echo_done(e);
		http_resp_error(x, 502);
		http_x_stream_respond(x);
		return;
	}
	if (req->expect_continue) {
		http_resp_start(x, 100);
		http_resp_end_head(x, -1);
	}
	http_resp_start_forwarded(x, 200, "OK", 2);
	http_resp_header(x, "date", "Thu, 01 Jan 2026 00:00:00 GMT", 29);
	http_resp_header(x, "transfer-encoding", "chunked", 7); /* dropped */
	http_resp_end_head(x, req->content_length >= 0 ? req->content_length
						       : HTTP_LENGTH_STREAM);
	echo_event(e);
}

static const struct http_handler mem_handler = {.name = "mem", .serve = mem_serve};
static const struct http_handler echo_handler = {.name = "echo", .streams_body = true,
						 .serve = echo_serve};

static void route(struct http_exchange *x, const struct http_request *req, struct http_route *rt)
{
	*rt = (struct http_route){.handler = &mem_handler, .root_fd = -1};
	if (req->target_len >= 5 && memcmp(req->target, "/echo", 5) == 0)
		rt->handler = &echo_handler;
	else if (req->target_len >= 5 && memcmp(req->target, "/once", 5) == 0)
		rt->at_once = true;
}

static const struct http_router router = {.route = route};

/* ---- a worker without threads ------------------------------------------------------------- */

static struct server srv;
static struct server_gen gen;
static struct worker wk;

static void setup(void)
{
	gen.cfg = config_new_default();
	gen.access_log_fd = -1;
	gen.default_root_fd = -1;
	srv.single_fd = -1;
	atomic_store(&srv.gen, &gen);
	wk.srv = &srv;
	wk.gen = &gen;
	require(loop_init(&wk.loop) == 0);
	const struct config *cfg = gen.cfg;
	loop_timer_list_init(&wk.loop, &wk.t_header, cfg->header_timeout_ms);
	loop_timer_list_init(&wk.loop, &wk.t_body, cfg->body_timeout_ms);
	loop_timer_list_init(&wk.loop, &wk.t_body_total, cfg->body_total_timeout_ms);
	loop_timer_list_init(&wk.loop, &wk.t_keepalive, cfg->keepalive_timeout_ms);
	loop_timer_list_init(&wk.loop, &wk.t_send, cfg->send_timeout_ms);
	loop_timer_list_init(&wk.loop, &wk.t_linger, 2000);
	wk.conns.next = wk.conns.prev = &wk.conns;
	buf_init(&wk.access_log, 1 << 20);
	wk.io_buf = malloc(WORKER_IO_BUF_SIZE);
	require(wk.io_buf != NULL);
	http_router_install(&router);
}

static void run_deferred(void)
{
	for (unsigned i = 0; wk.loop.deferred; i++) {
		require(i < 1000000); /* a connection that never settles */
		struct deferred *d = wk.loop.deferred;
		wk.loop.deferred = d->next;
		d->fn(d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 2)
		return 0;
	size_t piece = data[0] == 0 ? 0 : 1 + data[0] % 64 * 37;
	size_t wpiece = data[1] == 0 ? 0 : data[1];
	data += 2;
	size -= 2;

	uint8_t *in = malloc(STRLEN(preface) + size);
	require(in != NULL);
	memcpy(in, preface, STRLEN(preface));
	if (size)
		memcpy(in + STRLEN(preface), data, size);
	struct fake *f = calloc(1, sizeof(*f));
	require(f != NULL);
	f->x.ops = &fake_ops;
	f->x.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	require(f->x.fd >= 0);
	f->in = in;
	f->len = STRLEN(preface) + size;
	f->piece = piece;
	f->wpiece = wpiece;

	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
	peer.sin_addr.s_addr = htonl(0x7f000001);
	/* The first piece as if the TLS layer had read it already, the rest through reads. */
	size_t early = piece && piece < 24 ? piece : 0;
	f->pos = early;
	h2_conn_adopt(&wk, &f->x, (struct sockaddr *)&peer, sizeof(peer), NULL, in, early);
	run_deferred();
	/* A busy connection yields to the loop's next iteration (a timer on the deadline heap):
	 * fire those at once; no other timer is due while the input lasts. */
	for (unsigned i = 0; wk.loop.heap_len > 0; i++) {
		require(i < 1000000);
		struct timer *t = wk.loop.heap[0];
		timer_cancel(t);
		t->cb(&wk.loop, t);
		run_deferred();
	}

	require(f->closed);                 /* EOF ends it */
	require(wk.conns.next == &wk.conns); /* and it left the worker */
	require(live_echoes == 0);          /* every streaming handler let go or was told */
	free(f);
	free(in);
	h2_worker_exit(&wk);
	return 0;
}
