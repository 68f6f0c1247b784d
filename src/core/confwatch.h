/* `reload-on-change`: notice that the configuration file changed, with inotify. The watch is
 * on the file's directory (and, for a symbolic link, on its target's), filtered by name:
 * editors and configuration managers replace a file (write a new one, rename it over the
 * old) at least as often as they write it in place, and a watch on the file itself would
 * stay on the old inode. The caller debounces and reloads as for SIGHUP. */
#ifndef FERRY_CORE_CONFWATCH_H
#define FERRY_CORE_CONFWATCH_H

#include <limits.h>
#include <stddef.h>

/* watched names: the config and its link target; certwatch.c's certificate, key, OCSP and
 * upstream-ca files and theirs (more: certwatch polls only) */
#define CONFWATCH_MAX 48

struct confwatch {
	int fd; /* the inotify descriptor, for poll(2); -1 when closed */
	struct {
		int wd;
		char name[NAME_MAX + 1];
	} w[CONFWATCH_MAX];
	size_t n;
};

/* Watch paths[0..n) (each an absolute or relative file path). 0 or -errno; on failure
 * nothing stays open. */
int confwatch_open(struct confwatch *cw, const char *const *paths, size_t n);

/* Read every pending event: 1 when one was about a watched name, 0 when none was, -errno
 * on a read error (EAGAIN is 0). Never blocks. */
int confwatch_read(struct confwatch *cw);

/* Accepts a closed or zeroed struct. */
void confwatch_close(struct confwatch *cw);

#endif
