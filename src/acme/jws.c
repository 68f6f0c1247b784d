/* ES256 JWS, JWK thumbprints and CSRs with GnuTLS (jws.h). */
#include "acme/jws.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/parse.h"
#include "base/xalloc.h"

#define COORD 32 /* bytes of a P-256 coordinate, and of r and s */

struct acme_key {
	gnutls_x509_privkey_t x509;
	gnutls_privkey_t priv;
	char jwk[160];
	char thumb[ACME_B64URL_LEN(32) + 1];
};

void acme_key_free(struct acme_key *k)
{
	if (!k)
		return;
	if (k->priv)
		gnutls_privkey_deinit(k->priv); /* imported without GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE */
	if (k->x509)
		gnutls_x509_privkey_deinit(k->x509);
	free(k);
}

/* A big-endian integer as exactly COORD bytes (GnuTLS may add a leading 0 or drop some). */
static int fixed(const gnutls_datum_t *d, unsigned char out[COORD])
{
	const unsigned char *p = d->data;
	size_t n = d->size;
	while (n > COORD && *p == 0)
		p++, n--;
	if (n > COORD)
		return -EINVAL;
	memset(out, 0, COORD - n);
	memcpy(out + COORD - n, p, n);
	return 0;
}

/* The JWK and thumbprint of a key just imported or made: it must be ECDSA P-256. */
static int key_finish(struct acme_key *k)
{
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x = {0}, y = {0}, k_ = {0};
	unsigned char bx[COORD], by[COORD], digest[32];
	char sx[ACME_B64URL_LEN(COORD) + 1], sy[ACME_B64URL_LEN(COORD) + 1];
	int r = -EINVAL;
	if (gnutls_privkey_init(&k->priv) < 0 ||
	    gnutls_privkey_import_x509(k->priv, k->x509, 0) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_export_ecc_raw(k->x509, &curve, &x, &y, &k_) < 0 ||
	    curve != GNUTLS_ECC_CURVE_SECP256R1 || fixed(&x, bx) < 0 || fixed(&y, by) < 0)
		goto out;
	acme_b64url(bx, COORD, sx);
	acme_b64url(by, COORD, sy);
	snprintf(k->jwk, sizeof(k->jwk), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		 sx, sy);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, k->jwk, strlen(k->jwk), digest) < 0)
		goto out;
	acme_b64url(digest, sizeof(digest), k->thumb);
	r = 0;
out:
	gnutls_free(x.data);
	gnutls_free(y.data);
	if (k_.data) {
		gnutls_memset(k_.data, 0, k_.size);
		gnutls_free(k_.data);
	}
	return r;
}

