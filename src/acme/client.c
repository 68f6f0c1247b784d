/* The ACME client (client.h), RFC 8555 section by section:
 *   §7.1.1 directory    GET acme-ca: newNonce, newAccount, newOrder (and renewalInfo)
 *   RFC 9773 ARI        where the directory has renewalInfo: GET renewalInfo/CERT-ID for
 *                       every certificate not due by the third-of-its-lifetime rule; a
 *                       random time in the suggested window replaces that rule's time
 *   §7.2   nonces       HEAD newNonce when none is left; every response brings the next;
 *                       a badNonce error is retried with the nonce it brought
 *   §7.3   account      POST newAccount with the JWK (the same key finds the same account)
 *   §7.4   order        POST newOrder; each authorization POST-as-GET; http-01: the key
 *                       authorization into acme-dir/challenges (tls-alpn-01, RFC 8737: a
 *                       certificate there), POST {} to the challenge, poll the
 *                       authorization; finalize with a CSR; poll the order
 *   §7.4.2 certificate  POST-as-GET: the PEM chain, stored with its key atomically
 * Polls wait as Retry-After says (else 1 s, doubling up to 10 s) within POLL_LIMIT_S. */
#include "acme/client.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acme/https.h"
#include "acme/jws.h"
#include "acme/parse.h"
#include "acme/store.h"
#include "base/xalloc.h"

#define NONCE_RETRIES 20   /* badNonce in a row */
#define POLL_LIMIT_S 300   /* an authorization or an order: this long at most */
#define ACME_JOSE "application/jose+json"

struct client {
	const struct config *cfg;
	struct acme_options *o;
	struct acme_https *h;
	struct acme_key *acct;
	char *kid; /* the account URL */
	char nonce[256];
	char new_nonce[ACME_HTTPS_URL_MAX], new_account[ACME_HTTPS_URL_MAX],
	    new_order[ACME_HTTPS_URL_MAX], renewal_info[ACME_HTTPS_URL_MAX];
	struct acme_resp resp;
	struct buf jws, err;
	const char *site; /* the name messages are about */
};

static void _printf_(3, 4) say(struct client *c, bool error, const char *fmt, ...)
{
	char line[2048];
	int n = snprintf(line, sizeof(line), "acme: %s%s", c->site ? c->site : "",
			 c->site ? ": " : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	c->o->log(error, line);
}

/* Key material leaves no copy in freed memory. */
static void wipe(struct buf *b)
{
	if (b->data)
		gnutls_memset(b->data, 0, b->len);
}

bool acme_renewal_due(time_t start, time_t end, time_t now)
{
	if (end <= start)
		return true;
	return now >= end - (end - start) / 3;
}

static const char *utc(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, 32, "%lld", (long long)t);
	return out;
}

/* The CA's problem document in the last response, as "detail (type)". */
static const char *problem(struct client *c, char *out, size_t size)
{
	char type[96], detail[ACME_DETAIL_MAX];
	if (acme_problem_parse(c->resp.body.data ? c->resp.body.data : "", c->resp.body.len, type,
			       sizeof(type), detail, sizeof(detail)) < 0 ||
	    (!type[0] && !detail[0]))
		snprintf(out, size, "HTTP status %d", c->resp.status);
	else
		snprintf(out, size, "%s (%s)", detail[0] ? detail : "no detail",
			 type[0] ? type : "no type");
	return out;
}

static int request(struct client *c, const char *method, const char *url, const char *body)
{
	buf_reset(&c->err);
	int r = acme_https_request(c->h, method, url, ACME_JOSE, body, body ? strlen(body) : 0,
				   &c->resp, &c->err);
	if (r < 0) {
		buf_cstr(&c->err);
		say(c, true, "%s %s: %s", method, url, c->err.data);
		return r;
	}
	if (c->resp.nonce[0])
		snprintf(c->nonce, sizeof(c->nonce), "%s", c->resp.nonce);
	return 0;
}

