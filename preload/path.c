/* The one path resolver: plaintext path -> cipher path, component by
 * component (never listing a directory), following virtual symlinks.
 *
 * Fast path: a process that never touches the mount pays a prefix compare
 * for absolute paths; relative paths cost nothing unless the cwd is virtual
 * or an ancestor of the mount, or the dirfd is a virtual directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "preload/shim.h"

/* ---- lexical helpers ---- */

int shim_normalize(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = in;

	if (cap < 2)
		return -ENAMETOOLONG;
	out[o++] = '/';
	while (*p) {
		const char *s;
		size_t n;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			continue;
		}
		if (o > 1)
			out[o++] = '/';
		if (o + n + 1 > cap)
			return -ENAMETOOLONG;
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = 0;
	return 0;
}

int shim_under_mount(const char *abs)
{
	return !strncmp(abs, shim_cfg.mount, shim_cfg.mount_len) &&
	       (abs[shim_cfg.mount_len] == 0 || abs[shim_cfg.mount_len] == '/');
}

static int needs_norm(const char *p)
{
	return strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
	       (strlen(p) >= 2 && (!strcmp(p + strlen(p) - 2, "/.") ||
	                           (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/.."))));
}

static int join(char *out, size_t cap, const char *a, const char *b)
{
	int n = shim_fmt(out, cap, "%s/%s", a, b);

	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

/* ---- dir IV cache ----
 * Keyed by the cipher directory's path, and each hit revalidated against
 * the identity of the gocryptfs.diriv file the IV was read from (st_dev,
 * st_ino, st_ctim): a directory replaced or re-created at the same path has
 * a new diriv file, so it never gets the old directory's IV (stale or
 * undecryptable names).  One lstat per lookup instead of open+read+close. */

struct iv_id {
	dev_t dev;
	ino_t ino;
	struct timespec ctim;
};

struct iv_ent {
	UT_hash_handle hh;
	uint8_t iv[GCFS_DIRIV_LEN];
	struct iv_id id;
	char path[];
};
static struct iv_ent *iv_tab;
static pthread_mutex_t iv_lock = PTHREAD_MUTEX_INITIALIZER;

static void iv_id_of(const struct stat *st, struct iv_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->ctim = st->st_ctim;
}

static int iv_id_eq(const struct iv_id *a, const struct iv_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->ctim.tv_sec == b->ctim.tv_sec &&
	       a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* Cached IV of cdir if its diriv file is still the one it came from. */
static int iv_cached(const char *cdir, const char *p, uint8_t iv[GCFS_DIRIV_LEN])
{
	struct iv_ent *e;
	struct iv_id now;
	struct stat st;
	int hit = 0;

	if (REAL(lstat)(p, &st))
		return 0;
	iv_id_of(&st, &now);
	pthread_mutex_lock(&iv_lock);
	HASH_FIND_STR(iv_tab, cdir, e);
	if (e && iv_id_eq(&e->id, &now)) {
		memcpy(iv, e->iv, GCFS_DIRIV_LEN);
		hit = 1;
	}
	pthread_mutex_unlock(&iv_lock);
	return hit;
}

/* Remember (or replace) cdir's IV; out of memory only costs a re-read. */
static void iv_store(const char *cdir, const uint8_t *iv, const struct iv_id *id)
{
	struct iv_ent *e = malloc(sizeof(*e) + strlen(cdir) + 1), *old;

	if (!e)
		return;
	memcpy(e->iv, iv, GCFS_DIRIV_LEN);
	e->id = *id;
	strcpy(e->path, cdir);
	pthread_mutex_lock(&iv_lock);
	HASH_FIND_STR(iv_tab, cdir, old);
	if (old)
		HASH_DEL(iv_tab, old);
	HASH_ADD_STR(iv_tab, path, e);
	pthread_mutex_unlock(&iv_lock);
	free(old);
}

int shim_diriv(const char *cdir, uint8_t iv[GCFS_DIRIV_LEN])
{
	const gcfs_keys *k = shim_keys();
	char p[PATH_MAX];
	uint8_t buf[GCFS_DIRIV_LEN + 1];
	struct iv_id id;
	struct stat st;
	ssize_t n;
	int fd;

	if (!k)
		return -EACCES;
	if (!(gcfs_keys_flags(k) & GCFS_F_DIRIV)) {
		memset(iv, 0, GCFS_DIRIV_LEN);
		return 0;
	}
	if (join(p, sizeof(p), cdir, GCFS_DIRIV_NAME))
		return -ENAMETOOLONG;
	if (iv_cached(cdir, p, iv))
		return 0;
	fd = REAL(open)(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	/* Identity of what is actually read, so the cache entry matches it. */
	if (REAL(fstat)(fd, &st)) {
		int e = errno;

		REAL(close)(fd);
		return -e;
	}
	/* Read one byte more than needed to detect an oversized file. */
	n = REAL(pread)(fd, buf, sizeof(buf), 0);
	REAL(close)(fd);
	if (n < 0 || gcfs_diriv_check(buf, (size_t)n)) {
		shim_log(SHIM_LOG_WARN, "unseal: lookup: %s: invalid %s", cdir, GCFS_DIRIV_NAME);
		return -EIO;
	}
	memcpy(iv, buf, GCFS_DIRIV_LEN);
	iv_id_of(&st, &id);
	iv_store(cdir, buf, &id);
	return 0;
}

void shim_path_atfork_prepare(void)
{
	pthread_mutex_lock(&iv_lock);
}

void shim_path_atfork_parent(void)
{
	pthread_mutex_unlock(&iv_lock);
}

void shim_path_atfork_child(void)
{
	pthread_mutex_unlock(&iv_lock);
}

/* ---- symlinks and stat translation ---- */

ssize_t shim_symlink_target(const char *cpath, char *out, size_t cap)
{
	const gcfs_keys *k = shim_keys();
	char ct[PATH_MAX];
	size_t outlen = 0;
	ssize_t n;

	if (!k)
		return -EACCES;
	n = REAL(readlink)(cpath, ct, sizeof(ct) - 1);
	if (n < 0)
		return -errno;
	ct[n] = 0;
	if (cap < (size_t)n + 1)
		return -ENAMETOOLONG;
	if (gcfs_symlink_decrypt(k, ct, out, cap, &outlen)) {
		shim_log(SHIM_LOG_WARN, "unseal: readlink: %s: cannot decrypt symlink target",
		         cpath);
		return -EIO;
	}
	out[outlen] = 0;
	return (ssize_t)outlen;
}

void shim_stat_translate(const char *cpath, struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		st->st_size = (off_t)gcfs_plain_size((uint64_t)st->st_size);
	} else if (S_ISLNK(st->st_mode)) {
		char t[PATH_MAX];
		ssize_t n = shim_symlink_target(cpath, t, sizeof(t));

		if (n >= 0)
			st->st_size = n;
	}
}

/* ---- the resolver ---- */

#define MAXDEPTH 256

/* Component-wise walk of an absolute path (already known to start under the
 * mount), following virtual symlinks.  `work` is modified. */
static int walk(char *work, int rflags, struct shim_res *r)
{
	const gcfs_keys *k;
	char name[GCFS_NAME_MAX + 2], cname[GCFS_CNAME_MAX], target[PATH_MAX], tmp[PATH_MAX];
	size_t vlen[MAXDEPTH], clen[MAXDEPTH];
	uint8_t iv[GCFS_DIRIV_LEN];
	int loops = 0, depth, have_st, is_long, rc;
	size_t wl = strlen(work);
	int must_dir = wl > 1 && work[wl - 1] == '/';
	int follow_last = !(rflags & SHIM_R_NOFOLLOW) || must_dir;
	const char *p;

	k = shim_keys();
	if (!k) {
		r->kind = SHIM_FAIL;
		r->err = EACCES;
		return r->kind;
	}
restart:
	if (!shim_under_mount(work)) {
		if (shim_normalize(work, tmp, sizeof(tmp)))
			goto toolong;
		if (!shim_under_mount(tmp)) {
			int k = shim_outside(tmp, work, PATH_MAX, r);

			if (k == SHIM_WALK)
				goto restart; /* the mount spelled through its alias */
			if (k == SHIM_VIRT)
				return SHIM_VIRT;
			r->kind = SHIM_REAL;
			shim_fmt(r->cpath, sizeof(r->cpath), "%s%s", tmp,
			         must_dir && strcmp(tmp, "/") ? "/" : "");
			return r->kind;
		}
		strcpy(work, tmp);
	}
	memcpy(r->vpath, shim_cfg.mount, shim_cfg.mount_len + 1);
	memcpy(r->cpath, shim_cfg.cipher, shim_cfg.cipher_len + 1);
	vlen[0] = shim_cfg.mount_len;
	clen[0] = shim_cfg.cipher_len;
	depth = 0;
	have_st = 0;
	p = work + shim_cfg.mount_len;
	for (;;) {
		const char *s;
		size_t n, vl, cl;
		int last;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		{
			const char *q = p;

			while (*q == '/')
				q++;
			last = !*q;
		}
		if (n == 1 && s[0] == '.')
			continue;
		have_st = 0;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (depth == 0) {
				/* Climbing above the virtual root: the rest is a
				 * real path relative to the mount's parent. */
				size_t pl = shim_cfg.mount_len;

				while (pl > 0 && shim_cfg.mount[pl] != '/')
					pl--;
				if (shim_fmt(tmp, sizeof(tmp), "%.*s%s", (int)pl, shim_cfg.mount,
				             *p ? p : "/") >= (int)sizeof(tmp))
					goto toolong;
				strcpy(work, tmp);
				goto restart;
			}
			depth--;
			r->vpath[vlen[depth]] = 0;
			r->cpath[clen[depth]] = 0;
			continue;
		}
		if (n > GCFS_NAME_MAX) {
			r->kind = SHIM_FAIL;
			r->err = ENAMETOOLONG;
			return r->kind;
		}
		memcpy(name, s, n);
		name[n] = 0;
		rc = shim_diriv(r->cpath, iv);
		if (rc) {
			r->kind = SHIM_FAIL;
			r->err = -rc;
			return r->kind;
		}
		if (gcfs_name_encrypt(k, iv, name, cname, NULL, &is_long)) {
			r->kind = SHIM_FAIL;
			r->err = ENAMETOOLONG;
			return r->kind;
		}
		vl = strlen(r->vpath);
		cl = strlen(r->cpath);
		if (vl + n + 2 > PATH_MAX || cl + strlen(cname) + 2 > PATH_MAX ||
		    depth + 1 >= MAXDEPTH)
			goto toolong;
		r->vpath[vl] = '/';
		memcpy(r->vpath + vl + 1, name, n + 1);
		r->cpath[cl] = '/';
		strcpy(r->cpath + cl + 1, cname);
		if (REAL(lstat)(r->cpath, &r->st) < 0) {
			if (errno == ENOENT && last) {
				r->kind = SHIM_VIRT;
				r->exists = 0;
				r->err = ENOENT;
				return r->kind;
			}
			r->kind = SHIM_FAIL;
			r->err = errno;
			return r->kind;
		}
		have_st = 1;
		if (S_ISLNK(r->st.st_mode) && (!last || follow_last)) {
			ssize_t tl;

			if (++loops > SHIM_MAXSYMLINKS) {
				r->kind = SHIM_FAIL;
				r->err = ELOOP;
				return r->kind;
			}
			tl = shim_symlink_target(r->cpath, target, sizeof(target));
			if (tl < 0) {
				r->kind = SHIM_FAIL;
				r->err = (int)-tl;
				return r->kind;
			}
			r->vpath[vl] = 0; /* the link's parent */
			if (target[0] == '/')
				n = (size_t)shim_fmt(tmp, sizeof(tmp), "%s%s", target, p);
			else
				n = (size_t)shim_fmt(tmp, sizeof(tmp), "%s/%s%s", r->vpath, target,
				                     p);
			if (n >= sizeof(tmp))
				goto toolong;
			strcpy(work, tmp);
			goto restart;
		}
		if (!last && !S_ISDIR(r->st.st_mode)) {
			r->kind = SHIM_FAIL;
			r->err = ENOTDIR;
			return r->kind;
		}
		depth++;
		vlen[depth] = strlen(r->vpath);
		clen[depth] = strlen(r->cpath);
	}
	if (!have_st && REAL(lstat)(r->cpath, &r->st) < 0) {
		r->kind = SHIM_FAIL;
		r->err = errno;
		return r->kind;
	}
	if (must_dir && !S_ISDIR(r->st.st_mode)) {
		r->kind = SHIM_FAIL;
		r->err = ENOTDIR;
		return r->kind;
	}
	r->kind = SHIM_VIRT;
	r->exists = 1;
	r->err = 0;
	r->is_root = depth == 0;
	return r->kind;
toolong:
	r->kind = SHIM_FAIL;
	r->err = ENAMETOOLONG;
	return r->kind;
}

/* "/proc/self/fd/N...", "/dev/fd/N...", "/proc/<pid>/fd/N..." of a tracked
 * fd: substitute the fd's virtual path.  1 if substituted. */
int shim_proc_fd_subst(const char *path, char *out, size_t cap)
{
	const char *p = NULL;
	char *end;
	long fd;
	struct shim_fd *e;
	char pfx[48];

	if (!strncmp(path, "/proc/self/fd/", 14))
		p = path + 14;
	else if (!strncmp(path, "/dev/fd/", 8))
		p = path + 8;
	else if (!strncmp(path, "/proc/thread-self/fd/", 21))
		p = path + 21;
	else {
		shim_fmt(pfx, sizeof(pfx), "/proc/%d/fd/", (int)getpid());
		if (!strncmp(path, pfx, strlen(pfx)))
			p = path + strlen(pfx);
	}
	if (!p || *p < '0' || *p > '9')
		return 0;
	fd = strtol(p, &end, 10);
	if (fd < 0 || fd > INT_MAX || (*end && *end != '/'))
		return 0;
	e = shim_fd_get((int)fd);
	if (!e)
		return 0;
	shim_fmt(out, cap, "%s%s", e->vpath, end);
	shim_fd_put(e);
	return 1;
}

static int resolve(int dirfd, const char *path, int rflags, struct shim_res *r)
{
	char work[PATH_MAX];

	r->kind = SHIM_PASS;
	r->is_anc = 0;
	if (shim_busy || !path)
		return SHIM_PASS;
	shim_init();
	if (!shim_cfg.enabled)
		return SHIM_PASS;
	if (path[0] == '/') {
		if (!strncmp(path, shim_cfg.mount, shim_cfg.mount_len) &&
		    (path[shim_cfg.mount_len] == 0 || path[shim_cfg.mount_len] == '/')) {
			if (strlen(path) >= sizeof(work))
				goto toolong;
			strcpy(work, path);
		} else if (!shim_proc_fd_subst(path, work, sizeof(work))) {
			const char *abs = path;
			char norm[PATH_MAX];
			int k;

			if (needs_norm(path)) {
				if (shim_normalize(path, norm, sizeof(norm)))
					return SHIM_PASS;
				abs = norm;
			}
			if (shim_under_mount(abs))
				shim_fmt(work, sizeof(work), "%s", abs);
			else if ((k = shim_outside(abs, work, sizeof(work), r)) != SHIM_WALK)
				return k;
			/* normalising dropped a trailing '/' (must be a directory) */
			if (abs == norm && path[strlen(path) - 1] == '/' &&
			    strlen(work) + 1 < sizeof(work))
				strcat(work, "/");
		}
	} else {
		char base[PATH_MAX];
		int virt_base;

		if (!path[0] && !(rflags & SHIM_R_EMPTY_OK))
			return SHIM_PASS;
		if (dirfd == AT_FDCWD) {
			if (!shim_cwd_base(base, sizeof(base), &virt_base))
				return SHIM_PASS;
		} else {
			struct shim_fd *e;

			if (!shim_fd_tracked(dirfd))
				return SHIM_PASS;
			e = shim_fd_get(dirfd);
			if (!e)
				return SHIM_PASS;
			if (path[0] && e->kind != SHIM_FD_DIR) {
				shim_fd_put(e);
				return SHIM_PASS; /* the real call gives ENOTDIR */
			}
			shim_fmt(base, sizeof(base), "%s", e->vpath);
			virt_base = 1;
			shim_fd_put(e);
		}
		if (!path[0]) {
			shim_fmt(work, sizeof(work), "%s", base);
		} else if (join(work, sizeof(work), base, path)) {
			goto toolong;
		}
		if (!virt_base) {
			char norm[PATH_MAX];

			int k;

			if (shim_normalize(work, norm, sizeof(norm)))
				return SHIM_PASS;
			if (!shim_under_mount(norm) &&
			    (k = shim_outside(norm, work, sizeof(work), r)) != SHIM_WALK)
				return k;
		}
	}
	return walk(work, rflags, r);
toolong:
	r->kind = SHIM_FAIL;
	r->err = ENAMETOOLONG;
	return r->kind;
}

const char *shim_res_path(const struct shim_res *r, const char *orig)
{
	return r->kind == SHIM_REAL ? r->cpath : orig;
}

int shim_resolve_at(const char *fn, int dirfd, const char *path, int rflags, struct shim_res *r)
{
	int k = resolve(dirfd, path, rflags, r);

	if (k != SHIM_PASS && shim_log_level >= SHIM_LOG_DEBUG) {
		int saved = errno;
		shim_log(SHIM_LOG_DEBUG, "unseal: trace: %s: %s", fn,
		         k == SHIM_VIRT ? r->vpath : path);
		errno = saved;
	}
	return k;
}
