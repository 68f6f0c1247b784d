/* The seccomp part of the sandbox (see sandbox.h for what it refuses), for sandbox.c. */
#ifndef FERRY_SANDBOX_SECCOMP_H
#define FERRY_SANDBOX_SECCOMP_H

#include "sandbox/sandbox.h"

/* Build the filter for spec (which socket families its connect permissions need, strict or
 * not) and install it on every thread of the process (TSYNC). Needs no_new_privs. Sets
 * report->seccomp (and report->strict); seccomp missing from the kernel, or an architecture
 * without a syscall table here, is not an error: report->seccomp < 0 says so. Returns 0 or
 * -errno (-E2BIG: the program outgrew its buffer, -ESRCH: a thread could not be
 * synchronised). */
int sandbox_seccomp_install(const struct sandbox_spec *spec, struct sandbox_report *report);

#endif
