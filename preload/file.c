/* File objects: the whole plaintext of a virtual regular file in a sealed
 * memfd.  Decrypted at most once per process while anyone uses it: cached
 * by the cipher file's (st_dev, st_ino, size, mtime) with a refcount held by
 * fd-table entries and by mappings made from those fds.  When the last one
 * goes, the cache memfd is closed (the kernel keeps pages alive for any
 * mapping that still exists).
 *
 * Memory cost: plaintext size in shmem per distinct open file; decryption
 * writes straight into a MAP_SHARED mapping of the memfd (no extra copy).
 * Fresh shmem pages dominate the cost of a load (one fault and one page
 * clear per 4 KiB), so each decrypt worker populates its next slice of the
 * mapping with one MADV_POPULATE_WRITE just before writing it: bulk faults,
 * spread over the workers, and still cache-warm when the plaintext lands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/shim.h"

enum { F_LOADING = 0, F_READY = 1, F_FAILED = 2 };

struct shim_file {
	struct shim_file *next;
	dev_t dev;
	ino_t ino;
	off_t csize;
	struct timespec mtime;
	int memfd;
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

struct cio {
	int fd;
};

static ssize_t cio_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct cio *c = ctx;
	size_t got = 0;

	while (got < len) {
		ssize_t n = REAL(pread)(c->fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int memfd_new(const char *vpath)
{
	const char *base = strrchr(vpath, '/');
	char name[250];
	size_t n;

	/* Named after the file so /proc/self/maps stays readable. */
	base = base ? base + 1 : vpath;
	n = strnlen(base, sizeof(name) - 1);
	memcpy(name, base, n);
	name[n] = 0;
#ifdef MFD_NOEXEC_SEAL
	int fd;
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd >= 0 || errno != EINVAL)
		return fd;
#endif
	return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

/* gcfs_read_opts.prep: fault a slice of the fresh memfd mapping in at once.
 * Best effort: on kernels without MADV_POPULATE_WRITE (< 5.14) the pages
 * simply fault one by one while decrypting. */
static _Atomic int no_populate;

static void populate(void *ctx, void *dst, size_t len)
{
	(void)ctx;
#ifdef MADV_POPULATE_WRITE
	if (!atomic_load_explicit(&no_populate, memory_order_relaxed) &&
	    madvise(dst, len, MADV_POPULATE_WRITE) < 0 && errno == EINVAL)
		atomic_store(&no_populate, 1);
#else
	(void)dst;
	(void)len;
#endif
}

/* Decrypt r's cipher file into a new sealed memfd; 0 or -errno. */
static int load(struct shim_file *f, const struct shim_res *r)
{
	const gcfs_keys *k = shim_keys();
	struct cio c = {.fd = -1};
	gcfs_io io = {.ctx = &c, .pread = cio_pread};
	char err[GCFS_ERRBUF] = "";
	gcfs_file gf;
	size_t done = 0;
	uint64_t bad = 0;
	void *map;
	int rc, mfd;

	if (!k)
		return -EACCES;
	c.fd = REAL(open)(r->cpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (c.fd < 0)
		return -errno;
	rc = gcfs_file_open(&io, (uint64_t)r->st.st_size, &gf, err, sizeof(err));
	if (rc) {
		shim_log(SHIM_LOG_ERROR, "unseal: open: %s: header: %s", r->vpath,
		         err[0] ? err : gcfs_strerror(rc));
		REAL(close)(c.fd);
		return -EIO;
	}
	mfd = memfd_new(r->vpath);
	if (mfd < 0 || ftruncate(mfd, (off_t)gf.plain_size) < 0) {
		rc = -errno;
		goto fail;
	}
	if (gf.plain_size) {
		map = REAL(mmap)(NULL, gf.plain_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			goto fail;
		}
		(void)madvise(map, gf.plain_size, MADV_DONTDUMP);
		gcfs_read_opts o = {.nthreads = shim_cfg.nthreads, .prep = populate};
		int e = errno;

		rc = gcfs_file_read_ex(k, &io, &gf, map, gf.plain_size, 0, &o, &done, &bad, err,
		                       sizeof(err));
		errno = e; /* populate's madvise must not leak an errno */
		REAL(munmap)(map, gf.plain_size);
		if (rc || done != gf.plain_size) {
			if (rc && err[0])
				shim_log(SHIM_LOG_ERROR, "unseal: open: %s: %s", r->vpath, err);
			else if (rc)
				shim_log(SHIM_LOG_ERROR, "unseal: open: %s: block %llu: %s",
				         r->vpath, (unsigned long long)bad, gcfs_strerror(rc));
			else
				shim_log(SHIM_LOG_ERROR, "unseal: open: %s: short read", r->vpath);
			rc = -EIO;
			goto fail;
		}
	}
	if (REAL(fcntl)(mfd, F_ADD_SEALS,
	                F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto fail;
	}
	REAL(close)(c.fd);
	f->memfd = mfd;
	f->size = gf.plain_size;
	SHIM_DBG("unseal: open: %s: decrypted %llu bytes", r->vpath,
	         (unsigned long long)gf.plain_size);
	return 0;
fail:
	if (mfd >= 0)
		REAL(close)(mfd);
	REAL(close)(c.fd);
	return rc;
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
		REAL(close)(fd);
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
	int fd;

	/* A fresh open file description (own offset) on the same memfd; the
	 * caller's O_DIRECT, O_NOFOLLOW, O_CREAT... do not apply to it. */
	shim_fmt(p, sizeof(p), "/proc/self/fd/%d", f->memfd);
	fd = REAL(open)(p, flags & keep);
	if (fd >= 0 || (errno != ENOENT && errno != EACCES))
		return fd;
	shim_log(SHIM_LOG_WARN, "unseal: open: /proc unavailable, sharing one file offset");
	return REAL(fcntl)(f->memfd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
}

/* ---- mappings ---- */

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
