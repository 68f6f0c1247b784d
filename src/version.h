/* What this ferry is built from: its version and the libraries linked into it. */
#ifndef FERRY_VERSION_H
#define FERRY_VERSION_H

#include <stdbool.h>
#include <stdio.h>

/* "ferry VERSION", and with verbose the libraries linked in, their versions (as they report
 * them at run time) and licences, and where the licence texts are. */
void version_print(FILE *f, bool verbose);

#endif
