/* The ACME client (client.h), RFC 8555 section by section:
 *   §7.1.1 directory    GET acme-ca: newNonce, newAccount, newOrder (and renewalInfo)
 *   RFC 9773 ARI        where the directory has renewalInfo: GET renewalInfo/CERT-ID for
 *                       every certificate not due by the third-of-its-lifetime rule; a
 *                       random time in the suggested window replaces that rule's time; a
 *                       renewal's newOrder says which certificate it replaces (§5), and
 *                       is sent again without it when the CA answers alreadyReplaced
 *   §7.2   nonces       HEAD newNonce when none is left; every response brings the next;
 *                       a badNonce error is retried with the nonce it brought
 *   §7.3   account      POST newAccount with the JWK (the same key finds the same account)
 *   §7.4   order        POST newOrder; each authorization POST-as-GET; http-01: the key
 *                       authorization into acme-dir/challenges (tls-alpn-01, RFC 8737: a
 *                       certificate there), POST {} to the challenge, poll the
 *                       authorization; finalize with a CSR; poll the order
 *   §7.4.2 certificate  POST-as-GET: the PEM chain, stored with its key atomically
 * Polls wait as Retry-After says (else 1 s, doubling up to 10 s) within POLL_LIMIT_S.
 *
 * Non-blocking, on the caller's loop: every request goes out through acme/fetch.c and its
 * answer comes to the step that follows (a chain of callbacks, each one step below; a
 * signed POST goes through post(), which gets a nonce first and retries a badNonce, then
 * calls its continuation). A transport failure has been logged when a continuation gets
 * r < 0. The steps, in order:
 *
 *   step              sends                        then
 *   start             (acme-dir, the sites' files)  directory, or the end: nothing to do
 *   on_directory      GET acme-ca                   ari_next, or sites_start
 *   ari_next/on_ari   GET renewalInfo/ID per site   sites_start
 *   sites_start       POST newAccount               site_next
 *   site_next         (the next due site)           new_order, or the end
 *   new_order         POST newOrder                 authz_next (alreadyReplaced: new_order)
 *   authz_next        POST-as-GET authorization     on_chal (answer written) / authz_next
 *   on_chal/on_poll   POST {} challenge, polls      authz_next, after the last: finalize
 *   finalize          POST finalize (CSR), polls    on_cert
 *   on_cert           POST-as-GET certificate       site_next (stored, or the site failed)
 *
 * A site that fails goes to site_next; the directory or the account failing ends the run.
 * The end is delivered through loop_defer, so the caller may free the client in it. */
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

#include "acme/fetch.h"
#include "acme/jws.h"
#include "acme/parse.h"
#include "acme/store.h"
#include "base/macro.h"
#include "base/xalloc.h"
#include "event/loop.h"

#define NONCE_RETRIES 20   /* badNonce in a row */
#define POLL_LIMIT_S 300   /* an authorization or an order: this long at most */
#define ACME_JOSE "application/jose+json"
#define URL_MAX ACME_FETCH_URL_MAX

struct acme_client;
typedef void step_fn(struct acme_client *c, int r);

struct acme_client {
	struct loop *loop;
	const struct config *cfg;
	struct acme_options *o;
	acme_done_fn *done;
	void *done_ctx;
	struct acme_fetch *f;
	struct acme_key *acct;
	char *kid; /* the account URL */
	char nonce[256];
	char new_nonce[URL_MAX], new_account[URL_MAX], new_order[URL_MAX],
	    renewal_info[URL_MAX];
	struct acme_resp resp;
	struct buf jws, err;
	const char *site; /* the name messages are about */
	struct timer timer; /* the start, and the waits of the polls */
	step_fn *after_wait;
	struct deferred end;
	int result;

	/* the sites */
	bool *due, *ari; /* ari: has a certificate, not due: ask ARI */
	time_t *when;    /* its renewal time */
	size_t n_due, n_ari, failed, i;
	time_t now;

	/* the request in flight */
	const char *req_method;
	char req_url[URL_MAX + 512];
	step_fn *req_then;
	/* the signed POST in flight */
	char post_url[URL_MAX];
	char *post_payload;
	int post_tries;
	bool polling_order; /* the order's answers are to a poll, not to finalize */
	step_fn *post_then;

