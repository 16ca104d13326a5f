/* Raw AES-256-GCM throughput on gocryptfs blocks (4096 B, 16-byte IV,
 * 24-byte AAD) per engine, single thread; then gcfs_file_read over an
 * in-memory file (default 256 MiB) with 1 thread and all threads, through a
 * memcpy pread callback and straight from memory (gcfs_file_read_buf).
 * usage: crypto_bench [FILE_MIB]
 * Output: one line per case, `engine=<> case=<> MB/s=<>`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/internal.h"

#define RAW_SECONDS 1.0

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(gcfs_engine e, const char *c, double bytes, double secs)
{
	printf("engine=%s case=%s MB/s=%.0f\n", gcfs_engine_name(e), c, bytes / secs / 1e6);
	fflush(stdout);
}

/* Decrypt one sealed block over and over for about RAW_SECONDS. */
static int bench_raw(const gcfs_keys *k, gcfs_engine e)
{
	uint8_t fid[GCFS_FILEID_LEN], plain[GCFS_BLOCK_PLAIN], cb[GCFS_BLOCK_CIPHER], aad[24];
	gcfs_tctx *t = gcfs_tctx_get(k);
	double t0, t1;
	long n = 0;

	if (!t)
		return 1;
	memset(fid, 0x77, sizeof(fid));
	memset(plain, 0x5a, sizeof(plain));
	if (gcfs_block_encrypt(k, 3, fid, plain, sizeof(plain), cb))
		return 1;
	gcfs_make_aad(aad, 3, fid);
	t0 = now_s();
	do {
		for (int i = 0; i < 256; i++, n++) {
			if (gcfs_aead_open(t->aead, cb, aad, sizeof(aad), cb + 16, GCFS_BLOCK_PLAIN,
			                   cb + 16 + GCFS_BLOCK_PLAIN, plain))
				return 1;
		}
		t1 = now_s();
	} while (t1 - t0 < RAW_SECONDS);
	gcfs_tctx_put(k, t);
	report(e, "gcm-4k-decrypt", (double)n * GCFS_BLOCK_PLAIN, t1 - t0);
	return 0;
}

typedef struct {
	const uint8_t *buf;
	size_t len;
} mem;

static ssize_t mem_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	const mem *m = ctx;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	memcpy(buf, m->buf + off, len);
	return (ssize_t)len;
}

static uint8_t *build_file(const gcfs_keys *k, size_t plen, size_t *clen)
{
	uint8_t fid[GCFS_FILEID_LEN], plain[GCFS_BLOCK_PLAIN];
	size_t cl = gcfs_cipher_size(plen);
	uint8_t *c = malloc(cl);

	if (!c || gcfs_header_new(c, fid))
		return NULL;
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 13);
	for (size_t b = 0; b * GCFS_BLOCK_PLAIN < plen; b++) {
		if (gcfs_block_encrypt(k, b, fid, plain, GCFS_BLOCK_PLAIN,
		                       c + GCFS_HEADER_LEN + b * GCFS_BLOCK_CIPHER))
			return NULL;
	}
	*clen = cl;
	return c;
}

/* from_mem: gcfs_file_read_buf straight from the buffer; else gcfs_file_read
 * through a memcpy "pread" (what a page-cache pread costs, roughly). */
static int bench_file(const gcfs_keys *k, gcfs_engine e, const uint8_t *c, size_t cl, uint8_t *dst,
                      int threads, int from_mem)
{
	mem m = {c, cl};
	gcfs_io io = {&m, mem_pread};
	char err[GCFS_ERRBUF] = "", name[64];
	gcfs_file f;
	size_t done;
	double t0, best = 1e9;

	if (gcfs_file_open(&io, cl, &f, err, sizeof(err)))
		return 1;
	for (int r = 0; r < 3; r++) { /* best of 3 */
		t0 = now_s();
		int rc = from_mem ? gcfs_file_read_buf(k, c, &f, dst, f.plain_size, 0, threads,
		                                       &done, NULL, err, sizeof(err))
		                  : gcfs_file_read(k, &io, &f, dst, f.plain_size, 0, threads, &done,
		                                   NULL, err, sizeof(err));

		if (rc) {
			fprintf(stderr, "crypto_bench: %s\n", err);
			return 1;
		}
		if (now_s() - t0 < best)
			best = now_s() - t0;
	}
	snprintf(name, sizeof(name), "file-read%s-%dt", from_mem ? "-buf" : "", threads);
	report(e, name, (double)f.plain_size, best);
	return 0;
}

static int bench_engine(gcfs_engine e, size_t plen)
{
	uint8_t mk[GCFS_KEY_LEN];
	char err[GCFS_ERRBUF] = "";
	gcfs_keys *k = NULL;
	uint8_t *c, *dst;
	size_t cl = 0;
	int nproc = (int)sysconf(_SC_NPROCESSORS_ONLN), rc;

	memset(mk, 0x42, sizeof(mk));
	if (gcfs_keys_new(mk, GCFS_FLAGS_DEFAULT, 255, e, &k, err, sizeof(err))) {
		printf("engine=%s case=all MB/s=SKIP (%s)\n", gcfs_engine_name(e), err);
		return 0;
	}
	rc = bench_raw(k, e);
	c = build_file(k, plen, &cl);
	dst = malloc(plen);
	if (rc || !c || !dst) {
		fprintf(stderr, "crypto_bench: setup failed\n");
		return 1;
	}
	for (int mode = 0; mode < 2 && !rc; mode++) {
		rc = bench_file(k, e, c, cl, dst, 1, mode);
		if (!rc && nproc > 1)
			rc = bench_file(k, e, c, cl, dst, nproc, mode);
	}
	free(c);
	free(dst);
	gcfs_keys_free(k);
	return rc;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;

	if (mib == 0)
		mib = 256;
	if (bench_engine(GCFS_ENGINE_OPENSSL, mib << 20))
		return 1;
	return bench_engine(GCFS_ENGINE_IPSECMB, mib << 20);
}
