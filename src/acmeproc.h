/* `acme-mode integrated`: `ferry serve` runs the ACME client itself, in a child process
 * forked before the sandbox (the server keeps its sandbox and its lack of network rights;
 * the child has what `ferry acme` has), with the same code as `ferry acme`. */
#ifndef FERRY_ACMEPROC_H
#define FERRY_ACMEPROC_H

struct server;

/* Fork the child when the config asks for it (no-op otherwise). Call after the listeners
 * are set up and before the sandbox and the workers (no thread exists yet). 0 or -errno. */
int acmeproc_start(struct server *srv, const char *config_path);

#endif
