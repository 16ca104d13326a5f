/* Mutations under the mount: the view is read-only, so EROFS — after the
 * errors the kernel would give first, in the kernel's order (checked
 * against a read-only bind mount by tests/consumers/erofs.c):
 *  - ENOENT/ENOTDIR for a missing or bad parent, always first;
 *  - unlink/rmdir/rename: EROFS even if the final name is missing (the
 *    kernel asks for write access before it looks the name up);
 *  - chmod/chown/utimes/xattr: ENOENT for a missing name, then EROFS;
 *  - mkdir/mknod/symlink/link targets: EEXIST if the name exists;
 *  - truncate: ENOENT, then EISDIR for a directory, EINVAL for a
 *    non-regular file, then EROFS;
 *  - rename/link between the mount and another file system: EXDEV. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "preload/shim.h"

enum { M_EXIST, M_CREATE, M_ANY, M_TRUNC };

/* Returns the path to hand to the real call (original or redirected), or
 * NULL with errno set when the call must fail. */
static const char *mut(int dirfd, const char *path, int how, int nofollow, struct shim_res *r)
{
	switch (shim_resolve(dirfd, path, nofollow ? SHIM_R_NOFOLLOW : 0, r)) {
	case SHIM_PASS:
		return path;
	case SHIM_REAL:
		return r->cpath;
	case SHIM_FAIL:
		errno = r->err;
		return NULL;
	}
	SHIM_DBG("unseal: write: %s: read-only", r->vpath);
	if ((how == M_EXIST || how == M_TRUNC) && !r->exists)
		errno = ENOENT;
	else if (how == M_TRUNC && (r->is_anc || S_ISDIR(r->st.st_mode)))
		errno = EISDIR;
	else if (how == M_TRUNC && !S_ISREG(r->st.st_mode))
		errno = EINVAL;
	else if (how == M_CREATE && r->exists)
		errno = EEXIST;
	else
		errno = EROFS;
	return NULL;
}

/* The call names dirfd itself (NULL path, or "" with AT_EMPTY_PATH) and
 * dirfd is ours: the kernel would change the cipher entry behind it. */
static int self_fd(int d, const char *p, int fl)
{
	return (!p || (!p[0] && (fl & AT_EMPTY_PATH))) && shim_fd_readonly(d);
}

