/* acme-dir: what `ferry acme` writes and `ferry serve` reads.
 *
 *   ACME_DIR/account/key.pem         the account key (ECDSA P-256, PKCS#8 PEM), 0600
 *   ACME_DIR/account/url             the account's URL at the CA (its "kid"), 0600
 *   ACME_DIR/certificates/NAME.pem   per `tls acme` site (NAME: its first name): the private
 *                                    key, then the chain (leaf first), 0600
 *   ACME_DIR/challenges/TOKEN        an http-01 key authorization while it is pending, 0644
 *
 * Every file is written atomically (a temporary file, fsync, rename, fsync of the
 * directory): a crash leaves the old file or the new one, never half of one, and perhaps a
 * NAME.tmp.PID beside it, which nothing reads and the next acme_store_prepare() removes once
 * that PID is gone. */
#ifndef FERRY_ACME_STORE_H
#define FERRY_ACME_STORE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "base/buf.h"
#include "config/config.h"

/* Create acme-dir and its three folders when missing (mode 0700, challenges/ 0755), and
 * remove the temporary files that a killed run left in them. 0 or -errno, with the path that
 * failed in err. */
int acme_store_prepare(const struct config *cfg, struct buf *err);

/* Write data to path atomically with this mode. 0 or -errno. */
int acme_store_write(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole small file (at most max bytes, else -EFBIG) into b. 0 or -errno. */
int acme_store_read(const char *path, size_t max, struct buf *b);

/* The validity of the first certificate in a PEM file: 0, -ENOENT, or -EINVAL. With names
 * (n_names > 0), *ret_missing is the first of them the certificate does not cover, or NULL. */
int acme_store_cert_times(const char *path, time_t *ret_start, time_t *ret_end);
int acme_store_cert_check(const char *path, char *const *names, size_t n_names,
			  time_t *ret_start, time_t *ret_end, const char **ret_missing);

/* The ARI identifier (acme_ari_cert_id(), RFC 9773 §4.1) of the first certificate in a PEM
 * file. 0, -ENOENT, -EINVAL (not a certificate, or one with no authority key identifier),
 * -ENOSPC. */
int acme_store_cert_ari_id(const char *path, char *out, size_t size);

#endif
