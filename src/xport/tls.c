/* TLS with GnuTLS: the certificates of a generation's sites (loaded and checked in the main
 * thread), and the transport that runs one server-side session over a socket for proto/.
 *
 * Per process, made once: the priority cache (TLS 1.3 and 1.2, AEAD suites, ECDHE over X25519
 * or P-256: Mozilla's "intermediate" without finite-field DH) and the session-ticket master
 * key, shared by every worker and every generation; GnuTLS derives the key that encrypts
 * tickets from it and changes that key as time passes (lib/stek.c), so tickets stop being
 * readable after a few of its periods. Per generation: one certificate credentials object per
 * site with `tls` lines. Per connection: the session, a read-ahead buffer only while it holds
 * bytes, and the server name.
 *
 * Handshake: the post-ClientHello callback reads the SNI and sets the credentials of the site
 * config_tls_site() names (exact, longest wildcard, `site *`, else the default); GnuTLS then
 * picks the certificate of that site (ECDSA or RSA) that the client's signature algorithms
 * allow. The generation is held until the handshake ends, so that a reload in between cannot
 * free the credentials under it.
 *
 * I/O: GnuTLS reads through tls_pull and writes through tls_push. They find their connection
 * in a thread-local pointer set by every op before it calls GnuTLS (the transport pointer
 * stays the socket's fd, which is what GnuTLS's kTLS code expects). After the handshake,
 * tls_pull reads ahead: one recv of up to a whole record, where GnuTLS asks for the 5-byte
 * header, then the rest; what GnuTLS did not ask for yet waits in a buffer that exists only
 * while it holds bytes. A recv that did not fill the buffer proves the socket drained, which
 * pending() reports to the edge-triggered caller. During the handshake it reads only what
 * GnuTLS asks for: if GnuTLS turns kTLS on at its end, the kernel reads the records after
 * it, which must still be in the socket. */
#include "xport/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/ocsp.h>
#include <gnutls/socket.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "core/server.h"

#define TLS_FILE_MAX (1 << 20)              /* a certificate chain or a key file */
#define TLS_RECORD_MAX 16384                /* plaintext bytes in one record */
#define TLS_READ_AHEAD (5 + 16384 + 256)    /* a whole TLS 1.2/1.3 record, header included */
#define TLS_EXPIRY_WARN_S (14 * 24 * 3600) /* "expires soon" */
#define TLS_NONFATAL_MAX 8 /* warning alerts in a row that one call steps over */
#define TLS_AGAIN_MAX 64   /* records without data (tickets...) that one read steps over */
#define TLS_CA_FILE_MAX (8 << 20) /* a CA bundle (Debian's: ~200 KiB) */
#define TLS_RESUME_MAX 64   /* upstreams whose session a worker keeps, to resume it */
#define TLS_RESUME_DATA_MAX 16384 /* one upstream's resumption data (ticket, secrets, chain) */

/* Mozilla "intermediate" (TLS 1.2 and 1.3, AEAD only, forward secrecy), without its
 * finite-field DH, with the groups X25519 and P-256 and no SHA-1 or SHA-224 signatures. The
 * server's order (as listed) wins: Mozilla lets the client choose when every suite is
 * strong, but scanners (testssl.sh: HIGH) count a missing server order against a site. */
static const char TLS_PRIORITY[] =
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:"
	"+ECDHE-ECDSA:+ECDHE-RSA:+GROUP-X25519:+GROUP-SECP256R1:+SIGN-ALL:-SIGN-RSA-SHA1:"
	"-SIGN-ECDSA-SHA1:-SIGN-RSA-SHA224:-SIGN-ECDSA-SHA224:-SIGN-DSA-SHA1:-SIGN-DSA-SHA224:"
	"-SIGN-DSA-SHA256:-SIGN-DSA-SHA384:-SIGN-DSA-SHA512:+COMP-NULL:+CTYPE-X509:"
	"%SERVER_PRECEDENCE";

/* To upstreams: TLS 1.3 and 1.2 with GnuTLS's own secure defaults (servers vary more than
 * clients do: an upstream with only RSA key exchange or finite-field DH is refused). */
static const char TLS_CLIENT_PRIORITY[] =
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-RSA:-DHE-DSS";

/* ALPN, in the server's order of preference; proto/ reads the result with xport_tls_alpn()
 * (proto/h1.c hands an "h2" connection to proto/h2.c). */
static const gnutls_datum_t alpn_protocols[] = {
	{(unsigned char *)"h2", 2},
	{(unsigned char *)"http/1.1", 8},
	/* RFC 8737: only an ACME CA validating a tls-alpn-01 challenge offers it */
	{(unsigned char *)"acme-tls/1", 10},
};

/* ---- per process --------------------------------------------------------------------- */

static gnutls_priority_t priority;
static gnutls_priority_t client_priority; /* to upstreams: TLS_CLIENT_PRIORITY */
static gnutls_datum_t ticket_key;
static atomic_uint handshakes; /* in progress, in every worker */

/* The priority cache and the ticket key, once, in the main thread (the first load). */
static int tls_global_init(struct buf *err)
{
	if (priority)
		return 0;
	const char *where = NULL;
	int r = gnutls_priority_init2(&priority, TLS_PRIORITY, &where, 0);
	if (r < 0) {
		buf_printf(err, "tls: priority string rejected at '%s': %s\n", where ? where : "?",
			   gnutls_strerror(r));
		priority = NULL;
		return -EINVAL;
	}
	r = gnutls_priority_init2(&client_priority, TLS_CLIENT_PRIORITY, &where, 0);
	if (r < 0) {
		buf_printf(err, "tls: client priority string rejected at '%s': %s\n",
			   where ? where : "?", gnutls_strerror(r));
		client_priority = NULL;
		return -EINVAL;
	}
	r = gnutls_session_ticket_key_generate(&ticket_key);
	if (r < 0) {
		buf_printf(err, "tls: session ticket key: %s\n", gnutls_strerror(r));
		return -EIO;
	}
	return 0;
}

/* ---- certificates -------------------------------------------------------------------- */

/* The CAs https:// upstreams are verified against: the system bundle or an `upstream-ca`
 * file, one credentials object per distinct file. The system bundle (Debian's: 144
 * certificates, ~28 ms to parse) is read with the generation, before the sandbox closes,
 * but parsed only when the first connection needs it, so that a start (socket activation,
 * idle-exit) does not pay for it; an upstream-ca file, small, is parsed at once. */
