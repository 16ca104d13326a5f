/* File objects: the whole plaintext of a virtual regular file in a sealed
 * memfd.  Decrypted at most once per process while anyone uses it: cached
 * by the cipher file's (st_dev, st_ino, size, mtime) with a refcount held by
 * fd-table entries and by mappings made from those fds.  When the last one
 * goes, the cache memfd is closed (the kernel keeps pages alive for any
 * mapping that still exists).
 *
 * Memory cost: plaintext size in shmem per distinct open file, built by
 * memfill.c without an extra copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/memfill.h"

enum { F_LOADING = 0, F_READY = 1, F_FAILED = 2 };

struct shim_file {
	struct shim_file *next;
	dev_t dev;
	ino_t ino;
	off_t csize;
	struct timespec mtime;
	int memfd;       /* internal fd (ifd.c) */
	shim_ifd_id mid; /* its identity: what every reopen must get */
	uint64_t size;
	int refs;
	int state;
	int err;
};

struct mapping {
	uintptr_t lo, hi;
	struct shim_file *f;
};

static pthread_mutex_t f_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t f_cond = PTHREAD_COND_INITIALIZER;
static struct shim_file *files; /* live objects */
static struct shim_file *dead;  /* freed outside the close path */
static struct mapping *maps;
static size_t nmaps, capmaps;
static _Atomic size_t nmaps_hint;

static void lock(shim_sigs *s)
{
	shim_sig_block(s);
	pthread_mutex_lock(&f_lock);
}

static void unlock(shim_sigs *s)
{
	pthread_mutex_unlock(&f_lock);
	shim_sig_restore(s);
}

/* Decrypt r's cipher file into a new sealed memfd; 0 or -errno. */
static int load(struct shim_file *f, const struct shim_res *r)
{
	const gcfs_keys *k = shim_keys();
	int cfd = -1;
	gcfs_io io = {.ctx = &cfd, .pread = shim_cipher_pread};
	char err[GCFS_ERRBUF] = "";
	struct stat cst;
	gcfs_file gf;
	int rc, mfd;

	if (!k)
		return -EACCES;
	cfd = shim_cipher_open(r, &cst);
	if (cfd < 0)
		return -errno;
	rc = gcfs_file_open(&io, (uint64_t)cst.st_size, &gf, err, sizeof(err));
	if (rc) {
		shim_log(SHIM_LOG_ERROR, "unseal: open: %s: header: %s", r->vpath,
		         err[0] ? err : gcfs_strerror(rc));
		REAL(close)(cfd);
		return -EIO;
	}
	mfd = shim_plain_memfd(k, cfd, &gf, r->vpath, "open", &f->mid);
	REAL(close)(cfd);
	if (mfd < 0)
		return mfd;
	f->memfd = mfd;
	f->size = gf.plain_size;
	return 0;
}

static void reap(void)
{
	struct shim_file *d;
	shim_sigs s;

	lock(&s);
	d = dead;
	dead = NULL;
	unlock(&s);
	while (d) {
		struct shim_file *n = d->next;

		free(d);
		d = n;
	}
}

struct shim_file *shim_file_get(const struct shim_res *r)
{
	struct shim_file *f;
	shim_sigs s;
	int rc;

	reap();
	lock(&s);
	for (f = files; f; f = f->next)
		if (f->state != F_FAILED && f->dev == r->st.st_dev && f->ino == r->st.st_ino &&
		    f->csize == r->st.st_size && f->mtime.tv_sec == r->st.st_mtim.tv_sec &&
		    f->mtime.tv_nsec == r->st.st_mtim.tv_nsec)
			break;
	if (f) {
		f->refs++;
		while (f->state == F_LOADING)
			pthread_cond_wait(&f_cond, &f_lock);
		rc = f->state == F_READY ? 0 : f->err;
		unlock(&s);
		if (rc) {
			shim_file_put(f);
			errno = rc;
			return NULL;
		}
		return f;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		unlock(&s);
		errno = ENOMEM;
		return NULL;
	}
	f->dev = r->st.st_dev;
	f->ino = r->st.st_ino;
	f->csize = r->st.st_size;
	f->mtime = r->st.st_mtim;
	f->memfd = -1;
	f->refs = 1;
	f->state = F_LOADING;
	f->next = files;
	files = f;
	unlock(&s);

	/* Single flight: others wait on f_cond while we decrypt unlocked. */
	rc = load(f, r);

	lock(&s);
	f->state = rc ? F_FAILED : F_READY;
	f->err = -rc;
	pthread_cond_broadcast(&f_cond);
	unlock(&s);
	if (rc) {
		shim_file_put(f);
		errno = -rc;
		return NULL;
	}
	return f;
}

struct shim_file *shim_file_adopt(int memfd, const shim_ifd_id *id, uint64_t size)
{
	struct shim_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	/* Never in `files`: no cipher identity, so never found by a lookup. */
	f->memfd = memfd;
	f->mid = *id;
	f->size = size;
	f->refs = 1;
	f->state = F_READY;
	return f;
}

