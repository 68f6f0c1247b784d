/* Keys and signatures for ACME: ECDSA P-256 keys (the account's and each certificate's),
 * the account's JWK and its thumbprint (RFC 7638), JWS in the flattened JSON serialization
 * with ES256 (RFC 7515, RFC 7518 §3.4, RFC 8555 §6.2), and the CSR of an order (PKCS#10,
 * GnuTLS's x509 crq). */
#ifndef FERRY_ACME_JWS_H
#define FERRY_ACME_JWS_H

#include <stddef.h>

#include "base/buf.h"

struct acme_key;

/* A new ECDSA P-256 key. */
int acme_key_generate(struct acme_key **ret);
/* From PEM (PKCS#8 or SEC1): 0 or -EINVAL. */
int acme_key_import(const char *pem, size_t len, struct acme_key **ret);
/* Unencrypted PKCS#8 PEM, appended to out. */
int acme_key_export(const struct acme_key *k, struct buf *out);
void acme_key_free(struct acme_key *k);

/* {"crv":"P-256","kty":"EC","x":"...","y":"..."}, members in lexical order (the thumbprint's
 * input). */
const char *acme_key_jwk(const struct acme_key *k);
/* base64url(SHA-256(jwk)): what follows the token in a key authorization. */
const char *acme_key_thumbprint(const struct acme_key *k);

/* The JWS of payload (NULL: empty, a POST-as-GET) for url, with "kid" when kid is set, else
 * "jwk". Written to out (reset first). */
int acme_jws(const struct acme_key *k, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct buf *out);

/* A CSR for names (the first as CN too), signed by k: base64url(DER) into out. */
int acme_csr(const struct acme_key *k, char *const *names, size_t n_names, struct buf *out);

/* The tls-alpn-01 answer for name (RFC 8737 §3): a self-signed certificate by k for that
 * one name, with the critical acmeIdentifier extension holding digest (SHA-256 of the key
 * authorization); its PEM appended to out. */
int acme_alpn_cert(const struct acme_key *k, const char *name, const unsigned char digest[32],
		   struct buf *out);

#endif
