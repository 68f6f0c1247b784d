/* The LISTEN_FDS protocol, written from sd_listen_fds(3): sockets passed by systemd (or Podman,
 * or systemd-socket-activate) as fds 3, 4, ... with optional names in LISTEN_FDNAMES. */
#ifndef FERRY_SD_LISTEN_H
#define FERRY_SD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SD_LISTEN_FDS_START 3
#define SD_LISTEN_FDS_MAX 4096 /* sanity bound on LISTEN_FDS */
#define SD_FDNAME_MAX 255      /* systemd's limit on FileDescriptorName= */

struct sd_listen_fd {
	int fd;
	char name[SD_FDNAME_MAX + 1]; /* "unknown" when no name was passed */
};

/* Split LISTEN_FDNAMES (colon-separated) for n fds into fds[0..n).name; .fd is not touched.
 * names == NULL or empty string gives "unknown" for every fd. Each name must be at most 255
 * chars of printable ASCII (space included) without ':'; an empty field becomes "unknown".
 * Returns 0, -EINVAL for a bad name, or -E2BIG when the number of names differs from n (a
 * startup error). fds is written only on success. Pure: no env access. */
int sd_listen_names_parse(const char *names, size_t n, struct sd_listen_fd *fds);

/* Read LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES. If LISTEN_PID is unset, not a decimal pid, or not
 * our pid (`pid`, pass getpid()), returns 0 with *ret = NULL, *ret_n = 0 and leaves the
 * environment alone. Otherwise sets FD_CLOEXEC on each fd, unsets the three variables (when
 * unset_env; on error paths too), and returns 0 with a malloc'd array in *ret (free(); NULL
 * when LISTEN_FDS is 0 or unset). Errors: -EINVAL for a malformed LISTEN_FDS (decimal,
 * 0..SD_LISTEN_FDS_MAX) or name, -E2BIG for a names/fds count mismatch, -EBADF for an fd
 * that is not open. */
int sd_listen_fds_get(pid_t pid, bool unset_env, struct sd_listen_fd **ret, size_t *ret_n);

#endif
