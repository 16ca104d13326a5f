/* fd life: close/close_range/closefrom, the dup family and stream
 * destructors.  Entries are cleared BEFORE the real close so a racing open
 * that gets the same number never sees a stale entry; errno is preserved.
 * A streaming fd is turned into a plain plaintext fd before anything that
 * would let code outside the shim read it (dup, fdopen). */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "preload/shim.h"

SHIM_EXPORT int close(int fd)
{
	/* The shim's own fd: the program never opened it. */
	if (shim_ifd_is(fd) && !shim_busy) {
		errno = EBADF;
		return -1;
	}
	if (shim_fd_tracked(fd)) {
		int saved = errno;

		shim_trace_fd(__func__, fd);
		shim_fd_drop(fd);
		errno = saved;
	}
	return REAL(close)(fd);
}

SHIM_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	/* In CPython's vfork child this runs on shared memory: drop_range
	 * checks the pid and leaves the parent's table alone. */
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		int saved = errno;

		shim_fd_drop_range(lo, hi);
		errno = saved;
	}
	return shim_ifd_close_range(lo, hi, flags);
}

SHIM_EXPORT void closefrom(int lo)
{
	int saved = errno;

	if (lo >= 0)
		shim_fd_drop_range((unsigned)lo, ~0u);
	errno = saved;
	if (lo < 0)
		REAL(closefrom)(lo);
	else
		shim_ifd_closefrom(lo);
}

SHIM_EXPORT int dup(int fd)
{
	int nfd;

	shim_trace_fd(__func__, fd);
	if (shim_fill_failed(fd))
		return -1;
	nfd = REAL(dup)(fd);
	if (nfd >= 0 && shim_fd_tracked(fd))
		shim_fd_dup(fd, nfd);
	return nfd;
}

SHIM_EXPORT int dup2(int o, int n)
{
	int r;

	shim_trace_fd(__func__, o);
	if (shim_fill_failed(o))
		return -1;
	r = REAL(dup2)(o, n);
	if (r >= 0 && o != n) {
		int saved = errno;

		shim_ifd_lost(n); /* if it was ours, it is the program's now */
		shim_fd_dup(o, n);
		errno = saved;
	}
	return r;
}

SHIM_EXPORT int dup3(int o, int n, int flags)
{
	int r;

	shim_trace_fd(__func__, o);
	if (shim_fill_failed(o))
		return -1;
	r = REAL(dup3)(o, n, flags);
	if (r >= 0) {
		int saved = errno;

		shim_ifd_lost(n);
		shim_fd_dup(o, n);
		errno = saved;
	}
	return r;
}

/* The third argument is an int or a pointer; both travel in one register
 * on x86_64, so forwarding it as a pointer is exact. */
static int fcntl_core(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int r;

	if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
		return real(fd, cmd, arg);
	shim_trace_fd("fcntl", fd);
	if (shim_fill_failed(fd))
		return -1;
	r = real(fd, cmd, arg);
	if (r >= 0 && shim_fd_tracked(fd)) {
		int saved = errno;

		shim_fd_dup(fd, r);
		errno = saved;
	}
	return r;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_core(REAL(fcntl), fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_core(REAL(fcntl64), fd, cmd, arg);
}

SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	/* glibc reads a FILE* internally: it must be real plaintext. */
	shim_trace_fd(__func__, fd);
	if (shim_fill_failed(fd))
		return NULL;
	return REAL(fdopen)(fd, mode);
}

SHIM_EXPORT int fclose(FILE *fp)
{
	if (fp) {
		int fd = fileno(fp), saved = errno;

		if (fd >= 0) {
			shim_trace_fd(__func__, fd);
			shim_fd_drop(fd);
		}
		errno = saved;
	}
	return REAL(fclose)(fp);
}

SHIM_EXPORT int fcloseall(void)
{
	int r = REAL(fcloseall)();

	shim_fd_revalidate();
	return r;
}
