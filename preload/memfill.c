/* Building a sealed plaintext memfd from a cipher fd (file.c's file
 * objects and stream.c's fills).
 *
 * Each decrypt worker decrypts a run of blocks (256 KiB) into its own
 * scratch, which stays in its caches, and pwrite()s it into the memfd.
 * Fresh shmem pages dominate the cost of a load; written whole like this
 * they are never cleared first, nor mapped, faulted and unmapped, which
 * measured about twice as fast as decrypting into a mapping of the memfd.
 * Running out of memory is an error, never a SIGBUS.  Blocks that lie
 * entirely in holes of a sparse cipher file are not touched (the memfd
 * reads as zeros there), and plaintext larger than RAM is refused (EFBIG)
 * -- such files are streamed instead.
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

static int memfd_new(void)
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

struct fill {
	int mfd;
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

/* gcfs_read_opts.sink: write an authenticated run into the memfd.  A full
 * page written this way is never zeroed first and no mapping is faulted or
 * torn down, which is most of what filling a mapping costs; running out of
 * memory is an error (ENOSPC/ENOMEM), not a SIGBUS. */
static int sink_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct fill *c = ctx;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pwrite(c->mfd, (const char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	if (shim_log_level >= SHIM_LOG_DEBUG)
		count_thread(c);
	return 0;
}

/* Decrypt plaintext blocks [b0, b1) into the memfd. */
static int fill_blocks(const gcfs_keys *k, gcfs_io *io, const gcfs_file *gf, struct fill *fc,
                       uint64_t b0, uint64_t b1, uint64_t *bad, char *err, size_t errlen)
{
	gcfs_read_opts o = {.nthreads = shim_cfg.nthreads, .sink = sink_write, .sink_ctx = fc};
	uint64_t lo = b0 * GCFS_BLOCK_PLAIN, hi = b1 * GCFS_BLOCK_PLAIN;
	size_t done = 0;
	int rc;

	hi = hi < gf->plain_size ? hi : gf->plain_size;
	if (hi <= lo)
		return 0;
	rc = gcfs_file_read_ex(k, io, gf, NULL, (size_t)(hi - lo), lo, &o, &done, bad, err, errlen);
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
	fc.mfd = memfd_new();
	if (fc.mfd < 0 || ftruncate(fc.mfd, (off_t)gf->plain_size) < 0) {
		rc = -errno;
		goto out;
	}
	if (gf->plain_size) {
		rc = fill_ranges(k, &io, cfd, gf, &fc, &bad, err, sizeof(err));
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
