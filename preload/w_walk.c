/* ftw/nftw (+64): glibc walks with internal getdents/fstatat calls we
 * cannot see, so a walk whose root is virtual is reimplemented here on top
 * of our own opendir/readdir/stat wrappers.  Other roots use glibc's.
 * Not supported here: FTW_CHDIR (ignored: paths stay absolute/relative to
 * the caller's cwd) and FTW_MOUNT (one file system anyway).  fts_* is in
 * w_fts.c. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/shim.h"

#define WALK_MAXDEPTH 512

struct walk {
	int flags;
	shim_nftw_fn nfn; /* nftw */
	shim_ftw_fn ffn;  /* ftw */
	char path[PATH_MAX];
	struct seen {
		dev_t dev;
		ino_t ino;
	} * seen; /* directories visited (following symlinks) */
	size_t nseen, capseen;
};

/* Like glibc: without FTW_PHYS a directory reached twice (through a
 * symlink) is walked once; 1 if already seen. */
static int seen_before(struct walk *w, const struct stat *st)
{
	if (w->flags & FTW_PHYS)
		return 0;
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
			return 1;
	if (w->nseen == w->capseen) {
		size_t nc = w->capseen ? w->capseen * 2 : 64;
		struct seen *n = realloc(w->seen, nc * sizeof(*n));

		if (!n)
			return 0;
		w->seen = n;
		w->capseen = nc;
	}
	w->seen[w->nseen].dev = st->st_dev;
	w->seen[w->nseen].ino = st->st_ino;
	w->nseen++;
	return 0;
}

static int report(struct walk *w, const struct stat *st, int flag, int base, int level)
{
	struct FTW f = {.base = base, .level = level};

	if (w->nfn)
		return w->nfn(w->path, st, flag, &f);
	return w->ffn(w->path, st, flag);
}

static int is_stop(const struct walk *w, int rc)
{
	if (!(w->flags & FTW_ACTIONRETVAL))
		return rc != 0;
	return rc == FTW_STOP;
}

static int visit(struct walk *w, size_t len, int base, int level);

static int visit_dir(struct walk *w, const struct stat *st, size_t len, int base, int level)
{
	struct dirent64 *e;
	DIR *d;
	int rc = 0, sep = !(len && w->path[len - 1] == '/');

	if (seen_before(w, st))
		return 0;
	if (level >= WALK_MAXDEPTH) {
		errno = ENAMETOOLONG;
		return -1;
	}
	d = opendir(w->path);
	if (!d)
		return report(w, st, FTW_DNR, base, level);
	if (!(w->flags & FTW_DEPTH)) {
		rc = report(w, st, FTW_D, base, level);
		if ((w->flags & FTW_ACTIONRETVAL) && rc == FTW_SKIP_SUBTREE) {
			closedir(d);
			return 0;
		}
		if (is_stop(w, rc)) {
			closedir(d);
			return rc;
		}
		rc = 0;
	}
	while ((e = readdir64(d))) {
		size_t n = strlen(e->d_name), o = len + sep;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (o + n + 1 > sizeof(w->path)) {
			closedir(d);
			errno = ENAMETOOLONG;
			return -1;
		}
		if (sep)
			w->path[len] = '/';
		memcpy(w->path + o, e->d_name, n + 1);
		rc = visit(w, o + n, (int)o, level + 1);
		w->path[len] = 0;
		if ((w->flags & FTW_ACTIONRETVAL) && rc == FTW_SKIP_SIBLINGS) {
			rc = 0;
			break;
		}
		if (rc < 0 || is_stop(w, rc)) {
			closedir(d);
			return rc;
		}
		rc = 0;
	}
	closedir(d);
	if (w->flags & FTW_DEPTH)
		rc = report(w, st, FTW_DP, base, level);
	return rc;
}

static int visit(struct walk *w, size_t len, int base, int level)
{
	struct stat st;
	int phys = w->flags & FTW_PHYS;

	if ((phys ? lstat(w->path, &st) : stat(w->path, &st)) < 0) {
		memset(&st, 0, sizeof(st));
		/* nftw reports a dangling symlink as FTW_SLN. */
		if (!phys && w->nfn && lstat(w->path, &st) == 0 && S_ISLNK(st.st_mode))
			return report(w, &st, FTW_SLN, base, level);
		return report(w, &st, FTW_NS, base, level);
	}
	if (S_ISLNK(st.st_mode))
		return report(w, &st, w->nfn ? FTW_SL : FTW_F, base, level);
	if (S_ISDIR(st.st_mode))
		return visit_dir(w, &st, len, base, level);
	return report(w, &st, FTW_F, base, level);
}

/* 1 and *rc set if the root is ours. */
static int walk_root(const char *root, shim_nftw_fn nfn, shim_ftw_fn ffn, int flags, int *rc)
{
	struct shim_res r;
	struct walk ws = {0}, *w = &ws;
	const char *b;
	size_t len;

	switch (shim_resolve(AT_FDCWD, root, (flags & FTW_PHYS) ? SHIM_R_NOFOLLOW : 0, &r)) {
	case SHIM_PASS:
	case SHIM_REAL:
		return 0;
	case SHIM_FAIL:
		errno = r.err;
		*rc = -1;
		return 1;
	}
	if (!r.exists) {
		errno = ENOENT;
		*rc = -1;
		return 1;
	}
	len = strlen(root);
	if (len >= PATH_MAX) {
		errno = ENAMETOOLONG;
		*rc = -1;
		return 1;
	}
	w->flags = flags;
	w->nfn = nfn;
	w->ffn = ffn;
	memcpy(w->path, root, len + 1);
	while (len > 1 && w->path[len - 1] == '/')
		w->path[--len] = 0;
	b = strrchr(w->path, '/');
	*rc = visit(w, len, b && b[1] ? (int)(b - w->path + 1) : 0, 0);
	if ((flags & FTW_ACTIONRETVAL) && *rc != FTW_STOP && *rc > 0)
		*rc = 0;
	free(w->seen);
	return 1;
}

SHIM_EXPORT int nftw(const char *root, shim_nftw_fn fn, int nopen, int flags)
{
	int rc;

	if (walk_root(root, fn, NULL, flags, &rc))
		return rc;
	return REAL(nftw)(root, fn, nopen, flags);
}

SHIM_EXPORT int nftw64(const char *root, shim_nftw64_fn fn, int nopen, int flags)
{
	int rc;

	if (walk_root(root, (shim_nftw_fn)fn, NULL, flags, &rc))
		return rc;
	return REAL(nftw64)(root, fn, nopen, flags);
}

SHIM_EXPORT int ftw(const char *root, shim_ftw_fn fn, int nopen)
{
	int rc;

	if (walk_root(root, NULL, fn, 0, &rc))
		return rc;
	return REAL(ftw)(root, fn, nopen);
}

SHIM_EXPORT int ftw64(const char *root, shim_ftw64_fn fn, int nopen)
{
	int rc;

	if (walk_root(root, NULL, (shim_ftw_fn)fn, 0, &rc))
		return rc;
	return REAL(ftw64)(root, fn, nopen);
}
