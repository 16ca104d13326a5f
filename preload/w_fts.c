/* fts_* (+fts64_*): glibc's fts walks with internal opendir/getdents/
 * fstatat calls we cannot see, so a walk that has a virtual root is
 * reimplemented here over our own opendir/readdir64/stat/lstat wrappers
 * (which pass real paths through, so mixed root lists work too).  A walk
 * whose roots are all real is glibc's, untouched.
 *
 * The algorithm and the FTS_* info values follow glibc's fts.c (BSD).
 * Differences, all invisible to a caller that uses the documented fields:
 *  - FTS_NOCHDIR is forced: the cwd may be virtual, so the walk never
 *    changes directory and fts_accpath is always the full fts_path;
 *  - every entry owns its fts_path string (glibc shares one buffer that
 *    later calls overwrite, so this is strictly more permissive);
 *  - FTS_NOSTAT trusts d_type (glibc additionally counts st_nlink).
 * x86_64 has one struct stat layout, so FTS64/FTSENT64 are the same
 * structures and the fts64_* entry points share this code.
 */
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "preload/shim.h"

_Static_assert(sizeof(FTSENT) == sizeof(FTSENT64), "FTSENT64 layout");
_Static_assert(offsetof(FTSENT, fts_statp) == offsetof(FTSENT64, fts_statp), "FTSENT64 layout");
_Static_assert(offsetof(FTSENT, fts_name) == offsetof(FTSENT64, fts_name), "FTSENT64 layout");
_Static_assert(sizeof(FTS) == sizeof(FTS64), "FTS64 layout");
_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat64 layout");

typedef int (*fts_cmp)(const FTSENT **, const FTSENT **);

/* One entry: its stat buffer and path live with it; FTSENT must be last
 * because fts_name is a trailing array. */
struct vent {
	struct stat st;
	char *path;
	FTSENT e;
};

/* Our FTS handle.  Handles are found through a registry, never by peeking
 * at memory: a glibc FTS is exactly sizeof(FTS) long. */
struct vfts {
	FTS sp;       /* first: the caller holds &sp */
	fts_cmp cmp;  /* the caller's compar, typed (sp.fts_compar is void-typed) */
	int nameonly; /* fts_child was built by fts_children(FTS_NAMEONLY) */
	int stopped;
	struct vfts *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfts *reg_head;

static struct vfts *reg_find(FTS *sp)
{
	struct vfts *v;