#define SELF_FD(d, p, fl)                                                                          \
	do {                                                                                       \
		if (self_fd(d, p, fl)) {                                                           \
			errno = EROFS;                                                             \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

/* The dirfd to use with what mut() returned. */
#define DFD(d, p, orig) ((p) == (orig) ? (d) : AT_FDCWD)

#define MUT(d, path, how, nf, call)                                                                \
	do {                                                                                       \
		struct shim_res r_;                                                                \
		const char *P = mut(d, path, how, nf, &r_);                                        \
		if (!P)                                                                            \
			return -1;                                                                 \
		return call;                                                                       \
	} while (0)

SHIM_EXPORT int unlink(const char *p)
{
	MUT(AT_FDCWD, p, M_ANY, 1, REAL(unlink)(P));
}

SHIM_EXPORT int unlinkat(int d, const char *p, int fl)
{
	MUT(d, p, M_ANY, 1, REAL(unlinkat)(DFD(d, P, p), P, fl));
}

SHIM_EXPORT int rmdir(const char *p)
{
	MUT(AT_FDCWD, p, M_ANY, 1, REAL(rmdir)(P));
}

SHIM_EXPORT int mkdir(const char *p, mode_t m)
{
	MUT(AT_FDCWD, p, M_CREATE, 1, REAL(mkdir)(P, m));
}

SHIM_EXPORT int mkdirat(int d, const char *p, mode_t m)
{
	MUT(d, p, M_CREATE, 1, REAL(mkdirat)(DFD(d, P, p), P, m));
}

SHIM_EXPORT int mknod(const char *p, mode_t m, dev_t dev)
{
	MUT(AT_FDCWD, p, M_CREATE, 1, REAL(mknod)(P, m, dev));
}

SHIM_EXPORT int mknodat(int d, const char *p, mode_t m, dev_t dev)
{
	MUT(d, p, M_CREATE, 1, REAL(mknodat)(DFD(d, P, p), P, m, dev));
}

SHIM_EXPORT int mkfifo(const char *p, mode_t m)
{
	MUT(AT_FDCWD, p, M_CREATE, 1, REAL(mkfifo)(P, m));
}

SHIM_EXPORT int mkfifoat(int d, const char *p, mode_t m)
{
	MUT(d, p, M_CREATE, 1, REAL(mkfifoat)(DFD(d, P, p), P, m));
}

SHIM_EXPORT int symlink(const char *t, const char *p)
{
	MUT(AT_FDCWD, p, M_CREATE, 1, REAL(symlink)(t, P));
}

SHIM_EXPORT int symlinkat(const char *t, int d, const char *p)
{
	MUT(d, p, M_CREATE, 1, REAL(symlinkat)(t, DFD(d, P, p), P));
}

SHIM_EXPORT int truncate(const char *p, off_t len)
{
	MUT(AT_FDCWD, p, M_TRUNC, 0, REAL(truncate)(P, len));
}

SHIM_EXPORT int truncate64(const char *p, off64_t len)
{
	MUT(AT_FDCWD, p, M_TRUNC, 0, REAL(truncate64)(P, len));
}

SHIM_EXPORT int chmod(const char *p, mode_t m)
{
	MUT(AT_FDCWD, p, M_EXIST, 0, REAL(chmod)(P, m));
}

SHIM_EXPORT int fchmodat(int d, const char *p, mode_t m, int fl)
{
	SELF_FD(d, p, fl);
	MUT(d, p, M_EXIST, fl & AT_SYMLINK_NOFOLLOW, REAL(fchmodat)(DFD(d, P, p), P, m, fl));
}

SHIM_EXPORT int chown(const char *p, uid_t u, gid_t g)
{
	MUT(AT_FDCWD, p, M_EXIST, 0, REAL(chown)(P, u, g));
}

SHIM_EXPORT int lchown(const char *p, uid_t u, gid_t g)
{
	MUT(AT_FDCWD, p, M_EXIST, 1, REAL(lchown)(P, u, g));
}

SHIM_EXPORT int fchownat(int d, const char *p, uid_t u, gid_t g, int fl)
{
	SELF_FD(d, p, fl);
	MUT(d, p, M_EXIST, fl & AT_SYMLINK_NOFOLLOW, REAL(fchownat)(DFD(d, P, p), P, u, g, fl));
}

SHIM_EXPORT int utime(const char *p, const struct utimbuf *t)
{
	MUT(AT_FDCWD, p, M_EXIST, 0, REAL(utime)(P, t));
}

SHIM_EXPORT int utimes(const char *p, const struct timeval t[2])
{
	MUT(AT_FDCWD, p, M_EXIST, 0, REAL(utimes)(P, t));
}

SHIM_EXPORT int lutimes(const char *p, const struct timeval t[2])
{
	MUT(AT_FDCWD, p, M_EXIST, 1, REAL(lutimes)(P, t));
}

SHIM_EXPORT int futimesat(int d, const char *p, const struct timeval t[2])
{
	SELF_FD(d, p, 0);
	MUT(d, p, M_EXIST, 0, REAL(futimesat)(DFD(d, P, p), P, t));
}

SHIM_EXPORT int utimensat(int d, const char *p, const struct timespec t[2], int fl)
{
	SELF_FD(d, p, fl);
	MUT(d, p, M_EXIST, fl & AT_SYMLINK_NOFOLLOW, REAL(utimensat)(DFD(d, P, p), P, t, fl));
}

SHIM_EXPORT int setxattr(const char *p, const char *n, const void *v, size_t s, int fl)
{
	MUT(AT_FDCWD, p, M_EXIST, 0, REAL(setxattr)(P, n, v, s, fl));
}

SHIM_EXPORT int lsetxattr(const char *p, const char *n, const void *v, size_t s, int fl)
{
	MUT(AT_FDCWD, p, M_EXIST, 1, REAL(lsetxattr)(P, n, v, s, fl));
}

SHIM_EXPORT int removexattr(const char *p, const char *n)
{
	MUT(AT_FDCWD, p, M_EXIST, 0, REAL(removexattr)(P, n));
}

SHIM_EXPORT int lremovexattr(const char *p, const char *n)
{
	MUT(AT_FDCWD, p, M_EXIST, 1, REAL(lremovexattr)(P, n));
}

/* ---- two-path operations ---- */

/* Redirected (SHIM_REAL) paths must outlive the shim_res: copy them. */
static const char *keep(int kind, const struct shim_res *r, const char *orig)
{
	return kind == SHIM_REAL ? strdup(r->cpath) : orig;
}

/* rename/link: the kernel looks up both parents (and a link's source),
 * refuses a cross-file-system pair with EXDEV, then asks for write access
 * (EROFS) and only then looks at the final names (link: EEXIST first). */
static int two(int d1, const char *p1, int d2, const char *p2, int is_link, int follow1,
               const char **o1, const char **o2)
{
	struct shim_res r1, r2;
	int k1 = shim_resolve(d1, p1, follow1 ? 0 : SHIM_R_NOFOLLOW, &r1);
	int k2;

	if (k1 == SHIM_FAIL) {
		errno = r1.err;
		return -1;
	}
	if (is_link && k1 == SHIM_VIRT && !r1.exists) {
		errno = ENOENT;
		return -1;
	}
	k2 = shim_resolve(d2, p2, SHIM_R_NOFOLLOW, &r2);
	if (k2 == SHIM_FAIL) {
		errno = r2.err;
		return -1;
	}
	if ((k1 == SHIM_VIRT) != (k2 == SHIM_VIRT)) {
		errno = EXDEV;
		return -1;
	}
	if (k1 == SHIM_VIRT) {
		SHIM_DBG("unseal: write: %s: read-only", r2.vpath);
		errno = is_link && r2.exists ? EEXIST : EROFS;
		return -1;
	}
	*o1 = keep(k1, &r1, p1);
	*o2 = keep(k2, &r2, p2);
	if (!*o1 || !*o2) {
		if (*o1 && *o1 != p1)
			free((void *)*o1);
		if (*o2 && *o2 != p2)
			free((void *)*o2);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

#define TWO(d1, p1, d2, p2, is_link, follow1, call)                                                \
	do {                                                                                       \
		const char *A, *B;                                                                 \
		int rc_, e_;                                                                       \
		if (two(d1, p1, d2, p2, is_link, follow1, &A, &B))                                 \
			return -1;                                                                 \
		rc_ = call;                                                                        \
		e_ = errno;                                                                        \
		if (A != p1)                                                                       \
			free((void *)A);                                                           \
		if (B != p2)                                                                       \
			free((void *)B);                                                           \
		errno = e_;                                                                        \
		return rc_;                                                                        \
	} while (0)

SHIM_EXPORT int rename(const char *a, const char *b)
{
	TWO(AT_FDCWD, a, AT_FDCWD, b, 0, 0, REAL(rename)(A, B));
}

SHIM_EXPORT int renameat(int d1, const char *a, int d2, const char *b)
{
	TWO(d1, a, d2, b, 0, 0, REAL(renameat)(DFD(d1, A, a), A, DFD(d2, B, b), B));
}

SHIM_EXPORT int renameat2(int d1, const char *a, int d2, const char *b, unsigned fl)
{
	TWO(d1, a, d2, b, 0, 0, REAL(renameat2)(DFD(d1, A, a), A, DFD(d2, B, b), B, fl));
}

SHIM_EXPORT int link(const char *a, const char *b)
{
	TWO(AT_FDCWD, a, AT_FDCWD, b, 1, 0, REAL(link)(A, B));
}

SHIM_EXPORT int linkat(int d1, const char *a, int d2, const char *b, int fl)
{
	TWO(d1, a, d2, b, 1, fl & AT_SYMLINK_FOLLOW,
	    REAL(linkat)(DFD(d1, A, a), A, DFD(d2, B, b), B, fl));
}