struct tls_ca {
	char *path; /* CONFIG_SYSTEM_CA or the upstream-ca file */
	gnutls_datum_t pem; /* until parsed */
	pthread_mutex_t lock; /* the parse, by the first worker that needs it */
	_Atomic(gnutls_certificate_credentials_t) cred;
	bool failed; /* the parse failed (under lock) */
};

struct xport_tls_certs {
	gnutls_certificate_credentials_t *site; /* parallel to cfg->sites; NULL: no tls lines */
	size_t n_sites;
	struct tls_ca **cas;
	size_t n_cas;
};

void xport_tls_certs_free(struct xport_tls_certs *certs)
{
	if (!certs)
		return;
	for (size_t i = 0; i < certs->n_sites; i++)
		if (certs->site[i])
			gnutls_certificate_free_credentials(certs->site[i]);
	free(certs->site);
	for (size_t i = 0; i < certs->n_cas; i++) {
		struct tls_ca *ca = certs->cas[i];
		gnutls_certificate_credentials_t cred = atomic_load(&ca->cred);
		if (cred)
			gnutls_certificate_free_credentials(cred);
		free(ca->path);
		free(ca->pem.data);
		pthread_mutex_destroy(&ca->lock);
		free(ca);
	}
	free(certs->cas);
	free(certs);
}

/* The whole file, up to max bytes. 0 or -errno (-EFBIG when larger). */
static int read_file_max(const char *path, size_t max, gnutls_datum_t *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	int e = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR
					  : !S_ISREG(st.st_mode)  ? EINVAL
								  : 0;
	if (e) {
		close(fd);
		return -e;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	unsigned char *p = xmalloc((size_t)st.st_size + 1);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, p + len, (size_t)st.st_size + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			free(p);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > (size_t)st.st_size) { /* grew while we read it */
			free(p);
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	ret->data = p;
	ret->size = (unsigned)len;
	return 0;
}

static int read_file(const char *path, gnutls_datum_t *ret)
{
	return read_file_max(path, TLS_FILE_MAX, ret);
}

static void datum_wipe(gnutls_datum_t *d)
{
	if (d->data) {
		gnutls_memset(d->data, 0, d->size);
		free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

/* What one `tls` line loads, for the checks and for the credentials. */
struct tls_pair {
	gnutls_x509_crt_t *crts;
	unsigned n_crts;
	gnutls_x509_privkey_t key;
};

static void pair_done(struct tls_pair *p)
{
	for (unsigned i = 0; i < p->n_crts; i++)
		gnutls_x509_crt_deinit(p->crts[i]);
	gnutls_free(p->crts);
	if (p->key)
		gnutls_x509_privkey_deinit(p->key);
	memset(p, 0, sizeof(*p));
}

/* Where a message about one `tls` line goes: "file:line:col: tls CERT: ". */
struct tls_where {
	const char *file;
	const struct config_tls *t;
};

static void _printf_(4, 5)
    report(struct buf *b, const struct tls_where *w, unsigned col, const char *fmt, ...)
{
	va_list ap;
	buf_printf(b, "%s:%u:%u: tls %s: ", w->file, w->t->line, col, w->t->cert);
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
	buf_appends(b, "\n");
}

/* The DER of a public key, for comparing the key's with the certificate's. */
static int pubkey_der(gnutls_pubkey_t pk, gnutls_datum_t *ret)
{
	return gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, ret);
}

/* Does the private key belong to the certificate? Their public keys compared: no signature
 * (GnuTLS's own check signs and verifies, ~1.5 ms for RSA-2048 at every start). */
static bool key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	gnutls_pubkey_t a = NULL, b = NULL;
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t da = {0}, db = {0};
	bool same = false;
	if (gnutls_pubkey_init(&a) < 0 || gnutls_pubkey_init(&b) < 0 ||
	    gnutls_privkey_init(&pk) < 0)
		goto out;
	if (gnutls_pubkey_import_x509(a, crt, 0) < 0 ||
	    gnutls_privkey_import_x509(pk, key, 0) < 0 ||
	    gnutls_pubkey_import_privkey(b, pk, 0, 0) < 0)
		goto out;
	if (pubkey_der(a, &da) < 0 || pubkey_der(b, &db) < 0)
		goto out;
	same = da.size == db.size && memcmp(da.data, db.data, da.size) == 0;
out:
	gnutls_free(da.data);
	gnutls_free(db.data);
	if (pk)
		gnutls_privkey_deinit(pk); /* does not free key: imported without the flag */
	if (a)
		gnutls_pubkey_deinit(a);
	if (b)
		gnutls_pubkey_deinit(b);
	return same;
}

static const char *utc(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, 32, "%lld", (long long)t);
	return out;
}

/* Does the certificate cover this site name? A wildcard site name needs a wildcard
 * certificate name for the same domain (or one covering it); an [IPv6] name the address. */
static bool covers(gnutls_x509_crt_t crt, const char *name)
{
	char host[256];
	size_t n = strlen(name);
	if (n >= sizeof(host))
		return false;
	if (name[0] == '[' && n > 2) {
		memcpy(host, name + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, name, n + 1);
	}
	/* gnutls matches a '*' in the certificate against one label: "*.example.com" in a
	 * certificate covers the site name "*.example.com" taken literally, and nothing else
	 * does (a name like "x.example.com" would not cover the wildcard site). */
	return gnutls_x509_crt_check_hostname2(crt, host, 0) != 0;
}

/* Load one `tls` line: parse both files, match them; on success the pair holds the chain
 * and the key. The time and name checks come after (check_pair). */
