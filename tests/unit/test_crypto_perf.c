/* The fast paths (gcfs_file_read_buf, and gcfs_file_read_ex with a sink)
 * must give exactly what the pread path and the real plaintext give: on the
 * golden corpus (written by gocryptfs), on random data, and on tampered,
 * zeroed and truncated blocks (same error, same first bad block; a sink is
 * never handed a run with a bad block). */
#include "tests/unit/test_crypto_util.h"

static const char *NAMES[] = {"size_1048583.bin", "size_12289.bin", "size_4097.bin",
                              "size_4096.bin",    "size_1.bin",     "sparse.bin",
                              "hello.txt",        "empty.bin"};

/* Cipher path of a top-level plain name, from the corpus name map. */
static void cipher_of(const char *plain, char *out, size_t cap)
{
	size_t n;
	char *map = (char *)slurp(GOLDEN "/namemap.tsv", &n), *line, *save = NULL;

	assert_non_null(map);
	for (line = strtok_r(map, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		if (tab && (size_t)(tab - line) == strlen(plain) &&
		    !strncmp(line, plain, strlen(plain))) {
			PATHF_N(out, cap, GOLDEN "/cipher/%s", tab + 1);
			free(map);
			return;
		}
	}
	fail_msg("%s not in namemap.tsv", plain);
}

/* A sink that copies each run to out (which holds plaintext offset off)
 * and counts what it got: runs outside [off, end) or touching [bad_lo,
 * bad_hi) are counted, never copied.  fail: refuse every run. */
typedef struct {
	uint8_t *out;
	uint64_t off, end, bad_lo, bad_hi;
	size_t bytes;
	int calls, outside, bad, fail;
} sink_log;

static int sink_copy(void *ctx, uint64_t off, const void *buf, size_t len)
{
	sink_log *p = ctx;

	/* workers run concurrently (cmocka asserts are not thread-safe):
	 * count here, check in the test thread */
	__atomic_add_fetch(&p->calls, 1, __ATOMIC_RELAXED);
	if (p->fail)
		return -1;
	if (off < p->off || off + len > p->end) {
		__atomic_add_fetch(&p->outside, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (off < p->bad_hi && off + len > p->bad_lo)
		__atomic_add_fetch(&p->bad, 1, __ATOMIC_RELAXED);
	memcpy(p->out + (off - p->off), buf, len);
	__atomic_add_fetch(&p->bytes, len, __ATOMIC_RELAXED);
	return 0;
}

/* Read [off, off+len) three ways; all must succeed and match want. */
static void read_3ways(const gcfs_keys *k, const uint8_t *c, size_t cl, const gcfs_file *f,
                       const uint8_t *want, size_t off, size_t len, int threads)
{
	mem_io m = {c, cl, 0};
	gcfs_io io = {&m, mem_pread};
	size_t exp =
	    off >= f->plain_size ? 0 : (len < f->plain_size - off ? len : f->plain_size - off);
	uint8_t *a = malloc(len + 1), *b = malloc(len + 1), *d = malloc(len + 1);
	sink_log sl = {.out = d, .off = off, .end = off + exp};
	gcfs_read_opts o = {.nthreads = threads, .sink = sink_copy, .sink_ctx = &sl};
	char err[GCFS_ERRBUF] = "";
	size_t da = 1, db = 1, dd = 1;

	memset(d, 0xa5, len + 1); /* a run never handed over stays visible */
	if (gcfs_file_read(k, &io, f, a, len, off, threads, &da, NULL, err, sizeof(err)))
		fail_msg("pread path: %s", err);
	if (gcfs_file_read_buf(k, c, f, b, len, off, threads, &db, NULL, err, sizeof(err)))
		fail_msg("buf path: %s", err);
	if (gcfs_file_read_ex(k, &io, f, NULL, len, off, &o, &dd, NULL, err, sizeof(err)))
		fail_msg("sink path: %s", err);
	assert_int_equal(da, exp);
	assert_int_equal(db, exp);
	assert_int_equal(dd, exp);
	assert_int_equal(sl.bytes, exp); /* the sink got exactly the range, once */
	assert_int_equal(sl.outside, 0);
	assert_true(exp == 0 || sl.calls >= 1);
	if (exp) {
		assert_memory_equal(a, want + off, exp);
		assert_memory_equal(b, want + off, exp);
		assert_memory_equal(d, want + off, exp);
	}
	free(a);
	free(b);
	free(d);
}

static void golden_engine(gcfs_engine e)
{
	char cpath[1024], ppath[1024];
	size_t n;
	char *mk = (char *)slurp(GOLDEN "/masterkey.txt", &n);
	gcfs_keys *k;

	assert_non_null(mk);
	k = keys_from_hex(mk, GCFS_FLAGS_DEFAULT, e);
	for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
		size_t cl, pl;
		uint8_t *c, *p;
		gcfs_file f, fb;
		char err[GCFS_ERRBUF] = "";
		static const size_t offs[] = {0, 1, 4095, 4096, 5000, 12288, 700000};

		cipher_of(NAMES[i], cpath, sizeof(cpath));
		PATHF(ppath, GOLDEN "/plain/%s", NAMES[i]);
		c = slurp(cpath, &cl);
		p = slurp(ppath, &pl);
		assert_non_null(c);
		assert_non_null(p);
		mem_io m = {c, cl, 0};
		gcfs_io io = {&m, mem_pread};
		assert_int_equal(gcfs_file_open(&io, cl, &f, err, sizeof(err)), 0);
		assert_int_equal(gcfs_file_open_buf(c, cl, &fb, err, sizeof(err)), 0);
		assert_memory_equal(&f, &fb, sizeof(f));
		assert_int_equal(fb.plain_size, pl);
		for (int t = 1; t <= 4; t *= 2) {
			read_3ways(k, c, cl, &fb, p, 0, pl + 10, t);
			for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
				read_3ways(k, c, cl, &fb, p, offs[j], 1, t);
				read_3ways(k, c, cl, &fb, p, offs[j], 8191, t);
				read_3ways(k, c, cl, &fb, p, offs[j], 1u << 20, t);
			}
		}
		free(c);
		free(p);
	}
	free(mk);
	gcfs_keys_free(k);
}

static void test_golden_openssl(void **s)
{
	(void)s;
	golden_engine(GCFS_ENGINE_OPENSSL);
}

static void test_golden_ipsecmb(void **s)
{
	(void)s;
	NEED_IPSEC();
	golden_engine(GCFS_ENGINE_IPSECMB);
}

/* Random plaintext of nblocks blocks + tail bytes, encrypted in memory. */
static uint8_t *random_file(gcfs_keys *k, size_t plen, uint8_t **plain, size_t *cl)
{
	uint8_t fid[GCFS_FILEID_LEN], *c, *p = malloc(plen ? plen : 1);
	size_t clen = gcfs_cipher_size(plen);

	c = malloc(clen ? clen : 1);
	for (size_t i = 0; i < plen; i++)
		p[i] = (uint8_t)rand();
	assert_int_equal(gcfs_header_new(c, fid), 0);
	for (size_t b = 0; b * GCFS_BLOCK_PLAIN < plen; b++) {
		size_t n = plen - b * GCFS_BLOCK_PLAIN;

		n = n < GCFS_BLOCK_PLAIN ? n : GCFS_BLOCK_PLAIN;
		assert_int_equal(gcfs_block_encrypt(k, b, fid, p + b * GCFS_BLOCK_PLAIN, n,
		                                    c + GCFS_HEADER_LEN + b * GCFS_BLOCK_CIPHER),
		                 0);
	}
	*plain = p;
	*cl = clen;
	return c;
}

/* Both paths fail the same way on the same first bad block. */
static void expect_fail(const gcfs_keys *k, uint8_t *c, size_t cl, const gcfs_file *f, size_t off,
                        size_t len, int threads, int want_rc, uint64_t want_bad)
{
	mem_io m = {c, cl, 0};
	gcfs_io io = {&m, mem_pread};
	uint8_t *d = malloc(len);
	uint64_t b1 = 0, b2 = 0, b3 = 0;
	size_t done = 7;
	char err[GCFS_ERRBUF] = "";
	sink_log sl = {.out = d,
	               .off = off,
	               .end = off + len,
	               .bad_lo = want_bad * GCFS_BLOCK_PLAIN,
	               .bad_hi = (want_bad + 1) * GCFS_BLOCK_PLAIN};
	gcfs_read_opts o = {.nthreads = threads, .sink = sink_copy, .sink_ctx = &sl};

	assert_int_equal(
	    gcfs_file_read(k, &io, f, d, len, off, threads, &done, &b1, err, sizeof(err)), want_rc);
	assert_int_equal(
	    gcfs_file_read_buf(k, c, f, d, len, off, threads, &done, &b2, err, sizeof(err)),
	    want_rc);
	assert_int_equal(done, 0);
	assert_int_equal(b1, want_bad);
	assert_int_equal(b2, want_bad);
	assert_int_equal(
	    gcfs_file_read_ex(k, &io, f, NULL, len, off, &o, &done, &b3, err, sizeof(err)),
	    want_rc);
	assert_int_equal(b3, want_bad);
	assert_int_equal(sl.bad, 0); /* the bad block's run never reached the sink */
	assert_int_equal(sl.outside, 0);
	free(d);
}

static void random_engine(gcfs_engine e)
{
	gcfs_keys *k =
	    keys_from_hex("33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103",
	                  GCFS_FLAGS_DEFAULT, e);
	size_t plen = 777 * GCFS_BLOCK_PLAIN + 1234, cl;
	uint8_t *p, *c = random_file(k, plen, &p, &cl), saved[GCFS_BLOCK_CIPHER];
	gcfs_file f;
	char err[GCFS_ERRBUF] = "";

	assert_int_equal(gcfs_file_open_buf(c, cl, &f, err, sizeof(err)), 0);
	for (int t = 1; t <= 3; t++) {
		read_3ways(k, c, cl, &f, p, 0, plen, t);
		read_3ways(k, c, cl, &f, p, 3 * GCFS_BLOCK_PLAIN + 17, 600 * GCFS_BLOCK_PLAIN, t);
		read_3ways(k, c, cl, &f, p, plen - 5000, 10000, t);
	}
	/* one flipped bit in a tag, the ciphertext, the nonce */
	static const size_t where[] = {GCFS_BLOCK_CIPHER - 1, 100, 3};
	for (size_t w = 0; w < 3; w++) {
		uint8_t *blk = c + GCFS_HEADER_LEN + 500 * GCFS_BLOCK_CIPHER;

		blk[where[w]] ^= 0x20;
		expect_fail(k, c, cl, &f, 0, plen, 3, GCFS_EAUTH, 500);
		expect_fail(k, c, cl, &f, 500 * GCFS_BLOCK_PLAIN + 9, 10, 1, GCFS_EAUTH, 500);
		blk[where[w]] ^= 0x20;
	}
	/* the earliest of two bad blocks wins, whichever thread sees it */
	c[GCFS_HEADER_LEN + 40 * GCFS_BLOCK_CIPHER + 50] ^= 1;
	c[GCFS_HEADER_LEN + 700 * GCFS_BLOCK_CIPHER + 50] ^= 1;
	expect_fail(k, c, cl, &f, 0, plen, 4, GCFS_EAUTH, 40);
	c[GCFS_HEADER_LEN + 40 * GCFS_BLOCK_CIPHER + 50] ^= 1;
	c[GCFS_HEADER_LEN + 700 * GCFS_BLOCK_CIPHER + 50] ^= 1;
	/* a zero nonce is corrupt; a fully zero block is a hole */
	uint8_t *blk = c + GCFS_HEADER_LEN + 9 * GCFS_BLOCK_CIPHER;
	memcpy(saved, blk, sizeof(saved));
	memset(blk, 0, GCFS_NONCE_LEN);
	expect_fail(k, c, cl, &f, 0, plen, 2, GCFS_EFORMAT, 9);
	memset(blk, 0, GCFS_BLOCK_CIPHER);
	memset(p + 9 * GCFS_BLOCK_PLAIN, 0, GCFS_BLOCK_PLAIN);
	read_3ways(k, c, cl, &f, p, 0, plen, 2);
	memcpy(blk, saved, sizeof(saved));
	/* a file whose tail holds only 20 bytes after the last block */
	gcfs_file ft;
	size_t tl = GCFS_HEADER_LEN + 3 * GCFS_BLOCK_CIPHER + 20;
	assert_int_equal(gcfs_file_open_buf(c, tl, &ft, err, sizeof(err)), 0);
	assert_int_equal(ft.plain_size, 3 * GCFS_BLOCK_PLAIN + 1);
	expect_fail(k, c, tl, &ft, 0, 4 * GCFS_BLOCK_PLAIN, 1, GCFS_EFORMAT, 3);
	free(c);
	free(p);
	gcfs_keys_free(k);
}

static void test_random_and_tampered_openssl(void **s)
{
	(void)s;
	srand(1234);
	random_engine(GCFS_ENGINE_OPENSSL);
}

static void test_random_and_tampered_ipsecmb(void **s)
{
	(void)s;
	NEED_IPSEC();
	srand(1234);
	random_engine(GCFS_ENGINE_IPSECMB);
}

static void test_buf_headers(void **s)
{
	(void)s;
	uint8_t hdr[GCFS_HEADER_LEN] = {0, 2, 1};
	gcfs_file f;
	char err[GCFS_ERRBUF] = "";
	size_t done = 5;
	gcfs_keys *k =
	    keys_from_hex("33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103",
	                  GCFS_FLAGS_DEFAULT, GCFS_ENGINE_AUTO);

	assert_int_equal(gcfs_file_open_buf(NULL, 0, &f, err, sizeof(err)), 0);
	assert_true(f.empty);
	assert_int_equal(gcfs_file_open_buf(hdr, 17, &f, err, sizeof(err)), GCFS_EFORMAT);
	assert_int_equal(gcfs_file_open_buf(hdr, 18, &f, err, sizeof(err)), 0);
	assert_true(f.empty);
	assert_int_equal(
	    gcfs_file_read_buf(k, hdr, &f, hdr, 10, 0, 1, &done, NULL, err, sizeof(err)), 0);
	assert_int_equal(done, 0);
	hdr[1] = 1; /* v1 header */
	assert_int_equal(gcfs_file_open_buf(hdr, 18, &f, err, sizeof(err)), GCFS_EFORMAT);
	hdr[1] = 2;
	hdr[2] = 0; /* zero file ID */
	assert_int_equal(gcfs_file_open_buf(hdr, 18, &f, err, sizeof(err)), GCFS_EFORMAT);
	assert_int_equal(gcfs_file_open_buf(NULL, 100, &f, err, sizeof(err)), GCFS_EINVAL);
	assert_int_equal(
	    gcfs_file_read_buf(k, NULL, &f, hdr, 1, 0, 1, &done, NULL, err, sizeof(err)),
	    GCFS_EINVAL);
	assert_int_equal(
	    gcfs_file_read_ex(k, NULL, &f, hdr, 1, 0, NULL, &done, NULL, err, sizeof(err)),
	    GCFS_EINVAL);
	gcfs_keys_free(k);
}

/* A sink that refuses stops the read (nothing else is written anywhere);
 * dst and a sink together are a caller error. */
static void test_sink_refuses(void **s)
{
	(void)s;
	gcfs_keys *k =
	    keys_from_hex("33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103",
	                  GCFS_FLAGS_DEFAULT, GCFS_ENGINE_AUTO);
	size_t plen = 300 * GCFS_BLOCK_PLAIN + 5, cl, done = 9;
	uint8_t *p, *c = random_file(k, plen, &p, &cl), one[1];
	mem_io m = {c, cl, 0};
	gcfs_io io = {&m, mem_pread};
	sink_log sl = {.fail = 1};
	gcfs_read_opts o = {.nthreads = 2, .sink = sink_copy, .sink_ctx = &sl};
	char err[GCFS_ERRBUF] = "";
	gcfs_file f;

	assert_int_equal(gcfs_file_open_buf(c, cl, &f, err, sizeof(err)), 0);
	assert_int_equal(gcfs_file_read_ex(k, &io, &f, NULL, plen, 0, &o, &done, NULL, err,
	                                   sizeof(err)),
	                 GCFS_ENOMEM);
	assert_int_equal(done, 0);
	assert_true(sl.calls >= 1 && sl.bytes == 0);
	assert_int_equal(
	    gcfs_file_read_ex(k, &io, &f, one, 1, 0, &o, &done, NULL, err, sizeof(err)),
	    GCFS_EINVAL);
	free(c);
	free(p);
	gcfs_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_openssl),
	    cmocka_unit_test(test_golden_ipsecmb),
	    cmocka_unit_test(test_random_and_tampered_openssl),
	    cmocka_unit_test(test_random_and_tampered_ipsecmb),
	    cmocka_unit_test(test_buf_headers),
	    cmocka_unit_test(test_sink_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