/* A signed POST (payload NULL: POST-as-GET); 0 once the CA answered anything but badNonce. */
static int post(struct client *c, const char *url, const char *payload)
{
	for (int tries = 0;; tries++) {
		if (!c->nonce[0]) {
			int r = request(c, "HEAD", c->new_nonce, NULL);
			if (r < 0)
				return r;
			if (!c->nonce[0]) {
				say(c, true, "%s: no Replay-Nonce", c->new_nonce);
				return -EPROTO;
			}
		}
		char nonce[sizeof(c->nonce)];
		memcpy(nonce, c->nonce, sizeof(nonce));
		c->nonce[0] = '\0'; /* used */
		int r = acme_jws(c->acct, c->kid, nonce, url, payload, &c->jws);
		if (r < 0 || buf_cstr(&c->jws) < 0) {
			say(c, true, "signing the request to %s failed", url);
			return -EINVAL;
		}
		r = request(c, "POST", url, c->jws.data);
		if (r < 0)
			return r;
		char type[32], detail[8];
		if (c->resp.status == 400 && tries < NONCE_RETRIES &&
		    acme_problem_parse(c->resp.body.data, c->resp.body.len, type, sizeof(type),
				       detail, sizeof(detail)) == 0 &&
		    strcmp(type, "badNonce") == 0) {
			say(c, false, "the CA rejected a nonce (badNonce): retrying with a new one");
			continue;
		}
		return 0;
	}
}

static json_t *resp_json(struct client *c, const char *what)
{
	json_t *j = json_loadb(c->resp.body.data ? c->resp.body.data : "", c->resp.body.len,
			       JSON_REJECT_DUPLICATES, NULL);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		say(c, true, "%s: the CA's answer is not a JSON object", what);
		return NULL;
	}
	return j;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void copy_url(char *out, json_t *dir, const char *key)
{
	snprintf(out, ACME_HTTPS_URL_MAX, "%s", jstr(dir, key));
}

static int directory(struct client *c)
{
	int r = request(c, "GET", c->cfg->acme_ca, NULL);
	if (r < 0)
		return r;
	if (c->resp.status != 200) {
		char p[700];
		say(c, true, "directory %s: %s", c->cfg->acme_ca, problem(c, p, sizeof(p)));
		return -EPROTO;
	}
	json_t *dir = resp_json(c, c->cfg->acme_ca);
	if (!dir)
		return -EPROTO;
	copy_url(c->new_nonce, dir, "newNonce");
	copy_url(c->new_account, dir, "newAccount");
	copy_url(c->new_order, dir, "newOrder");
	copy_url(c->renewal_info, dir, "renewalInfo");
	json_decref(dir);
	if (!c->new_nonce[0] || !c->new_account[0] || !c->new_order[0]) {
		say(c, true, "directory %s: no newNonce, newAccount or newOrder", c->cfg->acme_ca);
		return -EPROTO;
	}
	return 0;
}

static void dir_path(const struct client *c, char *out, const char *sub, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s%s%s", c->cfg->acme_dir, sub, name ? "/" : "",
		 name ? name : "");
}