static int load_pair(const struct tls_where *w, struct tls_pair *pair, struct buf *err)
{
	const struct config_tls *t = w->t;
	gnutls_datum_t cert = {0}, key = {0};
	int r = read_file(t->cert, &cert);
	if (r < 0) {
		report(err, w, t->cert_col, "%s", strerror(-r));
		return r;
	}
	r = read_file(t->key, &key);
	if (r < 0) {
		report(err, w, t->key_col, "key %s: %s", t->key, strerror(-r));
		datum_wipe(&cert);
		return r;
	}
	r = gnutls_x509_crt_list_import2(&pair->crts, &pair->n_crts, &cert, GNUTLS_X509_FMT_PEM,
					 0);
	if (r < 0 || pair->n_crts == 0) {
		report(err, w, t->cert_col, "no PEM certificate in it (%s)",
		       r < 0 ? gnutls_strerror(r) : "empty");
		r = -EINVAL;
		goto out;
	}
	if (gnutls_x509_privkey_init(&pair->key) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = gnutls_x509_privkey_import2(pair->key, &key, GNUTLS_X509_FMT_PEM, NULL,
					GNUTLS_PKCS_PLAIN);
	if (r < 0) {
		report(err, w, t->key_col,
		       "key %s: not a private key ferry can use (PEM, unencrypted PKCS#8, PKCS#1 "
		       "or SEC1): %s", t->key, gnutls_strerror(r));
		r = -EINVAL;
		goto out;
	}
	if (!key_matches(pair->crts[0], pair->key)) {
		report(err, w, t->key_col, "the key in %s does not match this certificate", t->key);
		r = -EINVAL;
		goto out;
	}
	r = 0;
out:
	datum_wipe(&cert);
	datum_wipe(&key);
	if (r < 0)
		pair_done(pair);
	return r;
}

/* Validity in time and names: errors when strict, else warnings; expiry soon: a warning. */
static int check_pair(const struct tls_where *w, const struct config_site *site,
		      const struct tls_pair *pair, bool strict, struct buf *err, struct buf *warn)
{
	struct buf *bad = strict ? err : warn;
	gnutls_x509_crt_t leaf = pair->crts[0];
	unsigned col = w->t->cert_col;
	char when[32];
	int r = 0;
	time_t now = time(NULL);
	time_t end = gnutls_x509_crt_get_expiration_time(leaf);
	time_t start = gnutls_x509_crt_get_activation_time(leaf);
	if (end != (time_t)-1 && end <= now) {
		report(bad, w, col, "expired on %s", utc(end, when));
		r = -EINVAL;
	} else if (start != (time_t)-1 && start > now) {
		report(bad, w, col, "not valid before %s", utc(start, when));
		r = -EINVAL;
	} else if (end != (time_t)-1 && end - now < TLS_EXPIRY_WARN_S) {
		report(warn, w, col, "expires on %s, in less than 14 days", utc(end, when));
	}
	for (size_t i = 0; i < site->n_names; i++) {
		const char *name = site->names[i];
		if (strcmp(name, "*") == 0 || covers(leaf, name))
			continue;
		report(bad, w, col, "does not cover the site name %s", name);
		r = -EINVAL;
	}
	return strict ? r : 0;
}

/* `ocsp FILE`: a DER OCSP response for the certificate at index idx of cred, stapled to the
 * handshakes that use it. A response that does not parse, is not "good", is out of date or
 * is for another certificate: an error when strict, else a warning and nothing stapled. */
static int load_ocsp(const struct tls_where *w, gnutls_certificate_credentials_t cred,
		     unsigned idx, bool strict, struct buf *err, struct buf *warn)
{
	const struct config_tls *t = w->t;
	struct buf *bad = strict ? err : warn;
	gnutls_datum_t der = {0};
	gnutls_ocsp_resp_t resp = NULL;
	char when[32];
	int r = read_file(t->ocsp, &der);
	if (r < 0) {
		report(bad, w, t->ocsp_col, "ocsp %s: %s", t->ocsp, strerror(-r));
		goto out;
	}
	unsigned status = 0;
	time_t next = 0;
	if (gnutls_ocsp_resp_init(&resp) < 0 || gnutls_ocsp_resp_import(resp, &der) < 0 ||
	    gnutls_ocsp_resp_get_status(resp) != GNUTLS_OCSP_RESP_SUCCESSFUL ||
	    gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL, NULL, &status, NULL, &next,
					NULL, NULL) < 0) {
		report(bad, w, t->ocsp_col, "ocsp %s: not a successful OCSP response (DER)",
		       t->ocsp);
		r = -EINVAL;
		goto out;
	}
	if (status != GNUTLS_OCSP_CERT_GOOD) {
		report(bad, w, t->ocsp_col, "ocsp %s: the certificate's status is %s", t->ocsp,
		       status == GNUTLS_OCSP_CERT_REVOKED ? "revoked" : "unknown");
		r = -EINVAL;
		goto out;
	}
	if (next != (time_t)-1 && next != 0 && next <= time(NULL)) {
		report(bad, w, t->ocsp_col, "ocsp %s: out of date since %s", t->ocsp,
		       utc(next, when));
		r = -EINVAL;
		goto out;
	}
	r = gnutls_certificate_set_ocsp_status_request_mem(cred, &der, idx, GNUTLS_X509_FMT_DER);
	if (r < 0) {
		report(bad, w, t->ocsp_col, "ocsp %s: %s", t->ocsp,
		       r == GNUTLS_E_OCSP_MISMATCH_WITH_CERTS ? "the response is for another "
								"certificate"
							      : gnutls_strerror(r));
		r = -EINVAL;
	}
out:
	if (resp)
		gnutls_ocsp_resp_deinit(resp);
	free(der.data);
	return strict ? r : 0;
}

/* ---- the CAs of https:// upstreams ---------------------------------------------------- */

static bool proxy_has_https(const struct config_proxy *px)
{
	for (size_t i = 0; i < px->n_ups; i++)
		if (px->ups[i].tls)
			return true;
	return false;
}

static bool has_https_upstream(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (proxy_has_https(&s->proxy))
			return true;
		for (size_t j = 0; j < s->n_paths; j++)
			if (proxy_has_https(&s->paths[j].proxy))
				return true;
	}
	return false;
}

/* The credentials of CA certificates in PEM: the number of certificates (0: none), or a
 * GnuTLS error. */
static int ca_parse(const gnutls_datum_t *pem, gnutls_certificate_credentials_t *ret)
{
	gnutls_certificate_credentials_t cred;
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return GNUTLS_E_MEMORY_ERROR;
	int n = gnutls_certificate_set_x509_trust_mem(cred, pem, GNUTLS_X509_FMT_PEM);
	if (n <= 0) {
		gnutls_certificate_free_credentials(cred);
		return n;
	}
	*ret = cred;
	return n;
}

