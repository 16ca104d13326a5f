/* Mutations through an fd the shim tracks: EROFS.
 *
 * A tracked fd is a virtual directory (a REAL fd on the cipher directory,
 * possibly O_PATH), a virtual file (our plaintext memfd) or a streaming
 * placeholder.  fchmod/fchown/futimens/fsetxattr/... on the first one would
 * change the cipher directory itself, and on the others they would pretend
 * the read-only view is writable: refuse them all, like a read-only mount.
 * Untracked fds cost one atomic load and go to libc untouched.
 *
 * The path forms (fchmodat/fchownat/utimensat with AT_EMPTY_PATH or a NULL
 * path) are in w_mut.c, the raw syscall() forms in w_syscall.c; both use
 * shim_fd_readonly() below.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "preload/shim.h"

int shim_fd_readonly(int fd)
{
	struct shim_fd *e;

	if (!shim_fd_tracked(fd))
		return 0;
	e = shim_fd_get(fd);
	if (!e)
		return 0;
	SHIM_DBG("unseal: write: %s: read-only (fd %d)", e->vpath, fd);
	shim_fd_put(e);
	return 1;
}

/* Refuse with EROFS if fd is tracked, else run the real call. */
#define FDMUT(fd, call)                                                                            \
	do {                                                                                       \
		if (shim_fd_readonly(fd)) {                                                        \
			errno = EROFS;                                                             \
			return -1;                                                                 \
		}                                                                                  \
		return call;                                                                       \
	} while (0)

SHIM_EXPORT int fchmod(int fd, mode_t m)
{
	FDMUT(fd, REAL(fchmod)(fd, m));
}

SHIM_EXPORT int fchown(int fd, uid_t u, gid_t g)
{
	FDMUT(fd, REAL(fchown)(fd, u, g));
}

SHIM_EXPORT int futimens(int fd, const struct timespec t[2])
{
	FDMUT(fd, REAL(futimens)(fd, t));
}

SHIM_EXPORT int futimes(int fd, const struct timeval t[2])
{
	FDMUT(fd, REAL(futimes)(fd, t));
}

SHIM_EXPORT int fsetxattr(int fd, const char *n, const void *v, size_t s, int fl)
{
	FDMUT(fd, REAL(fsetxattr)(fd, n, v, s, fl));
}

SHIM_EXPORT int fremovexattr(int fd, const char *n)
{
	FDMUT(fd, REAL(fremovexattr)(fd, n));
}

SHIM_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	FDMUT(fd, REAL(fallocate)(fd, mode, off, len));
}

SHIM_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	FDMUT(fd, REAL(fallocate64)(fd, mode, off, len));
}

SHIM_EXPORT int ftruncate(int fd, off_t len)
{
	FDMUT(fd, REAL(ftruncate)(fd, len));
}

SHIM_EXPORT int ftruncate64(int fd, off64_t len)
{
	FDMUT(fd, REAL(ftruncate64)(fd, len));
}

/* posix_fallocate returns the error number instead of setting errno (and
 * glibc calls the fallocate syscall directly, not our wrapper). */
SHIM_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	if (shim_fd_readonly(fd))
		return EROFS;
	return REAL(posix_fallocate)(fd, off, len);
}

SHIM_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
	if (shim_fd_readonly(fd))
		return EROFS;
	return REAL(posix_fallocate64)(fd, off, len);
}