/* The account key (made and stored 0600 the first time), and the account it names. */
static int account(struct client *c)
{
	char path[PATH_MAX];
	struct buf b;
	buf_init(&b, 64 * 1024);
	dir_path(c, path, "account", "key.pem");
	int r = acme_store_read(path, 64 * 1024, &b);
	if (r == 0) {
		r = acme_key_import(b.data, b.len, &c->acct);
		if (r < 0)
			say(c, true, "%s: not an ECDSA P-256 key in PEM", path);
	} else if (r == -ENOENT) {
		buf_reset(&b);
		r = acme_key_generate(&c->acct);
		if (r == 0)
			r = acme_key_export(c->acct, &b);
		if (r == 0)
			r = acme_store_write(path, b.data, b.len, 0600);
		if (r < 0)
			say(c, true, "%s: cannot store a new account key: %s", path, strerror(-r));
		else
			say(c, false, "new account key in %s", path);
	} else {
		say(c, true, "%s: %s", path, strerror(-r));
	}
	wipe(&b);
	buf_free(&b);
	if (r < 0)
		return r;

	json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (c->cfg->acme_email) {
		char mail[CONFIG_ACME_EMAIL_MAX + 8];
		snprintf(mail, sizeof(mail), "mailto:%s", c->cfg->acme_email);
		json_object_set_new(p, "contact", json_pack("[s]", mail));
	}
	char *payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	r = post(c, c->new_account, payload);
	free(payload);
	if (r < 0)
		return r;
	if ((c->resp.status != 200 && c->resp.status != 201) || !c->resp.location[0]) {
		char pr[700];
		say(c, true, "account at %s: %s", c->cfg->acme_ca, problem(c, pr, sizeof(pr)));
		return -EPROTO;
	}
	c->kid = xstrdup(c->resp.location);
	dir_path(c, path, "account", "url");
	char line[ACME_HTTPS_URL_MAX + 1];
	int n = snprintf(line, sizeof(line), "%s\n", c->kid);
	acme_store_write(path, line, (size_t)n, 0600);
	if (c->resp.status == 201)
		say(c, false, "account created: %s", c->kid);
	return 0;
}

/* Wait as the last response's Retry-After says, else *backoff (1 s, doubling to 10 s);
 * false when that would pass the deadline. */
static bool wait_retry(struct client *c, unsigned *backoff, time_t deadline)
{
	unsigned s = c->resp.has_retry_after ? c->resp.retry_after_s : *backoff;
	if (!c->resp.has_retry_after)
		*backoff = *backoff >= 5 ? 10 : *backoff * 2;
	if (time(NULL) + (time_t)s > deadline)
		return false;
	if (s)
		sleep(s);
	return true;
}

/* The answer to a challenge, left in acme-dir for `ferry serve`: the key authorization for
 * http-01 (challenges/TOKEN), a self-signed certificate for tls-alpn-01
 * (challenges/alpn-NAME.pem, its throwaway key first). The path written goes to path. */
static int answer(struct client *c, const char *name, const char *token, char *path)
{
	char keyauth[ACME_KEYAUTH_MAX];
	int n = snprintf(keyauth, sizeof(keyauth), "%s.%s", token, acme_key_thumbprint(c->acct));
	if (!c->cfg->acme_tls_alpn) {
		dir_path(c, path, "challenges", token);
		return acme_store_write(path, keyauth, (size_t)n, 0644);
	}
	size_t len = strlen(name);
	if (len == 0 || len > 253 || name[0] == '.' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != len)
		return -EINVAL; /* the CA names one of ours: lower-case DNS names */
	char file[300];
	snprintf(file, sizeof(file), "alpn-%s.pem", name);
	dir_path(c, path, "challenges", file);
	unsigned char digest[32];
	struct acme_key *k = NULL;
	struct buf b;
	buf_init(&b, 64 * 1024);
	int r = gnutls_hash_fast(GNUTLS_DIG_SHA256, keyauth, (size_t)n, digest) < 0 ? -EINVAL : 0;
	if (r == 0)
		r = acme_key_generate(&k);
	if (r == 0)
		r = acme_key_export(k, &b);
	if (r == 0)
		r = acme_alpn_cert(k, name, digest, &b);
	/* 0644 like http-01's: the key only proves control while the CA validates */
	if (r == 0)
		r = acme_store_write(path, b.data, b.len, 0644);
	wipe(&b);
	buf_free(&b);
	acme_key_free(k);
	return r;
}

/* One authorization: done when valid; else its challenge (http-01, or tls-alpn-01 with
 * `acme-challenge tls-alpn-01`), answered and polled. */
