/* Basic authentication: the Authorization field (http/auth.c parses it), the block's users
 * (config_auth_user), crypt_rn(3) to hash the password with the user's setting, a
 * constant-time comparison, and a per-worker table of recently verified credentials.
 *
 * Cost: a yescrypt verification with Debian's default parameters takes about 10 ms of CPU
 * and 4 MiB (bcrypt at cost 10 more), on the worker's event loop. Browsers send the same
 * credentials with every request, so a verified pair is remembered: the key is SHA-256 of
 * (the stored hash, the user, the password) — never the password itself — in a direct-mapped
 * table of AUTH_CACHE_SLOTS entries per worker, each valid AUTH_CACHE_TTL_MS. A changed hash
 * (a new password in a reload) is another key; a removed user is not found before the table
 * is looked at. Failures are not remembered. */
#include "handler/auth.h"

#include <crypt.h>
#include <errno.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "config/config.h"
#include "core/server.h"
#include "http/auth.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"

#define AUTH_CACHE_SLOTS 256
#define AUTH_CACHE_TTL_MS (5 * 60 * 1000)

struct auth_worker {
	struct crypt_data cd; /* crypt_rn's scratch (32 KiB): one per worker, not per call */
	struct {
		uint8_t key[SHA256_DIGEST_SIZE];
		uint64_t until_ms; /* 0: empty */
	} cache[AUTH_CACHE_SLOTS];
};

/* Equal, in a time that depends only on n. */
static bool ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static void cache_key(const struct config_auth_user *u, const struct http_basic_cred *c,
		      uint8_t key[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx h;
	sha256_init(&h);
	sha256_update(&h, strlen(u->hash) + 1, (const uint8_t *)u->hash);
	sha256_update(&h, c->user_len, (const uint8_t *)c->user);
	sha256_update(&h, 1, (const uint8_t *)"");
	sha256_update(&h, c->pass_len, (const uint8_t *)c->pass);
	sha256_digest(&h, SHA256_DIGEST_SIZE, key);
	explicit_bzero(&h, sizeof(h));
}

int auth_check(struct http_exchange *x, const struct http_request *req,
	       const struct config_auth *au)
{
	const struct http_header *h = NULL;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *f = &req->headers[i];
		if (f->name_len == 13 && strncasecmp(f->name, "authorization", 13) == 0) {
			if (h)
				return -1; /* which one would count? */
			h = f;
		}
	}
	if (!h)
		return 0;
	char buf[HTTP_BASIC_MAX / 4 * 3 + 1];
	struct http_basic_cred c;
	int r = http_basic_auth_parse(h->value, h->value_len, buf, sizeof(buf) - 1, &c);
	if (r == -ENOENT)
		return 0; /* another scheme: not credentials for us */
	if (r < 0)
		return -1;
	((char *)c.pass)[c.pass_len] = '\0'; /* crypt_rn takes a C string (no NUL inside) */

	struct worker *wk = x->wk;
	struct auth_worker *aw = worker_slot(wk, WORKER_SLOT_AUTH, sizeof(*aw));
	const struct config_auth_user *u = config_auth_user(au, c.user, c.user_len);
	uint64_t now = wk->loop.now_ms;
	uint8_t key[SHA256_DIGEST_SIZE];
	int ok = 0;
	if (u) {
		cache_key(u, &c, key);
		unsigned slot = (key[0] | (unsigned)key[1] << 8) % AUTH_CACHE_SLOTS;
		if (aw->cache[slot].until_ms > now &&
		    ct_equal(aw->cache[slot].key, key, sizeof(key))) {
			ok = 1;
			goto out;
		}
	}
	/* An unknown user costs the same hash as a known one (with the first user's setting),
	 * so that the time of a 401 does not tell which names exist. */
	const char *setting = u ? u->hash : au->users[0].hash;
	const char *out = crypt_rn(c.pass, setting, &aw->cd, sizeof(aw->cd));
	size_t n = strlen(setting);
	if (u && out && out[0] != '*' && strlen(out) == n && ct_equal(out, setting, n)) {
		unsigned slot = (key[0] | (unsigned)key[1] << 8) % AUTH_CACHE_SLOTS;
		memcpy(aw->cache[slot].key, key, sizeof(key));
		aw->cache[slot].until_ms = now + AUTH_CACHE_TTL_MS;
		ok = 1;
	}
	explicit_bzero(aw->cd.output, sizeof(aw->cd.output));
	explicit_bzero(aw->cd.input, sizeof(aw->cd.input));
out:
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(key, sizeof(key));
	return ok;
}

static void auth_serve(struct http_exchange *x, const struct http_request *req,
		       const struct http_route *rt)
{
	static const char body[] = "<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title>"
				   "</head><body><h1>401 Unauthorized</h1></body></html>\n";
	http_resp_start(x, 401);
	/* the realm was checked when the configuration was read: no quote, backslash, control */
	http_resp_headerf(x, "WWW-Authenticate", "Basic realm=\"%s\", charset=\"UTF-8\"",
			  rt->auth->realm);
	http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_end_head(x, (int64_t)STRLEN(body));
	http_resp_body_mem(x, body, STRLEN(body));
}

const struct http_handler auth_handler = {
    .name = "auth",
    .streams_body = false,
    .serve = auth_serve,
};

void auth_worker_exit(struct worker *wk)
{
	struct auth_worker *aw = wk->app_data[WORKER_SLOT_AUTH];
	if (aw) {
		explicit_bzero(aw, sizeof(*aw));
		free(aw);
		wk->app_data[WORKER_SLOT_AUTH] = NULL;
	}
}
