/* The sd_notify protocol, written from sd_notify(3): datagrams of "KEY=VALUE\n" lines sent to
 * the AF_UNIX socket named by NOTIFY_SOCKET (a path, or "@name" for the abstract namespace),
 * or a SOCK_SEQPACKET connection to "vsock:CID:PORT" (one per message, as systemd does). */
#ifndef FERRY_SD_NOTIFY_H
#define FERRY_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Send state to NOTIFY_SOCKET. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset, -errno on
 * failure (-EAFNOSUPPORT for a NOTIFY_SOCKET of no known form, -EINVAL for a malformed one).
 * Thread-safe. Opens a socket per call unless sd_notify_init() kept one. Blocks while the
 * receiver's queue is full (the socket is a blocking one). */
int sd_notify(const char *state);
int sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read NOTIFY_SOCKET once and keep a connected datagram socket (CLOEXEC) for later calls,
 * so sending works after a sandbox forbids socket(). 0 when unset, 1 when ready, -errno.
 * Runs once per process (pthread_once): later calls return the first result. The kept socket
 * is used even if NOTIFY_SOCKET changes afterwards. vsock targets keep nothing (see above).
 * When this returned 0 or an error, sd_notify() goes on reading NOTIFY_SOCKET per call. */
int sd_notify_init(void);

/* sd_notify with file descriptors attached (SCM_RIGHTS), for FDSTORE=1: at most
 * SD_NOTIFY_FDS_MAX per message (the kernel's SCM_MAX_FD). Same returns as sd_notify;
 * -EOPNOTSUPP for a vsock NOTIFY_SOCKET (no fd passing there). The fds stay the caller's. */
#define SD_NOTIFY_FDS_MAX 253
int sd_notify_with_fds(const char *state, const int *fds, size_t n_fds);

/* BARRIER=1 (sd_notify_barrier(3)): wait until the manager has processed every message sent
 * before, at most timeout_ms. 1 when it has, 0 when NOTIFY_SOCKET is unset, -ETIMEDOUT, or
 * another -errno. */
int sd_notify_barrier(unsigned timeout_ms);

/* $FDSTORE: the service's FileDescriptorStoreMax= (set by systemd 254 and later when it is
 * not 0). Returns the number, or 0 when unset or malformed. */
unsigned sd_fdstore_max(void);

/* WATCHDOG_USEC, honoured only when WATCHDOG_PID is unset or equals pid. Returns 1 and the
 * interval in *ret_usec when the watchdog is enabled, 0 when not, -EINVAL when malformed. */
int sd_watchdog_enabled(pid_t pid, uint64_t *ret_usec);

#endif