	/* the site at hand: its order, its authorizations, its key */
	char replaces[512]; /* the ARI identifier of the certificate it replaces ("": none) */
	char order_url[URL_MAX], finalize[URL_MAX];
	char **authz;
	size_t n_authz, k;
	struct acme_key *key;
	struct buf csr;
	/* the authorization at hand */
	char who[256], answer_path[PATH_MAX];
	unsigned backoff;
	time_t deadline;
};

static void _printf_(3, 4) say(struct acme_client *c, bool error, const char *fmt, ...)
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
static const char *problem(struct acme_client *c, char *out, size_t size)
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

static json_t *resp_json(struct acme_client *c, const char *what)
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
	snprintf(out, URL_MAX, "%s", jstr(dir, key));
}

static void dir_path(const struct acme_client *c, char *out, const char *sub, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s%s%s", c->cfg->acme_dir, sub, name ? "/" : "",
		 name ? name : "");
}

/* The answer to a challenge, left in acme-dir for `ferry serve`: the key authorization for
 * http-01 (challenges/TOKEN), a self-signed certificate for tls-alpn-01
 * (challenges/alpn-NAME.pem, its throwaway key first). The path written goes to path. */
static int answer(struct acme_client *c, const char *name, const char *token, char *path)
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

/* Store the key and the chain in one file, atomically. */
static int store_cert(struct acme_client *c, const struct acme_key *key, const char *chain,
		      size_t len, const char *path)
{
	struct buf b;
	buf_init(&b, ACME_FETCH_BODY_MAX + 64 * 1024);
	int r = acme_key_export(key, &b);
	if (r == 0)
		r = buf_append(&b, chain, len);
	if (r == 0)
		r = acme_store_write(path, b.data, b.len, 0600);
	wipe(&b);
	buf_free(&b);
	return r;
}

/* ---- requests ------------------------------------------------------------------------ */

static void on_fetched(void *ctx, int r)
{
	struct acme_client *c = ctx;
	if (r < 0) {
		buf_cstr(&c->err);
		say(c, true, "%s %s: %s", c->req_method, c->req_url, c->err.data);
	} else if (c->resp.nonce[0]) {
		snprintf(c->nonce, sizeof(c->nonce), "%s", c->resp.nonce);
	}
	c->req_then(c, r);
}

/* One request; then(c, 0) once the CA answered (c->resp), then(c, -errno) when it could not
 * (said in the log). */
static void request(struct acme_client *c, const char *method, const char *url,
		    const char *body, step_fn *then)
{
	buf_reset(&c->err);
	c->req_method = method;
	snprintf(c->req_url, sizeof(c->req_url), "%s", url);
	c->req_then = then;
	acme_fetch_request(c->f, method, c->req_url, ACME_JOSE, body, body ? strlen(body) : 0,
			   &c->resp, &c->err, on_fetched, c);
}

static void post_try(struct acme_client *c);

static void post_end(struct acme_client *c, int r)
{
	free(c->post_payload);
	c->post_payload = NULL;
	c->post_then(c, r);
}

static void on_posted(struct acme_client *c, int r)
{
	char type[32], detail[8];
	if (r == 0 && c->resp.status == 400 && c->post_tries < NONCE_RETRIES &&
	    acme_problem_parse(c->resp.body.data, c->resp.body.len, type, sizeof(type), detail,
			       sizeof(detail)) == 0 &&
	    strcmp(type, "badNonce") == 0) {
		say(c, false, "the CA rejected a nonce (badNonce): retrying with a new one");
		c->post_tries++;
		post_try(c);
		return;
	}
	post_end(c, r);
}

static void on_nonce(struct acme_client *c, int r)
{
	if (r == 0 && !c->nonce[0]) {
		say(c, true, "%s: no Replay-Nonce", c->new_nonce);
		r = -EPROTO;
	}
	if (r < 0)
		post_end(c, r);
	else
		post_try(c);
}

static void post_try(struct acme_client *c)
{
	if (!c->nonce[0]) {
		request(c, "HEAD", c->new_nonce, NULL, on_nonce);
		return;
	}
	char nonce[sizeof(c->nonce)];
	memcpy(nonce, c->nonce, sizeof(nonce));
	c->nonce[0] = '\0'; /* used */
	int r = acme_jws(c->acct, c->kid, nonce, c->post_url, c->post_payload, &c->jws);
	if (r < 0 || buf_cstr(&c->jws) < 0) {
		say(c, true, "signing the request to %s failed", c->post_url);
		post_end(c, -EINVAL);
		return;
	}
	request(c, "POST", c->post_url, c->jws.data, on_posted);
}

