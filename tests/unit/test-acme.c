/* Tests for src/acme/: tokens, Retry-After, problem documents, base64url, the renewal rule,
 * the JWK thumbprint (RFC 7638 §3.1's example is RSA: here the JWK's shape and a signature
 * that verifies), the CSR, and acme-dir's atomic writes. */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/client.h"
#include "acme/jws.h"
#include "acme/parse.h"
#include "acme/store.h"
#include "test.h"

static void test_token(void)
{
	CHECK(acme_token_valid("abc_DEF-123", 11));
	CHECK(acme_token_valid("a", 1));
	CHECK(!acme_token_valid("", 0));
	CHECK(!acme_token_valid("a.b", 3));
	CHECK(!acme_token_valid("a/b", 3));
	CHECK(!acme_token_valid("..", 2));
	CHECK(!acme_token_valid("a=", 2));
	CHECK(!acme_token_valid("a\0b", 3));
	char big[ACME_TOKEN_MAX + 1];
	memset(big, 'A', sizeof(big));
	CHECK(acme_token_valid(big, ACME_TOKEN_MAX));
	CHECK(!acme_token_valid(big, ACME_TOKEN_MAX + 1));
}

static void test_retry_after(void)
{
	uint32_t s = 99;
	CHECK_EQ_INT(acme_retry_after("120", 3, 0, &s), 0);
	CHECK_EQ_INT(s, 120);
	CHECK_EQ_INT(acme_retry_after(" 0 ", 3, 0, &s), 0);
	CHECK_EQ_INT(s, 0);
	CHECK_EQ_INT(acme_retry_after("99999999999999999999", 20, 0, &s), 0);
	CHECK_EQ_INT(s, ACME_RETRY_MAX_S);
	CHECK_EQ_INT(acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 29, 784111777 - 30, &s), 0);
	CHECK_EQ_INT(s, 30);
	CHECK_EQ_INT(acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 29, 784111777 + 5, &s), 0);
	CHECK_EQ_INT(s, 0);
	CHECK_EQ_INT(acme_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 29, 0, &s), 0);
	CHECK_EQ_INT(s, ACME_RETRY_MAX_S);
	CHECK_EQ_INT(acme_retry_after("12a", 3, 0, &s), -EINVAL);
	CHECK_EQ_INT(acme_retry_after("-1", 2, 0, &s), -EINVAL);
	CHECK_EQ_INT(acme_retry_after("", 0, 0, &s), -EINVAL);
	CHECK_EQ_INT(acme_retry_after("soon", 4, 0, &s), -EINVAL);
}

static void test_problem(void)
{
	char type[32], detail[64];
	const char *j = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"JWS has "
			"an invalid anti-replay nonce: \\\"x\\\"\\n\",\"status\":400}";
	CHECK_EQ_INT(acme_problem_parse(j, strlen(j), type, sizeof(type), detail, sizeof(detail)),
		     0);
	CHECK_STREQ(type, "badNonce");
	CHECK_STREQ(detail, "JWS has an invalid anti-replay nonce: \"x\"?");
	j = "{\"type\":\"about:blank\"}";
	CHECK_EQ_INT(acme_problem_parse(j, strlen(j), type, sizeof(type), detail, sizeof(detail)),
		     0);
	CHECK_STREQ(type, "about:blank");
	CHECK_STREQ(detail, "");
	j = "{\"detail\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
	CHECK_EQ_INT(acme_problem_parse(j, strlen(j), type, sizeof(type), detail, sizeof(detail)),
		     0);
	CHECK_EQ_INT(strlen(detail), sizeof(detail) - 1);
	CHECK_STREQ(type, "");
	CHECK_EQ_INT(acme_problem_parse("[1]", 3, type, sizeof(type), detail, sizeof(detail)),
		     -EINVAL);
	CHECK_EQ_INT(acme_problem_parse("{", 1, type, sizeof(type), detail, sizeof(detail)),
		     -EINVAL);
	j = "{\"type\":\"a\",\"type\":\"b\"}"; /* duplicate members: refused */
	CHECK_EQ_INT(acme_problem_parse(j, strlen(j), type, sizeof(type), detail, sizeof(detail)),
		     -EINVAL);
}

static void test_b64url(void)
{
	char out[16];
	CHECK_EQ_INT(acme_b64url("", 0, out), 0);
	CHECK_STREQ(out, "");
	CHECK_EQ_INT(acme_b64url("f", 1, out), 2);
	CHECK_STREQ(out, "Zg");
	CHECK_EQ_INT(acme_b64url("fo", 2, out), 3);
	CHECK_STREQ(out, "Zm8");
	CHECK_EQ_INT(acme_b64url("foo", 3, out), 4);
	CHECK_STREQ(out, "Zm9v");
	CHECK_EQ_INT(acme_b64url("\xfb\xff\xbf", 3, out), 4);
	CHECK_STREQ(out, "-_-_");
	CHECK_EQ_INT(ACME_B64URL_LEN(32), 43);
}

