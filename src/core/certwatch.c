/* The signature of a configuration's certificate, key and OCSP files, and of the upstream-ca
 * files of its https:// upstreams (device, inode, size and
 * modification time of each, or why stat failed), taken every CERTWATCH_POLL_MS: renewal
 * tools rename new files into place, which changes the inode; editors rewrite them, which
 * changes the time. stat(2) needs no Landlock right, so this works inside the sandbox. */
#include "core/certwatch.h"

#include <errno.h>
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

static uint64_t files_sig(const struct config *cfg)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (s->proxy.upstream_ca)
			h = file_sig(h, s->proxy.upstream_ca);
		for (size_t j = 0; j < s->n_paths; j++)
			if (s->paths[j].proxy.upstream_ca)
				h = file_sig(h, s->paths[j].proxy.upstream_ca);
		for (size_t j = 0; j < s->n_tls; j++) {
			h = file_sig(h, s->tls[j].cert);
			h = file_sig(h, s->tls[j].key);
			if (s->tls[j].ocsp)
				h = file_sig(h, s->tls[j].ocsp);
		}
	}
	return h;
}

void certwatch_reset(struct certwatch *w, const struct config *cfg, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	if (!has_files(cfg))
		return;
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
		return false;
	}
	if (!w->settling)
		return false;
	w->settling = false;
	return sig != w->loaded;
}