/* The CA's credentials, parsed now if they were not yet; NULL if they cannot be. */
static gnutls_certificate_credentials_t ca_cred(struct tls_ca *ca)
{
	gnutls_certificate_credentials_t cred = atomic_load_explicit(&ca->cred,
								     memory_order_acquire);
	if (cred)
		return cred;
	pthread_mutex_lock(&ca->lock);
	cred = atomic_load_explicit(&ca->cred, memory_order_relaxed);
	if (!cred && !ca->failed) {
		if (ca_parse(&ca->pem, &cred) > 0)
			atomic_store_explicit(&ca->cred, cred, memory_order_release);
		else
			ca->failed = true;
		free(ca->pem.data);
		ca->pem.data = NULL;
		ca->pem.size = 0;
	}
	pthread_mutex_unlock(&ca->lock);
	return cred;
}

/* The credentials of one proxy block's CA file, loaded once per generation whatever the
 * number of blocks that name it. strict (`ferry check`): the system bundle parsed too. */
static int load_ca(const struct config *cfg, const struct config_proxy *px, bool strict,
		   struct xport_tls_certs *certs, struct buf *err)
{
	if (!proxy_has_https(px))
		return 0;
	const char *path = px->upstream_ca ? px->upstream_ca : CONFIG_SYSTEM_CA;
	for (size_t i = 0; i < certs->n_cas; i++)
		if (strcmp(certs->cas[i]->path, path) == 0)
			return 0;
	const char *file = px->upstream_ca ? (px->ca_file ? px->ca_file : cfg->path) : cfg->path;
	char where[PATH_MAX + 64];
	if (px->upstream_ca)
		snprintf(where, sizeof(where), "%s:%u:%u: upstream-ca %s", file ? file : "config",
			 px->ca_line, px->ca_col, path);
	else
		snprintf(where, sizeof(where), "%s:%u: proxy https://: the system CA bundle %s",
			 file ? file : "config", px->line, path);
	gnutls_datum_t pem = {0};
	int r = read_file_max(path, TLS_CA_FILE_MAX, &pem);
	if (r < 0) {
		buf_printf(err, "%s: %s%s\n", where, strerror(-r),
			   px->upstream_ca ? "" : " (name the CAs with 'upstream-ca FILE')");
		return r;
	}
	struct tls_ca *ca = xcalloc(1, sizeof(*ca));
	pthread_mutex_init(&ca->lock, NULL);
	ca->path = xstrdup(path);
	certs->cas = xrealloc(certs->cas, (certs->n_cas + 1) * sizeof(*certs->cas));
	certs->cas[certs->n_cas++] = ca;
	if (!strict && !px->upstream_ca &&
	    memmem(pem.data, pem.size, "-----BEGIN CERTIFICATE-----", 27)) {
		ca->pem = pem; /* parsed by the first connection that needs it */
		return 0;
	}
	gnutls_certificate_credentials_t cred = NULL;
	int n = ca_parse(&pem, &cred);
	free(pem.data);
	if (n <= 0) {
		buf_printf(err, "%s: no PEM certificate in it (%s)\n", where,
			   n < 0 ? gnutls_strerror(n) : "none");
		return -EINVAL;
	}
	atomic_store(&ca->cred, cred);
	return 0;
}

static int load_cas(const struct config *cfg, bool strict, struct xport_tls_certs *certs,
		    struct buf *err)
{
	int r = 0;
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		int q = load_ca(cfg, &s->proxy, strict, certs, err);
		for (size_t j = 0; j < s->n_paths; j++) {
			int k = load_ca(cfg, &s->paths[j].proxy, strict, certs, err);
			q = q < 0 ? q : k;
		}
		if (q < 0 && r == 0)
			r = q;
	}
	return r;
}

