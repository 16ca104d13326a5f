/* Metadata: the stat family (2.33 names, 64 variants, legacy __xstat*),
 * statx and access.  Virtual paths are answered from the cipher entry with
 * the plaintext size; our fds are spoofed to the cipher entry's identity.
 * On x86_64 struct stat and struct stat64 have the same layout. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "preload/shim.h"

int shim_fstat_impl(int fd, struct stat *st, int *handled)
{
	struct shim_fd *e;

	*handled = 0;
	if (!shim_fd_tracked(fd) || shim_busy)
		return -1;
	e = shim_fd_get(fd);
	if (!e)
		return -1;
	*handled = 1;
	shim_trace_fd("fstat", fd);
	*st = e->st;
	shim_fd_put(e);
	return 0;
}

int shim_stat_impl(int dirfd, const char *path, struct stat *st, int atflags, int *handled)
{
	struct shim_res r;
	int rf = SHIM_R_EMPTY_OK;

	*handled = 0;
	if (path && !path[0] && (atflags & AT_EMPTY_PATH) && dirfd != AT_FDCWD)
		return shim_fstat_impl(dirfd, st, handled);
	if (path && !path[0] && !(atflags & AT_EMPTY_PATH))
		return -1; /* the real call gives ENOENT */
	if (atflags & AT_SYMLINK_NOFOLLOW)
		rf |= SHIM_R_NOFOLLOW;
	switch (shim_resolve(dirfd, path, rf, &r)) {
	case SHIM_PASS:
		return -1;
	case SHIM_REAL:
		*handled = 1;
		return REAL(fstatat)(AT_FDCWD, r.cpath, st, atflags & AT_SYMLINK_NOFOLLOW);
	case SHIM_FAIL:
		*handled = 1;
		errno = r.err;
		return -1;
	}
	*handled = 1;
	SHIM_DBG("unseal: stat: %s", r.vpath);
	if (!r.exists) {
		errno = ENOENT;
		return -1;
	}
	*st = r.st;
	shim_stat_translate(r.cpath, st);
	return 0;
}

#define STAT_BODY(dirfd, path, st, fl, realcall)                                                   \
	do {                                                                                       \
		int h_, rc_ = shim_stat_impl(dirfd, path, (struct stat *)(st), fl, &h_);           \
		return h_ ? rc_ : (realcall);                                                      \
	} while (0)

#define FSTAT_BODY(fd, st, realcall)                                                               \
	do {                                                                                       \
		int h_, rc_ = shim_fstat_impl(fd, (struct stat *)(st), &h_);                       \
		return h_ ? rc_ : (realcall);                                                      \
	} while (0)

SHIM_EXPORT int stat(const char *p, struct stat *st)
{
	STAT_BODY(AT_FDCWD, p, st, 0, REAL(stat)(p, st));
}

SHIM_EXPORT int stat64(const char *p, struct stat64 *st)
{
	STAT_BODY(AT_FDCWD, p, st, 0, REAL(stat64)(p, st));
}

SHIM_EXPORT int lstat(const char *p, struct stat *st)
{
	STAT_BODY(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW, REAL(lstat)(p, st));
}

SHIM_EXPORT int lstat64(const char *p, struct stat64 *st)
{
	STAT_BODY(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW, REAL(lstat64)(p, st));
}

SHIM_EXPORT int fstat(int fd, struct stat *st)
{
	FSTAT_BODY(fd, st, REAL(fstat)(fd, st));
}

SHIM_EXPORT int fstat64(int fd, struct stat64 *st)
{
	FSTAT_BODY(fd, st, REAL(fstat64)(fd, st));
}

SHIM_EXPORT int fstatat(int d, const char *p, struct stat *st, int fl)
{
	STAT_BODY(d, p, st, fl, REAL(fstatat)(d, p, st, fl));
}

SHIM_EXPORT int fstatat64(int d, const char *p, struct stat64 *st, int fl)
{
	STAT_BODY(d, p, st, fl, REAL(fstatat64)(d, p, st, fl));
}

/* Legacy names still imported by binaries built against glibc < 2.33. */
SHIM_EXPORT int __xstat(int v, const char *p, struct stat *st)
{
	STAT_BODY(AT_FDCWD, p, st, 0, REAL(__xstat)(v, p, st));
}

SHIM_EXPORT int __xstat64(int v, const char *p, struct stat64 *st)
{
	STAT_BODY(AT_FDCWD, p, st, 0, REAL(__xstat64)(v, p, st));
}

SHIM_EXPORT int __lxstat(int v, const char *p, struct stat *st)
{
	STAT_BODY(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW, REAL(__lxstat)(v, p, st));
}

SHIM_EXPORT int __lxstat64(int v, const char *p, struct stat64 *st)
{
	STAT_BODY(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW, REAL(__lxstat64)(v, p, st));
}

SHIM_EXPORT int __fxstat(int v, int fd, struct stat *st)
{
	FSTAT_BODY(fd, st, REAL(__fxstat)(v, fd, st));
}

SHIM_EXPORT int __fxstat64(int v, int fd, struct stat64 *st)
{
	FSTAT_BODY(fd, st, REAL(__fxstat64)(v, fd, st));
}

SHIM_EXPORT int __fxstatat(int v, int d, const char *p, struct stat *st, int fl)
{
	STAT_BODY(d, p, st, fl, REAL(__fxstatat)(v, d, p, st, fl));
}

SHIM_EXPORT int __fxstatat64(int v, int d, const char *p, struct stat64 *st, int fl)
{
	STAT_BODY(d, p, st, fl, REAL(__fxstatat64)(v, d, p, st, fl));
}