void shim_file_put(struct shim_file *f)
{
	shim_sigs s;
	int fd = -1;

	if (!f)
		return;
	lock(&s);
	if (--f->refs == 0) {
		struct shim_file **pp;

		for (pp = &files; *pp; pp = &(*pp)->next)
			if (*pp == f) {
				*pp = f->next;
				break;
			}
		fd = f->memfd;
		f->memfd = -1;
		f->next = dead;
		dead = f;
	}
	unlock(&s);
	if (fd >= 0)
		shim_ifd_close(fd, &f->mid);
}

void shim_file_stale(struct shim_file *f)
{
	shim_sigs s;

	/* Lookups skip failed objects; holders keep theirs until they let go. */
	lock(&s);
	if (f->state == F_READY) {
		f->state = F_FAILED;
		f->err = ESTALE;
	}
	unlock(&s);
}

int shim_file_memfd(const struct shim_file *f)
{
	return f->memfd;
}

uint64_t shim_file_size(const struct shim_file *f)
{
	return f->size;
}

int shim_file_reopen(struct shim_file *f, int flags)
{
	char p[64];
	int keep = O_ACCMODE | O_CLOEXEC | O_NONBLOCK | O_PATH | O_NOCTTY | O_LARGEFILE;
	struct stat st;
	int fd;

	/* Taken over by the program (dup2): decrypt again.  A number closed
	 * or reused behind our back shows below. */
	if (!shim_ifd_marked(f->memfd, &f->mid)) {
		errno = ESTALE;
		return -1;
	}
	/* A fresh open file description (own offset) on the same memfd; the
	 * caller's O_DIRECT, O_NOFOLLOW, O_CREAT... do not apply to it. */
	shim_fmt(p, sizeof(p), "/proc/self/fd/%d", f->memfd);
	fd = REAL(open)(p, flags & keep);
	if (fd < 0 && (errno == ENOENT || errno == EACCES)) {
		if (!shim_ifd_mine(f->memfd, &f->mid)) {
			errno = ESTALE; /* gone, not /proc */
			return -1;
		}
		shim_log(SHIM_LOG_WARN,
		         "unseal: open: /proc: unavailable, sharing one file offset");
		fd = REAL(fcntl)(f->memfd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	}
	if (fd < 0)
		return -1;
	/* What we opened must be our plaintext: the number may have changed
	 * hands between the check above and the open. */
	if (REAL(fstat)(fd, &st) < 0 || st.st_dev != f->mid.dev || st.st_ino != f->mid.ino) {
		REAL(close)(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

/* ---- mappings ---- */

void shim_file_nodump(void *addr, size_t len)
{
	int e = errno;

	/* The program's own mapping of plaintext stays out of core dumps. */
	if (len)
		(void)madvise(addr, len, MADV_DONTDUMP);
	errno = e;
}

static int map_add(uintptr_t lo, uintptr_t hi, struct shim_file *f)
{
	if (nmaps == capmaps) {
		size_t nc = capmaps ? capmaps * 2 : 16;
		struct mapping *m = realloc(maps, nc * sizeof(*m));

		if (!m)
			return -1;
		maps = m;
		capmaps = nc;
	}
	maps[nmaps].lo = lo;
	maps[nmaps].hi = hi;
	maps[nmaps].f = f;
	nmaps++;
	nmaps_hint = nmaps;
	f->refs++;
	return 0;
}

void shim_file_mapped(struct shim_file *f, void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr;
	shim_sigs s;

	if (!len || shim_foreign())
		return;
	shim_file_nodump(addr, len);
	lock(&s);
	map_add(lo, lo + len, f);
	unlock(&s);
}

void shim_file_unmapped(void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	struct shim_file *drop[16];
	size_t ndrop = 0;
	shim_sigs s;

	if (!nmaps_hint || shim_foreign())
		return;
	lock(&s);
	for (size_t i = 0; i < nmaps;) {
		struct mapping m = maps[i];

		if (m.hi <= lo || m.lo >= hi) {
			i++;
			continue;
		}
		/* Partial munmap: keep what is left on either side. */
		if (m.lo < lo && m.hi > hi) {
			maps[i].hi = lo;
			(void)map_add(hi, m.hi, m.f); /* appended; never overlaps again */
			i++;
			continue;
		}
		if (m.lo < lo) {
			maps[i++].hi = lo;
			continue;
		}
		if (m.hi > hi) {
			maps[i++].lo = hi;
			continue;
		}
		maps[i] = maps[--nmaps];
		nmaps_hint = nmaps;
		if (ndrop < 16) {
			drop[ndrop++] = m.f;
		} else {
			m.f->refs--; /* cannot reach 0: an fd or mapping still holds it */
		}
	}
	unlock(&s);
	for (size_t i = 0; i < ndrop; i++)
		shim_file_put(drop[i]);
}

void shim_file_atfork_prepare(void)
{
	pthread_mutex_lock(&f_lock);
}

void shim_file_atfork_parent(void)
{
	pthread_mutex_unlock(&f_lock);
}

void shim_file_atfork_child(void)
{
	/* A decryption in flight belongs to a thread that does not exist
	 * here: mark it failed so no child thread waits for it forever. */
	for (struct shim_file *f = files; f; f = f->next)
		if (f->state == F_LOADING) {
			f->state = F_FAILED;
			f->err = EIO;
		}
	pthread_mutex_unlock(&f_lock);
}
