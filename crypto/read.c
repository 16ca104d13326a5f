/* gcfs_file_read: random-access decryption of a plaintext range over the
 * caller's pread callback, optionally split across threads.
 *
 * The block range is cut into contiguous runs of whole blocks, one per
 * thread.  Each thread borrows one cipher context and allocates one bounded
 * scratch buffer (SCRATCH_BLOCKS cipher blocks + one plaintext block for the
 * partial ends), reads a run of cipher blocks per pread, and decrypts whole
 * blocks straight into dst.  With an in-memory cipher file (gcfs_read_opts
 * .cipher) the blocks are decrypted in place from it, without scratch.
 * With a sink (gcfs_read_opts.sink) there is no dst: each thread decrypts a
 * run into its own plaintext scratch (not dumped, wiped) and hands it over. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/internal.h"

#define SCRATCH_BLOCKS 64u      /* 264 KiB of ciphertext per pread */
#define MT_MIN_BYTES (1u << 20) /* below this, threads cost more than they win */
#define MT_MIN_BLOCKS 64u       /* at least this many blocks per thread */
#define MT_MAX_THREADS 64

typedef struct {
	const gcfs_keys *k;
	const gcfs_io *io;
	const gcfs_file *f;
	const gcfs_read_opts *o;
	uint8_t *dst;         /* dst + (x - off) holds plaintext offset x */
	uint8_t *plain;       /* sink mode: this worker's plaintext scratch */
	uint64_t off, end;    /* requested plaintext range [off, end) */
	uint64_t first, last; /* this worker's blocks, inclusive */
	_Atomic uint64_t *first_bad;
	int rc;
	uint64_t bad;
	uint64_t reached; /* blocks [first, reached) may have written into dst */
} job;

static void note_bad(job *j, uint64_t blk, int rc)
{
	uint64_t cur = atomic_load(j->first_bad);

	j->rc = rc;
	j->bad = blk;
	/* Keep the minimum so workers past it can stop early while workers
	 * before it keep looking for an even earlier failure. */
	while (blk < cur && !atomic_compare_exchange_weak(j->first_bad, &cur, blk))
		;
}

/* Decrypt one cipher block and copy the requested part to out, which holds
 * plaintext offset out_off.  Only a partial first/last block goes through
 * tmp (*tmp_used tells the caller to wipe it). */
static int one_block(job *j, gcfs_tctx *t, uint64_t blk, const uint8_t *cb, size_t clen,
                     uint8_t *out, uint64_t out_off, uint8_t *tmp, int *tmp_used)
{
	uint64_t pstart = blk * GCFS_BLOCK_PLAIN;
	uint64_t lo = pstart > j->off ? pstart : j->off;
	uint64_t hi = pstart + GCFS_BLOCK_PLAIN < j->end ? pstart + GCFS_BLOCK_PLAIN : j->end;
	size_t plen = clen > GCFS_BLOCK_OVERHEAD ? clen - GCFS_BLOCK_OVERHEAD : 0;
	int rc;

	if (lo == pstart && hi - lo == plen)
		return gcfs_block_decrypt_t(j->k, t, blk, j->f->file_id, cb, clen,
		                            out + (pstart - out_off));
	*tmp_used = 1;
	rc = gcfs_block_decrypt_t(j->k, t, blk, j->f->file_id, cb, clen, tmp);
	if (!rc && hi > lo)
		memcpy(out + (lo - out_off), tmp + (lo - pstart), hi - lo);
	return rc;
}

/* The plaintext range [*lo, *hi) that blocks [b, b+cnt) cover in the
 * request; 0 if empty. */
static int slice_range(const job *j, uint64_t b, uint64_t cnt, uint64_t *lo, uint64_t *hi)
{
	*lo = b * GCFS_BLOCK_PLAIN;
	*hi = (b + cnt) * GCFS_BLOCK_PLAIN;
	*lo = *lo > j->off ? *lo : j->off;
	*hi = *hi < j->end ? *hi : j->end;
	return *hi > *lo;
}

/* The cipher bytes of blocks [b, b+cnt): straight from the in-memory file,
 * or one pread into scratch. */
static const uint8_t *fetch(job *j, uint64_t b, uint64_t cnt, uint8_t *scratch, uint64_t *ctot)
{
	uint64_t coff = GCFS_HEADER_LEN + b * GCFS_BLOCK_CIPHER;

	*ctot = cnt * GCFS_BLOCK_CIPHER;
	if (coff + *ctot > j->f->cipher_size)
		*ctot = j->f->cipher_size - coff;
	if (j->o->cipher)
		return j->o->cipher + coff;
	return gcfs_pread_full(j->io, scratch, *ctot, coff) ? NULL : scratch;
}