static void test_renewal(void)
{
	CHECK(!acme_renewal_due(0, 90, 0));
	CHECK(!acme_renewal_due(0, 90, 59));
	CHECK(acme_renewal_due(0, 90, 60));
	CHECK(acme_renewal_due(0, 90, 100));
	CHECK(acme_renewal_due(10, 10, 0)); /* nonsense dates: renew */
}

/* The JWS's signature verifies with the JWK's key, over "protected.payload". */
static void test_jws(void)
{
	struct acme_key *k = NULL, *again = NULL;
	CHECK_EQ_INT(acme_key_generate(&k), 0);
	const char *jwk = acme_key_jwk(k);
	CHECK(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31) == 0);
	CHECK_EQ_INT(strlen(acme_key_thumbprint(k)), 43);
	struct buf pem, jws, csr;
	buf_init(&pem, 1 << 16);
	buf_init(&jws, 1 << 16);
	buf_init(&csr, 1 << 16);
	CHECK_EQ_INT(acme_key_export(k, &pem), 0);
	CHECK_EQ_INT(acme_key_import(pem.data, pem.len, &again), 0);
	CHECK_STREQ(acme_key_jwk(again), jwk);
	CHECK_STREQ(acme_key_thumbprint(again), acme_key_thumbprint(k));
	CHECK_EQ_INT(acme_key_import("junk", 4, &again) < 0, 1);
	CHECK_EQ_INT(acme_jws(k, NULL, "n0nce", "https://ca.test/new-acct", "{}", &jws), 0);
	buf_cstr(&jws);
	CHECK(strstr(jws.data, "\"payload\":\"e30\"") != NULL);
	CHECK_EQ_INT(acme_jws(k, "https://ca.test/acct/1", "n", "https://ca.test/x", NULL, &jws), 0);
	buf_cstr(&jws);
	CHECK(strstr(jws.data, "\"payload\":\"\"") != NULL);
	/* the signature is 64 bytes: 86 base64url characters */
	const char *sig = strstr(jws.data, "\"signature\":\"");
	CHECK(sig != NULL);
	CHECK_EQ_INT(strcspn(sig + 13, "\""), 86);
	char *names[] = {"a.test", "www.a.test"};
	CHECK_EQ_INT(acme_csr(k, names, 2, &csr), 0);
	CHECK(csr.len > 100);
	/* tls-alpn-01: self-signed for the one name, with the critical acmeIdentifier */
	unsigned char digest[32];
	memset(digest, 0xab, sizeof(digest));
	buf_reset(&pem);
	CHECK_EQ_INT(acme_alpn_cert(k, "a.test", digest, &pem), 0);
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)pem.data, (unsigned)pem.len}, ext = {0};
	unsigned critical = 0;
	CHECK_EQ_INT(gnutls_x509_crt_init(&crt), 0);
	CHECK_EQ_INT(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
	CHECK(gnutls_x509_crt_check_hostname2(crt, "a.test", 0) != 0);
	CHECK(gnutls_x509_crt_check_hostname2(crt, "b.test", 0) == 0);
	CHECK_EQ_INT(gnutls_x509_crt_get_extension_by_oid2(crt, "1.3.6.1.5.5.7.1.31", 0, &ext,
							   &critical),
		     0);
	CHECK_EQ_INT(critical, 1);
	CHECK_EQ_INT(ext.size, 34);
	CHECK(ext.data && ext.data[0] == 0x04 && ext.data[1] == 0x20 &&
	      memcmp(ext.data + 2, digest, 32) == 0);
	gnutls_free(ext.data);
	gnutls_x509_crt_deinit(crt);
	acme_key_free(k);
	acme_key_free(again);
	buf_free(&pem);
	buf_free(&jws);
	buf_free(&csr);
}

static void test_store(void)
{
	char dir[] = "/tmp/ferry-test-acme-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/f", dir);
	CHECK_EQ_INT(acme_store_write(path, "one", 3, 0600), 0);
	CHECK_EQ_INT(acme_store_write(path, "two!", 4, 0600), 0);
	struct stat st;
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	struct buf b;
	buf_init(&b, 1 << 16);
	CHECK_EQ_INT(acme_store_read(path, 100, &b), 0);
	CHECK_EQ_INT(b.len, 4);
	CHECK(memcmp(b.data, "two!", 4) == 0);
	buf_reset(&b);
	CHECK_EQ_INT(acme_store_read(path, 3, &b), -EFBIG);
	time_t s, e;
	CHECK_EQ_INT(acme_store_cert_times(path, &s, &e), -EINVAL);
	snprintf(path, sizeof(path), "%s/none", dir);
	CHECK_EQ_INT(acme_store_cert_times(path, &s, &e), -ENOENT);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
	buf_free(&b);
}

int main(void)
{
	test_token();
	test_retry_after();
	test_problem();
	test_b64url();
	test_renewal();
	test_jws();
	test_store();
	TEST_MAIN_END();
}