/* A signed POST (payload NULL: POST-as-GET); then(c, 0) once the CA answered anything but
 * badNonce. */
static void post(struct acme_client *c, const char *url, const char *payload, step_fn *then)
{
	if (url != c->post_url)
		snprintf(c->post_url, sizeof(c->post_url), "%s", url);
	free(c->post_payload);
	c->post_payload = payload ? xstrdup(payload) : NULL;
	c->post_tries = 0;
	c->post_then = then;
	post_try(c);
}

static void on_timer(struct loop *l, struct timer *t)
{
	struct acme_client *c = container_of(t, struct acme_client, timer);
	c->after_wait(c, 0);
}

/* Wait as the last response's Retry-After says, else c->backoff (1 s, doubling to 10 s),
 * then next; false when that would pass c->deadline. */
static bool wait_retry(struct acme_client *c, step_fn *next)
{
	unsigned s = c->resp.has_retry_after ? c->resp.retry_after_s : c->backoff;
	if (!c->resp.has_retry_after)
		c->backoff = c->backoff >= 5 ? 10 : c->backoff * 2;
	if (time(NULL) + (time_t)s > c->deadline)
		return false;
	c->after_wait = next;
	timer_arm_at(c->loop, &c->timer, c->loop->now_ms + (uint64_t)s * 1000);
	return true;
}

/* ---- the end ------------------------------------------------------------------------- */

static void on_end(struct deferred *d)
{
	struct acme_client *c = container_of(d, struct acme_client, end);
	c->done(c->done_ctx, c->result);
}

/* The run is over with r: the counts for the caller, then its callback from the loop. */
static void finish(struct acme_client *c, int r)
{
	const struct config *cfg = c->cfg;
	struct acme_options *o = c->o;
	c->site = NULL;
	for (size_t i = 0; i < cfg->n_sites; i++) {
		if (!cfg->sites[i].acme || !cfg->sites[i].n_names)
			continue;
		if (c->due[i]) { /* still due: not obtained */
			if (!o->n_failed++)
				o->first_failed = cfg->sites[i].names[0];
			continue;
		}
		o->n_ok++;
		if (c->when[i] && (!o->next_due || c->when[i] < o->next_due))
			o->next_due = c->when[i];
	}
	c->result = r;
	loop_defer(c->loop, &c->end);
}

/* The sites are done (r 0), or the directory or the account failed (r < 0). */
static void sites_end(struct acme_client *c, int r)
{
	c->site = NULL;
	if (r == 0)
		r = (int)c->failed;
	else
		say(c, true, "%zu certificate%s not obtained or renewed", c->n_due,
		    c->n_due == 1 ? "" : "s");
	finish(c, r);
}

/* ---- the sites ----------------------------------------------------------------------- */

static void site_next(struct acme_client *c);

static void site_clear(struct acme_client *c)
{
	for (size_t i = 0; i < c->n_authz; i++)
		free(c->authz[i]);
	free(c->authz);
	c->authz = NULL;
	c->n_authz = 0;
	acme_key_free(c->key);
	c->key = NULL;
	buf_reset(&c->csr);
}

static void site_failed(struct acme_client *c)
{
	site_clear(c);
	c->failed++;
	c->i++;
	site_next(c);
}

static void new_order(struct acme_client *c);
static void authz_next(struct acme_client *c);

static void on_order(struct acme_client *c, int r)
{
	char pr[700];
	if (r < 0) {
		site_failed(c);
		return;
	}
	if (c->resp.status != 201 && c->replaces[0]) {
		char type[32], detail[8];
		if (acme_problem_parse(c->resp.body.data, c->resp.body.len, type, sizeof(type),
				       detail, sizeof(detail)) == 0 &&
		    strcmp(type, "alreadyReplaced") == 0) {
			say(c, false,
			    "the CA says certificate %s was already replaced (alreadyReplaced): "
			    "ordering without \"replaces\"",
			    c->replaces);
			c->replaces[0] = '\0';
			new_order(c);
			return;
		}
	}
	json_t *order = c->resp.status == 201 ? resp_json(c, "newOrder") : NULL;
	if (!order || !c->resp.location[0]) {
		say(c, true, "new order: %s", problem(c, pr, sizeof(pr)));
		json_decref(order);
		site_failed(c);
		return;
	}
	snprintf(c->order_url, sizeof(c->order_url), "%s", c->resp.location);
	snprintf(c->finalize, sizeof(c->finalize), "%s", jstr(order, "finalize"));
	json_t *authz = json_object_get(order, "authorizations");
	c->n_authz = json_array_size(authz);
	c->authz = xcalloc(c->n_authz + 1, sizeof(*c->authz));
	for (size_t i = 0; i < c->n_authz; i++)
		c->authz[i] = xstrdup(json_string_value(json_array_get(authz, i)) ?: "");
	json_decref(order);
	c->k = 0;
	authz_next(c);
}