static int run_blocks(job *j, gcfs_tctx *t, uint8_t *scratch, uint8_t *tmp, int *tmp_used)
{
	for (uint64_t b = j->first; b <= j->last;) {
		uint64_t cnt = j->last - b + 1 < SCRATCH_BLOCKS ? j->last - b + 1 : SCRATCH_BLOCKS;
		uint64_t ctot, lo = 0, hi = 0;
		const uint8_t *src = fetch(j, b, cnt, scratch, &ctot);
		uint8_t *out = j->dst;
		uint64_t out_off = j->off, b0 = b;
		int rc;

		if (!src) {
			note_bad(j, b, GCFS_EIO);
			return GCFS_EIO;
		}
		if (j->o->sink && slice_range(j, b, cnt, &lo, &hi)) {
			/* this run goes to the scratch, then the sink */
			out = j->plain;
			out_off = lo;
		}
		for (uint64_t i = 0; i < cnt; i++, b++) {
			uint64_t rest = ctot - i * GCFS_BLOCK_CIPHER;

			if (b > atomic_load_explicit(j->first_bad, memory_order_relaxed))
				return GCFS_OK; /* an earlier block already failed */
			j->reached = b + 1;
			rc = one_block(j, t, b, src + i * GCFS_BLOCK_CIPHER,
			               rest < GCFS_BLOCK_CIPHER ? rest : GCFS_BLOCK_CIPHER, out,
			               out_off, tmp, tmp_used);
			if (rc) {
				note_bad(j, b, rc);
				return rc;
			}
		}
		/* Only a run that authenticated completely is handed over. */
		if (j->o->sink && hi > lo && j->o->sink(j->o->sink_ctx, lo, j->plain, hi - lo)) {
			note_bad(j, b0, GCFS_ENOMEM);
			return GCFS_ENOMEM;
		}
	}
	return GCFS_OK;
}

static void *worker(void *arg)
{
	job *j = arg;
	uint64_t n = j->last - j->first + 1;
	size_t sblocks = n < SCRATCH_BLOCKS ? (size_t)n : SCRATCH_BLOCKS;
	/* Ciphertext only (never plaintext), so it needs no wiping. */
	uint8_t *scratch = j->o->cipher ? NULL : malloc(sblocks * GCFS_BLOCK_CIPHER);
	size_t plen = sblocks * GCFS_BLOCK_PLAIN;
	uint8_t tmp[GCFS_BLOCK_PLAIN];
	gcfs_tctx *t = gcfs_tctx_get(j->k);
	int tmp_used = 0;

	/* The sink's plaintext scratch: private pages, not dumped, wiped; not
	 * locked (it would count against the program's RLIMIT_MEMLOCK). */
	j->plain = j->o->sink ? gcfs_private_alloc(plen, 0) : NULL;
	if ((!scratch && !j->o->cipher) || !t || (j->o->sink && !j->plain))
		note_bad(j, j->first, GCFS_ENOMEM);
	else
		run_blocks(j, t, scratch, tmp, &tmp_used);
	gcfs_tctx_put(j->k, t);
	if (tmp_used) /* plaintext of a partial block passed through it */
		gcfs_wipe(tmp, sizeof(tmp));
	gcfs_private_free(j->plain, plen, 0);
	j->plain = NULL;
	free(scratch);
	return NULL;
}

static int pick_threads(int want, uint64_t len, uint64_t nblocks)
{
	uint64_t by_blocks = nblocks / MT_MIN_BLOCKS;

	if (want <= 1 || len < MT_MIN_BYTES || by_blocks < 2)
		return 1;
	if ((uint64_t)want > by_blocks)
		want = (int)by_blocks;
	return want > MT_MAX_THREADS ? MT_MAX_THREADS : want;
}

/* Run jobs[0] here and the others on threads; collect the first failure. */
static int run_jobs(job *jobs, int n, uint64_t *bad)
{
	pthread_t tid[MT_MAX_THREADS];
	int started[MT_MAX_THREADS] = {0};
	int rc = GCFS_OK;
	uint64_t best = UINT64_MAX;

	for (int i = 1; i < n; i++)
		started[i] = pthread_create(&tid[i], NULL, worker, &jobs[i]) == 0;
	worker(&jobs[0]);
	for (int i = 1; i < n; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			worker(&jobs[i]); /* no thread: do it inline */
	}
	for (int i = 0; i < n; i++) {
		if (jobs[i].rc && jobs[i].bad < best) {
			best = jobs[i].bad;
			rc = jobs[i].rc;
		}
	}
	*bad = best;
	return rc;
}

