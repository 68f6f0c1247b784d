/* The small-file cache: hash table + LRU list, bounded by entries and file size. */
#include "handler/filecache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "http/status.h"

void validators_of(const struct stat *st, struct validators *v)
{
	int n = snprintf(v->etag, sizeof(v->etag), "\"%" PRIx64 "-%" PRIx64 "\"",
			 (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_size);
	v->etag_len = (size_t)n;
	v->mtime = st->st_mtim.tv_sec;
	http_date_format(v->mtime, v->last_modified);
}

static uint64_t hash_of(int root_fd, const char *p, size_t n)
{
	/* FNV-1a: the keys are short paths chosen by clients, and buckets are chained and
	 * bounded by max_entries, so collisions cost time, never memory. */
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)root_fd;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

void file_cache_init(struct file_cache *fc, size_t max_entries, size_t max_file, uint64_t valid_ms)
{
	memset(fc, 0, sizeof(*fc));
	fc->max_entries = max_entries;
	fc->max_file = max_file;
	fc->valid_ms = valid_ms;
	fc->lru.next = fc->lru.prev = &fc->lru;
	if (max_entries == 0)
		return;
	size_t nb = 16;
	while (nb < max_entries)
		nb *= 2;
	fc->n_buckets = nb;
	fc->table = xcalloc(nb, sizeof(*fc->table));
}

static void lru_unlink(struct fc_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push_front(struct file_cache *fc, struct fc_entry *e)
{
	e->next = fc->lru.next;
	e->prev = &fc->lru;
	fc->lru.next->prev = e;
	fc->lru.next = e;
}

static void entry_remove(struct file_cache *fc, struct fc_entry *e)
{
	struct fc_entry **pp = &fc->table[e->hash & (fc->n_buckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	fc->n_entries--;
	free(e->data);
	free(e->path);
	free(e);
}

void file_cache_done(struct file_cache *fc)
{
	while (fc->lru.next != &fc->lru)
		entry_remove(fc, fc->lru.next);
	free(fc->table);
	fc->table = NULL;
}

const struct fc_entry *file_cache_get(struct file_cache *fc, int root_fd, const char *path,
				      size_t len, uint64_t now_ms)
{
	if (!fc->table)
		return NULL;
	uint64_t h = hash_of(root_fd, path, len);
	for (struct fc_entry *e = fc->table[h & (fc->n_buckets - 1)]; e; e = e->hnext) {
		if (e->hash != h || e->root_fd != root_fd || e->path_len != len ||
		    memcmp(e->path, path, len) != 0)
			continue;
		if (now_ms - e->checked_ms >= fc->valid_ms) {
			entry_remove(fc, e);
			return NULL;
		}
		lru_unlink(e);
		lru_push_front(fc, e);
		return e;
	}
	return NULL;
}

const struct fc_entry *file_cache_put(struct file_cache *fc, int root_fd, const char *path,
				      size_t len, int fd, const struct stat *st, const char *mime,
				      uint64_t now_ms)
{
	if (!fc->table || st->st_size < 0 || (uint64_t)st->st_size > fc->max_file)
		return NULL;
	size_t size = (size_t)st->st_size;
	char *data = xmalloc(size);
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, data + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(data); /* changed under us: serve it the slow way this time */
			return NULL;
		}
		got += (size_t)n;
	}
	if (fc->n_entries >= fc->max_entries)
		entry_remove(fc, fc->lru.prev);
	struct fc_entry *e = xcalloc(1, sizeof(*e));
	e->hash = hash_of(root_fd, path, len);
	e->root_fd = root_fd;
	e->path = xstrndup(path, len);
	e->path_len = len;
	e->checked_ms = now_ms;
	validators_of(st, &e->v);
	e->mime = mime;
	e->size = size;
	e->data = data;
	struct fc_entry **b = &fc->table[e->hash & (fc->n_buckets - 1)];
	e->hnext = *b;
	*b = e;
	lru_push_front(fc, e);
	fc->n_entries++;
	return e;
}