/* POST newOrder for the site's names, with "replaces" when it renews a certificate that
 * ARI names (RFC 9773 §5). */
static void new_order(struct acme_client *c)
{
	const struct config_site *site = &c->cfg->sites[c->i];
	json_t *ids = json_array();
	for (size_t i = 0; i < site->n_names; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value",
						     site->names[i]));
	json_t *p = json_pack("{s:o}", "identifiers", ids);
	if (c->replaces[0])
		json_object_set_new(p, "replaces", json_string(c->replaces));
	char *payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	post(c, c->new_order, payload, on_order);
	free(payload);
}

static void site_next(struct acme_client *c)
{
	const struct config *cfg = c->cfg;
	while (c->i < cfg->n_sites && !c->due[c->i])
		c->i++;
	if (c->i == cfg->n_sites) {
		sites_end(c, 0);
		return;
	}
	const struct config_site *s = &cfg->sites[c->i];
	c->site = s->names[0];
	c->replaces[0] = '\0';
	if (c->renewal_info[0] &&
	    acme_store_cert_ari_id(s->tls[0].cert, c->replaces, sizeof(c->replaces)) < 0)
		c->replaces[0] = '\0'; /* no predecessor, or not one ARI can name */
	new_order(c);
}

/* ---- an authorization ---------------------------------------------------------------- */

static void on_authz(struct acme_client *c, int r);
static void on_chal(struct acme_client *c, int r);
static void on_poll(struct acme_client *c, int r);
static void finalize(struct acme_client *c);

static void authz_next(struct acme_client *c)
{
	if (c->k == c->n_authz) {
		finalize(c);
		return;
	}
	post(c, c->authz[c->k], NULL, on_authz);
}

/* The answer written for this authorization is removed, then the next one or the site's
 * failure. */
static void authz_end(struct acme_client *c, int r)
{
	if (c->answer_path[0])
		unlink(c->answer_path);
	c->answer_path[0] = '\0';
	if (r < 0) {
		site_failed(c);
		return;
	}
	c->k++;
	authz_next(c);
}

static const char *chal_type(const struct acme_client *c)
{
	return c->cfg->acme_tls_alpn ? "tls-alpn-01" : "http-01";
}

/* The current authorization's document from the CA's answer (r: the transfer's result), with
 * its challenge of our type in *chal (NULL if it has none). NULL when the authorization has
 * ended: a failed transfer, an error answer (said, prefixed with WHO when known), or
 * "valid". */
static json_t *authz_doc(struct acme_client *c, int r, const char *who, json_t **chal)
{
	const char *url = c->authz[c->k];
	char pr[700];
	if (r < 0) {
		authz_end(c, r);
		return NULL;
	}
	json_t *a = c->resp.status == 200 ? resp_json(c, url) : NULL;
	if (!a) {
		say(c, true, "%s%sauthorization %s: %s", who, who[0] ? ": " : "", url,
		    problem(c, pr, sizeof(pr)));
		authz_end(c, -EPROTO);
		return NULL;
	}
	if (strcmp(jstr(a, "status"), "valid") == 0) {
		json_decref(a);
		authz_end(c, 0);
		return NULL;
	}
	json_t *v;
	size_t i;
	*chal = NULL;
	json_array_foreach(json_object_get(a, "challenges"), i, v)
	{
		if (strcmp(jstr(v, "type"), chal_type(c)) == 0)
			*chal = v;
	}
	return a;
}

/* Done when valid; else its challenge (http-01, or tls-alpn-01 with `acme-challenge
 * tls-alpn-01`) answered, then polled. */
