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
 * Each slice is fallocate()d first, so running out of memory is an error,
 * never a SIGBUS.  Blocks that lie entirely in holes of a sparse cipher file
 * are not touched (the memfd reads as zeros there), and plaintext larger
 * than RAM is refused (EFBIG) -- such files are streamed instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
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

/* gcfs_io callback over a cipher fd (ctx points to the int): pread that only
 * comes back short at EOF.  Shared with stream.c. */
ssize_t shim_cipher_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = *(const int *)ctx;
	size_t got = 0;

	while (got < len) {
		ssize_t n = REAL(pread)(fd, (char *)buf + got, len - got, (off_t)(off + got));

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

int shim_memfd_new(void)
{
	/* One fixed name: the decrypted file name must not show up in
	 * /proc/<pid>/maps or /proc/<pid>/fd. */
#ifdef MFD_NOEXEC_SEAL
	int fd;
	fd = memfd_create("unseal", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd >= 0 || errno != EINVAL)
		return fd;
#endif
	return memfd_create("unseal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

uint64_t shim_mem_budget(void)
{
	static _Atomic uint64_t budget;
	uint64_t b = atomic_load_explicit(&budget, memory_order_relaxed);
	struct sysinfo si;

	if (b)
		return b;
	/* A whole-file copy larger than all RAM cannot work; anything less
	 * is the administrator's call (memory limits still apply). */
	b = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit : 0;
	if (!b)
		b = UINT64_MAX;
	atomic_store_explicit(&budget, b, memory_order_relaxed);
	return b;
}

int shim_cipher_open(const struct shim_res *r, struct stat *st)
{
	int fd = REAL(open)(r->cpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	if (REAL(fstat)(fd, st) < 0) {
		int e = errno;

		REAL(close)(fd);
		errno = e;
		return -1;
	}
	/* Everything after this uses the opened file: it must be the entry
	 * path resolution vetted, not one renamed over it since. */
	if (st->st_dev != r->st.st_dev || st->st_ino != r->st.st_ino || !S_ISREG(st->st_mode)) {
		shim_log(SHIM_LOG_ERROR, "unseal: open: %s: changed while opening", r->vpath);
		REAL(close)(fd);
		errno = EIO;
		return -1;
	}
	return fd;
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

struct fill {
	int mfd;
	uint8_t *base;
	/* Threads that wrote slices, for the debug log (shows the parallelism
	 * that was really used). */
	pthread_mutex_t lock;
	int nthr;
	pid_t thr[64];
};

static void count_thread(struct fill *c)
{
	pid_t me = gettid();
	int i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nthr && c->thr[i] != me; i++)
		;
	if (i == c->nthr && c->nthr < 64)
		c->thr[c->nthr++] = me;
	pthread_mutex_unlock(&c->lock);
}

/* gcfs_read_opts.prep_chk: allocate the memfd pages of a slice before it is
 * written.  A store to a shmem page the kernel cannot allocate is a SIGBUS;
 * fallocate turns that into an error the read reports. */
static int prep_alloc(void *ctx, void *dst, size_t len)
{
	struct fill *c = ctx;
	off_t at = (off_t)((uint8_t *)dst - c->base);

	while (fallocate(c->mfd, 0, at, (off_t)len) < 0)
		if (errno != EINTR)
			return -1;
	populate(NULL, dst, len);
	if (shim_log_level >= SHIM_LOG_DEBUG)
		count_thread(c);
	return 0;
}

/* Decrypt plaintext blocks [b0, b1) into the mapping. */
static int fill_blocks(const gcfs_keys *k, gcfs_io *io, const gcfs_file *gf, struct fill *fc,
                       uint64_t b0, uint64_t b1, uint64_t *bad, char *err, size_t errlen)
{
	gcfs_read_opts o = {.nthreads = shim_cfg.nthreads, .prep_chk = prep_alloc, .prep_ctx = fc};
	uint64_t lo = b0 * GCFS_BLOCK_PLAIN, hi = b1 * GCFS_BLOCK_PLAIN;
	size_t done = 0;
	int rc;

	hi = hi < gf->plain_size ? hi : gf->plain_size;
	if (hi <= lo)
		return 0;
	rc = gcfs_file_read_ex(k, io, gf, fc->base + lo, (size_t)(hi - lo), lo, &o, &done, bad, err,
	                       errlen);
	return rc ? rc : done == hi - lo ? 0 : GCFS_EIO;
}

/* Block index of cipher offset off (round = BLOCK_CIPHER-1: rounded up). */
static uint64_t blk_of(uint64_t off, uint64_t round)
{
	return off < GCFS_HEADER_LEN ? 0 : (off - GCFS_HEADER_LEN + round) / GCFS_BLOCK_CIPHER;
}

/* The blocks of the data ranges of the cipher file (SEEK_DATA/SEEK_HOLE);
 * a block entirely inside a hole is all zeros on disk, which the hole rule
 * maps to a zero plaintext block: the memfd already reads as zeros there,
 * so a huge sparse file costs only its data.  The last block is always
 * decrypted, so a short zero block keeps failing exactly as it would. */
static int fill_ranges(const gcfs_keys *k, gcfs_io *io, int cfd, const gcfs_file *gf,
                       struct fill *fc, uint64_t *bad, char *err, size_t errlen)
{
	uint64_t nblocks = (gf->plain_size + GCFS_BLOCK_PLAIN - 1) / GCFS_BLOCK_PLAIN;
	uint64_t next = 0, csize = gf->cipher_size;
	off_t pos = 0;
	int rc;

	while (next < nblocks && (uint64_t)pos < csize) {
		off_t d0 = REAL(lseek)(cfd, pos, SEEK_DATA), d1;
		uint64_t b0, b1;

		if (d0 < 0 && errno == ENXIO)
			break; /* only a hole is left */
		d1 = d0 < 0 ? -1 : REAL(lseek)(cfd, d0, SEEK_HOLE);
		if (d0 < 0 || d1 <= d0) { /* no hole information: all data */
			d0 = pos;
			d1 = (off_t)csize;
		}
		/* blocks overlapping cipher bytes [d0, d1) */
		b0 = blk_of((uint64_t)d0, 0);
		b1 = blk_of((uint64_t)d1, GCFS_BLOCK_CIPHER - 1);
		b0 = b0 > next ? b0 : next;
		b1 = b1 < nblocks ? b1 : nblocks;
		rc = fill_blocks(k, io, gf, fc, b0, b1, bad, err, errlen);
		if (rc)
			return rc;
		next = b1 > next ? b1 : next;
		pos = d1;
	}
	if (next < nblocks)
		return fill_blocks(k, io, gf, fc, nblocks - 1, nblocks, bad, err, errlen);
	return 0;
}

int shim_plain_memfd(const gcfs_keys *k, int cfd, const gcfs_file *gf, const char *vpath,
                     const char *verb, shim_ifd_id *id)
{
	gcfs_io io = {.ctx = &cfd, .pread = shim_cipher_pread};
	char err[GCFS_ERRBUF] = "";
	struct fill fc = {.mfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
	uint64_t bad = 0;
	int rc = 0, e = errno;

	if (gf->plain_size > shim_mem_budget()) {
		shim_log(SHIM_LOG_ERROR, "unseal: %s: %s: %llu bytes exceed the memory budget",
		         verb, vpath, (unsigned long long)gf->plain_size);
		return -EFBIG;
	}
	fc.mfd = shim_memfd_new();
	if (fc.mfd < 0 || ftruncate(fc.mfd, (off_t)gf->plain_size) < 0) {
		rc = -errno;
		goto out;
	}
	if (gf->plain_size) {
		fc.base =
		    REAL(mmap)(NULL, gf->plain_size, PROT_READ | PROT_WRITE, MAP_SHARED, fc.mfd, 0);
		if (fc.base == MAP_FAILED) {
			rc = -errno;
			goto out;
		}
		(void)madvise(fc.base, gf->plain_size, MADV_DONTDUMP);
		rc = fill_ranges(k, &io, cfd, gf, &fc, &bad, err, sizeof(err));
		REAL(munmap)(fc.base, gf->plain_size);
		if (rc) {
			if (err[0])
				shim_log(SHIM_LOG_ERROR, "unseal: %s: %s: %s", verb, vpath, err);
			else
				shim_log(SHIM_LOG_ERROR, "unseal: %s: %s: block %llu: %s", verb,
				         vpath, (unsigned long long)bad, gcfs_strerror(rc));
			rc = -EIO;
			goto out;
		}
	}
	if (REAL(fcntl)(fc.mfd, F_ADD_SEALS,
	                F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		rc = -errno;
	else
		SHIM_DBG("unseal: %s: %s: decrypted %llu bytes on %d threads", verb, vpath,
		         (unsigned long long)gf->plain_size, fc.nthr);
out:
	if (rc && fc.mfd >= 0)
		REAL(close)(fc.mfd); /* partial plaintext: never handed out */
	errno = e;
	return rc ? rc : shim_ifd_hide(fc.mfd, id);
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

	/* Closed, replaced or taken over by the program: decrypt again. */
	if (!shim_ifd_mine(f->memfd, &f->mid)) {
		errno = ESTALE;
		return -1;
	}
	/* A fresh open file description (own offset) on the same memfd; the
	 * caller's O_DIRECT, O_NOFOLLOW, O_CREAT... do not apply to it. */
	shim_fmt(p, sizeof(p), "/proc/self/fd/%d", f->memfd);
	fd = REAL(open)(p, flags & keep);
	if (fd < 0 && (errno == ENOENT || errno == EACCES)) {
		shim_log(SHIM_LOG_WARN, "unseal: open: /proc unavailable, sharing one file offset");
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
