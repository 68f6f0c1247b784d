/* The access log line, shared by the protocols (Combined Log Format). */
#include "proto/accesslog.h"

#include "base/buf.h"
#include "base/macro.h"
#include "core/server.h"
#include "http/parser.h"
#include "net/addr.h"

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

void accesslog_write(struct worker *wk, const struct sockaddr *peer, socklen_t peer_len,
		     const struct http_request *req, int status, uint64_t bytes)
{
	if (wk->gen->access_log_fd < 0)
		return;
	struct buf *b = &wk->access_log;
	char host[NET_ADDR_STRLEN];
	net_addr_host(peer, peer_len, host, sizeof(host));
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