int xport_tls_certs_load(const struct config *cfg, bool strict, struct buf *err,
			 struct buf *warn, struct xport_tls_certs **ret)
{
	if (ret)
		*ret = NULL;
	if (!cfg->tls_default && !has_https_upstream(cfg))
		return 0;
	int r = tls_global_init(err);
	if (r < 0)
		return r;
	struct xport_tls_certs *certs = xcalloc(1, sizeof(*certs));
	certs->n_sites = cfg->n_sites;
	certs->site = xcalloc(cfg->n_sites ? cfg->n_sites : 1, sizeof(*certs->site));
	const char *main_file = cfg->path ? cfg->path : "config";
	r = load_cas(cfg, strict, certs, err);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *site = &cfg->sites[i];
		size_t loaded = 0;
		if (site->n_tls == 0)
			continue;
		if (gnutls_certificate_allocate_credentials(&certs->site[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		/* Matched by key_matches, without GnuTLS's sign-and-verify; set_x509_key returns
		 * the pair's index (for its OCSP response). */
		gnutls_certificate_set_flags(certs->site[i], GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH |
								 GNUTLS_CERTIFICATE_API_V2);
		for (size_t j = 0; j < site->n_tls; j++) {
			const struct config_tls *t = &site->tls[j];
			struct tls_where w = {t->file ? t->file : main_file, t};
			struct tls_pair pair = {0};
			if (t->acme && access(t->cert, F_OK) < 0 && errno == ENOENT) {
				/* not obtained yet: the site gets no credentials (below), so its
				 * handshakes fail rather than show a certificate no client trusts */
				buf_printf(warn, "%s:%u:%u: tls acme: site %s has no certificate yet "
					   "(%s): its TLS handshakes fail until `ferry acme` gets one\n",
					   w.file, t->line, t->cert_col, site->names[0], t->cert);
				continue;
			}
			int q = load_pair(&w, &pair, err);
			if (q == 0)
				q = check_pair(&w, site, &pair, strict, err, warn);
			if (q == 0) {
				q = gnutls_certificate_set_x509_key(certs->site[i], pair.crts,
								    pair.n_crts, pair.key);
				if (q < 0) {
					report(err, &w, w.t->cert_col, "%s", gnutls_strerror(q));
					q = -EINVAL;
				} else if (w.t->ocsp) {
					q = load_ocsp(&w, certs->site[i], (unsigned)q, strict, err,
						      warn);
				} else {
					q = 0;
				}
			}
			pair_done(&pair);
			/* the first failure's code; a missing file says more than a bad one */
			if (q < 0 && (r == 0 || (r == -EINVAL && q != -EINVAL)))
				r = q;
			if (q == 0)
				loaded++;
		}
		if (!loaded) { /* `tls acme` without its certificate yet */
			gnutls_certificate_free_credentials(certs->site[i]);
			certs->site[i] = NULL;
		}
	}
	if (r < 0 || !ret) {
		xport_tls_certs_free(certs);
		return r;
	}
	*ret = certs;
	return 0;
}

/* ---- the transport ------------------------------------------------------------------- */

struct tls_conn {
	struct xport x; /* first: the ops see a struct xport */
	gnutls_session_t s;
	struct server_gen *gen; /* held until the handshake is over */
	bool counted;           /* in `handshakes` */
	bool drained;           /* the last recv found the socket empty */
	bool more;              /* this write: more bytes follow at once (MSG_MORE) */
	bool send_pending;      /* GnuTLS holds a record a write took but could not send */
	bool read_ahead;        /* after the handshake, without kTLS receiving */
	char *ra;               /* read ahead, not yet asked for by GnuTLS (NULL: none) */
	size_t ra_off, ra_len;
	char *server_name;      /* SNI, NUL-terminated (NULL: none) */
	size_t server_name_len;
	gnutls_certificate_credentials_t acme_cred; /* a tls-alpn-01 answer (NULL: none) */
	const struct xport_tls_certs *certs; /* gen->tls, during the handshake */
	/* client (to an upstream) */
	bool client;
	bool resume_saved;      /* this connection's resumption data is in the cache */
	struct server_gen *hold; /* the generation of the CA credentials, for the session's life */
	char *resume_key;       /* the cache entry it resumes from and saves to */
	char *err;              /* why the handshake failed (NULL: see gnutls_strerror) */
};

/* The connection whose GnuTLS call runs on this thread (set by every op, read by the
 * transport callbacks, which get only the fd from GnuTLS). */
static _Thread_local struct tls_conn *cur;
/* Where a recv reads ahead into before what GnuTLS did not ask for is kept. */
static _Thread_local char ra_scratch[TLS_READ_AHEAD];

static struct tls_conn *tls_of(const struct xport *x)
{
	return (struct tls_conn *)x;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls_conn *t = cur;
	if (t->ra_len > 0) {
		size_t n = MIN(len, t->ra_len);
		memcpy(buf, t->ra + t->ra_off, n);
		t->ra_off += n;
		t->ra_len -= n;
		if (t->ra_len == 0) {
			free(t->ra);
			t->ra = NULL;
			t->ra_off = 0;
		}
		return (ssize_t)n;
	}
	bool direct = !t->read_ahead || len >= sizeof(ra_scratch);
	char *into = direct ? buf : ra_scratch;
	size_t want = direct ? len : sizeof(ra_scratch);
	ssize_t n;
	do
		n = recv(t->x.fd, into, want, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		t->drained = true;
		gnutls_transport_set_errno(t->s, errno);
		return -1;
	}
	t->drained = (size_t)n < want;
	if (direct || n == 0)
		return n;
	size_t give = MIN((size_t)n, len);
	memcpy(buf, ra_scratch, give);
	if ((size_t)n > give) {
		t->ra_len = (size_t)n - give;
		t->ra = xmalloc(t->ra_len);
		memcpy(t->ra, ra_scratch + give, t->ra_len);
	}
	return (ssize_t)give;
}

/* GnuTLS waits with this only in blocking mode or with a handshake timeout, neither of which
 * is used: say "readable", so that a pull finds out (EAGAIN) instead of anything blocking. */
static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	return 1;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	struct tls_conn *t = cur;
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n;
	do
		n = sendmsg(t->x.fd, &m, MSG_NOSIGNAL | (t->more ? MSG_MORE : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		gnutls_transport_set_errno(t->s, errno);
	return n;
}

static unsigned want_of(gnutls_session_t s)
{
	return gnutls_record_get_direction(s) ? XPORT_WANT_WRITE : XPORT_WANT_READ;
}

/* tls-alpn-01 (RFC 8737): a CA asking with ALPN "acme-tls/1" for a `tls acme` site gets the
 * self-signed certificate `ferry acme` left in ACME_DIR/challenges/alpn-NAME.pem (key and
 * certificate, with the acmeIdentifier extension), if there is one; else the handshake
 * fails. */
static int acme_alpn(struct tls_conn *t, const struct config *cfg,
		     const struct config_site *site, const char *name, size_t len)
{
	char path[PATH_MAX];
	if (!site || !site->acme || len == 0 || memchr(name, '/', len) || name[0] == '.' ||
	    snprintf(path, sizeof(path), "%s/challenges/alpn-%.*s.pem", cfg->acme_dir, (int)len,
		     name) >= (int)sizeof(path))
		return GNUTLS_E_NO_CERTIFICATE_FOUND;
	gnutls_datum_t pem = {0};
	if (read_file(path, &pem) < 0)
		return GNUTLS_E_NO_CERTIFICATE_FOUND;
	int r = GNUTLS_E_NO_CERTIFICATE_FOUND;
	if (!t->acme_cred && gnutls_certificate_allocate_credentials(&t->acme_cred) < 0)
		t->acme_cred = NULL;
	else if (gnutls_certificate_set_x509_key_mem(t->acme_cred, &pem, &pem,
						     GNUTLS_X509_FMT_PEM) >= 0)
		r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, t->acme_cred);
	datum_wipe(&pem);
	return r;
}

static bool alpn_is_acme(gnutls_session_t s)
{
	gnutls_datum_t p;
	return gnutls_alpn_get_selected_protocol(s, &p) == 0 && p.size == 10 &&
	       memcmp(p.data, "acme-tls/1", 10) == 0;
}

/* SNI -> the site's credentials, before GnuTLS chooses a suite and a certificate. */
static int on_client_hello(gnutls_session_t s)
{
	struct tls_conn *t = gnutls_session_get_ptr(s);
	const struct config *cfg = t->gen->cfg;
	char name[256];
	size_t len = sizeof(name);
	unsigned type;
	if (gnutls_server_name_get(s, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS ||
	    len >= sizeof(name))
		len = 0;
	if (alpn_is_acme(s))
		return acme_alpn(t, cfg, config_match_site(cfg, name, len), name, len);
	const struct config_site *site = config_tls_site(cfg, name, len);
	if (!site)
		return GNUTLS_E_INTERNAL_ERROR; /* no certificates: refused by xport_tls_new */
	gnutls_certificate_credentials_t cred = t->certs->site[site - cfg->sites];
	if (!cred)
		return GNUTLS_E_NO_CERTIFICATE_FOUND; /* `tls acme`, nothing obtained yet */
	int r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (r < 0)
		return r;
	free(t->server_name); /* a second ClientHello (after a HelloRetryRequest) */
	t->server_name = NULL;
	t->server_name_len = 0;
	if (len > 0) {
		t->server_name = xmalloc(len + 1);
		memcpy(t->server_name, name, len);
		t->server_name[len] = '\0';
		t->server_name_len = len;
	}
	return 0;
}

/* The handshake is over, or the connection is: no more claim on the generation. */
static void handshake_done(struct tls_conn *t)
{
	if (t->counted)
		atomic_fetch_sub_explicit(&handshakes, 1, memory_order_relaxed);
	t->counted = false;
	if (t->gen)
		server_gen_free(t->gen);
	t->gen = NULL;
	t->certs = NULL;
}

static const struct xport_ops xport_tls_ops;
static const struct xport_ops xport_ktls_ops;
static void client_failed(struct tls_conn *t, int r);
static void resume_save(struct tls_conn *t);

static int tls_handshake(struct xport *x)
{
	struct tls_conn *t = tls_of(x);
	cur = t;
	int r, n = 0;
	do
		r = gnutls_handshake(t->s);
	while (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(r) &&
	       ++n < TLS_NONFATAL_MAX);
	if (r == GNUTLS_E_AGAIN) {
		x->want = want_of(t->s);
		return -EAGAIN;
	}
	if (r < 0) {
		if (t->client) {
			client_failed(t, r);
			return -EPROTO;
		}
		/* Tell the client why (protocol_version, handshake_failure...), if the socket
		 * takes it now: the caller closes next. */
		gnutls_alert_send_appropriate(t->s, r);
		return -EPROTO;
	}
	handshake_done(t);
	if (t->client)
		resume_save(t);
	/* kTLS (when GnuTLS's configuration turns it on and the kernel has it): the kernel
	 * encrypts, so files can go out with sendfile; and decrypts, reading the socket itself. */
	unsigned ktls = gnutls_transport_is_ktls_enabled(t->s);
	if (ktls & GNUTLS_KTLS_SEND)
		x->ops = &xport_ktls_ops;
	t->read_ahead = !(ktls & GNUTLS_KTLS_RECV);
	return 1;
}

static ssize_t tls_read(struct xport *x, void *buf, size_t len)
{
	struct tls_conn *t = tls_of(x);
	cur = t;
	ssize_t r;
	int n = 0;
	/* GnuTLS also says AGAIN after a record that carried no data (a TLS 1.3 ticket or key
	 * update) without asking the socket: while bytes wait (read ahead, or a socket not
	 * known to be drained), ask again, or an edge-triggered caller would wait for nothing. */
	int again = 0;
	for (;;) {
		r = gnutls_record_recv(t->s, buf, len);
		if (r == GNUTLS_E_AGAIN && (t->ra_len > 0 || !t->drained) &&
		    gnutls_record_get_direction(t->s) == 0 && ++again < TLS_AGAIN_MAX)
			continue;
		if (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal((int)r) &&
		    r != GNUTLS_E_REHANDSHAKE && ++n < TLS_NONFATAL_MAX)
			continue;
		break;
	}
	/* TLS 1.3: the server's tickets come after the handshake, among the records. */
	if (t->client && !t->resume_saved)
		resume_save(t);
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN) {
		x->want = want_of(t->s);
		return -EAGAIN;
	}
	/* A peer that closes without close_notify ends the stream like one that sends it: for
	 * HTTP/1.1 the framing says whether anything was cut. */
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	/* Renegotiation (TLS 1.2) is not offered: a client asking for it is closed. */
	return -EPROTO;
}

/* Up to TLS_RECORD_MAX bytes from iov starting at (*i, *off), contiguous: straight from the
 * iovec when its piece is long enough or the last, else gathered into scratch. */
static const char *next_piece(const struct iovec *iov, int iovcnt, int i, size_t off,
			      char *scratch, size_t *ret_len)
{
	size_t here = iov[i].iov_len - off;
	if (here >= TLS_RECORD_MAX || i == iovcnt - 1) {
		*ret_len = MIN(here, (size_t)TLS_RECORD_MAX);
		return (const char *)iov[i].iov_base + off;
	}
	size_t n = 0;
	for (; i < iovcnt && n < TLS_RECORD_MAX; i++, off = 0) {
		size_t k = MIN(iov[i].iov_len - off, (size_t)TLS_RECORD_MAX - n);
		memcpy(scratch + n, (const char *)iov[i].iov_base + off, k);
		n += k;
	}
	*ret_len = n;
	return scratch;
}

static _Thread_local char wr_scratch[TLS_RECORD_MAX];

/* Record by record. A record GnuTLS took but could not send (EAGAIN) is finished first on
 * the next call and its bytes reported then: the caller offers them again (tls.h). */
static ssize_t tls_writev(struct xport *x, const struct iovec *iov, int iovcnt, bool more)
{
	struct tls_conn *t = tls_of(x);
	cur = t;
	t->more = more;
	size_t total = 0;
	for (int k = 0; k < iovcnt; k++)
		total += iov[k].iov_len;
	ssize_t r;
	if (t->send_pending) {
		do
			r = gnutls_record_send(t->s, NULL, 0);
		while (r == GNUTLS_E_INTERRUPTED);
		if (r == GNUTLS_E_AGAIN) {
			x->want = want_of(t->s);
			return -EAGAIN;
		}
		if (r < 0)
			return -EPIPE;
		t->send_pending = false;
		return (ssize_t)MIN((size_t)r, total);
	}
	size_t taken = 0, off = 0;
	int i = 0;
	while (taken < total) {
		while (off == iov[i].iov_len) {
			i++;
			off = 0;
		}
		size_t n;
		const char *p = next_piece(iov, iovcnt, i, off, wr_scratch, &n);
		do
			r = gnutls_record_send(t->s, p, n);
		while (r == GNUTLS_E_INTERRUPTED);
		if (r == GNUTLS_E_AGAIN) {
			t->send_pending = true;
			if (taken > 0)
				return (ssize_t)taken;
			x->want = want_of(t->s);
			return -EAGAIN;
		}
		if (r <= 0)
			return taken > 0 ? (ssize_t)taken : -EPIPE;
		taken += (size_t)r;
		/* step over what this record carried */
		for (size_t left = (size_t)r; left > 0;) {
			size_t k = MIN(left, iov[i].iov_len - off);
			left -= k;
			off += k;
			if (off == iov[i].iov_len && left > 0) {
				i++;
				off = 0;
			}
		}
	}
	return (ssize_t)taken;
}

/* kTLS only: the kernel encrypts what sendfile moves. */
static ssize_t tls_sendfile(struct xport *x, int file_fd, off_t *off, size_t len)
{
	struct tls_conn *t = tls_of(x);
	cur = t;
	ssize_t r;
	do
		r = gnutls_record_send_file(t->s, file_fd, off, len);
	while (r == GNUTLS_E_INTERRUPTED);
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_AGAIN) {
		x->want = XPORT_WANT_WRITE;
		return -EAGAIN;
	}
	return -EIO;
}

static bool tls_pending(const struct xport *x)
{
	const struct tls_conn *t = tls_of(x);
	return t->ra_len > 0 || !t->drained || gnutls_record_check_pending(t->s) > 0;
}

/* close_notify, then FIN. When the alert cannot go out now, no FIN either (it would cut the
 * record): the linger that follows ends with the close. */
static int tls_shutdown(struct xport *x)
{
	struct tls_conn *t = tls_of(x);
	cur = t;
	t->more = false;
	int r;
	do
		r = gnutls_bye(t->s, GNUTLS_SHUT_WR);
	while (r == GNUTLS_E_INTERRUPTED);
	if (r == GNUTLS_E_AGAIN)
		return -EAGAIN;
	return shutdown(x->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void tls_close(struct xport *x)
{
	struct tls_conn *t = tls_of(x);
	handshake_done(t);
	if (t->hold)
		server_gen_free(t->hold);
	free(t->resume_key);
	free(t->err);
	if (t->s)
		gnutls_deinit(t->s);
	if (x->fd >= 0)
		close(x->fd);
	free(t->ra);
	free(t->server_name);
	if (t->acme_cred)
		gnutls_certificate_free_credentials(t->acme_cred);
	free(t);
}

static const struct xport_ops xport_tls_ops = {
	.name = "tls",
	.crossed = true,
	.handshake = tls_handshake,
	.read = tls_read,
	.writev = tls_writev,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

static const struct xport_ops xport_ktls_ops = {
	.name = "ktls",
	.crossed = true,
	.handshake = tls_handshake,
	.read = tls_read,
	.writev = tls_writev,
	.sendfile = tls_sendfile,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

int xport_tls_new(struct server_gen *g, int fd, const void *pre, size_t pre_len,
		  struct xport **ret)
{
	const struct xport_tls_certs *certs = g->tls;
	const struct config_site *def = g->cfg->tls_default;
	if (!certs || !def)
		return -ENOENT;
	if (atomic_fetch_add_explicit(&handshakes, 1, memory_order_relaxed) >=
	    g->cfg->max_tls_handshakes) {
		atomic_fetch_sub_explicit(&handshakes, 1, memory_order_relaxed);
		return -EBUSY;
	}
	struct tls_conn *t = xcalloc(1, sizeof(*t));
	t->x.ops = &xport_tls_ops;
	t->x.fd = fd;
	t->counted = true;
	t->certs = certs;
	server_gen_hold(g);
	t->gen = g;
	int r = gnutls_init(&t->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->s = NULL;
		handshake_done(t);
		free(t);
		return -ENOMEM;
	}
	gnutls_session_set_ptr(t->s, t);
	gnutls_certificate_credentials_t def_cred = certs->site[def - g->cfg->sites];
	if (gnutls_priority_set(t->s, priority) < 0 ||
	    (def_cred && gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, def_cred) < 0) ||
	    gnutls_session_ticket_enable_server(t->s, &ticket_key) < 0 ||
	    gnutls_alpn_set_protocols(t->s, alpn_protocols, ARRAY_SIZE(alpn_protocols),
				      GNUTLS_ALPN_SERVER_PRECEDENCE) < 0) {
		t->x.fd = -1; /* still the caller's */
		tls_close(&t->x);
		return -ENOMEM;
	}
	gnutls_handshake_set_post_client_hello_function(t->s, on_client_hello);
	gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_IGNORE);
	gnutls_handshake_set_timeout(t->s, 0); /* the caller's header timeout bounds it */
	gnutls_transport_set_int(t->s, fd);
	gnutls_transport_set_pull_function(t->s, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->s, tls_pull_timeout);
	gnutls_transport_set_vec_push_function(t->s, tls_push);
	if (pre_len > 0) {
		t->ra = xmalloc(pre_len);
		memcpy(t->ra, pre, pre_len);
		t->ra_len = pre_len;
	}
	*ret = &t->x;
	return 0;
}

gnutls_certificate_credentials_t xport_tls_site_credentials(const struct server_gen *g,
							    const char *name, size_t len)
{
	const struct config_site *site = config_tls_site(g->cfg, name, len);
	if (!g->tls || !site)
		return NULL;
	return g->tls->site[site - g->cfg->sites];
}

bool xport_is_tls(const struct xport *x)
{
	return x->ops == &xport_tls_ops || x->ops == &xport_ktls_ops;
}

const char *xport_tls_server_name(const struct xport *x, size_t *ret_len)
{
	const struct tls_conn *t = tls_of(x);
	*ret_len = t->server_name_len;
	return t->server_name;
}

const char *xport_tls_alpn(const struct xport *x, size_t *ret_len)
{
	const struct tls_conn *t = tls_of(x);
	gnutls_datum_t p;
	if (gnutls_alpn_get_selected_protocol(t->s, &p) < 0) {
		*ret_len = 0;
		return NULL;
	}
	*ret_len = p.size;
	return (const char *)p.data;
}

/* ---- the client: TLS to an upstream ------------------------------------------------------
 *
 * The same transport, the other way round: the upstream's certificate is verified during the
 * handshake (gnutls_session_set_verify_cert: the chain against the generation's CA
 * credentials, then the name, or the address for an IP literal, which gets no SNI), ALPN
 * offers http/1.1 only, and the session is resumed from what the last connection to the same
 * upstream saved. The resumption cache is per worker (thread-local, no lock): one entry per
 * upstream, at most TLS_RESUME_MAX, the least recently used dropped first. */

struct resume_entry {
	char *key; /* NULL: free slot */
	gnutls_datum_t data;
	uint64_t used;
};

static _Thread_local struct resume_entry resume_cache[TLS_RESUME_MAX];
static _Thread_local uint64_t resume_clock;

static void resume_entry_clear(struct resume_entry *e)
{
	free(e->key);
	datum_wipe(&e->data);
	e->key = NULL;
	e->used = 0;
}

static struct resume_entry *resume_find(const char *key)
{
	for (size_t i = 0; i < TLS_RESUME_MAX; i++)
		if (resume_cache[i].key && strcmp(resume_cache[i].key, key) == 0)
			return &resume_cache[i];
	return NULL;
}

/* Keep this connection's resumption data for the next connection to the same upstream, once
 * there is some worth keeping (TLS 1.3: after the server's NewSessionTicket). */
static void resume_save(struct tls_conn *t)
{
	if (t->resume_saved || !t->resume_key)
		return;
	const gnutls_protocol_t v = gnutls_protocol_get_version(t->s);
	if (v == GNUTLS_TLS1_3 && !(gnutls_session_get_flags(t->s) & GNUTLS_SFLAGS_SESSION_TICKET))
		return; /* no ticket yet: get_data2 would try to read one */
	gnutls_datum_t d = {0};
	if (gnutls_session_get_data2(t->s, &d) < 0)
		return;
	t->resume_saved = true;
	if (d.size == 0 || d.size > TLS_RESUME_DATA_MAX) {
		gnutls_free(d.data);
		return;
	}
	struct resume_entry *e = resume_find(t->resume_key);
	if (!e) {
		e = &resume_cache[0];
		for (size_t i = 0; i < TLS_RESUME_MAX; i++) {
			if (!resume_cache[i].key) {
				e = &resume_cache[i];
				break;
			}
			if (resume_cache[i].used < e->used)
				e = &resume_cache[i];
		}
		resume_entry_clear(e);
		e->key = xstrdup(t->resume_key);
	}
	datum_wipe(&e->data);
	e->data.data = xmalloc(d.size);
	memcpy(e->data.data, d.data, d.size);
	e->data.size = d.size;
	e->used = ++resume_clock;
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
}

void xport_tls_client_forget(void)
{
	for (size_t i = 0; i < TLS_RESUME_MAX; i++)
		resume_entry_clear(&resume_cache[i]);
}

/* Why the handshake failed, in words: the verification's verdict when that is what failed. */
static void client_failed(struct tls_conn *t, int r)
{
	free(t->err);
	t->err = NULL;
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		unsigned status = gnutls_session_get_verify_cert_status(t->s);
		gnutls_datum_t out = {0};
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
								 0) == 0) {
			t->err = xmalloc(out.size + 1);
			memcpy(t->err, out.data, out.size);
			t->err[out.size] = '\0';
			gnutls_free(out.data);
			return;
		}
	}
	t->err = xstrdup(gnutls_strerror(r));
}