/* ---- statx ---- */

static void ts_to_stx(struct statx_timestamp *t, const struct timespec *ts)
{
	t->tv_sec = ts->tv_sec;
	t->tv_nsec = (uint32_t)ts->tv_nsec;
}

static void stat_to_statx(const struct stat *st, struct statx *x)
{
	memset(x, 0, sizeof(*x));
	x->stx_mask = STATX_BASIC_STATS;
	x->stx_blksize = (uint32_t)st->st_blksize;
	x->stx_nlink = (uint32_t)st->st_nlink;
	x->stx_uid = st->st_uid;
	x->stx_gid = st->st_gid;
	x->stx_mode = (uint16_t)st->st_mode;
	x->stx_ino = st->st_ino;
	x->stx_size = (uint64_t)st->st_size;
	x->stx_blocks = (uint64_t)st->st_blocks;
	ts_to_stx(&x->stx_atime, &st->st_atim);
	ts_to_stx(&x->stx_mtime, &st->st_mtim);
	ts_to_stx(&x->stx_ctime, &st->st_ctim);
	x->stx_rdev_major = major(st->st_rdev);
	x->stx_rdev_minor = minor(st->st_rdev);
	x->stx_dev_major = major(st->st_dev);
	x->stx_dev_minor = minor(st->st_dev);
}

/* statx of the cipher entry, then the plaintext size from `view`. */
static int statx_cipher(const char *cpath, int flags, unsigned mask, struct statx *x,
                        const struct stat *view)
{
	int rc = REAL(statx)(AT_FDCWD, cpath, AT_SYMLINK_NOFOLLOW | (flags & AT_STATX_SYNC_TYPE),
	                     mask, x);

	if (rc < 0) {
		stat_to_statx(view, x);
		return 0;
	}
	x->stx_size = (uint64_t)view->st_size;
	return 0;
}

int shim_statx_impl(int dirfd, const char *path, int flags, unsigned mask, void *stxp, int *handled)
{
	struct statx *x = stxp;
	struct shim_res r;
	struct stat st;
	int rc;

	*handled = 0;
	if (path && !path[0] && (flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD) {
		struct shim_fd *e;

		if (!shim_fd_tracked(dirfd) || shim_busy)
			return -1;
		e = shim_fd_get(dirfd);
		if (!e)
			return -1;
		*handled = 1;
		rc = statx_cipher(e->cpath, flags, mask, x, &e->st);
		shim_fd_put(e);
		return rc;
	}
	if (path && !path[0] && !(flags & AT_EMPTY_PATH))
		return -1;
	switch (shim_resolve(
	    dirfd, path, SHIM_R_EMPTY_OK | ((flags & AT_SYMLINK_NOFOLLOW) ? SHIM_R_NOFOLLOW : 0),
	    &r)) {
	case SHIM_PASS:
		return -1;
	case SHIM_REAL:
		*handled = 1;
		return REAL(statx)(AT_FDCWD, r.cpath, flags & ~AT_EMPTY_PATH, mask, x);
	case SHIM_FAIL:
		*handled = 1;
		errno = r.err;
		return -1;
	}
	*handled = 1;
	SHIM_DBG("unseal: statx: %s", r.vpath);
	if (!r.exists) {
		errno = ENOENT;
		return -1;
	}
	st = r.st;
	shim_stat_translate(r.cpath, &st);
	return statx_cipher(r.cpath, flags, mask, x, &st);
}

SHIM_EXPORT int statx(int d, const char *p, int fl, unsigned mask, struct statx *x)
{
	int h, rc = shim_statx_impl(d, p, fl, mask, x, &h);

	return h ? rc : REAL(statx)(d, p, fl, mask, x);
}

/* ---- access ---- */

int shim_access_impl(int dirfd, const char *path, int mode, int flags, int *handled)
{
	struct shim_res r;

	*handled = 0;
	switch (
	    shim_resolve(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? SHIM_R_NOFOLLOW : 0, &r)) {
	case SHIM_PASS:
		return -1;
	case SHIM_REAL:
		*handled = 1;
		return REAL(faccessat)(AT_FDCWD, r.cpath, mode, flags);
	case SHIM_FAIL:
		*handled = 1;
		errno = r.err;
		return -1;
	}
	*handled = 1;
	if (!r.exists) {
		errno = ENOENT;
		return -1;
	}
	if (mode & W_OK) {
		errno = EROFS;
		return -1;
	}
	return REAL(faccessat)(AT_FDCWD, r.cpath, mode, flags);
}

SHIM_EXPORT int access(const char *p, int mode)
{
	int h, rc = shim_access_impl(AT_FDCWD, p, mode, 0, &h);

	return h ? rc : REAL(access)(p, mode);
}

SHIM_EXPORT int faccessat(int d, const char *p, int mode, int fl)
{
	int h, rc = shim_access_impl(d, p, mode, fl, &h);

	return h ? rc : REAL(faccessat)(d, p, mode, fl);
}

SHIM_EXPORT int euidaccess(const char *p, int mode)
{
	int h, rc = shim_access_impl(AT_FDCWD, p, mode, AT_EACCESS, &h);

	return h ? rc : REAL(euidaccess)(p, mode);
}

SHIM_EXPORT int eaccess(const char *p, int mode)
{
	int h, rc = shim_access_impl(AT_FDCWD, p, mode, AT_EACCESS, &h);

	return h ? rc : REAL(eaccess)(p, mode);
}