static void on_authz(struct acme_client *c, int r)
{
	const char *type = chal_type(c);
	json_t *chal;
	c->answer_path[0] = '\0';
	json_t *a = authz_doc(c, r, "", &chal);
	if (!a)
		return;
	const char *status = jstr(a, "status");
	const char *name = jstr(json_object_get(a, "identifier"), "value");
	if (strcmp(status, "pending") != 0 || !chal) {
		say(c, true, "%s: authorization is %s%s%s%s", name, status,
		    chal ? "" : ", with no ", chal ? "" : type, chal ? "" : " challenge");
		json_decref(a);
		authz_end(c, -EPROTO);
		return;
	}
	const char *token = jstr(chal, "token");
	char chal_url[URL_MAX], path[PATH_MAX];
	snprintf(chal_url, sizeof(chal_url), "%s", jstr(chal, "url"));
	if (!acme_token_valid(token, strlen(token))) {
		say(c, true, "%s: the CA's %s token is not base64url of at most %d bytes", name,
		    type, ACME_TOKEN_MAX);
		json_decref(a);
		authz_end(c, -EPROTO);
		return;
	}
	snprintf(c->who, sizeof(c->who), "%s", name);
	r = answer(c, c->who, token, path);
	json_decref(a);
	if (r < 0) {
		say(c, true, "%s: %s: cannot write the answer in %s: %s", c->who, type,
		    c->cfg->acme_dir, strerror(-r));
		authz_end(c, r);
		return;
	}
	snprintf(c->answer_path, sizeof(c->answer_path), "%s", path);
	post(c, chal_url, "{}", on_chal);
}

static void poll_authz(struct acme_client *c, int r)
{
	post(c, c->authz[c->k], NULL, on_poll);
}

