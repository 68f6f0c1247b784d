/* The Landlock part of the sandbox (see sandbox.h for what it enforces), for sandbox.c: the
 * ruleset is built while still privileged and enforced later, after the user drop and
 * no_new_privs. */
#ifndef FERRY_SANDBOX_LANDLOCK_H
#define FERRY_SANDBOX_LANDLOCK_H

#include "sandbox/sandbox.h"

/* Build the ruleset for spec's paths and TCP ports (nothing is enforced yet) into *ret_fd, or
 * -1 there when Landlock is not available (report->landlock_abi says why). Counts the rules,
 * lists the missing paths and records the ABI in report. Returns 0 or -errno, with
 * report->path set when a path was at fault. */
int sandbox_landlock_build(const struct sandbox_spec *spec, struct sandbox_report *report,
			   int *ret_fd);

/* Enforce ruleset on the calling thread and the threads it creates from now on (needs
 * no_new_privs, or CAP_SYS_ADMIN). Does not close it. Returns 0 or -errno. */
int sandbox_landlock_restrict(int ruleset);

#endif
