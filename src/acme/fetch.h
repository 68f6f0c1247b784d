/* HTTPS/1.1 requests to the ACME CA on an event loop (event/loop.h): the CA's name through
 * ferry's stub resolver (net/dns.h: /etc/hosts, then resolv.conf's nameservers), a
 * non-blocking connect (xport_tcp_connect), TLS through xport/tls.c's client transport,
 * verifying the CA's certificate and name against acme-ca-root or the system's trust store;
 * the response head parsed by http/response.c, a chunked body by http/chunked.c. One
 * connection per request (Connection: close), one request at a time per struct acme_fetch;
 * every request bounded: the body by ACME_FETCH_BODY_MAX, the whole of it (name, connect,
 * handshake, request, response) by the timeout given to acme_fetch_new. */
#ifndef FERRY_ACME_FETCH_H
#define FERRY_ACME_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define ACME_FETCH_BODY_MAX (1 << 20) /* a certificate chain, a directory, an order */
#define ACME_FETCH_URL_MAX 2048

struct loop;
struct acme_fetch;

struct acme_resp {
	int status;
	char nonce[256];                   /* Replay-Nonce ("": none) */
	char location[ACME_FETCH_URL_MAX]; /* Location ("": none) */
	char content_type[128];
	bool has_retry_after;
	uint32_t retry_after_s;
	struct buf body; /* at most ACME_FETCH_BODY_MAX, NUL-terminated */
};

void acme_resp_init(struct acme_resp *r);
void acme_resp_free(struct acme_resp *r);

/* The end of a request: 0 (the response is in resp, whatever its status) or -errno (why,
 * in words, in err: "connect 127.0.0.1 port 14000: Connection refused", "TLS to
 * ca.test:443: ...", "ca.test:443: no answer in 30 s"). */
typedef void acme_fetch_cb(void *ctx, int r);

/* ca_root: a PEM file of trusted roots, or NULL for the system's. timeout_ms: what one
 * request may take, all included. Test hooks, as the proxy's: FERRY_INSECURE_TEST_RESOLV_CONF
 * and FERRY_INSECURE_TEST_HOSTS name the resolver's files. 0 or -errno (why in err). */
int acme_fetch_new(struct loop *l, const char *ca_root, unsigned timeout_ms, struct buf *err,
		   struct acme_fetch **ret);
/* Not while a request is in flight. NULL is fine. */
void acme_fetch_free(struct acme_fetch *f);

/* Start a request (body NULL: none); cb runs later from the loop, never inside this call.
 * resp is reset and err appended to before cb; both stay the caller's. */
void acme_fetch_request(struct acme_fetch *f, const char *method, const char *url,
			const char *content_type, const char *body, size_t len,
			struct acme_resp *resp, struct buf *err, acme_fetch_cb *cb, void *ctx);

#endif
