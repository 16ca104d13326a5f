/* Virtual directories: a REAL DIR* on the cipher directory plus a side
 * table (keyed by the DIR*) that translates names as they are read.  If a
 * DIR* reaches a glibc function we did not wrap it still works, yielding
 * encrypted names (fail closed) instead of crashing. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "preload/shim.h"

struct vdir {
	UT_hash_handle hh;
	DIR *d;
	int is_root;
	int anc; /* a missing ancestor: next synthetic entry + 1, 0 if not */
	ino_t anc_ino, child_ino;
	char anc_name[GCFS_NAME_MAX + 1];
	uint8_t iv[GCFS_DIRIV_LEN];
	char cpath[PATH_MAX];
	struct dirent64 ent; /* d_name[256] holds any plaintext name + NUL */
};

static struct vdir *vdirs;
static _Atomic int nvdirs;
static pthread_mutex_t v_lock = PTHREAD_MUTEX_INITIALIZER;

int shim_vdir_active(void)
{
	return atomic_load_explicit(&nvdirs, memory_order_relaxed) > 0;
}

int shim_name_plain(const char *cdir, const uint8_t *iv, int in_root, const char *cname,
                    char out[GCFS_NAME_MAX + 1])
{
	const gcfs_keys *k = shim_keys();
	char full[GCFS_CNAME_MAX + 8], p[PATH_MAX];
	const char *src = cname;

	if (!k)
		return -1;
	if (!strcmp(cname, ".") || !strcmp(cname, "..")) {
		strcpy(out, cname);
		return 0;
	}
	if (gcfs_name_is_meta(k, cname, in_root))
		return -1;
	if (gcfs_name_is_longname(cname)) {
		ssize_t n;
		int fd;

		/* The full encrypted name lives in the ".name" sidecar. */
		if (shim_fmt(p, sizeof(p), "%s/%s.name", cdir, cname) >= (int)sizeof(p))
			return -1;
		fd = REAL(open)(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -1;
		n = REAL(read)(fd, full, sizeof(full) - 1);
		REAL(close)(fd);
		if (n <= 0 || n >= GCFS_CNAME_MAX)
			return -1;
		full[n] = 0;
		src = full;
	}
	if (gcfs_name_decrypt(k, iv, src, out)) {
		SHIM_DBG("unseal: readdir: %s/%s: undecryptable name skipped", cdir, cname);
		return -1;
	}
	return 0;
}

static void add(struct vdir *v)
{
	pthread_mutex_lock(&v_lock);
	HASH_ADD_PTR(vdirs, d, v);
	nvdirs++;
	pthread_mutex_unlock(&v_lock);
}

int shim_vdir_register(DIR *d, const char *vpath, const char *cpath, int is_root)
{
	struct vdir *v = calloc(1, sizeof(*v));
	int rc;

	(void)vpath;
	if (!v)
		return -1;
	rc = shim_diriv(cpath, v->iv);
	if (rc) {
		free(v);
		errno = -rc;
		return -1;
	}
	v->d = d;
	v->is_root = is_root;
	shim_fmt(v->cpath, sizeof(v->cpath), "%s", cpath);
	add(v);
	return 0;
}

int shim_vdir_register_anc(DIR *d, const char *vpath)
{
	struct vdir *v = calloc(1, sizeof(*v));
	char child[PATH_MAX];

	if (!v)
		return -1;
	v->d = d;
	v->anc = 1;
	shim_anc_next(vpath, v->anc_name, sizeof(v->anc_name));
	shim_fmt(child, sizeof(child), "%s/%s", vpath, v->anc_name);
	v->anc_ino = shim_anc_ino(vpath);
	v->child_ino = shim_anc_ino(child);
	add(v);
	return 0;
}

/* Entry i of an ancestor's listing: ".", "..", then the next component. */
static int anc_next(struct vdir *v, struct dirent64 **out)
{
	static const char *const dots[] = {".", ".."};
	int i = v->anc - 1;

	*out = NULL;
	if (i > 2)
		return 1;
	shim_fmt(v->ent.d_name, sizeof(v->ent.d_name), "%s", i < 2 ? dots[i] : v->anc_name);
	v->ent.d_ino = i < 2 ? v->anc_ino : v->child_ino;
	v->ent.d_off = ++v->anc;
	v->ent.d_type = DT_DIR;
	v->ent.d_reclen =
	    (unsigned short)((offsetof(struct dirent64, d_name) + strlen(v->ent.d_name) + 1 + 7) &
	                     ~7u);
	*out = &v->ent;
	return 1;
}

static struct vdir *find(DIR *d)
{
	struct vdir *v;

	if (!shim_vdir_active())
		return NULL;
	pthread_mutex_lock(&v_lock);
	HASH_FIND_PTR(vdirs, &d, v);
	pthread_mutex_unlock(&v_lock);
	return v;
}

void shim_vdir_forget(DIR *d)
{
	struct vdir *v;

	if (!shim_vdir_active())
		return;
	pthread_mutex_lock(&v_lock);
	HASH_FIND_PTR(vdirs, &d, v);
	if (v) {
		HASH_DEL(vdirs, v);
		nvdirs--;
	}
	pthread_mutex_unlock(&v_lock);
	if (v) {
		gcfs_wipe(&v->ent, sizeof(v->ent));
		free(v);
	}
}

int shim_vdir_anc_pos(DIR *d, int op, long *pos)
{
	struct vdir *v = find(d);

	if (!v || !v->anc)
		return 0;
	if (op == 't')
		*pos = v->anc - 1;
	else
		v->anc = op == 'r' || *pos < 0 || *pos > 3 ? 1 : (int)*pos + 1;
	return 1;
}

int shim_vdir_next(DIR *d, struct dirent64 **out)
{
	struct vdir *v = find(d);
	struct dirent64 *e;

	if (!v)
		return 0;
	if (v->anc)
		return anc_next(v, out);
	/* POSIX: concurrent readdir on one DIR* is the caller's problem, so
	 * v is used without the table lock. */
	while ((e = REAL(readdir64)(d))) {
		if (shim_name_plain(v->cpath, v->iv, v->is_root, e->d_name, v->ent.d_name))
			continue;
		v->ent.d_ino = e->d_ino;
		v->ent.d_off = e->d_off;
		v->ent.d_type = e->d_type;
		v->ent.d_reclen = (unsigned short)((offsetof(struct dirent64, d_name) +
		                                    strlen(v->ent.d_name) + 1 + 7) &
		                                   ~7u);
		*out = &v->ent;
		SHIM_DBG("unseal: readdir: %s: %s", v->cpath, v->ent.d_name);
		return 1;
	}
	*out = NULL;
	return 1;
}

/* fork: v_lock is a leaf (nothing else is taken while it is held), so it may
 * sit anywhere in real.c's order; the child has one thread and unlocks. */
void shim_vdir_atfork_prepare(void)
{
	pthread_mutex_lock(&v_lock);
}

void shim_vdir_atfork_parent(void)
{
	pthread_mutex_unlock(&v_lock);
}

void shim_vdir_atfork_child(void)
{
	pthread_mutex_unlock(&v_lock);
}
