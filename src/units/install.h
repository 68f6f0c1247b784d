/* Writing what units_generate() made: into a directory (--out), or where systemd and quadlet
 * look for it (--install), with the commands to run next. The only I/O of `ferry units`. */
#ifndef FERRY_UNITS_INSTALL_H
#define FERRY_UNITS_INSTALL_H

#include <stdio.h>

#include "units/units.h"

/* Write every file into dir (created if missing), each atomically (temporary file, rename),
 * mode 0644. 0 or -errno; the failing path and error are appended to diag. */
int units_write(const struct units *u, const char *dir, struct buf *diag);

/* Place the files: the system's directories (/etc/systemd/system, /etc/containers/systemd,
 * /etc/ferry) or, for UNITS_USER, the same under home/.config. Copies config_src to the path
 * the units read, unless it is that file already. Prints what it wrote and the next commands
 * to out. 0 or -errno (diag says which path). */
int units_install(const struct units *u, const struct units_opts *o, const char *config_src,
		  const char *home, FILE *out, struct buf *diag);

/* The commands to run after --out DIR (or after --install when installed is true). */
void units_print_next(const struct units *u, const struct units_opts *o, const char *config_src,
		      const char *dir, bool installed, FILE *out);

#endif
