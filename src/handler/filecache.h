/* A per-worker cache of small static files, in memory, with their validators: a hit costs
 * no open/fstat/read and the whole response goes out in one write. Entries are re-checked
 * (re-opened below the root) once they are older than `valid_ms`, as nginx's
 * open_file_cache_valid does; bounded by entry count and file size, evicting least recently
 * used. Not shared between threads. */
#ifndef FERRY_HANDLER_FILECACHE_H
#define FERRY_HANDLER_FILECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

struct validators {
	char etag[48]; /* with quotes */
	size_t etag_len;
	time_t mtime;
	char last_modified[32];
};

void validators_of(const struct stat *st, struct validators *v);

struct fc_entry {
	struct fc_entry *hnext;       /* hash chain */
	struct fc_entry *prev, *next; /* LRU, most recent first */
	uint64_t hash;
	int root_fd;
	char *path; /* normalized request path */
	size_t path_len;
	uint64_t checked_ms;
	struct validators v;
	const char *mime;
	size_t size;
	char *data;
};

struct file_cache {
	struct fc_entry **table;
	size_t n_buckets; /* power of two */
	size_t n_entries, max_entries;
	size_t max_file;
	uint64_t valid_ms;
	struct fc_entry lru; /* sentinel */
};

/* max_entries 0 disables the cache (get always misses, put does nothing). */
void file_cache_init(struct file_cache *fc, size_t max_entries, size_t max_file, uint64_t valid_ms);
void file_cache_done(struct file_cache *fc);

/* A fresh entry for (root_fd, path), or NULL (a stale entry is dropped). */
const struct fc_entry *file_cache_get(struct file_cache *fc, int root_fd, const char *path,
				      size_t len, uint64_t now_ms);

/* Cache the regular file open at fd (st from fstat) when it is small enough; reads it with
 * pread. Returns the entry, or NULL when not cached (too big, disabled, read error). */
const struct fc_entry *file_cache_put(struct file_cache *fc, int root_fd, const char *path,
				      size_t len, int fd, const struct stat *st, const char *mime,
				      uint64_t now_ms);

#endif
