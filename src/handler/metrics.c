/* The metrics page: what the server counts, in the Prometheus text exposition format
 * (version 0.0.4), for GET /metrics on the listener `metrics` names. The counters are the
 * server's (connections, reloads: atomics the accept path and the main thread keep anyway)
 * and each worker's (responses by status class, by site, body bytes, upstream times and
 * health: core/stats.h, written by their worker only, summed here), so the request path
 * pays no shared atomic for them. Sites and upstreams are labelled by the names their slots
 * were given (core/stats.h): the same across reloads. */
#include "handler/metrics.h"

#include <stdatomic.h>
#include <string.h>

#include "base/buf.h"
#include "core/server.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"

/* 62 sites and 31 upstreams at most, each with its lines: well below this */
#define METRICS_MAX (256 * 1024)

/* A label value, escaped as the text format wants: backslash, double quote, line feed. */
static void label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_appends(b, "\\\\");
		else if (*s == '"')
			buf_appends(b, "\\\"");
		else if (*s == '\n')
			buf_appends(b, "\\n");
		else
			buf_append(b, s, 1);
	}
}

/* The names of the slots given so far (their number), then "other" when they ran out. */
static unsigned names(const struct stats_names *sn, unsigned max, const char **ret)
{
	unsigned n = atomic_load_explicit(&sn->n, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		ret[i] = sn->v[i];
	if (n == max - 1)
		ret[n++] = "other";
	return n;
}

static void sites(struct buf *b, const struct server *srv)
{
	const char *name[STATS_SITES];
	unsigned n = names(&srv->site_names, STATS_SITES, name);
	buf_appends(b, "# HELP ferry_site_responses_total Responses by site and status class.\n"
		       "# TYPE ferry_site_responses_total counter\n");
	uint64_t bytes[STATS_SITES] = {0};
	for (unsigned i = 0; i < n; i++) {
		uint64_t status[6] = {0};
		for (unsigned w = 0; w < srv->n_workers; w++) {
			const struct stats_site *ss = &srv->workers[w].stats.site[i];
			for (int c = 0; c < 6; c++)
				status[c] += stats_load(&ss->status[c]);
			bytes[i] += stats_load(&ss->bytes);
		}
		for (int c = 1; c <= 5; c++) {
			buf_appends(b, "ferry_site_responses_total{site=\"");
			label(b, name[i]);
			buf_printf(b, "\",code=\"%dxx\"} %llu\n", c, (unsigned long long)status[c]);
		}
	}
	buf_appends(b, "# HELP ferry_site_response_body_bytes_total Response body bytes by site.\n"
		       "# TYPE ferry_site_response_body_bytes_total counter\n");
	for (unsigned i = 0; i < n; i++) {
		buf_appends(b, "ferry_site_response_body_bytes_total{site=\"");
		label(b, name[i]);
		buf_printf(b, "\"} %llu\n", (unsigned long long)bytes[i]);
	}
}

static void upstreams(struct buf *b, const struct server *srv, uint64_t now_ms)
{
	const char *name[STATS_UPSTREAMS];
	unsigned n = names(&srv->upstream_names, STATS_UPSTREAMS, name);
	buf_appends(b, "# HELP ferry_upstream_up Whether the proxy tries the upstream (0: a "
		       "connection to it failed lately and it is skipped).\n"
		       "# TYPE ferry_upstream_up gauge\n");
	for (unsigned i = 0; i < n; i++) {
		bool up = true;
		for (unsigned w = 0; w < srv->n_workers; w++)
			if (stats_load(&srv->workers[w].stats.up[i].down_until_ms) > now_ms)
				up = false;
		buf_appends(b, "ferry_upstream_up{upstream=\"");
		label(b, name[i]);
		buf_printf(b, "\"} %d\n", up);
	}
	buf_appends(b, "# HELP ferry_upstream_response_seconds Time from the first connection "
		       "attempt to the upstream's response head.\n"
		       "# TYPE ferry_upstream_response_seconds histogram\n");
	for (unsigned i = 0; i < n; i++) {
		uint64_t bucket[STATS_BUCKETS] = {0}, sum_us = 0, count = 0;
		for (unsigned w = 0; w < srv->n_workers; w++) {
			const struct stats_upstream *su = &srv->workers[w].stats.up[i];
			for (int k = 0; k < STATS_BUCKETS; k++)
				bucket[k] += stats_load(&su->bucket[k]);
			sum_us += stats_load(&su->sum_us);
		}
		/* cumulative; the count is the +Inf bucket, so the page agrees with itself
		 * however the workers' stores interleave with this read */
		for (int k = 0; k < STATS_BUCKETS; k++) {
			count += bucket[k];
			buf_appends(b, "ferry_upstream_response_seconds_bucket{upstream=\"");
			label(b, name[i]);
			buf_printf(b, "\",le=\"%s\"} %llu\n", stats_bucket_le[k],
				   (unsigned long long)count);
		}
		buf_appends(b, "ferry_upstream_response_seconds_sum{upstream=\"");
		label(b, name[i]);
		buf_printf(b, "\"} %llu.%06llu\n", (unsigned long long)(sum_us / 1000000),
			   (unsigned long long)(sum_us % 1000000));
		buf_appends(b, "ferry_upstream_response_seconds_count{upstream=\"");
		label(b, name[i]);
		buf_printf(b, "\"} %llu\n", (unsigned long long)count);
	}
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
			status[c] += stats_load(&st->status[c]);
		bytes += stats_load(&st->bytes);
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
		   (unsigned long long)stats_load(&srv->accepted));
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
		   (unsigned long long)bytes, (unsigned long long)stats_load(&srv->reloads),
		   (unsigned long long)stats_load(&srv->reload_failures),
		   (unsigned long long)x->wk->gen->id, srv->n_workers);
	sites(&b, srv);
	upstreams(&b, srv, x->wk->loop.now_ms);
	http_resp_start(x, 200);
	http_resp_header(x, "Content-Type", "text/plain; version=0.0.4; charset=utf-8", 40);
	http_resp_header(x, "Cache-Control", "no-store", 8);
	http_resp_end_head(x, (int64_t)b.len);
	http_resp_body_owned(x, b.data, b.len); /* larger than a connection's out buffer */
}

const struct http_handler metrics_handler = {
	.name = "metrics",
	.streams_body = false,
	.serve = metrics_serve,
};
