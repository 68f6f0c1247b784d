/* A small blocking HTTPS/1.1 client for the ACME client of `ferry acme` (a one-shot command:
 * blocking I/O with timeouts is the simple, bounded way; `ferry serve`'s loop never calls
 * it). One connection per request (Connection: close), GnuTLS verifying the CA's certificate
 * and name against acme-ca-root or the system's trust store; responses parsed with
 * http/response.c and http/chunked.c, bodies at most ACME_HTTPS_BODY_MAX. */
#ifndef FERRY_ACME_HTTPS_H
#define FERRY_ACME_HTTPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define ACME_HTTPS_BODY_MAX (1 << 20)    /* a certificate chain, a directory, an order */
#define ACME_HTTPS_TIMEOUT_MS 30000      /* connect, and each read or write */
#define ACME_HTTPS_URL_MAX 2048

struct acme_https;

struct acme_resp {
	int status;
	char nonce[256];                   /* Replay-Nonce ("": none) */
	char location[ACME_HTTPS_URL_MAX]; /* Location ("": none) */
	char content_type[128];
	bool has_retry_after;
	uint32_t retry_after_s;
	struct buf body; /* at most ACME_HTTPS_BODY_MAX, NUL-terminated */
};

/* ca_root: a PEM file of trusted roots, or NULL for the system's. 0 or -errno (why in err). */
int acme_https_new(const char *ca_root, struct buf *err, struct acme_https **ret);
void acme_https_free(struct acme_https *h);

void acme_resp_init(struct acme_resp *r);
void acme_resp_free(struct acme_resp *r);

/* One request (body NULL: none). resp is reset first. 0, or -errno with a reason in err
 * ("connect 127.0.0.1:14000: Connection refused", "TLS: certificate not trusted", ...). */
int acme_https_request(struct acme_https *h, const char *method, const char *url,
		       const char *content_type, const char *body, size_t len,
		       struct acme_resp *resp, struct buf *err);

#endif
