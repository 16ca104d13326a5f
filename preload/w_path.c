/* Names and places: readlink (incl. /proc/self/fd/N of our fds), realpath,
 * getcwd/chdir/fchdir (virtual cwd), statfs/statvfs, xattr reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "preload/shim.h"

/* ".../fd/<digits>": a /proc or /dev/fd link itself, not a path below it. */
static int is_fd_link(const char *p)
{
	const char *s = strrchr(p, '/');

	if (!s || !s[1] || s - p < 3 || strncmp(s - 3, "/fd", 3))
		return 0;
	for (s++; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

ssize_t shim_readlink_impl(int dirfd, const char *path, char *buf, size_t len, int *handled)
{
	char tmp[PATH_MAX];
	struct shim_res r;
	ssize_t n;

	*handled = 0;
	if (!path || shim_busy)
		return -1;
	if (path[0] == '/' && is_fd_link(path) && shim_proc_fd_subst(path, tmp, sizeof(tmp))) {
		/* /proc/self/fd/N of our fd: the virtual path, not "/memfd:..." */
		*handled = 1;
		n = (ssize_t)strlen(tmp);
		if ((size_t)n > len)
			n = (ssize_t)len;
		memcpy(buf, tmp, (size_t)n);
		return n;
	}
	/* readlinkat(fd, "") reads the O_PATH symlink fd itself. */
	switch (shim_resolve(dirfd, path, SHIM_R_NOFOLLOW | (path[0] ? 0 : SHIM_R_EMPTY_OK), &r)) {
	case SHIM_PASS:
		return -1;
	case SHIM_REAL:
		*handled = 1;
		return REAL(readlinkat)(AT_FDCWD, r.cpath, buf, len);
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
	if (!S_ISLNK(r.st.st_mode)) {
		errno = path[0] ? EINVAL : ENOENT; /* as the kernel says */
		return -1;
	}
	n = shim_symlink_target(r.cpath, tmp, sizeof(tmp));
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	if ((size_t)n > len)
		n = (ssize_t)len;
	memcpy(buf, tmp, (size_t)n);
	return n;
}

SHIM_EXPORT ssize_t readlink(const char *p, char *b, size_t l)
{
	int h;
	ssize_t n = shim_readlink_impl(AT_FDCWD, p, b, l, &h);

	return h ? n : REAL(readlink)(p, b, l);
}

SHIM_EXPORT ssize_t readlinkat(int d, const char *p, char *b, size_t l)
{
	int h;
	ssize_t n = shim_readlink_impl(d, p, b, l, &h);

	return h ? n : REAL(readlinkat)(d, p, b, l);
}

SHIM_EXPORT ssize_t __readlink_chk(const char *p, char *b, size_t l, size_t bl)
{
	int h;
	ssize_t n;

	if (l > bl)
		return REAL(__readlink_chk)(p, b, l, bl); /* let glibc abort */
	n = shim_readlink_impl(AT_FDCWD, p, b, l, &h);
	return h ? n : REAL(__readlink_chk)(p, b, l, bl);
}

SHIM_EXPORT ssize_t __readlinkat_chk(int d, const char *p, char *b, size_t l, size_t bl)
{
	int h;
	ssize_t n;

	if (l > bl)
		return REAL(__readlinkat_chk)(d, p, b, l, bl);
	n = shim_readlink_impl(d, p, b, l, &h);
	return h ? n : REAL(__readlinkat_chk)(d, p, b, l, bl);
}

/* ---- realpath ---- */

static char *realpath_core(const char *p, char *out, int *handled)
{
	struct shim_res r;

	*handled = 0;
	switch (shim_resolve(AT_FDCWD, p, 0, &r)) {
	case SHIM_PASS:
		return NULL;
	case SHIM_REAL:
		*handled = 1;
		return REAL(realpath)(r.cpath, out);
	case SHIM_FAIL:
		*handled = 1;
		errno = r.err;
		return NULL;
	}
	*handled = 1;
	if (!r.exists) {
		errno = ENOENT;
		return NULL;
	}
	if (!out) {
		out = malloc(strlen(r.vpath) + 1);
		if (!out)
			return NULL;
	}
	strcpy(out, r.vpath);
	return out;
}

SHIM_EXPORT char *realpath(const char *p, char *out)
{
	int h;
	char *r = realpath_core(p, out, &h);

	return h ? r : REAL(realpath)(p, out);
}

SHIM_EXPORT char *__realpath_chk(const char *p, char *out, size_t outlen)
{
	int h;
	char *r;

	if (outlen < PATH_MAX)
		return REAL(__realpath_chk)(p, out, outlen);
	r = realpath_core(p, out, &h);
	return h ? r : REAL(__realpath_chk)(p, out, outlen);
}

SHIM_EXPORT char *canonicalize_file_name(const char *p)
{
	int h;
	char *r = realpath_core(p, NULL, &h);

	return h ? r : REAL(canonicalize_file_name)(p);
}

/* ---- cwd ---- */

static char *getcwd_core(char *buf, size_t size, int *handled)
{
	char v[PATH_MAX];
	size_t n;

	*handled = shim_cwd_get_virtual(v, sizeof(v));
	if (!*handled)
		return NULL;
	n = strlen(v) + 1;
	if (!buf) {
		buf = malloc(size > n ? size : n);
		if (!buf)
			return NULL;
	} else if (size < n) {
		errno = size ? ERANGE : EINVAL;
		return NULL;
	}
	memcpy(buf, v, n);
	return buf;
}

SHIM_EXPORT char *getcwd(char *buf, size_t size)
{
	int h;
	char *r = getcwd_core(buf, size, &h);

	return h ? r : REAL(getcwd)(buf, size);
}

SHIM_EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
	int h;
	char *r;

	if (size > buflen)
		return REAL(__getcwd_chk)(buf, size, buflen);
	r = getcwd_core(buf, size, &h);
	return h ? r : REAL(__getcwd_chk)(buf, size, buflen);
}

SHIM_EXPORT char *get_current_dir_name(void)
{
	int h;
	char *r = getcwd_core(NULL, 0, &h);

	return h ? r : REAL(get_current_dir_name)();
}

SHIM_EXPORT int chdir(const char *p)
{
	struct shim_res r;
	int rc;

	switch (shim_resolve(AT_FDCWD, p, 0, &r)) {
	case SHIM_FAIL:
		errno = r.err;
		return -1;
	case SHIM_VIRT:
		if (!r.exists) {
			errno = ENOENT;
			return -1;
		}
		if (!S_ISDIR(r.st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		/* Never the cipher root for an ancestor: an exec'd child would
		 * take that for the mount.  The deepest real directory above
		 * is the honest real cwd. */
		if (r.is_anc)
			shim_anc_real(r.vpath, r.cpath, sizeof(r.cpath));
		rc = REAL(chdir)(r.cpath);
		if (rc == 0 && !shim_foreign())
			shim_cwd_set_virtual(r.vpath);
		return rc;
	default:
		rc = REAL(chdir)(shim_res_path(&r, p));
		if (rc == 0 && shim_cfg.enabled && !shim_foreign()) {
			int saved = errno;

			shim_cwd_set_real();
			errno = saved;
		}
		return rc;
	}
}

SHIM_EXPORT int fchdir(int fd)
{
	struct shim_fd *e = shim_fd_get(fd);
	int rc;

	shim_trace_fd(__func__, fd);
	rc = REAL(fchdir)(fd);

	if (rc == 0 && !shim_foreign()) {
		int saved = errno;

		if (e && e->kind == SHIM_FD_DIR)
			shim_cwd_set_virtual(e->vpath);
		else if (shim_cfg.enabled)
			shim_cwd_set_real();
		errno = saved;
	}
	shim_fd_put(e);
	return rc;
}

/* ---- statfs / statvfs ---- */

/* Cipher path to ask for fs info about (path or fd); 1 if ours. */
static int fs_target(const char *path, int fd, char *out, size_t cap, int *err)
{
	struct shim_res r;

	*err = 0;
	if (!path) {
		struct shim_fd *e = shim_fd_get(fd);

		if (!e)
			return 0;
		shim_fmt(out, cap, "%s", e->cpath);
		shim_fd_put(e);
		return 1;
	}
	switch (shim_resolve(AT_FDCWD, path, 0, &r)) {
	case SHIM_PASS:
		return 0;
	case SHIM_FAIL:
		*err = r.err;
		return 1;
	case SHIM_VIRT:
		if (!r.exists) {
			*err = ENOENT;
			return 1;
		}
		/* fall through */
	default:
		shim_fmt(out, cap, "%s", r.cpath);
		return 1;
	}
}

#define FS_BODY(path, fd, buf, call, realcall, fld)                                                \
	do {                                                                                       \
		char c_[PATH_MAX];                                                                 \
		int e_, rc_;                                                                       \
		if (!fs_target(path, fd, c_, sizeof(c_), &e_))                                     \
			return realcall;                                                           \
		if (e_) {                                                                          \
			errno = e_;                                                                \
			return -1;                                                                 \
		}                                                                                  \
		rc_ = call(c_, buf);                                                               \
		if (rc_ == 0) /* read-only view */                                                 \
			(buf)->fld |= ST_RDONLY;                                                   \
		return rc_;                                                                        \
	} while (0)

/* The path call fills struct <name>; the fd call fills the struct of its path
 * twin, resolved through fs_target and answered by the path twin. */
#define FS_PATH_WRAPPER(name, fld)                                                                 \
	SHIM_EXPORT int name(const char *p, struct name *b)                                        \
	{                                                                                          \
		FS_BODY(p, -1, b, REAL(name), REAL(name)(p, b), fld);                              \
	}

#define FS_FD_WRAPPER(name, path_twin, fld)                                                        \
	SHIM_EXPORT int name(int fd, struct path_twin *b)                                          \
	{                                                                                          \
		FS_BODY(NULL, fd, b, REAL(path_twin), REAL(name)(fd, b), fld);                     \
	}

FS_PATH_WRAPPER(statfs, f_flags)
FS_PATH_WRAPPER(statfs64, f_flags)
FS_FD_WRAPPER(fstatfs, statfs, f_flags)
FS_FD_WRAPPER(fstatfs64, statfs64, f_flags)
FS_PATH_WRAPPER(statvfs, f_flag)
FS_PATH_WRAPPER(statvfs64, f_flag)
FS_FD_WRAPPER(fstatvfs, statvfs, f_flag)
FS_FD_WRAPPER(fstatvfs64, statvfs64, f_flag)

/* ---- xattrs: cipher xattr names are encrypted; show none ---- */

/* 0: call the real function with *use; else an errno, or -1 for "none". */
static int xattr_target(const char *p, int nofollow, struct shim_res *r, const char **use)
{
	*use = p;
	switch (shim_resolve(AT_FDCWD, p, nofollow ? SHIM_R_NOFOLLOW : 0, r)) {
	case SHIM_PASS:
		return 0;
	case SHIM_REAL:
		*use = r->cpath;
		return 0;
	case SHIM_FAIL:
		return r->err;
	}
	return r->exists ? -1 : ENOENT;
}

#define XGET_BODY(p, nofollow, realfn, none, ...)                                                  \
	do {                                                                                       \
		struct shim_res r_;                                                                \
		const char *U;                                                                     \
		int e_ = xattr_target(p, nofollow, &r_, &U);                                       \
		if (!e_)                                                                           \
			return realfn(U, __VA_ARGS__);                                             \
		if (e_ < 0)                                                                        \
			e_ = (none);                                                               \
		if (!e_)                                                                           \
			return 0;                                                                  \
		errno = e_;                                                                        \
		return -1;                                                                         \
	} while (0)

SHIM_EXPORT ssize_t getxattr(const char *p, const char *n, void *v, size_t s)
{
	XGET_BODY(p, 0, REAL(getxattr), ENODATA, n, v, s);
}

SHIM_EXPORT ssize_t lgetxattr(const char *p, const char *n, void *v, size_t s)
{
	XGET_BODY(p, 1, REAL(lgetxattr), ENODATA, n, v, s);
}

SHIM_EXPORT ssize_t listxattr(const char *p, char *l, size_t s)
{
	XGET_BODY(p, 0, REAL(listxattr), 0, l, s);
}

SHIM_EXPORT ssize_t llistxattr(const char *p, char *l, size_t s)
{
	XGET_BODY(p, 1, REAL(llistxattr), 0, l, s);
}
