/* Error log: one line per event on stderr. When stderr is connected to the journal
 * (JOURNAL_STREAM names stderr's device:inode), lines carry sd-daemon "<N>" priority
 * prefixes instead of a "ferry: level:" prefix. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/macro.h"

enum log_level { LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

void log_init(void);
/* stderr's path when it is a regular file with an absolute name (NULL otherwise): the file
 * SIGUSR1 reopens, whose directory the sandbox keeps writable. */
const char *log_file_path(void);
/* Open path again (append, create 0644) in place of fd, atomically (dup3): for log files a
 * rotation renamed. 0 or -errno. */
int log_reopen_fd(const char *path, int fd, bool cloexec);
/* SIGUSR1: the error log again at its startup path, when it is a file. 1 reopened, 0 not a
 * file, -errno. */
int log_reopen(void);
void log_msg(enum log_level level, const char *fmt, ...) _printf_(2, 3);
/* Each line of text as its own entry (so the journal shows every one), after prefix. */
void log_lines(enum log_level level, const char *prefix, const char *text, size_t len);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)

#endif
