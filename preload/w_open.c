/* The open family: open/openat (+64, fortified, creat) and fopen/freopen.
 * A virtual regular file becomes a fresh open file description on its
 * decrypted memfd; a virtual directory an fd on the cipher directory,
 * tracked so that *at() calls relative to it resolve virtually. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "preload/shim.h"

static int open_dir(const struct shim_res *r, int flags)
{
	struct stat st = r->st;
	int fd;

	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EISDIR;
		return -1;
	}
	fd =
	    REAL(openat)(AT_FDCWD, r->cpath, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW), 0);
	if (fd >= 0)
		shim_fd_add(fd, SHIM_FD_DIR, NULL, r->vpath, r->cpath, &st);
	return fd;
}

/* A missing ancestor of the mount: a directory fd on the deepest real
 * directory above it, tracked so that *at() calls, fdopendir and fchdir
 * see the ancestor. */
static int open_anc(const struct shim_res *r, int flags)
{
	char real[PATH_MAX];
	struct stat st = r->st;
	int fd;

	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EISDIR;
		return -1;
	}
	shim_anc_real(r->vpath, real, sizeof(real));
	fd = REAL(openat)(AT_FDCWD, real,
	                  (flags & (O_CLOEXEC | O_PATH | O_NONBLOCK)) | O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0 && shim_fd_add_anc(fd, r->vpath, r->cpath, &st)) {
		REAL(close)(fd);
		errno = EMFILE;
		return -1;
	}
	return fd;
}

/* An O_PATH symlink, a fifo or a device (only their names are encrypted):
 * the real entry, tracked so that fstat shows the plaintext view,
 * readlinkat(fd, "") decrypts, and nothing mutates the cipher entry. */
static int open_node(const struct shim_res *r, int flags)
{
	struct stat st = r->st;
	int fd = REAL(openat)(AT_FDCWD, r->cpath, flags, 0);

	if (fd < 0)
		return fd;
	shim_stat_translate(r->cpath, &st);
	if (shim_fd_add(fd, SHIM_FD_NODE, NULL, r->vpath, r->cpath, &st)) {
		/* Untracked it would show the cipher entry: refuse. */
		REAL(close)(fd);
		errno = EMFILE;
		return -1;
	}
	return fd;
}

static int open_file(const struct shim_res *r, int flags, int allow_stream)
{
	struct shim_file *f;
	struct stat st = r->st;
	int fd, h = 0;

	st.st_size = (off_t)gcfs_plain_size((uint64_t)r->st.st_size);
	if (allow_stream && !(flags & O_PATH) && shim_stream_want((uint64_t)st.st_size)) {
		fd = shim_stream_open(r, flags, &h);
		if (h)
			return fd;
	}
	for (int tries = 0;; tries++) {
		int e;

		f = shim_file_get(r);
		if (!f)
			return -1;
		fd = shim_file_reopen(f, flags);
		if (fd >= 0)
			break;
		e = errno;
		if (e == ESTALE) {
			/* Our memfd was closed or replaced under us: decrypt
			 * again rather than trust what sits at its number. */
			shim_log(SHIM_LOG_WARN, "unseal: open: %s: cached plaintext lost, %s",
			         r->vpath, tries ? "giving up" : "decrypting again");
			shim_file_stale(f);
		}
		shim_file_put(f);
		if (e == ESTALE && !tries)
			continue;
		errno = e == ESTALE ? EIO : e;
		return -1;
	}
	if (shim_fd_add(fd, SHIM_FD_FILE, f, r->vpath, r->cpath, &st))
		shim_file_put(f); /* untracked: still plaintext, just no fstat spoofing */
	return fd;
}

static int open_core(int dirfd, const char *path, int flags, mode_t mode, int allow_stream,
                     int *handled)
{
	struct shim_res r;
	int saved = errno, rf = 0, fd;

	*handled = 0;
	if (flags & O_NOFOLLOW)
		rf |= SHIM_R_NOFOLLOW;
	if ((flags & O_CREAT) && (flags & O_EXCL))
		rf |= SHIM_R_NOFOLLOW;
	switch (shim_resolve(dirfd, path, rf, &r)) {
	case SHIM_PASS:
		return -1;
	case SHIM_REAL:
		*handled = 1;
		return REAL(openat)(AT_FDCWD, r.cpath, flags, mode);
	case SHIM_FAIL:
		*handled = 1;
		SHIM_DBG("unseal: open: %s: %s", path, strerror(r.err));
		errno = r.err;
		return -1;
	}
	*handled = 1;
	SHIM_DBG("unseal: open: %s (flags 0%o)", r.vpath, (unsigned)flags);
	if (!r.exists) {
		errno = (flags & O_CREAT) ? EROFS : ENOENT;
		return -1;
	}
	if ((flags & O_CREAT) && (flags & O_EXCL)) {
		errno = EEXIST;
		return -1;
	}
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		errno = EROFS;
		return -1;
	}
	if (S_ISLNK(r.st.st_mode)) {
		/* Only reachable with O_NOFOLLOW: the kernel semantics
		 * (O_DIRECTORY is checked before the symlink's ELOOP). */
		if (flags & O_DIRECTORY) {
			errno = ENOTDIR;
			return -1;
		}
		if (!(flags & O_PATH)) {
			errno = ELOOP;
			return -1;
		}
		fd = open_node(&r, flags);
	} else if (r.is_anc)
		fd = open_anc(&r, flags);
	else if (S_ISDIR(r.st.st_mode))
		fd = open_dir(&r, flags);
	else if (flags & O_DIRECTORY) {
		errno = ENOTDIR;
		return -1;
	} else if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
		errno = EROFS;
		return -1;
	} else if (!S_ISREG(r.st.st_mode))
		fd = open_node(&r, flags);
	else
		fd = open_file(&r, flags, allow_stream);
	if (fd >= 0)
		errno = saved;
	return fd;
}