int acme_key_generate(struct acme_key **ret)
{
	struct acme_key *k = xcalloc(1, sizeof(*k));
	int r = -ENOMEM;
	if (gnutls_x509_privkey_init(&k->x509) < 0 ||
	    gnutls_x509_privkey_generate(k->x509, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    (r = key_finish(k)) < 0) {
		acme_key_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

int acme_key_import(const char *pem, size_t len, struct acme_key **ret)
{
	struct acme_key *k = xcalloc(1, sizeof(*k));
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
	int r = -EINVAL;
	if (gnutls_x509_privkey_init(&k->x509) < 0 ||
	    gnutls_x509_privkey_import2(k->x509, &d, GNUTLS_X509_FMT_PEM, NULL,
					GNUTLS_PKCS_PLAIN) < 0 ||
	    (r = key_finish(k)) < 0) {
		acme_key_free(k);
		return r < 0 ? r : -EINVAL;
	}
	*ret = k;
	return 0;
}

int acme_key_export(const struct acme_key *k, struct buf *out)
{
	gnutls_datum_t d = {0};
	if (gnutls_x509_privkey_export2_pkcs8(k->x509, GNUTLS_X509_FMT_PEM, NULL,
					      GNUTLS_PKCS_PLAIN, &d) < 0)
		return -EINVAL;
	int r = buf_append(out, d.data, d.size);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return r;
}

const char *acme_key_jwk(const struct acme_key *k)
{
	return k->jwk;
}

const char *acme_key_thumbprint(const struct acme_key *k)
{
	return k->thumb;
}

static void append_b64url(struct buf *out, const void *p, size_t len)
{
	char *tmp = xmalloc(ACME_B64URL_LEN(len) + 1);
	size_t n = acme_b64url(p, len, tmp);
	buf_append(out, tmp, n);
	free(tmp);
}

int acme_jws(const struct acme_key *k, const char *kid, const char *nonce, const char *url,
	     const char *payload, struct buf *out)
{
	/* the protected header through jansson: the URL and nonce come from the CA */
	json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
	if (!h)
		return -EINVAL;
	if (kid)
		json_object_set_new(h, "kid", json_string(kid));
	else
		json_object_set_new(h, "jwk", json_loads(k->jwk, 0, NULL));
	char *ph = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!ph)
		return -EINVAL;
	struct buf input;
	buf_init(&input, 4 << 20);
	append_b64url(&input, ph, strlen(ph));
	free(ph);
	size_t ph_len = input.len;
	buf_appends(&input, ".");
	if (payload)
		append_b64url(&input, payload, strlen(payload));
	gnutls_datum_t data = {(unsigned char *)input.data, (unsigned)input.len}, sig = {0};
	gnutls_datum_t rr = {0}, ss = {0};
	unsigned char raw[2 * COORD];
	int r = -EINVAL;
	if (gnutls_privkey_sign_data(k->priv, GNUTLS_DIG_SHA256, 0, &data, &sig) < 0 ||
	    gnutls_decode_rs_value(&sig, &rr, &ss) < 0 || fixed(&rr, raw) < 0 ||
	    fixed(&ss, raw + COORD) < 0)
		goto out;
	buf_reset(out);
	buf_appends(out, "{\"protected\":\"");
	buf_append(out, input.data, ph_len);
	buf_appends(out, "\",\"payload\":\"");
	buf_append(out, input.data + ph_len + 1, input.len - ph_len - 1);
	buf_appends(out, "\",\"signature\":\"");
	append_b64url(out, raw, sizeof(raw));
	r = buf_appends(out, "\"}") < 0 ? -ENOBUFS : 0;
out:
	gnutls_free(sig.data);
	gnutls_free(rr.data);
	gnutls_free(ss.data);
	buf_free(&input);
	return r;
}

int acme_csr(const struct acme_key *k, char *const *names, size_t n_names, struct buf *out)
{
	gnutls_x509_crq_t crq;
	gnutls_datum_t der = {0};
	int r = -EINVAL;
	if (n_names == 0 || gnutls_x509_crq_init(&crq) < 0)
		return -EINVAL;
	if (gnutls_x509_crq_set_version(crq, 1) < 0 ||
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, names[0],
					  (unsigned)strlen(names[0])) < 0 ||
	    gnutls_x509_crq_set_key(crq, k->x509) < 0)
		goto out;
	for (size_t i = 0; i < n_names; i++)
		if (gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, names[i],
							 (unsigned)strlen(names[i]),
							 GNUTLS_FSAN_APPEND) < 0)
			goto out;
	if (gnutls_x509_crq_privkey_sign(crq, k->priv, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der) < 0)
		goto out;
	append_b64url(out, der.data, der.size);
	r = 0;
out:
	gnutls_free(der.data);
	gnutls_x509_crq_deinit(crq);
	return r;
}

int acme_alpn_cert(const struct acme_key *k, const char *name, const unsigned char digest[32],
		   struct buf *out)
{
	static const char ACME_IDENTIFIER_OID[] = "1.3.6.1.5.5.7.1.31";
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem = {0};
	unsigned char ext[2 + 32] = {0x04, 0x20}; /* DER: OCTET STRING of 32 bytes */
	unsigned char serial[16];
	time_t now = time(NULL);
	int r = -EINVAL;
	memcpy(ext + 2, digest, 32);
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		goto out;
	serial[0] &= 0x7f; /* positive */
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 7 * 24 * 3600) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
					  (unsigned)strlen(name)) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
						 (unsigned)strlen(name), GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crt_set_extension_by_oid(crt, ACME_IDENTIFIER_OID, ext, sizeof(ext),
						 1) < 0 ||
	    gnutls_x509_crt_set_key(crt, k->x509) < 0 ||
	    gnutls_x509_crt_privkey_sign(crt, crt, k->priv, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0)
		goto out;
	r = buf_append(out, pem.data, pem.size);
out:
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	return r;
}
