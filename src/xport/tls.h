/* TLS over a connected stream socket, with GnuTLS: a struct xport (xport.h) whose handshake
 * picks the certificate from the client's SNI, and the per-generation store of every site's
 * certificates that it picks from.
 *
 * What it relies on from its callers (h1 does all of it):
 *   - A write that returned -EAGAIN has been taken by GnuTLS (encrypted into a record that
 *     waits for the socket): the caller offers the same bytes again, from the same position
 *     (more may follow them); the next write finishes that record and reports its bytes as
 *     taken. A caller that offered fewer bytes the second time would lose count.
 *   - After a read that did not fill its buffer, the caller asks pending(): GnuTLS may hold
 *     decrypted bytes, and this transport reads ahead (a whole record with one recv).
 *   - Every call on one connection comes from the thread that owns it. */
#ifndef FERRY_XPORT_TLS_H
#define FERRY_XPORT_TLS_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "config/config.h"
#include "xport/xport.h"

struct server_gen;
struct xport_tls_certs;

/* Load the certificates and keys of every `tls` line of cfg's sites (main thread; opens the
 * files). Errors are appended to err, one "file:line:col: tls CERT: reason" line each, and
 * fail the load: a file that cannot be read (-errno of the first such), or one without a
 * certificate or a usable key, or a key that is not the certificate's (-EINVAL). An expired
 * certificate, one not valid yet, or one that does not cover a name of its site is an error
 * when strict (`ferry check`), else a warning in warn; a certificate that expires within 14
 * days is always a warning. ret may be NULL (check only); *ret is NULL when no site has a
 * `tls` line. */
int xport_tls_certs_load(const struct config *cfg, bool strict, struct buf *err,
			 struct buf *warn, struct xport_tls_certs **ret);
void xport_tls_certs_free(struct xport_tls_certs *certs);

/* A TLS transport (server side) over the connected socket fd, which it owns (closes) from
 * then on. g: the generation whose certificates the handshake picks from (held until the
 * handshake ends). pre: bytes already read from fd that belong to the TLS stream (after a
 * PROXY header). Returns 0, or, fd still the caller's: -EBUSY when max-tls-handshakes are in
 * progress, -ENOENT when g has no certificates, -ENOMEM. */
int xport_tls_new(struct server_gen *g, int fd, const void *pre, size_t pre_len,
		  struct xport **ret);

/* After the handshake: the server name the client sent (SNI; NULL: none), and the protocol
 * ALPN chose (NULL: none; "h2" or "http/1.1": proto/h1.c hands an "h2" connection to
 * proto/h2.c). Valid until the transport is closed. */
const char *xport_tls_server_name(const struct xport *x, size_t *ret_len);
/* x is a TLS transport (the two functions around it take no other). */
bool xport_is_tls(const struct xport *x);

/* For QUIC (proto/h3.c), whose TLS sessions are its own (RFC 9001): the certificates of the
 * site a server name selects (config_tls_site; len 0: the default one). NULL: none. Valid as
 * long as g. */
gnutls_certificate_credentials_t xport_tls_site_credentials(const struct server_gen *g,
							    const char *name, size_t len);
const char *xport_tls_alpn(const struct xport *x, size_t *ret_len);

/* A TLS transport (client side, to an https:// upstream) over the socket fd, connected or
 * connecting, which it owns from then on. The upstream's certificate is verified against the
 * CAs of g loaded from ca_path (NULL: the system bundle; xport_tls_certs_load loaded every
 * one the config names) for name: a DNS name (also sent as SNI) or an IP literal (no SNI, the
 * certificate's IP addresses). The handshake op runs it; ALPN offers http/1.1. resume_key
 * (NULL: none) names the cache entry of this worker from which the session is resumed and to
 * which its resumption data is saved: one per upstream and CA. Returns 0, or, fd still the
 * caller's: -ENOENT when g has no credentials for ca_path, -EINVAL when they do not parse
 * (the system bundle is parsed by the first connection that needs it), -ENOMEM. */
int xport_tls_client_new(struct server_gen *g, const char *ca_path, int fd, const char *name,
			 const char *resume_key, struct xport **ret);
/* The same client transport for a caller of its own (the ACME client, acme/fetch.c), with
 * no generation: cred, the CAs to verify against, is the caller's and must outlive the
 * transport; no resumption. xport_tls_client_init() first, once per process, from one
 * thread (it sets up what xport_tls_certs_load() does, when that has not run): 0 or -errno
 * with a line in err. xport_tls_client_open: 0, or (fd still the caller's) -EINVAL without
 * that set-up, -ENOMEM. */
int xport_tls_client_init(struct buf *err);
int xport_tls_client_open(gnutls_certificate_credentials_t cred, int fd, const char *name,
			  struct xport **ret);
/* After a failed handshake (client side): why, in words (an unknown issuer, a name
 * mismatch, an expired certificate, or GnuTLS's error). Valid until the transport closes. */
const char *xport_tls_error(const struct xport *x);
/* After the handshake: the session was resumed (no certificate sent, no verification). */
bool xport_tls_resumed(const struct xport *x);
/* The calling worker's resumption cache is dropped (at the worker's exit). */
void xport_tls_client_forget(void);

#endif