int shim_open_impl(int dirfd, const char *path, int flags, mode_t mode, int *handled)
{
	return open_core(dirfd, path, flags, mode, 1, handled);
}

#define MODE_ARG(flags, mode)                                                                      \
	do {                                                                                       \
		if ((flags) & (O_CREAT | O_TMPFILE)) {                                             \
			va_list ap;                                                                \
			va_start(ap, flags);                                                       \
			mode = (mode_t)va_arg(ap, int);                                            \
			va_end(ap);                                                                \
		}                                                                                  \
	} while (0)

/* open and open64 (openat and openat64) are one call here: only the real
 * symbol they fall back to differs. */
#define OPEN_WRAPPER(name)                                                                         \
	SHIM_EXPORT int name(const char *path, int flags, ...)                                     \
	{                                                                                          \
		mode_t mode = 0;                                                                   \
		int h, fd;                                                                         \
                                                                                                   \
		MODE_ARG(flags, mode);                                                             \
		fd = open_core(AT_FDCWD, path, flags, mode, 1, &h);                                \
		return h ? fd : REAL(name)(path, flags, mode);                                     \
	}

#define OPENAT_WRAPPER(name)                                                                       \
	SHIM_EXPORT int name(int dirfd, const char *path, int flags, ...)                          \
	{                                                                                          \
		mode_t mode = 0;                                                                   \
		int h, fd;                                                                         \
                                                                                                   \
		MODE_ARG(flags, mode);                                                             \
		fd = open_core(dirfd, path, flags, mode, 1, &h);                                   \
		return h ? fd : REAL(name)(dirfd, path, flags, mode);                              \
	}

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

SHIM_EXPORT int __open_2(const char *path, int flags)
{
	int h, fd = open_core(AT_FDCWD, path, flags, 0, 1, &h);

	return h ? fd : REAL(__open_2)(path, flags);
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	int h, fd = open_core(AT_FDCWD, path, flags, 0, 1, &h);

	return h ? fd : REAL(__open64_2)(path, flags);
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	int h, fd = open_core(dirfd, path, flags, 0, 1, &h);

	return h ? fd : REAL(__openat_2)(dirfd, path, flags);
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	int h, fd = open_core(dirfd, path, flags, 0, 1, &h);

	return h ? fd : REAL(__openat64_2)(dirfd, path, flags);
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
	int h, fd = open_core(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1, &h);

	return h ? fd : REAL(creat)(path, mode);
}

SHIM_EXPORT int creat64(const char *path, mode_t mode)
{
	int h, fd = open_core(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1, &h);

	return h ? fd : REAL(creat64)(path, mode);
}

/* ---- stdio ---- */

static int mode_flags(const char *m)
{
	int f;

	switch (m[0]) {
	case 'r':
		f = O_RDONLY;
		break;
	case 'w':
		f = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		f = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -1;
	}
	for (const char *p = m + 1; *p && *p != ','; p++) {
		if (*p == '+')
			f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*p == 'e')
			f |= O_CLOEXEC;
		else if (*p == 'x')
			f |= O_EXCL;
	}
	return f;
}

/* stdio streams get a real fd on plaintext, so glibc's internal reads,
 * seeks and fileno()+mmap all see plaintext; never streaming mode. */
static FILE *fopen_core(const char *path, const char *mode, int *handled)
{
	int flags = mode ? mode_flags(mode) : -1;
	FILE *fp;
	int fd;

	*handled = 0;
	if (flags < 0)
		return NULL;
	fd = open_core(AT_FDCWD, path, flags, 0666, 0, handled);
	if (!*handled || fd < 0)
		return NULL;
	fp = REAL(fdopen)(fd, mode);
	if (!fp) {
		int e = errno;

		shim_fd_drop(fd);
		REAL(close)(fd);
		errno = e;
	}
	return fp;
}

SHIM_EXPORT FILE *fopen(const char *path, const char *mode)
{
	int h;
	FILE *fp = fopen_core(path, mode, &h);

	return h ? fp : REAL(fopen)(path, mode);
}

SHIM_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	int h;
	FILE *fp = fopen_core(path, mode, &h);

	return h ? fp : REAL(fopen64)(path, mode);
}

static FILE *freopen_core(const char *path, const char *mode, FILE *stream, int is64)
{
	FILE *(*real)(const char *, const char *, FILE *) = is64 ? REAL(freopen64) : REAL(freopen);
	int flags = mode ? mode_flags(mode) : -1;
	char proc[64];
	FILE *fp;
	int h = 0, fd = -1;

	if (path && flags >= 0)
		fd = open_core(AT_FDCWD, path, flags, 0666, 0, &h);
	if (h && fd < 0) {
		/* freopen closes the stream even when it fails. */
		shim_fd_drop(fileno(stream));
		fclose(stream);
		return NULL;
	}
	/* The old fd is closed inside glibc, behind close()'s back. */
	if (path)
		shim_fd_drop(fileno(stream));
	if (!h)
		return real(path, mode, stream);
	shim_fmt(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	fp = real(proc, mode, stream);
	if (fp)
		shim_fd_dup(fd, fileno(fp));
	shim_fd_drop(fd);
	REAL(close)(fd);
	return fp;
}

SHIM_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	return freopen_core(path, mode, stream, 0);
}

SHIM_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	return freopen_core(path, mode, stream, 1);
}
