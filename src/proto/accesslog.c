/* The access log line, shared by the protocols: Combined Log Format, or one JSON object. */
#include "proto/accesslog.h"

#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/macro.h"
#include "base/timeutil.h"
#include "core/server.h"
#include "http/exchange.h"
#include "http/parser.h"
#include "net/addr.h"

#define TARGET_MAX 2048 /* bytes of a request target logged */
#define FIELD_MAX 1024  /* ... of a header field's value */

static void log_escaped(struct buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			char e[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
			buf_append(b, e, 4);
		} else {
			buf_append(b, p + i, 1);
		}
	}
}

static void log_field(struct buf *b, const struct http_request *req, const char *lname)
{
	const struct http_header *h = req ? http_request_header(req, lname) : NULL;
	buf_append(b, "\"", 1);
	if (h)
		log_escaped(b, h->value, MIN(h->value_len, (size_t)1024));
	else
		buf_append(b, "-", 1);
	buf_append(b, "\"", 1);
}

/* ,"name":"value" (or null) */
static int json_str(struct buf *b, const char *name, const char *p, size_t n)
{
	if (!p)
		return buf_printf(b, ",\"%s\":null", name);
	int r = buf_printf(b, ",\"%s\":\"", name);
	if (r >= 0)
		r = json_escape(b, p, n);
	return r < 0 ? r : buf_append(b, "\"", 1);
}

/* ,"name":seconds with microseconds (or null) */
static int json_secs(struct buf *b, const char *name, int64_t us)
{
	if (us < 0)
		return buf_printf(b, ",\"%s\":null", name);
	return buf_printf(b, ",\"%s\":%lld.%06lld", name, (long long)(us / 1000000),
			  (long long)(us % 1000000));
}

static int json_field(struct buf *b, const char *name, const struct http_request *req,
		      const char *lname)
{
	const struct http_header *h = req ? http_request_header(req, lname) : NULL;
	return json_str(b, name, h ? h->value : NULL, h ? MIN(h->value_len, (size_t)FIELD_MAX) : 0);
}

/* One object per line; the fields in a fixed order (docs/ferry.conf.5.md lists them). A
 * line that does not fit the worker's buffer is dropped whole, never written half. */
static void write_json(struct worker *wk, const struct http_exchange *x, const char *client,
		       const struct http_request *req, int status, uint64_t bytes)
{
	struct buf *b = &wk->access_log;
	size_t mark = b->len;
	int r = 0;
	r |= buf_printf(b, "{\"time\":\"%s\"", worker_iso_date(wk));
	r |= json_str(b, "client", client, strlen(client));
	const char *target = req ? req->target : NULL;
	size_t tlen = req ? MIN(req->target_len, (size_t)TARGET_MAX) : 0;
	const char *q = target ? memchr(target, '?', tlen) : NULL;
	r |= json_str(b, "host", req ? req->host : NULL, req && req->host ? req->host_len : 0);
	r |= json_str(b, "method", req ? req->method : NULL, req ? req->method_len : 0);
	r |= json_str(b, "path", target, q ? (size_t)(q - target) : tlen);
	r |= json_str(b, "query", q ? q + 1 : NULL, q ? tlen - (size_t)(q + 1 - target) : 0);
	if (req)
		r |= buf_printf(b, ",\"protocol\":\"HTTP/%d.%d\"", req->version / 10,
				req->version % 10);
	else
		r |= buf_appends(b, ",\"protocol\":null");
	r |= buf_printf(b, ",\"status\":%d,\"bytes\":%llu", status, (unsigned long long)bytes);
	uint64_t start = x && req ? x->start_us : 0;
	r |= json_secs(b, "duration", start ? (int64_t)(time_now_usec() - start) : -1);
	const char *up = x && req ? x->upstream : NULL;
	r |= json_str(b, "upstream", up, up ? strlen(up) : 0);
	r |= json_secs(b, "upstream_time", up ? x->upstream_us : -1);
	r |= json_field(b, "referer", req, "referer");
	r |= json_field(b, "user_agent", req, "user-agent");
	r |= buf_appends(b, "}\n");
	if (r < 0)
		b->len = mark; /* the buffer is full: no half line */
}

void accesslog_write(struct worker *wk, const struct http_exchange *x,
		     const struct sockaddr *peer, socklen_t peer_len,
		     const struct http_request *req, int status, uint64_t bytes)
{
	if (wk->srv->metrics) {
		/* only a server with a metrics page counts (its listeners are set at startup) */
		unsigned class = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;
		worker_count(&wk->stats.status[class], 1);
		worker_count(&wk->stats.bytes, bytes);
		struct stats_site *ss = &wk->stats.site[x && req ? x->stats_site : STATS_SITE_NONE];
		worker_count(&ss->status[class], 1);
		worker_count(&ss->bytes, bytes);
	}
	if (wk->gen->access_log_fd < 0)
		return;
	struct buf *b = &wk->access_log;
	char host[NET_ADDR_STRLEN];
	net_addr_host(peer, peer_len, host, sizeof(host));
	if (wk->gen->cfg->access_log_format == CONFIG_LOG_JSON) {
		write_json(wk, x, host, req, status, bytes);
		return;
	}
	if (buf_printf(b, "%s - - [%s] \"", host, worker_log_date(wk)) < 0)
		return;
	if (req) {
		log_escaped(b, req->method, req->method_len);
		buf_append(b, " ", 1);
		log_escaped(b, req->target, MIN(req->target_len, (size_t)2048));
		buf_printf(b, " HTTP/%d.%d", req->version / 10, req->version % 10);
	} else {
		buf_append(b, "-", 1);
	}
	buf_printf(b, "\" %d %llu ", status, (unsigned long long)bytes);
	log_field(b, req, "referer");
	buf_append(b, " ", 1);
	log_field(b, req, "user-agent");
	buf_append(b, "\n", 1);
}
