/* The error log: formatting, journald priority prefixes, one write(2) per line. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool journal;
/* stderr's path when it is a regular file (`ferry serve 2>>/var/log/ferry.err`), as it was at
 * startup: SIGUSR1 opens that name again, after logrotate renamed the file. "": not a file. */
static char file_path[PATH_MAX];

void log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	journal = false;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0)
		journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	file_path[0] = '\0';
	if (journal || fstat(2, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	ssize_t n = readlink("/proc/self/fd/2", file_path, sizeof(file_path) - 1);
	/* a relative name would not survive a change of directory; "(deleted)": nothing to
	 * reopen */
	if (n <= 0 || (size_t)n >= sizeof(file_path) - 1 || file_path[0] != '/')
		n = 0;
	file_path[n] = '\0';
	if (n && strstr(file_path, " (deleted)"))
		file_path[0] = '\0';
}

const char *log_file_path(void)
{
	return file_path[0] ? file_path : NULL;
}

int log_reopen_fd(const char *path, int fd, bool cloexec)
{
	int nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (nfd < 0)
		return -errno;
	/* dup3 swaps the file behind fd atomically: a write(2) in progress on another thread
	 * ends in the old file, the next one goes to the new: no line lost or split. */
	int r = dup3(nfd, fd, cloexec ? O_CLOEXEC : 0);
	int e = errno;
	close(nfd);
	return r < 0 ? -e : 0;
}

int log_reopen(void)
{
	if (!file_path[0])
		return 0;
	int r = log_reopen_fd(file_path, 2, false);
	return r < 0 ? r : 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {
		[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};
	char line[2048];
	int n;
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>", level);
	else
		n = snprintf(line, sizeof(line), "ferry: %s: ", names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t r = write(2, line, len);
	(void)r;
}

void log_lines(enum log_level level, const char *prefix, const char *text, size_t len)
{
	const char *line = text, *end = text + len;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		if (n)
			log_msg(level, "%s%.*s", prefix, (int)n, line);
		line += n + 1;
	}
}
