/* Directory reading: opendir/fdopendir/readdir(_r)/closedir, scandir*
 * (reimplemented: glibc's walks internally), getdents64 on our directory
 * fds, and glob via GLOB_ALTDIRFUNC. rewinddir/seekdir/telldir pass through
 * (the DIR* is a real one on the cipher directory) except for the synthetic
 * listing of a missing ancestor of the mount. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/shim.h"

/* A missing ancestor of the mount lists the next component only; the DIR*
 * is a real one on the deepest real directory above it. */
static DIR *anc_opendir(const struct shim_res *r)
{
	char real[PATH_MAX];
	struct stat st = r->st;
	DIR *d;

	shim_anc_real(r->vpath, real, sizeof(real));
	d = REAL(opendir)(real);
	if (!d)
		return NULL;
	if (shim_vdir_register_anc(d, r->vpath)) {
		REAL(closedir)(d);
		errno = ENOMEM;
		return NULL;
	}
	shim_fd_add_anc(dirfd(d), r->vpath, r->cpath, &st);
	return d;
}

static DIR *vopendir(const struct shim_res *r)
{
	struct stat st = r->st;
	DIR *d;

	if (r->exists && r->is_anc)
		return anc_opendir(r);
	if (!r->exists) {
		errno = ENOENT;
		return NULL;
	}
	if (!S_ISDIR(r->st.st_mode)) {
		errno = ENOTDIR;
		return NULL;
	}
	d = REAL(opendir)(r->cpath);
	if (!d)
		return NULL;
	if (shim_vdir_register(d, r->vpath, r->cpath, r->is_root)) {
		int e = errno;

		REAL(closedir)(d);
		errno = e;
		return NULL;
	}
	shim_fd_add(dirfd(d), SHIM_FD_DIR, NULL, r->vpath, r->cpath, &st);
	return d;
}

/* opendir relative to dirfd; *handled = 0 when the path is not ours. */
static DIR *opendir_at(int dirfd, const char *path, int *handled)
{
	struct shim_res r;

	*handled = 0;
	switch (shim_resolve(dirfd, path, 0, &r)) {
	case SHIM_PASS:
		return NULL;
	case SHIM_REAL:
		*handled = 1;
		return REAL(opendir)(r.cpath);
	case SHIM_FAIL:
		*handled = 1;
		errno = r.err;
		return NULL;
	}
	*handled = 1;
	SHIM_DBG("unseal: opendir: %s", r.vpath);
	return vopendir(&r);
}

DIR *shim_opendir_impl(const char *path, int *handled)
{
	return opendir_at(AT_FDCWD, path, handled);
}

SHIM_EXPORT DIR *opendir(const char *path)
{
	int h;
	DIR *d = opendir_at(AT_FDCWD, path, &h);

	return h ? d : REAL(opendir)(path);
}

SHIM_EXPORT DIR *fdopendir(int fd)
{
	struct shim_fd *e = shim_fd_get(fd);
	DIR *d;

	if (!e || e->kind != SHIM_FD_DIR) {
		shim_fd_put(e);
		if (e) {
			errno = ENOTDIR;
			return NULL;
		}
		return REAL(fdopendir)(fd);
	}
	d = REAL(fdopendir)(fd);
	if (d && e->anc) {
		if (shim_vdir_register_anc(d, e->vpath)) {
			shim_fd_put(e);
			return NULL; /* as below: never a plain DIR* */
		}
	} else if (d &&
	           shim_vdir_register(d, e->vpath, e->cpath, !strcmp(e->vpath, shim_cfg.mount))) {
		shim_fd_put(e);
		/* fdopendir took ownership of fd: hand it back as a plain DIR* is
		 * not safe (encrypted names), so fail. */
		return NULL;
	}
	shim_fd_put(e);
	return d;
}

SHIM_EXPORT void rewinddir(DIR *d)
{
	long pos = 0;

	(void)shim_vdir_anc_pos(d, 'r', &pos);
	REAL(rewinddir)(d);
}

SHIM_EXPORT void seekdir(DIR *d, long pos)
{
	if (!shim_vdir_anc_pos(d, 's', &pos))
		REAL(seekdir)(d, pos);
}

SHIM_EXPORT long telldir(DIR *d)
{
	long pos;

	return shim_vdir_anc_pos(d, 't', &pos) ? pos : REAL(telldir)(d);
}