static void on_chal(struct acme_client *c, int r)
{
	char pr[700];
	if (r == 0 && c->resp.status != 200) {
		say(c, true, "%s: %s failed: %s", c->who, chal_type(c), problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	if (r < 0) {
		authz_end(c, r);
		return;
	}
	c->backoff = 1;
	c->deadline = time(NULL) + POLL_LIMIT_S;
	poll_authz(c, 0);
}

static void on_poll(struct acme_client *c, int r)
{
	const char *type = chal_type(c);
	json_t *chal;
	json_t *a = authz_doc(c, r, c->who, &chal);
	if (!a)
		return;
	const char *status = jstr(a, "status");
	if (strcmp(status, "pending") != 0) {
		/* the challenge's error says why (RFC 8555 §8: "error" of the challenge) */
		json_t *err = chal ? json_object_get(chal, "error") : NULL;
		char *doc = err ? json_dumps(err, JSON_COMPACT) : NULL;
		char ptype[96] = "", detail[ACME_DETAIL_MAX] = "";
		if (doc)
			acme_problem_parse(doc, strlen(doc), ptype, sizeof(ptype), detail,
					   sizeof(detail));
		free(doc);
		if (detail[0])
			say(c, true, "%s: %s failed: %s (%s)", c->who, type, detail, ptype);
		else
			say(c, true, "%s: %s failed: the authorization is %s", c->who, type, status);
		json_decref(a);
		authz_end(c, -EPROTO);
		return;
	}
	json_decref(a);
	if (!wait_retry(c, poll_authz)) {
		say(c, true, "%s: %s: still pending after %d s", c->who, type, POLL_LIMIT_S);
		authz_end(c, -ETIMEDOUT);
	}
}

/* ---- finalize and the certificate ---------------------------------------------------- */

static void on_finalized(struct acme_client *c, int r);
static void on_cert(struct acme_client *c, int r);

static void finalize(struct acme_client *c)
{
	const struct config_site *site = &c->cfg->sites[c->i];
	int r = acme_key_generate(&c->key);
	if (r == 0)
		r = acme_csr(c->key, site->names, site->n_names, &c->csr);
	if (r == 0)
		r = buf_cstr(&c->csr);
	if (r < 0) {
		say(c, true, "making the key and CSR failed");
		site_failed(c);
		return;
	}
	json_t *p = json_pack("{s:s}", "csr", c->csr.data);
	char *payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	c->backoff = 1;
	c->deadline = time(NULL) + POLL_LIMIT_S;
	c->polling_order = false;
	post(c, c->finalize, payload, on_finalized);
	free(payload);
}

static void poll_order(struct acme_client *c, int r)
{
	c->polling_order = true;
	post(c, c->order_url, NULL, on_finalized);
}

/* The answer to finalize, or to a poll of the order: valid, the certificate; processing,
 * wait. */
static void on_finalized(struct acme_client *c, int r)
{
	char pr[700];
	if (r == 0 && c->resp.status != 200) {
		if (c->polling_order)
			say(c, true, "order %s: %s", c->order_url, problem(c, pr, sizeof(pr)));
		else
			say(c, true, "finalize: %s", problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	json_t *order = r == 0 ? resp_json(c, c->order_url) : NULL;
	if (!order) {
		site_failed(c);
		return;
	}
	const char *status = jstr(order, "status");
	if (strcmp(status, "valid") == 0) {
		char cert_url[URL_MAX];
		snprintf(cert_url, sizeof(cert_url), "%s", jstr(order, "certificate"));
		json_decref(order);
		if (!cert_url[0]) {
			say(c, true, "the valid order has no certificate URL");
			site_failed(c);
			return;
		}
		post(c, cert_url, NULL, on_cert);
		return;
	}
	bool waiting = strcmp(status, "processing") == 0 || strcmp(status, "ready") == 0;
	json_decref(order);
	if (!waiting) {
		say(c, true, "the order is %s", status);
		site_failed(c);
	} else if (!wait_retry(c, poll_order)) {
		say(c, true, "the order is still processing after %d s", POLL_LIMIT_S);
		site_failed(c);
	}
}

static void on_cert(struct acme_client *c, int r)
{
	const struct config_site *s = &c->cfg->sites[c->i];
	const char *path = s->tls[0].cert;
	char pr[700];
	if (r == 0 && (c->resp.status != 200 ||
		       strncmp(c->resp.body.data, "-----BEGIN CERTIFICATE-----", 27) != 0)) {
		say(c, true, "certificate %s: %s", c->req_url,
		    c->resp.status == 200 ? "not a PEM chain" : problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	if (r == 0) {
		r = store_cert(c, c->key, c->resp.body.data, c->resp.body.len, path);
		if (r < 0)
			say(c, true, "%s: %s", path, strerror(-r));
	}
	if (r < 0) {
		site_failed(c);
		return;
	}
	c->due[c->i] = false; /* done */
	c->when[c->i] = 0;
	time_t start, end;
	char w[32];
	if (acme_store_cert_times(path, &start, &end) == 0) {
		say(c, false, "certificate stored in %s, valid until %s", path, utc(end, w));
		c->when[c->i] = end - (end - start) / 3;
	}
	site_clear(c);
	c->i++;
	site_next(c);
}

/* ---- the account --------------------------------------------------------------------- */

static void on_account(struct acme_client *c, int r)
{
	char path[PATH_MAX], pr[700];
	if (r == 0 && ((c->resp.status != 200 && c->resp.status != 201) || !c->resp.location[0])) {
		say(c, true, "account at %s: %s", c->cfg->acme_ca, problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	if (r < 0) {
		sites_end(c, r);
		return;
	}
	c->kid = xstrdup(c->resp.location);
	dir_path(c, path, "account", "url");
	char line[URL_MAX + 1];
	int n = snprintf(line, sizeof(line), "%s\n", c->kid);
	acme_store_write(path, line, (size_t)n, 0600);
	if (c->resp.status == 201)
		say(c, false, "account created: %s", c->kid);
	c->i = 0;
	site_next(c);
}

/* The account key (made and stored 0600 the first time), and the account it names. */
static void sites_start(struct acme_client *c)
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
	if (r < 0) {
		sites_end(c, r);
		return;
	}
	json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (c->cfg->acme_email) {
		char mail[CONFIG_ACME_EMAIL_MAX + 8];
		snprintf(mail, sizeof(mail), "mailto:%s", c->cfg->acme_email);
		json_object_set_new(p, "contact", json_pack("[s]", mail));
	}
	char *payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	post(c, c->new_account, payload, on_account);
	free(payload);
}

/* ---- the directory and ARI ----------------------------------------------------------- */

/* After the directory (r < 0: it failed) and ARI. */
static void ari_end(struct acme_client *c, int r)
{
	c->site = NULL;
	if (r < 0 && c->n_due == 0) {
		say(c, false, "no renewal information from the CA; no certificate is due");
		finish(c, 0);
		return;
	}
	if (r < 0) {
		sites_end(c, r);
		return;
	}
	if (c->n_due == 0) {
		finish(c, 0);
		return;
	}
	sites_start(c);
}

static void on_ari(struct acme_client *c, int r);

static void on_ari_fetched(void *ctx, int r)
{
	on_ari(ctx, r);
}

/* The next site to ask ARI about (RFC 9773), with its certificate's identifier. */
static void ari_next(struct acme_client *c)
{
	const struct config *cfg = c->cfg;
	for (; c->i < cfg->n_sites; c->i++) {
		if (!c->ari[c->i])
			continue;
		const struct config_site *s = &cfg->sites[c->i];
		c->site = s->names[0];
		char id[512], url[URL_MAX + 512];
		int r = acme_store_cert_ari_id(s->tls[0].cert, id, sizeof(id));
		if (r < 0) {
			say(c, false, "ARI: no certificate identifier (%s): renewing by the usual rule",
			    strerror(-r));
			continue;
		}
		size_t n = strlen(c->renewal_info);
		snprintf(url, sizeof(url), "%s%s%s", c->renewal_info,
			 n && c->renewal_info[n - 1] == '/' ? "" : "/", id);
		buf_reset(&c->err);
		c->req_method = "GET";
		snprintf(c->req_url, sizeof(c->req_url), "%s", url);
		acme_fetch_request(c->f, "GET", c->req_url, NULL, NULL, 0, &c->resp, &c->err,
				   on_ari_fetched, c);
		return;
	}
	ari_end(c, 0);
}

/* The suggested window: renew now when a random time in it has come; else that time
 * replaces the third-of-the-lifetime rule's. Any failure keeps the rule, with a line in the
 * log. */
static void on_ari(struct acme_client *c, int r)
{
	char why[ACME_ARI_URL_MAX], w1[32], w2[32];
	time_t start, end;
	if (r < 0) {
		buf_cstr(&c->err);
		say(c, false, "ARI: GET %s: %s: renewing by the usual rule", c->req_url,
		    c->err.data);
	} else if (c->resp.status != 200 ||
		   acme_ari_parse(c->resp.body.data ? c->resp.body.data : "", c->resp.body.len,
				  &start, &end, why, sizeof(why)) < 0) {
		say(c, false,
		    "ARI: GET %s: HTTP status %d, no suggested window: renewing by the "
		    "usual rule",
		    c->req_url, c->resp.status);
	} else {
		/* RFC 9773 §4.2: a uniformly random time in the window; one already past: now */
		uint64_t rnd = 0;
		gnutls_rnd(GNUTLS_RND_NONCE, &rnd, sizeof(rnd));
		time_t at = start + (time_t)(rnd % (uint64_t)(end - start));
		if (at <= c->now) {
			say(c, false,
			    "the CA suggests renewing between %s and %s (ARI%s%s): renewing",
			    utc(start, w1), utc(end, w2), why[0] ? ", " : "", why);
			c->due[c->i] = true;
			c->n_due++;
		} else {
			say(c, false, "the CA suggests renewing between %s and %s (ARI%s%s)",
			    utc(start, w1), utc(end, w2), why[0] ? ", " : "", why);
			c->when[c->i] = at;
		}
	}
	c->i++;
	ari_next(c);
}

static void on_directory(struct acme_client *c, int r)
{
	const char *ca = c->cfg->acme_ca;
	char pr[700];
	if (r == 0 && c->resp.status != 200) {
		say(c, true, "directory %s: %s", ca, problem(c, pr, sizeof(pr)));
		r = -EPROTO;
	}
	json_t *dir = r == 0 ? resp_json(c, ca) : NULL;
	if (r == 0 && !dir)
		r = -EPROTO;
	if (dir) {
		copy_url(c->new_nonce, dir, "newNonce");
		copy_url(c->new_account, dir, "newAccount");
		copy_url(c->new_order, dir, "newOrder");
		copy_url(c->renewal_info, dir, "renewalInfo");
		json_decref(dir);
		if (!c->new_nonce[0] || !c->new_account[0] || !c->new_order[0]) {
			say(c, true, "directory %s: no newNonce, newAccount or newOrder", ca);
			r = -EPROTO;
		}
	}
	if (r < 0 || !c->renewal_info[0]) {
		ari_end(c, r);
		return;
	}
	c->i = 0;
	ari_next(c);
}

/* ---- the start ----------------------------------------------------------------------- */

/* Which sites need work, before any network; then the directory. */
static void run_start(struct acme_client *c, int unused)
{
	const struct config *cfg = c->cfg;
	struct acme_options *o = c->o;
	struct buf err;
	buf_init(&err, 4096);
	int r = acme_store_prepare(cfg, &err);
	if (r < 0) {
		buf_cstr(&err);
		say(c, true, "%s", err.data);
		buf_free(&err);
		c->result = r;
		loop_defer(c->loop, &c->end); /* no site tried: no counts */
		return;
	}
	c->now = time(NULL);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (!s->acme || !s->n_names)
			continue;
		time_t start, end;
		char w1[32], w2[32];
		const char *missing = NULL;
		c->site = s->names[0];
		int q = acme_store_cert_check(s->tls[0].cert, s->names, s->n_names, &start, &end,
					      &missing);
		if (q == 0 && missing) {
			say(c, false, "the certificate does not cover %s: obtaining a new one",
			    missing);
			c->due[i] = true;
		} else if (q == -ENOENT) {
			say(c, false, "no certificate yet: obtaining one");
			c->due[i] = true;
		} else if (q < 0) {
			say(c, false, "%s unreadable (%s): obtaining a new one", s->tls[0].cert,
			    strerror(-q));
			c->due[i] = true;
		} else if (o->force || acme_renewal_due(start, end, c->now)) {
			say(c, false, "certificate valid until %s: renewing", utc(end, w1));
			c->due[i] = true;
		} else {
			say(c, false, "certificate valid until %s, renewal from %s: nothing to do",
			    utc(end, w1), utc(end - (end - start) / 3, w2));
			c->when[i] = end - (end - start) / 3;
			c->ari[i] = true;
			c->n_ari++;
		}
		c->n_due += c->due[i];
	}
	c->site = NULL;
	if (c->n_due == 0 && c->n_ari == 0) {
		buf_free(&err);
		finish(c, 0);
		return;
	}
	buf_reset(&err);
	r = acme_fetch_new(c->loop, cfg->acme_ca_root, cfg->acme_timeout_ms, &err, &c->f);
	if (r < 0) {
		buf_cstr(&err);
		say(c, true, "acme-ca-root %s", err.data);
		buf_free(&err);
		finish(c, c->n_due == 0 ? 0 : r); /* only ARI was to be asked: nothing missing */
		return;
	}
	buf_free(&err);
	request(c, "GET", cfg->acme_ca, NULL, on_directory);
}

int acme_client_start(struct loop *l, const struct config *cfg, struct acme_options *o,
		      acme_done_fn *done, void *ctx, struct acme_client **ret)
{
	struct acme_client *c = xcalloc(1, sizeof(*c));
	c->loop = l;
	c->cfg = cfg;
	c->o = o;
	c->done = done;
	c->done_ctx = ctx;
	o->next_due = 0;
	o->n_ok = o->n_failed = 0;
	o->first_failed = NULL;
	c->due = xcalloc(cfg->n_sites + 1, sizeof(*c->due));
	c->ari = xcalloc(cfg->n_sites + 1, sizeof(*c->ari));
	c->when = xcalloc(cfg->n_sites + 1, sizeof(*c->when));
	acme_resp_init(&c->resp);
	buf_init(&c->jws, 4 << 20);
	buf_init(&c->err, 4096);
	buf_init(&c->csr, 64 * 1024);
	c->end.fn = on_end;
	c->timer.cb = on_timer;
	c->after_wait = run_start;
	timer_arm_at(l, &c->timer, l->now_ms); /* from the loop: the caller's loop_run */
	*ret = c;
	return 0;
}

void acme_client_free(struct acme_client *c)
{
	if (!c)
		return;
	timer_cancel(&c->timer);
	acme_fetch_free(c->f);
	site_clear(c);
	acme_key_free(c->acct);
	free(c->kid);
	free(c->post_payload);
	free(c->due);
	free(c->ari);
	free(c->when);
	acme_resp_free(&c->resp);
	buf_free(&c->jws);
	buf_free(&c->err);
	buf_free(&c->csr);
	free(c);
}

static void run_done(void *ctx, int r)
{
	struct loop *l = ctx;
	l->stop = true;
}

int acme_client_run(const struct config *cfg, struct acme_options *o)
{
	struct loop l;
	int r = loop_init(&l);
	if (r < 0) {
		char line[128];
		snprintf(line, sizeof(line), "acme: no event loop: %s", strerror(-r));
		o->log(true, line);
		return r;
	}
	struct acme_client *c;
	acme_client_start(&l, cfg, o, run_done, &l, &c);
	r = loop_run(&l);
	if (r == 0)
		r = c->result;
	acme_client_free(c);
	loop_done(&l);
	return r;
}