	if (!__atomic_load_n(&reg_head, __ATOMIC_ACQUIRE))
		return NULL; /* fast path: no virtual walk ever started */
	pthread_mutex_lock(&reg_lock);
	for (v = reg_head; v && &v->sp != sp; v = v->next)
		;
	pthread_mutex_unlock(&reg_lock);
	return v;
}

static void reg_add(struct vfts *v)
{
	pthread_mutex_lock(&reg_lock);
	v->next = reg_head;
	__atomic_store_n(&reg_head, v, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&reg_lock);
}

static void reg_del(struct vfts *v)
{
	struct vfts **pp;

	pthread_mutex_lock(&reg_lock);
	for (pp = &reg_head; *pp && *pp != v; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = v->next;
	pthread_mutex_unlock(&reg_lock);
}

static struct vent *vent_of(FTSENT *p)
{
	return (struct vent *)((char *)p - offsetof(struct vent, e));
}

static void ent_free(FTSENT *p)
{
	struct vent *v;

	if (!p)
		return;
	v = vent_of(p);
	free(v->path);
	free(v);
}

static void list_free(FTSENT *p)
{
	while (p) {
		FTSENT *n = p->fts_link;

		ent_free(p);
		p = n;
	}
}

/* New entry named name (len bytes) whose full path is dir + "/" + name, or
 * just name when dir is NULL (a root). */
static FTSENT *ent_new(const char *dir, size_t dlen, const char *name, size_t len)
{
	struct vent *v = calloc(1, sizeof(*v) + len + 1);
	size_t plen;

	if (!v)
		return NULL;
	/* Like glibc: "dir/" + name does not double the slash. */
	if (dir && dlen && dir[dlen - 1] == '/')
		dlen--;
	plen = dir ? dlen + 1 + len : len;
	if (plen >= PATH_MAX || !(v->path = malloc(plen + 1))) {
		free(v);
		errno = plen >= PATH_MAX ? ENAMETOOLONG : ENOMEM;
		return NULL;
	}
	if (dir) {
		memcpy(v->path, dir, dlen);
		v->path[dlen] = '/';
		memcpy(v->path + dlen + 1, name, len + 1);
	} else {
		memcpy(v->path, name, len + 1);
	}
	memcpy(v->e.fts_name, name, len);
	v->e.fts_name[len] = 0;
	v->e.fts_namelen = (unsigned short)len;
	v->e.fts_path = v->e.fts_accpath = v->path;
	v->e.fts_pathlen = (unsigned short)plen;
	v->e.fts_statp = &v->st;
	v->e.fts_instr = FTS_NOINSTR;
	return &v->e;
}

static int is_dot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/* glibc's fts_stat: the FTS_* info value for p. */
static int ent_stat(const FTS *sp, FTSENT *p, int follow)
{
	struct stat *st = p->fts_statp;

	if ((sp->fts_options & FTS_LOGICAL) || follow) {
		if (stat(p->fts_accpath, st)) {
			int e = errno;

			if (e == ENOENT && lstat(p->fts_accpath, st) == 0) {
				errno = 0;
				return FTS_SLNONE;
			}
			p->fts_errno = e;
			memset(st, 0, sizeof(*st));
			return FTS_NS;
		}
	} else if (lstat(p->fts_accpath, st)) {
		p->fts_errno = errno;
		memset(st, 0, sizeof(*st));
		return FTS_NS;
	}
	if (S_ISDIR(st->st_mode)) {
		p->fts_dev = st->st_dev;
		p->fts_ino = st->st_ino;
		p->fts_nlink = st->st_nlink;
		if (is_dot(p->fts_name))
			return FTS_DOT;
		/* A directory equal to an ancestor is a cycle (logical walks). */
		for (FTSENT *t = p->fts_parent; t && t->fts_level >= FTS_ROOTLEVEL;
		     t = t->fts_parent)
			if (t->fts_ino == st->st_ino && t->fts_dev == st->st_dev) {
				p->fts_cycle = t;
				return FTS_DC;
			}
		return FTS_D;
	}
	if (S_ISLNK(st->st_mode))
		return FTS_SL;
	if (S_ISREG(st->st_mode))
		return FTS_F;
	return FTS_DEFAULT;
}

static int cmp_thunk(const void *a, const void *b, void *arg)
{
	const fts_cmp *cmp = arg;

	return (*cmp)((const FTSENT **)a, (const FTSENT **)b);
}

/* Sort a list of n entries with the caller's compar (fts_sort). */
static FTSENT *list_sort(struct vfts *v, FTSENT *head, size_t n)
{
	FTSENT **a, *p;
	size_t i = 0;

	if (!v->cmp || n < 2)
		return head;
	a = malloc(n * sizeof(*a));
	if (!a)
		return head; /* unsorted beats failing the walk */
	for (p = head; p; p = p->fts_link)
		a[i++] = p;
	qsort_r(a, n, sizeof(*a), cmp_thunk, &v->cmp);
	for (i = 0; i + 1 < n; i++)
		a[i]->fts_link = a[i + 1];
	a[n - 1]->fts_link = NULL;
	head = a[0];
	free(a);
	return head;
}

enum { B_READ, B_CHILD, B_NAMES };

/* glibc's fts_build: the children of sp->fts_cur, or NULL (errno 0 when the
 * directory is simply empty).  B_READ marks an unreadable dir FTS_DNR and
 * an empty one FTS_DP, as glibc does. */
static FTSENT *build(FTS *sp, int type)
{
	FTSENT *cur = sp->fts_cur, *head = NULL, *tail = NULL, *p;
	int nostat =
	    type != B_NAMES && (sp->fts_options & FTS_NOSTAT) && (sp->fts_options & FTS_PHYSICAL);
	struct dirent64 *de;
	size_t n = 0;
	DIR *d = opendir(cur->fts_accpath);

	if (!d) {
		if (type == B_READ) {
			cur->fts_info = FTS_DNR;
			cur->fts_errno = errno;
		}
		return NULL;
	}
	while ((de = readdir64(d))) {
		if (!(sp->fts_options & FTS_SEEDOT) && is_dot(de->d_name))
			continue;
		p = ent_new(cur->fts_path, cur->fts_pathlen, de->d_name, strlen(de->d_name));
		if (!p) {
			int e = errno;

			closedir(d);
			list_free(head);
			cur->fts_info = FTS_ERR;
			cur->fts_errno = e;
			((struct vfts *)sp)->stopped = 1;
			errno = e;
			return NULL;
		}
		p->fts_level = (short)(cur->fts_level + 1);
		p->fts_parent = cur;
		if (type == B_NAMES || (nostat && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			p->fts_info = FTS_NSOK;
		else
			p->fts_info = (unsigned short)ent_stat(sp, p, 0);
		if (tail)
			tail->fts_link = p;
		else
			head = p;
		tail = p;
		n++;
	}
	closedir(d);
	if (!n) {
		if (type == B_READ)
			cur->fts_info = FTS_DP;
		errno = 0;
		return NULL;
	}
	return list_sort((struct vfts *)sp, head, n);
}

static FTS *vfts_open(char *const *argv, int options, fts_cmp compar)
{
	struct vfts *v;
	FTSENT *parent, *root = NULL, *tail = NULL, *p;
	size_t n = 0;

	if (options & ~FTS_OPTIONMASK) {
		errno = EINVAL;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	parent = ent_new(NULL, 0, "", 0);
	if (!v || !parent)
		goto fail;
	v->sp.fts_options = options | FTS_NOCHDIR; /* the cwd may be virtual */
	v->cmp = compar;
	v->sp.fts_compar = (int (*)(const void *, const void *))compar;
	v->sp.fts_rfd = -1;
	parent->fts_level = FTS_ROOTPARENTLEVEL;
	for (; *argv; argv++, n++) {
		size_t len = strlen(*argv);

		if (!len) {
			errno = ENOENT;
			goto fail;
		}
		p = ent_new(NULL, 0, *argv, len);
		if (!p)
			goto fail;
		p->fts_level = FTS_ROOTLEVEL;
		p->fts_parent = parent;
		p->fts_info = (unsigned short)ent_stat(&v->sp, p, options & FTS_COMFOLLOW);
		if (p->fts_info == FTS_DOT) /* command-line "." is a real directory */
			p->fts_info = FTS_D;
		if (tail)
			tail->fts_link = p;
		else
			root = p;
		tail = p;
	}
	root = list_sort(v, root, n);
	/* A dummy current entry whose link is the first root (glibc's FTS_INIT). */
	p = ent_new(NULL, 0, "", 0);
	if (!p)
		goto fail;
	p->fts_link = root;
	p->fts_info = FTS_INIT;
	p->fts_level = FTS_ROOTLEVEL;
	p->fts_parent = parent;
	v->sp.fts_cur = p;
	v->sp.fts_nitems = (int)n;
	if (root)
		v->sp.fts_dev = root->fts_dev;
	reg_add(v);
	return &v->sp;
fail:
	list_free(root);
	ent_free(parent);
	free(v);
	return NULL;
}

/* glibc's fts_load: once a root is read, its fts_name is the last
 * component of the path ("a/b/" stays whole, "/" stays "/"). */
static void root_load(FTSENT *p)
{
	char *cp = strrchr(p->fts_name, '/');

	if (cp && (cp != p->fts_name || cp[1])) {
		size_t len = strlen(++cp);

		memmove(p->fts_name, cp, len + 1);
		p->fts_namelen = (unsigned short)len;
	}
}

static FTSENT *vfts_read(struct vfts *v)
{
	FTS *sp = &v->sp;
	FTSENT *p = sp->fts_cur, *tmp;
	int instr;

	if (!p || v->stopped)
		return NULL;
	instr = p->fts_instr;
	p->fts_instr = FTS_NOINSTR;
	if (instr == FTS_AGAIN) {
		p->fts_info = (unsigned short)ent_stat(sp, p, 0);
		return p;
	}
	if (instr == FTS_FOLLOW && (p->fts_info == FTS_SL || p->fts_info == FTS_SLNONE)) {
		p->fts_info = (unsigned short)ent_stat(sp, p, 1);
		return p;
	}
	if (p->fts_info == FTS_D) {
		if (instr == FTS_SKIP ||
		    ((sp->fts_options & FTS_XDEV) && p->fts_dev != sp->fts_dev)) {
			list_free(sp->fts_child);
			sp->fts_child = NULL;
			p->fts_info = FTS_DP;
			return p;
		}
		if (sp->fts_child && v->nameonly) {
			list_free(sp->fts_child);
			sp->fts_child = NULL;
		}
		v->nameonly = 0;
		if (!sp->fts_child && !(sp->fts_child = build(sp, B_READ)))
			return v->stopped ? NULL : p;
		p = sp->fts_child;
		sp->fts_child = NULL;
		sp->fts_cur = p;
		return p;
	}
	for (;;) {
		tmp = p;
		p = p->fts_link;
		if (!p)
			break;
		sp->fts_cur = p;
		ent_free(tmp);
		if (p->fts_level == FTS_ROOTLEVEL) {
			root_load(p);
			if (p->fts_info == FTS_D) /* FTS_XDEV compares with this root */
				sp->fts_dev = p->fts_dev;
			return p;
		}
		if (p->fts_instr == FTS_SKIP)
			continue;
		if (p->fts_instr == FTS_FOLLOW) {
			p->fts_info = (unsigned short)ent_stat(sp, p, 1);
			p->fts_instr = FTS_NOINSTR;
		}
		return p;
	}
	/* No sibling left: move up to the parent (post-order visit). */
	p = tmp->fts_parent;
	sp->fts_cur = p;
	ent_free(tmp);
	if (p->fts_level == FTS_ROOTPARENTLEVEL) {
		ent_free(p);
		errno = 0; /* end of walk, not an error */
		return sp->fts_cur = NULL;
	}
	p->fts_info = p->fts_errno ? FTS_ERR : FTS_DP;
	return p;
}

static FTSENT *vfts_children(struct vfts *v, int instr)
{
	FTS *sp = &v->sp;
	FTSENT *p = sp->fts_cur;

	if (instr && instr != FTS_NAMEONLY) {
		errno = EINVAL;
		return NULL;
	}
	errno = 0;
	if (!p || v->stopped)
		return NULL;
	if (p->fts_info == FTS_INIT)
		return p->fts_link; /* before the first fts_read: the roots */
	if (p->fts_info != FTS_D)
		return NULL;
	list_free(sp->fts_child);
	v->nameonly = instr == FTS_NAMEONLY;
	sp->fts_child = build(sp, v->nameonly ? B_NAMES : B_CHILD);
	return sp->fts_child;
}

static int vfts_close(struct vfts *v)
{
	FTS *sp = &v->sp;
	FTSENT *p = sp->fts_cur, *f;

	reg_del(v);
	/* Free the current entry, its remaining siblings and its ancestors
	 * (each level's siblings were freed as the walk passed them). */
	if (p) {
		while (p->fts_level >= FTS_ROOTLEVEL) {
			f = p;
			p = p->fts_link ? p->fts_link : p->fts_parent;
			ent_free(f);
		}
		ent_free(p);
	}
	list_free(sp->fts_child);
	free(v);
	return 0;
}

/* 1 if any root is under the mount (or an ancestor only we can see). */
static int wants_virtual(char *const *argv, int options)
{
	int rf = (options & (FTS_LOGICAL | FTS_COMFOLLOW)) ? 0 : SHIM_R_NOFOLLOW;
	struct shim_res r;

	shim_init();
	if (!shim_cfg.enabled || !argv)
		return 0;
	for (; *argv; argv++) {
		int k = shim_resolve(AT_FDCWD, *argv, rf, &r);

		if (k == SHIM_VIRT || k == SHIM_FAIL)
			return 1;
	}
	return 0;
}

SHIM_EXPORT FTS *fts_open(char *const *argv, int options, fts_cmp compar)
{
	int saved = errno;

	if (!wants_virtual(argv, options)) {
		errno = saved;
		return REAL(fts_open)(argv, options, compar);
	}
	return vfts_open(argv, options, compar);
}

SHIM_EXPORT FTSENT *fts_read(FTS *sp)
{
	struct vfts *v = reg_find(sp);

	return v ? vfts_read(v) : REAL(fts_read)(sp);
}

SHIM_EXPORT FTSENT *fts_children(FTS *sp, int instr)
{
	struct vfts *v = reg_find(sp);

	return v ? vfts_children(v, instr) : REAL(fts_children)(sp, instr);
}

SHIM_EXPORT int fts_set(FTS *sp, FTSENT *p, int instr)
{
	if (!reg_find(sp))
		return REAL(fts_set)(sp, p, instr);
	if (instr && instr != FTS_AGAIN && instr != FTS_FOLLOW && instr != FTS_NOINSTR &&
	    instr != FTS_SKIP) {
		errno = EINVAL;
		return 1;
	}
	p->fts_instr = (unsigned short)instr;
	return 0;
}

SHIM_EXPORT int fts_close(FTS *sp)
{
	struct vfts *v = reg_find(sp);

	return v ? vfts_close(v) : REAL(fts_close)(sp);
}

/* The 64-bit variants: same layouts on x86_64 (asserted above). */
SHIM_EXPORT FTS64 *fts64_open(char *const *argv, int options,
                              int (*compar)(const FTSENT64 **, const FTSENT64 **))
{
	int saved = errno;

	if (!wants_virtual(argv, options)) {
		errno = saved;
		return REAL(fts64_open)(argv, options, compar);
	}
	return (FTS64 *)vfts_open(argv, options, (fts_cmp)compar);
}

SHIM_EXPORT FTSENT64 *fts64_read(FTS64 *sp)
{
	struct vfts *v = reg_find((FTS *)sp);

	return v ? (FTSENT64 *)vfts_read(v) : REAL(fts64_read)(sp);
}

SHIM_EXPORT FTSENT64 *fts64_children(FTS64 *sp, int instr)
{
	struct vfts *v = reg_find((FTS *)sp);

	return v ? (FTSENT64 *)vfts_children(v, instr) : REAL(fts64_children)(sp, instr);
}

SHIM_EXPORT int fts64_set(FTS64 *sp, FTSENT64 *p, int instr)
{
	if (!reg_find((FTS *)sp))
		return REAL(fts64_set)(sp, p, instr);
	return fts_set((FTS *)sp, (FTSENT *)p, instr);
}

SHIM_EXPORT int fts64_close(FTS64 *sp)
{
	struct vfts *v = reg_find((FTS *)sp);

	return v ? vfts_close(v) : REAL(fts64_close)(sp);
}