SHIM_EXPORT int closedir(DIR *d)
{
	shim_vdir_forget(d);
	shim_fd_drop(dirfd(d));
	return REAL(closedir)(d);
}

SHIM_EXPORT struct dirent64 *readdir64(DIR *d)
{
	struct dirent64 *e;

	if (shim_vdir_active() && shim_vdir_next(d, &e))
		return e;
	return REAL(readdir64)(d);
}

SHIM_EXPORT struct dirent *readdir(DIR *d)
{
	struct dirent64 *e;

	/* struct dirent == struct dirent64 on x86_64 */
	if (shim_vdir_active() && shim_vdir_next(d, &e))
		return (struct dirent *)e;
	return REAL(readdir)(d);
}

static int readdir_r_core(DIR *d, struct dirent64 *ent, struct dirent64 **res, int is64)
{
	struct dirent64 *e;
	int saved = errno;

	if (!shim_vdir_active() || !shim_vdir_next(d, &e))
		return is64 ? REAL(readdir64_r)(d, ent, res)
		            : REAL(readdir_r)(d, (struct dirent *)ent, (struct dirent **)res);
	if (!e) {
		*res = NULL;
		if (errno != saved)
			return errno;
		return 0;
	}
	memcpy(ent, e, offsetof(struct dirent64, d_name) + strlen(e->d_name) + 1);
	*res = ent;
	return 0;
}

SHIM_EXPORT int readdir64_r(DIR *d, struct dirent64 *ent, struct dirent64 **res)
{
	return readdir_r_core(d, ent, res, 1);
}

SHIM_EXPORT int readdir_r(DIR *d, struct dirent *ent, struct dirent **res)
{
	return readdir_r_core(d, (struct dirent64 *)ent, (struct dirent64 **)res, 0);
}

/* ---- scandir ---- */

typedef int (*filt_fn)(const struct dirent64 *);
typedef int (*cmp_fn)(const struct dirent64 **, const struct dirent64 **);

static int scan_dir(DIR *d, struct dirent64 ***list, filt_fn filt, cmp_fn cmp)
{
	struct dirent64 **v = NULL, *e;
	size_t n = 0, cap = 0;
	int saved = errno;

	errno = 0;
	while ((e = readdir64(d))) {
		size_t sz;
		struct dirent64 *c;

		if (filt && !filt(e))
			continue;
		if (n == cap) {
			struct dirent64 **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				goto oom;
			v = nv;
		}
		sz = offsetof(struct dirent64, d_name) + strlen(e->d_name) + 1;
		c = malloc(sz < sizeof(*c) ? sizeof(*c) : sz);
		if (!c)
			goto oom;
		memcpy(c, e, sz);
		v[n++] = c;
	}
	if (errno) {
		saved = errno;
		goto fail;
	}
	if (cmp && n > 1)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))cmp);
	*list = v;
	errno = saved;
	return (int)n;
oom:
	saved = ENOMEM;
fail:
	while (n)
		free(v[--n]);
	free(v);
	errno = saved;
	return -1;
}

static int scandir_core(int dirfd, const char *path, struct dirent64 ***list, filt_fn filt,
                        cmp_fn cmp, int *handled)
{
	DIR *d = opendir_at(dirfd, path, handled);
	int n, e;

	if (!*handled)
		return -1;
	if (!d)
		return -1;
	n = scan_dir(d, list, filt, cmp);
	e = errno;
	closedir(d);
	errno = e;
	return n;
}

SHIM_EXPORT int scandir64(const char *p, struct dirent64 ***l, shim_scandir64_filter f,
                          shim_scandir64_cmp c)
{
	int h, n = scandir_core(AT_FDCWD, p, l, f, c, &h);

	return h ? n : REAL(scandir64)(p, l, f, c);
}

SHIM_EXPORT int scandir(const char *p, struct dirent ***l, shim_scandir_filter f,
                        shim_scandir_cmp c)
{
	int h, n = scandir_core(AT_FDCWD, p, (struct dirent64 ***)l, (filt_fn)f, (cmp_fn)c, &h);

	return h ? n : REAL(scandir)(p, l, f, c);
}

SHIM_EXPORT int scandirat64(int d, const char *p, struct dirent64 ***l, shim_scandir64_filter f,
                            shim_scandir64_cmp c)
{
	int h, n = scandir_core(d, p, l, f, c, &h);

	return h ? n : REAL(scandirat64)(d, p, l, f, c);
}