/* After a failure no byte of dst may be used, and a caller that ignores
 * the error must not find plaintext there either: wipe every byte any
 * worker wrote (only those, so a failed load does not touch the pages of a
 * huge fresh mapping it never reached). */
static void wipe_written(const job *jobs, int n)
{
	for (int i = 0; i < n; i++) {
		const job *j = &jobs[i];
		uint64_t lo, hi;

		if (j->reached > j->first &&
		    slice_range(j, j->first, j->reached - j->first, &lo, &hi))
			gcfs_wipe(j->dst + (lo - j->off), (size_t)(hi - lo));
	}
}

static int explain(int rc, uint64_t bad, char *err, size_t errlen)
{
	const char *why = rc == GCFS_EAUTH     ? "authentication failed"
	                  : rc == GCFS_EFORMAT ? "corrupt block"
	                  : rc == GCFS_EIO     ? "read failed or file truncated"
	                                       : gcfs_strerror(rc);

	return gcfs_seterr(err, errlen, rc, "block %llu: %s", (unsigned long long)bad, why);
}

GCFS_API int gcfs_file_read_ex(const gcfs_keys *k, const gcfs_io *io, const gcfs_file *f, void *dst,
                               size_t len, uint64_t off, const gcfs_read_opts *o, size_t *done,
                               uint64_t *bad_block, char *err, size_t errlen)
{
	static const gcfs_read_opts none = {0};
	job jobs[MT_MAX_THREADS];
	_Atomic uint64_t first_bad = UINT64_MAX;
	uint64_t first, nblocks, per, bad = 0;
	int n, rc;

	if (done)
		*done = 0;
	if (!o)
		o = &none;
	if (!k || !f || (!o->cipher && (!io || !io->pread)) || (!dst && !o->sink && len) ||
	    (dst && o->sink))
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	if (f->empty || off >= f->plain_size || len == 0)
		return GCFS_OK;
	if (len > f->plain_size - off)
		len = (size_t)(f->plain_size - off);
	first = off / GCFS_BLOCK_PLAIN;
	nblocks = (off + len - 1) / GCFS_BLOCK_PLAIN - first + 1;
	n = pick_threads(o->nthreads, len, nblocks);
	per = nblocks / (uint64_t)n;
	for (int i = 0; i < n; i++) {
		jobs[i] = (job){.k = k,
		                .io = io,
		                .f = f,
		                .o = o,
		                .dst = dst,
		                .off = off,
		                .end = off + len,
		                .first_bad = &first_bad};
		jobs[i].first = first + per * (uint64_t)i;
		jobs[i].last = i == n - 1 ? first + nblocks - 1 : jobs[i].first + per - 1;
	}
	rc = run_jobs(jobs, n, &bad);
	if (rc) {
		if (dst)
			wipe_written(jobs, n);
		if (bad_block)
			*bad_block = bad;
		return explain(rc, bad, err, errlen);
	}
	if (done)
		*done = len;
	return GCFS_OK;
}

GCFS_API int gcfs_file_read(const gcfs_keys *k, const gcfs_io *io, const gcfs_file *f, void *dst,
                            size_t len, uint64_t off, int nthreads, size_t *done,
                            uint64_t *bad_block, char *err, size_t errlen)
{
	gcfs_read_opts o = {.nthreads = nthreads};

	if (!io || !io->pread) /* the pread path needs io; do not fall into o.cipher */
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	return gcfs_file_read_ex(k, io, f, dst, len, off, &o, done, bad_block, err, errlen);
}

GCFS_API int gcfs_file_read_buf(const gcfs_keys *k, const uint8_t *cipher, const gcfs_file *f,
                                void *dst, size_t len, uint64_t off, int nthreads, size_t *done,
                                uint64_t *bad_block, char *err, size_t errlen)
{
	gcfs_read_opts o = {.nthreads = nthreads, .cipher = cipher};

	if (done)
		*done = 0;
	if (!cipher)
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	return gcfs_file_read_ex(k, NULL, f, dst, len, off, &o, done, bad_block, err, errlen);
}