static const gnutls_datum_t alpn_client[] = {{(unsigned char *)"http/1.1", 8}};

/* The client side over fd with cred; g (NULL: none) held for the session's life. */
static int client_new(struct server_gen *g, gnutls_certificate_credentials_t cred, int fd,
		      const char *name, const char *resume_key, struct xport **ret)
{
	if (!client_priority)
		return -EINVAL; /* xport_tls_client_init() was not called */
	struct tls_conn *t = xcalloc(1, sizeof(*t));
	t->x.ops = &xport_tls_ops;
	t->x.fd = fd;
	t->client = true;
	t->read_ahead = false;
	int r = gnutls_init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		free(t);
		return -ENOMEM;
	}
	if (g)
		server_gen_hold(g);
	t->hold = g;
	gnutls_session_set_ptr(t->s, t);
	struct in6_addr ip;
	bool literal = inet_pton(AF_INET, name, &ip) == 1 || inet_pton(AF_INET6, name, &ip) == 1;
	if (gnutls_priority_set(t->s, client_priority) < 0 ||
	    gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
	    gnutls_alpn_set_protocols(t->s, alpn_client, ARRAY_SIZE(alpn_client), 0) < 0 ||
	    (!literal && gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, name, strlen(name)) < 0)) {
		t->x.fd = -1; /* still the caller's */
		tls_close(&t->x);
		return -ENOMEM;
	}
	/* The chain, then the name (a DNS name, or for a literal the certificate's IP address
	 * entries), during the handshake: a failure is GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR. */
	gnutls_session_set_verify_cert(t->s, name, 0);
	gnutls_handshake_set_timeout(t->s, 0); /* the caller's connect timeout bounds it */
	gnutls_transport_set_int(t->s, fd);
	gnutls_transport_set_pull_function(t->s, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->s, tls_pull_timeout);
	gnutls_transport_set_vec_push_function(t->s, tls_push);
	if (resume_key) {
		t->resume_key = xstrdup(resume_key);
		struct resume_entry *e = resume_find(resume_key);
		if (e && gnutls_session_set_data(t->s, e->data.data, e->data.size) == 0)
			e->used = ++resume_clock;
	}
	*ret = &t->x;
	return 0;
}

int xport_tls_client_new(struct server_gen *g, const char *ca_path, int fd, const char *name,
			 const char *resume_key, struct xport **ret)
{
	const struct xport_tls_certs *certs = g->tls;
	gnutls_certificate_credentials_t cred = NULL;
	if (!ca_path)
		ca_path = CONFIG_SYSTEM_CA;
	for (size_t i = 0; certs && i < certs->n_cas && !cred; i++)
		if (strcmp(certs->cas[i]->path, ca_path) == 0 && !(cred = ca_cred(certs->cas[i])))
			return -EINVAL;
	if (!cred)
		return -ENOENT;
	return client_new(g, cred, fd, name, resume_key, ret);
}

int xport_tls_client_init(struct buf *err)
{
	return tls_global_init(err);
}

int xport_tls_client_open(gnutls_certificate_credentials_t cred, int fd, const char *name,
			  struct xport **ret)
{
	return client_new(NULL, cred, fd, name, NULL, ret);
}

bool xport_tls_resumed(const struct xport *x)
{
	return gnutls_session_is_resumed(tls_of(x)->s) != 0;
}

const char *xport_tls_error(const struct xport *x)
{
	const struct tls_conn *t = tls_of(x);
	return t->err ? t->err : "handshake failed";
}
