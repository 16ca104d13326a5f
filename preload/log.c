/* Logging: UNSEAL_LOG=error|warn|info|debug (default warn), to stderr or to
 * UNSEAL_LOG_FILE.  Lines look like `unseal: <verb>: <what>: <cause>`.
 * One write(2) per line so lines from threads do not interleave; errno is
 * preserved because wrappers log on their error paths. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/shim.h"

int shim_log_level = SHIM_LOG_WARN;
static int log_fd = 2;
static shim_ifd_id log_id; /* log_fd as an internal fd (ifd.c); ino 0: stderr */

void shim_log_init(void)
{
	const char *lv = getenv("UNSEAL_LOG");
	const char *file = getenv("UNSEAL_LOG_FILE");
	int bad = 0;

	if (lv) {
		if (!strcmp(lv, "error"))
			shim_log_level = SHIM_LOG_ERROR;
		else if (!strcmp(lv, "warn"))
			shim_log_level = SHIM_LOG_WARN;
		else if (!strcmp(lv, "info"))
			shim_log_level = SHIM_LOG_INFO;
		else if (!strcmp(lv, "debug"))
			shim_log_level = SHIM_LOG_DEBUG;
		else
			bad = 1;
	}
	if (file && *file) {
		int fd = REAL(open)(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0)
			log_fd = shim_ifd_hide(fd, &log_id);
	}
	if (bad)
		shim_log(SHIM_LOG_WARN,
		         "unseal: config: UNSEAL_LOG: unknown level '%s' (error, warn, info or "
		         "debug): using warn",
		         lv);
}

void shim_log(int level, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	va_list ap;
	int n;

	if (level > shim_log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errno = saved;
		return;
	}
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* A log file the program has dup2()ed over is not ours to write. */
	if (log_id.ino && !shim_ifd_mine(log_fd, &log_id)) {
		log_id.ino = 0;
		log_fd = 2;
	}
	/* write(2) is not interposed, so this cannot recurse. */
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}

int shim_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}