SHIM_EXPORT int scandirat(int d, const char *p, struct dirent ***l, shim_scandir_filter f,
                          shim_scandir_cmp c)
{
	int h, n = scandir_core(d, p, (struct dirent64 ***)l, (filt_fn)f, (cmp_fn)c, &h);

	return h ? n : REAL(scandirat)(d, p, l, f, c);
}

/* ---- getdents64 on a virtual directory fd ---- */

long shim_getdents_impl(int fd, void *buf, size_t len, int *handled)
{
	struct shim_fd *e;
	uint8_t iv[GCFS_DIRIV_LEN];
	char name[GCFS_NAME_MAX + 1];
	char *raw;
	size_t out = 0;
	off_t last = 0;
	ssize_t n;
	int is_root, rc;

	*handled = 0;
	if (!shim_fd_tracked(fd) || shim_busy)
		return -1;
	e = shim_fd_get(fd);
	if (!e)
		return -1;
	if (e->kind != SHIM_FD_DIR) {
		shim_fd_put(e);
		return -1;
	}
	*handled = 1;
	shim_trace_fd("getdents64", fd);
	is_root = !strcmp(e->vpath, shim_cfg.mount);
	rc = shim_diriv(e->cpath, iv);
	raw = rc ? NULL : malloc(len);
	if (!raw) {
		shim_fd_put(e);
		errno = rc ? -rc : ENOMEM;
		return -1;
	}
	n = REAL(getdents64)(fd, raw, len);
	for (ssize_t off = 0; n > 0 && off < n;) {
		struct dirent64 *in = (struct dirent64 *)(raw + off), *o;
		size_t rl;

		off += in->d_reclen;
		if (shim_name_plain(e->cpath, iv, is_root, in->d_name, name))
			continue;
		rl = (offsetof(struct dirent64, d_name) + strlen(name) + 1 + 7) & ~(size_t)7;
		if (out + rl > len) {
			/* Plaintext longer than what fits: resume here next call. */
			if (out == 0) {
				free(raw);
				shim_fd_put(e);
				errno = EINVAL;
				return -1;
			}
			REAL(lseek)(fd, last, SEEK_SET);
			break;
		}
		o = (struct dirent64 *)((char *)buf + out);
		o->d_ino = in->d_ino;
		o->d_off = in->d_off;
		o->d_type = in->d_type;
		o->d_reclen = (unsigned short)rl;
		memcpy(o->d_name, name, strlen(name) + 1);
		out += rl;
		last = in->d_off;
	}
	free(raw);
	shim_fd_put(e);
	return n < 0 ? -1 : (long)out;
}

SHIM_EXPORT ssize_t getdents64(int fd, void *buf, size_t len)
{
	int h;
	long n = shim_getdents_impl(fd, buf, len, &h);

	return h ? n : REAL(getdents64)(fd, buf, len);
}

/* ---- glob: let glibc's matcher use our directory and stat functions ---- */

static void *g_opendir(const char *p)
{
	return opendir(p);
}

static void *g_readdir(void *d)
{
	return readdir64(d);
}

static void g_closedir(void *d)
{
	closedir(d);
}

static int g_stat(const char *p, void *st)
{
	return stat(p, st);
}

static int g_lstat(const char *p, void *st)
{
	return lstat(p, st);
}

#define GLOB_BODY(pat, fl, ef, g, realfn)                                                          \
	do {                                                                                       \
		shim_init();                                                                       \
		if (!shim_cfg.enabled || shim_busy || ((fl)&GLOB_ALTDIRFUNC))                      \
			return realfn(pat, fl, ef, g);                                             \
		(g)->gl_opendir = g_opendir;                                                       \
		(g)->gl_readdir = (void *)g_readdir;                                               \
		(g)->gl_closedir = g_closedir;                                                     \
		(g)->gl_stat = (void *)g_stat;                                                     \
		(g)->gl_lstat = (void *)g_lstat;                                                   \
		return realfn(pat, (fl) | GLOB_ALTDIRFUNC, ef, g);                                 \
	} while (0)

SHIM_EXPORT int glob(const char *pat, int fl, shim_glob_err ef, glob_t *g)
{
	GLOB_BODY(pat, fl, ef, g, REAL(glob));
}

SHIM_EXPORT int glob64(const char *pat, int fl, shim_glob_err ef, glob64_t *g)
{
	GLOB_BODY(pat, fl, ef, g, REAL(glob64));
}
