/* The metrics page: what the server counts, in the Prometheus text exposition format
 * (version 0.0.4), for GET /metrics on the listener `metrics` names. The counters are the
 * server's (connections, reloads: atomics the accept path and the main thread keep anyway)
 * and each worker's (responses by status class, body bytes: written by their worker only,
 * summed here), so the request path pays no shared atomic for them. */
#include "handler/metrics.h"

#include <stdatomic.h>
#include <string.h>

#include "base/buf.h"
#include "core/server.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"

#define METRICS_MAX 8192

static uint64_t ld(const atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void metrics_serve(struct http_exchange *x, const struct http_request *req,
			  const struct http_route *rt)
{
	size_t n = req->target_len;
	const char *q = memchr(req->target, '?', n);
	if (q)
		n = (size_t)(q - req->target);
	if (n != 8 || memcmp(req->target, "/metrics", 8) != 0) {
		http_resp_error(x, 404);
		return;
	}
	if (req->method_id != HTTP_M_GET && req->method_id != HTTP_M_HEAD) {
		http_resp_error(x, 405);
		return;
	}
	struct server *srv = x->wk->srv;
	uint64_t status[6] = {0}, bytes = 0;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		const struct worker_stats *st = &srv->workers[i].stats;
		for (int c = 0; c < 6; c++)
			status[c] += ld(&st->status[c]);
		bytes += ld(&st->bytes);
	}
	struct buf b;
	buf_init(&b, METRICS_MAX);
	buf_printf(&b,
		   "# HELP ferry_connections_active Connections open now.\n"
		   "# TYPE ferry_connections_active gauge\n"
		   "ferry_connections_active %u\n"
		   "# HELP ferry_connections_accepted_total Connections accepted.\n"
		   "# TYPE ferry_connections_accepted_total counter\n"
		   "ferry_connections_accepted_total %llu\n"
		   "# HELP ferry_responses_total Responses by status class.\n"
		   "# TYPE ferry_responses_total counter\n",
		   atomic_load_explicit(&srv->active_conns, memory_order_relaxed),
		   (unsigned long long)ld(&srv->accepted));
	for (int c = 1; c <= 5; c++)
		buf_printf(&b, "ferry_responses_total{code=\"%dxx\"} %llu\n", c,
			   (unsigned long long)status[c]);
	buf_printf(&b,
		   "# HELP ferry_response_body_bytes_total Response body bytes sent.\n"
		   "# TYPE ferry_response_body_bytes_total counter\n"
		   "ferry_response_body_bytes_total %llu\n"
		   "# HELP ferry_reloads_total Configuration reloads, by result.\n"
		   "# TYPE ferry_reloads_total counter\n"
		   "ferry_reloads_total{result=\"ok\"} %llu\n"
		   "ferry_reloads_total{result=\"failed\"} %llu\n"
		   "# HELP ferry_config_generation The configuration generation in use.\n"
		   "# TYPE ferry_config_generation gauge\n"
		   "ferry_config_generation %llu\n"
		   "# HELP ferry_workers Worker threads.\n"
		   "# TYPE ferry_workers gauge\n"
		   "ferry_workers %u\n",
		   (unsigned long long)bytes, (unsigned long long)ld(&srv->reloads),
		   (unsigned long long)ld(&srv->reload_failures),
		   (unsigned long long)x->wk->gen->id, srv->n_workers);
	http_resp_start(x, 200);
	http_resp_header(x, "Content-Type", "text/plain; version=0.0.4; charset=utf-8", 40);
	http_resp_header(x, "Cache-Control", "no-store", 8);
	http_resp_end_head(x, (int64_t)b.len);
	http_resp_body_copy(x, b.data, b.len);
	buf_free(&b);
}

const struct http_handler metrics_handler = {
	.name = "metrics",
	.streams_body = false,
	.serve = metrics_serve,
};
