/* The signature of a configuration's certificate, key and OCSP files, and of the upstream-ca
 * files of its https:// upstreams (device, inode, size and
 * modification time of each, or why stat failed), taken every CERTWATCH_POLL_MS, and
 * CERTWATCH_SETTLE_MS after inotify saw one of their names change (core/confwatch.c): renewal
 * tools rename new files into place, which changes the inode; editors rewrite them, which
 * changes the time. stat(2) needs no Landlock right, so this works inside the sandbox. */
#include "core/certwatch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t mix(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8) { /* FNV-1a, byte by byte */
		h ^= v & 0xff;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t file_sig(uint64_t h, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return mix(h, (uint64_t)errno);
	h = mix(h, (uint64_t)st.st_dev);
	h = mix(h, (uint64_t)st.st_ino);
	h = mix(h, (uint64_t)st.st_size);
	h = mix(h, (uint64_t)st.st_mtim.tv_sec);
	return mix(h, (uint64_t)st.st_mtim.tv_nsec);
}

/* Does cfg name any file to watch? */
static bool has_files(const struct config *cfg)
{
	if (cfg->tls_default)
		return true;
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (s->proxy.upstream_ca)
			return true;
		for (size_t j = 0; j < s->n_paths; j++)
			if (s->paths[j].proxy.upstream_ca)
				return true;
	}
	return false;
}

/* Every watched file, in a stable order, to fn. */
static void each_file(const struct config *cfg, void (*fn)(void *, const char *), void *arg)
{
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (s->proxy.upstream_ca)
			fn(arg, s->proxy.upstream_ca);
		for (size_t j = 0; j < s->n_paths; j++)
			if (s->paths[j].proxy.upstream_ca)
				fn(arg, s->paths[j].proxy.upstream_ca);
		for (size_t j = 0; j < s->n_tls; j++) {
			fn(arg, s->tls[j].cert);
			if (strcmp(s->tls[j].key, s->tls[j].cert) != 0)
				fn(arg, s->tls[j].key);
			if (s->tls[j].ocsp)
				fn(arg, s->tls[j].ocsp);
		}
	}
}

static void sig_one(void *arg, const char *path)
{
	uint64_t *h = arg;
	*h = file_sig(*h, path);
}

static uint64_t files_sig(const struct config *cfg)
{
	uint64_t h = 14695981039346656037ULL;
	each_file(cfg, sig_one, &h);
	return h;
}

struct path_list {
	const char *p[CONFWATCH_MAX];
	size_t n;
	bool overflow;
};

static void list_one(void *arg, const char *path)
{
	struct path_list *l = arg;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->p[i], path) == 0)
			return;
	if (l->n == CONFWATCH_MAX)
		l->overflow = true;
	else
		l->p[l->n++] = path;
}

void certwatch_init(struct certwatch *w)
{
	memset(w, 0, sizeof(*w));
	w->cw.fd = -1;
}

void certwatch_close(struct certwatch *w)
{
	confwatch_close(&w->cw);
}

void certwatch_event(struct certwatch *w, uint64_t now_ms)
{
	if (w->cw.fd >= 0 && confwatch_read(&w->cw) > 0 && w->next_ms)
		w->next_ms = now_ms + CERTWATCH_SETTLE_MS;
}

void certwatch_reset(struct certwatch *w, const struct config *cfg, uint64_t now_ms)
{
	certwatch_close(w);
	certwatch_init(w);
	if (!has_files(cfg))
		return;
	/* the watch first, then the signature: a change in between is seen by both */
	struct path_list l = {.n = 0};
	each_file(cfg, list_one, &l);
	if (!l.overflow && confwatch_open(&w->cw, l.p, l.n) < 0)
		w->cw.fd = -1; /* a directory missing, no inotify: polling only */
	w->loaded = w->seen = files_sig(cfg);
	w->next_ms = now_ms + CERTWATCH_POLL_MS;
}

bool certwatch_poll(struct certwatch *w, const struct config *cfg, uint64_t now_ms)
{
	if (!w->next_ms || now_ms < w->next_ms)
		return false;
	w->next_ms = now_ms + CERTWATCH_POLL_MS;
	uint64_t sig = files_sig(cfg);
	if (sig != w->seen) {
		w->seen = sig;
		w->settling = true;
		/* with inotify, an event while it settles moves this poll on again */
		if (w->cw.fd >= 0)
			w->next_ms = now_ms + CERTWATCH_SETTLE_MS;
		return false;
	}
	if (!w->settling)
		return false;
	w->settling = false;
	return sig != w->loaded;
}
