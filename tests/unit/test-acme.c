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

static void test_url(void)
{
	struct acme_url u;
#define URL(s) acme_url_parse(s, strlen(s), &u)
	CHECK_EQ_INT(URL("https://acme-v02.api.letsencrypt.org/directory"), 0);
	CHECK_STREQ(u.host, "acme-v02.api.letsencrypt.org");
	CHECK_STREQ(u.authority, "acme-v02.api.letsencrypt.org");
	CHECK_EQ_INT(u.port, 443);
	CHECK_EQ_INT((int)u.path_len, 10);
	CHECK(memcmp(u.path, "/directory", 10) == 0);
	CHECK_EQ_INT(URL("HTTPS://127.0.0.1:14000/dir?x=1#frag"), 0);
	CHECK_STREQ(u.host, "127.0.0.1");
	CHECK_STREQ(u.authority, "127.0.0.1:14000");
	CHECK_EQ_INT(u.port, 14000);
	CHECK_EQ_INT((int)u.path_len, 8); /* "/dir?x=1": no fragment */
	CHECK_EQ_INT(URL("https://[::1]:8443"), 0);
	CHECK_STREQ(u.host, "::1");
	CHECK_STREQ(u.authority, "[::1]:8443");
	CHECK_EQ_INT(u.port, 8443);
	CHECK_EQ_INT((int)u.path_len, 0);
	CHECK_EQ_INT(URL("https://ca.test?q"), 0);
	CHECK_STREQ(u.host, "ca.test");
	CHECK_EQ_INT((int)u.path_len, 2);
	const char *bad[] = {
		"http://ca.test/dir",  "https://",	       "https:///dir",
		"https://user@ca.test/", "https://ca.test:/dir", "https://ca.test:0/",
		"https://ca.test:65536/", "https://ca.test:123456/", "https://ca.test:8a/",
		"https://[::1/",	       "https://[]/",	       "https://[::1]x/",
		"https://[::1%eth0]/",   "https://ca test/",     "https://ca.test/a b",
		"https://ca.test/\x7f", "https://ca.test/#a b",  "ftp://ca.test/",
		"https:/ca.test/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		u.port = 7;
		CHECK_EQ_INT(URL(bad[i]), -EINVAL);
		CHECK_EQ_INT(u.port, 7); /* untouched */
	}
	char longhost[300];
	memset(longhost, 'a', sizeof(longhost));
	memcpy(longhost, "https://", 8);
	longhost[sizeof(longhost) - 1] = '\0';
	CHECK_EQ_INT(URL(longhost), -EINVAL);
	/* not NUL-terminated: len bounds it */
	CHECK_EQ_INT(acme_url_parse("https://ca.test/dirXX", 19, &u), 0);
	CHECK_EQ_INT((int)u.path_len, 4);
	/* a NUL inside an IPv6 literal (strchr finds the set's own terminator) */
	static const char nul6[] = "https://[\0::1]/d";
	CHECK_EQ_INT(acme_url_parse(nul6, sizeof(nul6) - 1, &u), -EINVAL);
#undef URL
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

static void test_ari(void)
{
	time_t t = 0, s = 0, e = 0;
	CHECK_EQ_INT(acme_rfc3339_parse("1970-01-01T00:00:00Z", 20, &t), 0);
	CHECK_EQ_INT(t, 0);
	CHECK_EQ_INT(acme_rfc3339_parse("2025-01-02T03:04:05Z", 20, &t), 0);
	CHECK_EQ_INT(t, 1735787045);
	CHECK_EQ_INT(acme_rfc3339_parse("2025-01-02t03:04:05.999z", 24, &t), 0);
	CHECK_EQ_INT(t, 1735787045);
	CHECK_EQ_INT(acme_rfc3339_parse("2025-01-02T04:04:05+01:00", 25, &t), 0);
	CHECK_EQ_INT(t, 1735787045);
	CHECK_EQ_INT(acme_rfc3339_parse("2025-01-01T23:04:05-04:00", 25, &t), 0);
	CHECK_EQ_INT(t, 1735787045);
	CHECK_EQ_INT(acme_rfc3339_parse("2024-02-29T00:00:00Z", 20, &t), 0);
	CHECK_EQ_INT(t, 1709164800);
	static const char *const bad[] = {
	    "2023-02-29T00:00:00Z",  "2025-13-01T00:00:00Z",	 "2025-01-32T00:00:00Z",
	    "2025-01-02T24:00:00Z",  "2025-01-02T03:04:05",	 "2025-01-02 03:04:05Z",
	    "2025-01-02T03:04:05.Z", "2025-01-02T03:04:05+0100", "1969-12-31T23:59:59Z",
	    "2025-01-02T03:04:05Zx", "+025-01-02T03:04:05Z",	 "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(acme_rfc3339_parse(bad[i], strlen(bad[i]), &t), -EINVAL);

	char url[64];
	const char *j = "{\"suggestedWindow\": {\"start\": \"2025-01-02T04:00:00Z\", "
			"\"end\": \"2025-01-03T04:00:00Z\"}, "
			"\"explanationURL\": \"https://ca.test/why\\u0007\"}";
	CHECK_EQ_INT(acme_ari_parse(j, strlen(j), &s, &e, url, sizeof(url)), 0);
	CHECK_EQ_INT(s, 1735790400);
	CHECK_EQ_INT(e, 1735790400 + 86400);
	CHECK_STREQ(url, "https://ca.test/why?");
	j = "{\"suggestedWindow\": {\"start\": \"2025-01-02T04:00:00Z\", "
	    "\"end\": \"2025-01-03T04:00:00Z\"}}";
	CHECK_EQ_INT(acme_ari_parse(j, strlen(j), &s, &e, url, sizeof(url)), 0);
	CHECK_STREQ(url, "");
	static const char *const bad_ari[] = {
	    "{}",
	    "[]",
	    "{\"suggestedWindow\": 1}",
	    "{\"suggestedWindow\": {\"start\": \"2025-01-02T04:00:00Z\"}}",
	    /* end before start, equal, a number, a duplicate key */
	    "{\"suggestedWindow\": {\"start\": \"2025-01-03T04:00:00Z\", \"end\": "
	    "\"2025-01-02T04:00:00Z\"}}",
	    "{\"suggestedWindow\": {\"start\": \"2025-01-03T04:00:00Z\", \"end\": "
	    "\"2025-01-03T04:00:00Z\"}}",
	    "{\"suggestedWindow\": {\"start\": 1, \"end\": 2}}",
	    "{\"suggestedWindow\": {\"start\": \"2025-01-02T04:00:00Z\", \"end\": "
	    "\"2025-01-03T04:00:00Z\", \"end\": \"2025-01-04T04:00:00Z\"}}",
	};
	for (size_t i = 0; i < sizeof(bad_ari) / sizeof(bad_ari[0]); i++)
		CHECK_EQ_INT(
		    acme_ari_parse(bad_ari[i], strlen(bad_ari[i]), &s, &e, url, sizeof(url)),
		    -EINVAL);

	/* RFC 9773 §4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:
	 * DE:01:C8:D4, serial 00:87:65:43:21 */
	static const unsigned char aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40,
					    0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
					    0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
	static const unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
	char id[64];
	CHECK_EQ_INT(acme_ari_cert_id(aki, sizeof(aki), serial, sizeof(serial), id, sizeof(id)), 0);
	CHECK_STREQ(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	CHECK_EQ_INT(acme_ari_cert_id(aki, sizeof(aki), serial, sizeof(serial), id, 35), -ENOSPC);
	CHECK_EQ_INT(acme_ari_cert_id(aki, sizeof(aki), serial, sizeof(serial), id, 36), 0);
	CHECK_EQ_INT(acme_ari_cert_id(aki, 0, serial, sizeof(serial), id, sizeof(id)), -EINVAL);
}

int main(void)
{
	test_token();
	test_retry_after();
	test_problem();
	test_ari();
	test_b64url();
	test_url();
	test_renewal();
	test_jws();
	test_store();
	TEST_MAIN_END();
}
