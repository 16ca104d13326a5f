/* syscall(): libuv and Rust std route statx (and more) through it.  The
 * path and fd calls we know are served like their libc wrappers; every
 * other number is forwarded untouched with all six arguments (denying
 * unknown numbers broke real programs under torsocks). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/shim.h"

#define A(i) ((long)a[i])
#define P(i) ((void *)a[i])
#define S(i) ((const char *)a[i])

/* One case: run `expr` (which sets h); if handled return it. */
#define TRY(expr)                                                                                  \
	do {                                                                                       \
		long r_ = (long)(expr);                                                            \
		if (h)                                                                             \
			return r_;                                                                 \
	} while (0)

/* dirfd is ours and path is resolved against it (relative, empty or NULL):
 * the kernel would act on the cipher directory behind it. */
static int at_ours(long dirfd, const char *path)
{
	return (!path || path[0] != '/') && shim_fd_readonly((int)dirfd);
}

/* Mutating syscalls through a tracked fd or against a tracked dirfd: the
 * view is read-only (see w_fdmut.c).  1 if refused. */
static int refuse_mut(long nr, const unsigned long *a)
{
	switch (nr) {
	case SYS_fchmod:
	case SYS_fchown:
	case SYS_ftruncate:
	case SYS_fallocate:
	case SYS_fsetxattr:
	case SYS_fremovexattr:
		return shim_fd_readonly((int)A(0));
	case SYS_fchmodat:
	case SYS_fchownat:
	case SYS_utimensat:
	case SYS_futimesat:
	case SYS_mkdirat:
	case SYS_mknodat:
	case SYS_unlinkat:
		return at_ours(A(0), S(1));
	case SYS_symlinkat:
		return at_ours(A(1), S(2));
	case SYS_linkat:
	case SYS_renameat:
	case SYS_renameat2:
		return at_ours(A(0), S(1)) || at_ours(A(2), S(3));
	}
	return 0;
}

static long dispatch(long nr, const unsigned long *a)
{
	int h = 0;

	if (refuse_mut(nr, a)) {
		errno = EROFS;
		return -1;
	}

	switch (nr) {
	case SYS_open:
		TRY(shim_open_impl(AT_FDCWD, S(0), (int)A(1), (mode_t)A(2), &h));
		break;
	case SYS_openat:
		TRY(shim_open_impl((int)A(0), S(1), (int)A(2), (mode_t)A(3), &h));
		break;
	case SYS_openat2: {
		const struct open_how *how = P(2);

		if (how && (size_t)A(3) >= sizeof(*how))
			TRY(shim_open_impl((int)A(0), S(1), (int)how->flags, (mode_t)how->mode,
			                   &h));
		break;
	}
	case SYS_stat:
		TRY(shim_stat_impl(AT_FDCWD, S(0), P(1), 0, &h));
		break;
	case SYS_lstat:
		TRY(shim_stat_impl(AT_FDCWD, S(0), P(1), AT_SYMLINK_NOFOLLOW, &h));
		break;
	case SYS_fstat:
		TRY(shim_fstat_impl((int)A(0), P(1), &h));
		break;
	case SYS_newfstatat:
		TRY(shim_stat_impl((int)A(0), S(1), P(2), (int)A(3), &h));
		break;
	case SYS_statx:
		TRY(shim_statx_impl((int)A(0), S(1), (int)A(2), (unsigned)A(3), P(4), &h));
		break;
	case SYS_access:
		TRY(shim_access_impl(AT_FDCWD, S(0), (int)A(1), 0, &h));
		break;
	case SYS_faccessat:
		TRY(shim_access_impl((int)A(0), S(1), (int)A(2), 0, &h));
		break;
	case SYS_faccessat2:
		TRY(shim_access_impl((int)A(0), S(1), (int)A(2), (int)A(3), &h));
		break;
	case SYS_readlink:
		TRY(shim_readlink_impl(AT_FDCWD, S(0), P(1), (size_t)A(2), &h));
		break;
	case SYS_readlinkat:
		TRY(shim_readlink_impl((int)A(0), S(1), P(2), (size_t)A(3), &h));
		break;
	case SYS_getdents64:
		TRY(shim_getdents_impl((int)A(0), P(1), (size_t)A(2), &h));
		break;
	case SYS_read:
		TRY(shim_stream_pread((int)A(0), P(1), (size_t)A(2), 0, 0, &h));
		break;
	case SYS_pread64:
		TRY(shim_stream_pread((int)A(0), P(1), (size_t)A(2), A(3), 1, &h));
		break;
	case SYS_lseek:
		TRY(shim_stream_lseek((int)A(0), (off_t)A(1), (int)A(2), &h));
		break;
	/* fd life: exactly what the libc wrappers do (w_fd.c). */
	case SYS_close:
		return close((int)A(0));
	case SYS_close_range:
		return close_range((unsigned)A(0), (unsigned)A(1), (int)A(2));
	case SYS_dup:
		return dup((int)A(0));
	case SYS_dup2:
		return dup2((int)A(0), (int)A(1));
	case SYS_dup3:
		return dup3((int)A(0), (int)A(1), (int)A(2));
	}
	return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

SHIM_EXPORT long syscall(long nr, ...)
{
	unsigned long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	return dispatch(nr, a);
}