static int authorize(struct client *c, const char *url)
{
	const char *type = c->cfg->acme_tls_alpn ? "tls-alpn-01" : "http-01";
	char pr[700];
	int r = post(c, url, NULL);
	if (r < 0)
		return r;
	json_t *a = c->resp.status == 200 ? resp_json(c, url) : NULL;
	if (!a) {
		say(c, true, "authorization %s: %s", url, problem(c, pr, sizeof(pr)));
		return -EPROTO;
	}
	const char *status = jstr(a, "status");
	if (strcmp(status, "valid") == 0) {
		json_decref(a);
		return 0;
	}
	const char *name = jstr(json_object_get(a, "identifier"), "value");
	json_t *chal = NULL, *v;
	size_t i;
	json_array_foreach(json_object_get(a, "challenges"), i, v)
	{
		if (strcmp(jstr(v, "type"), type) == 0)
			chal = v;
	}
	if (strcmp(status, "pending") != 0 || !chal) {
		say(c, true, "%s: authorization is %s%s%s%s", name, status,
		    chal ? "" : ", with no ", chal ? "" : type, chal ? "" : " challenge");
		json_decref(a);
		return -EPROTO;
	}
	const char *token = jstr(chal, "token");
	char chal_url[ACME_HTTPS_URL_MAX], path[PATH_MAX];
	snprintf(chal_url, sizeof(chal_url), "%s", jstr(chal, "url"));
	if (!acme_token_valid(token, strlen(token))) {
		say(c, true, "%s: the CA's %s token is not base64url of at most %d bytes", name,
		    type, ACME_TOKEN_MAX);
		json_decref(a);
		return -EPROTO;
	}
	char who[256];
	snprintf(who, sizeof(who), "%s", name);
	r = answer(c, who, token, path);
	json_decref(a);
	if (r < 0) {
		say(c, true, "%s: %s: cannot write the answer in %s: %s", who, type, c->cfg->acme_dir,
		    strerror(-r));
		return r;
	}
	r = post(c, chal_url, "{}");
	if (r == 0 && c->resp.status != 200) {
		say(c, true, "%s: %s failed: %s", who, type, problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	unsigned backoff = 1;
	time_t deadline = time(NULL) + POLL_LIMIT_S;
	while (r == 0) {
		r = post(c, url, NULL);
		if (r < 0)
			break;
		a = c->resp.status == 200 ? resp_json(c, url) : NULL;
		if (!a) {
			say(c, true, "%s: authorization %s: %s", who, url, problem(c, pr, sizeof(pr)));
			r = -EPROTO;
			break;
		}
		status = jstr(a, "status");
		if (strcmp(status, "valid") == 0) {
			json_decref(a);
			break;
		}
		if (strcmp(status, "pending") != 0) {
			/* the challenge's error says why (RFC 8555 §8: "error" of the challenge) */
			json_t *err = NULL;
			json_array_foreach(json_object_get(a, "challenges"), i, v)
			{
				if (strcmp(jstr(v, "type"), type) == 0)
					err = json_object_get(v, "error");
			}
			char *doc = err ? json_dumps(err, JSON_COMPACT) : NULL;
			char ptype[96] = "", detail[ACME_DETAIL_MAX] = "";
			if (doc)
				acme_problem_parse(doc, strlen(doc), ptype, sizeof(ptype), detail,
						   sizeof(detail));
			free(doc);
			if (detail[0])
				say(c, true, "%s: %s failed: %s (%s)", who, type, detail, ptype);
			else
				say(c, true, "%s: %s failed: the authorization is %s", who, type,
				    status);
			json_decref(a);
			r = -EPROTO;
			break;
		}
		json_decref(a);
		if (!wait_retry(c, &backoff, deadline)) {
			say(c, true, "%s: %s: still pending after %d s", who, type, POLL_LIMIT_S);
			r = -ETIMEDOUT;
		}
	}
	unlink(path);
	return r;
}

/* ARI (RFC 9773) for a site whose certificate is not due by the third-of-its-lifetime rule:
 * true when the CA's suggested window says renew now. *when becomes the window's random
 * time otherwise. Any failure keeps the rule (*when untouched), with a line in the log. */
static bool ari_due(struct client *c, const struct config_site *s, time_t now, time_t *when)
{
	char id[512], url[ACME_HTTPS_URL_MAX + 512], why[ACME_ARI_URL_MAX], w1[32], w2[32];
	int r = acme_store_cert_ari_id(s->tls[0].cert, id, sizeof(id));
	if (r < 0) {
		say(c, false, "ARI: no certificate identifier (%s): renewing by the usual rule",
		    strerror(-r));
		return false;
	}
	size_t n = strlen(c->renewal_info);
	snprintf(url, sizeof(url), "%s%s%s", c->renewal_info,
		 n && c->renewal_info[n - 1] == '/' ? "" : "/", id);
	buf_reset(&c->err);
	r = acme_https_request(c->h, "GET", url, NULL, NULL, 0, &c->resp, &c->err);
	time_t start, end;
	if (r < 0) {
		buf_cstr(&c->err);
		say(c, false, "ARI: GET %s: %s: renewing by the usual rule", url, c->err.data);
		return false;
	}
	if (c->resp.status != 200 ||
	    acme_ari_parse(c->resp.body.data ? c->resp.body.data : "", c->resp.body.len, &start,
			   &end, why, sizeof(why)) < 0) {
		say(c, false,
		    "ARI: GET %s: HTTP status %d, no suggested window: renewing by the "
		    "usual rule",
		    url, c->resp.status);
		return false;
	}
	/* RFC 9773 §4.2: a uniformly random time in the window; one already past: now */
	uint64_t rnd = 0;
	gnutls_rnd(GNUTLS_RND_NONCE, &rnd, sizeof(rnd));
	time_t at = start + (time_t)(rnd % (uint64_t)(end - start));
	if (at <= now) {
		say(c, false, "the CA suggests renewing between %s and %s (ARI%s%s): renewing",
		    utc(start, w1), utc(end, w2), why[0] ? ", " : "", why);
		return true;
	}
	say(c, false, "the CA suggests renewing between %s and %s (ARI%s%s)", utc(start, w1),
	    utc(end, w2), why[0] ? ", " : "", why);
	*when = at;
	return false;
}

/* Store the key and the chain in one file, atomically. */
static int store_cert(struct client *c, const struct acme_key *key, const char *chain,
		      size_t len, const char *path)
{
	struct buf b;
	buf_init(&b, ACME_HTTPS_BODY_MAX + 64 * 1024);
	int r = acme_key_export(key, &b);
	if (r == 0)
		r = buf_append(&b, chain, len);
	if (r == 0)
		r = acme_store_write(path, b.data, b.len, 0600);
	wipe(&b);
	buf_free(&b);
	return r;
}

/* One site: a new order for its names, its authorizations, finalize, the chain. */
static int obtain(struct client *c, const struct config_site *site, const char *path)
{
	char pr[700];
	json_t *ids = json_array();
	for (size_t i = 0; i < site->n_names; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value",
						     site->names[i]));
	json_t *p = json_pack("{s:o}", "identifiers", ids);
	char *payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	int r = post(c, c->new_order, payload);
	free(payload);
	if (r < 0)
		return r;
	json_t *order = c->resp.status == 201 ? resp_json(c, "newOrder") : NULL;
	if (!order || !c->resp.location[0]) {
		say(c, true, "new order: %s", problem(c, pr, sizeof(pr)));
		json_decref(order);
		return -EPROTO;
	}
	char order_url[ACME_HTTPS_URL_MAX], finalize[ACME_HTTPS_URL_MAX];
	snprintf(order_url, sizeof(order_url), "%s", c->resp.location);
	snprintf(finalize, sizeof(finalize), "%s", jstr(order, "finalize"));
	json_t *authz = json_object_get(order, "authorizations");
	size_t n_authz = json_array_size(authz);
	char **urls = xcalloc(n_authz + 1, sizeof(*urls));
	for (size_t i = 0; i < n_authz; i++)
		urls[i] = xstrdup(json_string_value(json_array_get(authz, i)) ?: "");
	json_decref(order);
	for (size_t i = 0; i < n_authz && r == 0; i++)
		r = authorize(c, urls[i]);
	for (size_t i = 0; i < n_authz; i++)
		free(urls[i]);
	free(urls);
	if (r < 0)
		return r;

	struct acme_key *key = NULL;
	struct buf csr;
	buf_init(&csr, 64 * 1024);
	r = acme_key_generate(&key);
	if (r == 0)
		r = acme_csr(key, site->names, site->n_names, &csr);
	if (r == 0)
		r = buf_cstr(&csr);
	if (r < 0) {
		say(c, true, "making the key and CSR failed");
		goto out;
	}
	p = json_pack("{s:s}", "csr", csr.data);
	payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	r = post(c, finalize, payload);
	free(payload);
	if (r == 0 && c->resp.status != 200) {
		say(c, true, "finalize: %s", problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	char cert_url[ACME_HTTPS_URL_MAX] = "";
	unsigned backoff = 1;
	time_t deadline = time(NULL) + POLL_LIMIT_S;
	while (r == 0) {
		order = resp_json(c, order_url);
		if (!order) {
			r = -EPROTO;
			break;
		}
		const char *status = jstr(order, "status");
		if (strcmp(status, "valid") == 0) {
			snprintf(cert_url, sizeof(cert_url), "%s", jstr(order, "certificate"));
			json_decref(order);
			break;
		}
		bool waiting = strcmp(status, "processing") == 0 || strcmp(status, "ready") == 0;
		json_decref(order);
		if (!waiting) {
			say(c, true, "the order is %s", status);
			r = -EPROTO;
		} else if (!wait_retry(c, &backoff, deadline)) {
			say(c, true, "the order is still processing after %d s", POLL_LIMIT_S);
			r = -ETIMEDOUT;
		} else if ((r = post(c, order_url, NULL)) == 0 && c->resp.status != 200) {
			say(c, true, "order %s: %s", order_url, problem(c, pr, sizeof(pr)));
			r = -EPROTO;
		}
	}
	if (r == 0 && !cert_url[0]) {
		say(c, true, "the valid order has no certificate URL");
		r = -EPROTO;
	}
	if (r == 0)
		r = post(c, cert_url, NULL);
	if (r == 0 && (c->resp.status != 200 ||
		       strncmp(c->resp.body.data, "-----BEGIN CERTIFICATE-----", 27) != 0)) {
		say(c, true, "certificate %s: %s", cert_url,
		    c->resp.status == 200 ? "not a PEM chain" : problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	if (r == 0) {
		r = store_cert(c, key, c->resp.body.data, c->resp.body.len, path);
		if (r < 0)
			say(c, true, "%s: %s", path, strerror(-r));
	}
out:
	acme_key_free(key);
	buf_free(&csr);
	return r;
}

int acme_client_run(const struct config *cfg, struct acme_options *o)
{
	o->next_due = 0;
	o->n_ok = o->n_failed = 0;
	o->first_failed = NULL;
	struct client c = {.cfg = cfg, .o = o};
	struct buf err;
	buf_init(&err, 4096);
	int r = acme_store_prepare(cfg, &err);
	if (r < 0) {
		buf_cstr(&err);
		say(&c, true, "%s", err.data);
		buf_free(&err);
		return r;
	}
	/* which sites need work, before any network */
	size_t n_due = 0, n_ari = 0;
	bool *due = xcalloc(cfg->n_sites + 1, sizeof(*due));
	bool *ari = xcalloc(cfg->n_sites + 1, sizeof(*ari));	 /* has one, not due: ask ARI */
	time_t *when = xcalloc(cfg->n_sites + 1, sizeof(*when)); /* its renewal time */
	time_t now = time(NULL);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (!s->acme || !s->n_names)
			continue;
		time_t start, end;
		char w1[32], w2[32];
		const char *missing = NULL;
		c.site = s->names[0];
		int q = acme_store_cert_check(s->tls[0].cert, s->names, s->n_names, &start, &end,
					      &missing);
		if (q == 0 && missing) {
			say(&c, false, "the certificate does not cover %s: obtaining a new one",
			    missing);
			due[i] = true;
		} else if (q == -ENOENT) {
			say(&c, false, "no certificate yet: obtaining one");
			due[i] = true;
		} else if (q < 0) {
			say(&c, false, "%s unreadable (%s): obtaining a new one", s->tls[0].cert,
			    strerror(-q));
			due[i] = true;
		} else if (o->force || acme_renewal_due(start, end, now)) {
			say(&c, false, "certificate valid until %s: renewing", utc(end, w1));
			due[i] = true;
		} else {
			say(&c, false, "certificate valid until %s, renewal from %s: nothing to do",
			    utc(end, w1), utc(end - (end - start) / 3, w2));
			when[i] = end - (end - start) / 3;
			ari[i] = true;
			n_ari++;
		}
		n_due += due[i];
	}
	c.site = NULL;
	if (n_due == 0 && n_ari == 0)
		goto done;
	buf_reset(&err);
	r = acme_https_new(cfg->acme_ca_root, &err, &c.h);
	if (r < 0) {
		buf_cstr(&err);
		say(&c, true, "acme-ca-root %s", err.data);
		if (n_due == 0) /* only ARI was to be asked: nothing is missing */
			r = 0;
		goto done;
	}
	acme_resp_init(&c.resp);
	buf_init(&c.jws, 4 << 20);
	buf_init(&c.err, 4096);
	r = directory(&c);
	for (size_t i = 0; r == 0 && c.renewal_info[0] && i < cfg->n_sites; i++) {
		if (!ari[i])
			continue;
		c.site = cfg->sites[i].names[0];
		if (ari_due(&c, &cfg->sites[i], now, &when[i])) {
			due[i] = true;
			n_due++;
		}
	}
	c.site = NULL;
	if (r < 0 && n_due == 0) {
		say(&c, false, "no renewal information from the CA; no certificate is due");
		r = 0;
	}
	if (r == 0 && n_due > 0)
		r = account(&c);
	size_t failed = 0;
	for (size_t i = 0; r == 0 && i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (!due[i])
			continue;
		c.site = s->names[0];
		if (obtain(&c, s, s->tls[0].cert) < 0) {
			failed++;
			continue;
		}
		due[i] = false; /* done */
		time_t start, end;
		char w[32];
		when[i] = 0;
		if (acme_store_cert_times(s->tls[0].cert, &start, &end) == 0) {
			say(&c, false, "certificate stored in %s, valid until %s", s->tls[0].cert,
			    utc(end, w));
			when[i] = end - (end - start) / 3;
		}
	}
	if (r == 0)
		r = (int)failed;
	else
		say(&c, true, "%zu certificate%s not obtained or renewed", n_due,
		    n_due == 1 ? "" : "s");
	acme_https_free(c.h);
	acme_resp_free(&c.resp);
	buf_free(&c.jws);
	buf_free(&c.err);
done:
	for (size_t i = 0; i < cfg->n_sites; i++) {
		if (!cfg->sites[i].acme || !cfg->sites[i].n_names)
			continue;
		if (due[i]) { /* still due: not obtained */
			if (!o->n_failed++)
				o->first_failed = cfg->sites[i].names[0];
			continue;
		}
		o->n_ok++;
		if (when[i] && (!o->next_due || when[i] < o->next_due))
			o->next_due = when[i];
	}
	free(ari);
	free(when);
	acme_key_free(c.acct);
	free(c.kid);
	free(due);
	buf_free(&err);
	return r;
}
