/* Known-answer tests from spec §10.1-10.4: HKDF, EME, name vectors, the
 * synthetic content block, the full golden chain, and the two upstream
 * example filesystems (unlocked with the password, every entry decrypted
 * and compared with content/). */
#include <dirent.h>

#include "test_crypto_util.h"
#include "crypto/internal.h"

static const char *M01 = "0101010101010101010101010101010101010101010101010101010101010101";

static void test_hkdf(void **s)
{
	(void)s;
	uint8_t m0[32] = {0}, m1[32], out[64];

	memset(m1, 1, sizeof(m1));
	assert_int_equal(gcfs_hkdf(m0, 32, GCFS_HKDF_INFO_EME, out, 32), 0);
	assert_hex(out, "9ba3cddd48c6339c6e56ebe85f0281d6e9051be4104176e65cb0f8a6f77ae6b4");
	assert_int_equal(gcfs_hkdf(m1, 32, GCFS_HKDF_INFO_EME, out, 32), 0);
	assert_hex(out, "e8a2499f48700b954f31de732efd04abce822f5c948e7fbc0896607be0d36d12");
	assert_int_equal(gcfs_hkdf(m1, 32, GCFS_HKDF_INFO_GCM, out, 32), 0);
	assert_hex(out, "9137f2e67a842484137f3c458f357f204c30d7458f94f432fa989be96854a649");
	assert_int_equal(gcfs_hkdf(m1, 32, GCFS_HKDF_INFO_SIV, out, 64), 0);
	assert_hex(out, "0bfa5da7d9724d4753269940d36898e2c0f3717c0fee86ada58b5fd6c08cc26c"
	                "bf2f6f5a096c867240f6d6b103a4d712e42797290a3551fc269720f192449c31");
}

/* A thread context keyed with an arbitrary EME key (the public API only
 * keys EME through HKDF). */
static void eme_ctx(gcfs_tctx *t, const uint8_t key[32])
{
	memset(t, 0, sizeof(*t));
	t->ecb_enc = EVP_CIPHER_CTX_new();
	t->ecb_dec = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_EncryptInit_ex2(t->ecb_enc, EVP_aes_256_ecb(), key, NULL, NULL), 1);
	assert_int_equal(EVP_DecryptInit_ex2(t->ecb_dec, EVP_aes_256_ecb(), key, NULL, NULL), 1);
	EVP_CIPHER_CTX_set_padding(t->ecb_enc, 0);
	EVP_CIPHER_CTX_set_padding(t->ecb_dec, 0);
}

static void test_eme_vector(void **s)
{
	(void)s;
	uint8_t key[32] = {0}, tw[16] = {0}, in[16] = {0}, out[16], back[16];
	uint8_t big[2048], bigc[2048];
	gcfs_tctx t;

	eme_ctx(&t, key);
	assert_int_equal(gcfs_eme(&t, 1, tw, in, out, 16), 0);
	assert_hex(out, "f1b9ce8ca15a4ba9fb476905434b9fd3");
	assert_int_equal(gcfs_eme(&t, 0, tw, out, back, 16), 0);
	assert_memory_equal(back, in, 16);
	/* 128 blocks round trip, and a limit past it */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	assert_int_equal(gcfs_eme(&t, 1, tw, big, bigc, sizeof(big)), 0);
	assert_memory_not_equal(big, bigc, 16);
	assert_int_equal(gcfs_eme(&t, 0, tw, bigc, bigc, sizeof(big)), 0);
	assert_memory_equal(big, bigc, sizeof(big));
	assert_int_equal(gcfs_eme(&t, 1, tw, big, bigc, 15), GCFS_EINVAL);
	assert_int_equal(gcfs_eme(&t, 1, tw, big, bigc, 0), GCFS_EINVAL);
	EVP_CIPHER_CTX_free(t.ecb_enc);
	EVP_CIPHER_CTX_free(t.ecb_dec);
}

static void name_vec(gcfs_keys *k, const uint8_t *iv, const char *name, const char *eme_hex,
                     const char *disk)
{
	char out[GCFS_CNAME_MAX], dec[GCFS_NAME_MAX + 1];
	uint8_t raw[64];
	int is_long = -1;

	assert_int_equal(gcfs_name_encrypt(k, iv, name, out, NULL, &is_long), 0);
	assert_int_equal(is_long, 0);
	assert_string_equal(out, disk);
	assert_int_equal(gcfs_b64url_dec(out, strlen(out), raw, sizeof(raw)),
	                 (long)strlen(eme_hex) / 2);
	assert_hex(raw, eme_hex);
	assert_int_equal(gcfs_name_decrypt(k, iv, disk, dec), 0);
	assert_string_equal(dec, name);
}

static void test_name_vectors(void **s)
{
	(void)s;
	uint8_t iv[16];
	gcfs_keys *k = keys_from_hex(M01, GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL);

	unhex("000102030405060708090a0b0c0d0e0f", iv, sizeof(iv));
	name_vec(k, iv, "a", "acb082d5c91c2c8924162b27b56effdc", "rLCC1ckcLIkkFisntW7_3A");
	name_vec(k, iv, "hello.txt", "167afc0986003758d1d79380aa4f36a8", "Fnr8CYYAN1jR15OAqk82qA");
	name_vec(k, iv, "xxxxxxxxxxxxxxxx",
	         "645cb3adc0372c4488c2a9ae96baddf598318089898b0eb0a31f3f2409c03b77",
	         "ZFyzrcA3LESIwqmulrrd9ZgxgImJiw6wox8_JAnAO3c");
	gcfs_keys_free(k);
}

static const char *BLOCK_HEX = "101112131415161718191a1b1c1d1e1fe4d02faf5277e269fded33ba3e12d73f"
                               "7dbd82bfa4b38e635e14e01754f0";

static void content_vec(gcfs_engine e)
{
	gcfs_keys *k = keys_from_hex(M01, GCFS_FLAGS_DEFAULT, e);
	uint8_t fid[16], blk[64], out[64], aad[24];
	size_t n = unhex(BLOCK_HEX, blk, sizeof(blk));
	gcfs_tctx *t = gcfs_tctx_get(k);

	unhex("202122232425262728292a2b2c2d2e2f", fid, sizeof(fid));
	assert_int_equal(gcfs_block_decrypt(k, 1, fid, blk, n, out), 0);
	assert_memory_equal(out, "hello, block 1", 14);
	/* sealing with the same nonce reproduces the block */
	gcfs_make_aad(aad, 1, fid);
	assert_int_equal(gcfs_aead_seal(t->aead, blk, aad, 24, (const uint8_t *)"hello, block 1",
	                                14, out + 16, out + 30),
	                 0);
	memcpy(out, blk, 16);
	assert_memory_equal(out, blk, n);
	/* wrong block number: AAD binding */
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, blk, n, out), GCFS_EAUTH);
	gcfs_tctx_put(k, t);
	gcfs_keys_free(k);
}

static void test_content_vector_openssl(void **s)
{
	(void)s;
	content_vec(GCFS_ENGINE_OPENSSL);
}

static void test_content_vector_ipsecmb(void **s)
{
	(void)s;
	NEED_IPSEC();
	content_vec(GCFS_ENGINE_IPSECMB);
}

static void test_golden_chain(void **s)
{
	(void)s;
	NEED_GOLDEN();
	uint8_t salt[32], S[32], w[32], mk[32], kn[32], kg[32], iv[16], raw[64], out[64];
	char cname[GCFS_CNAME_MAX], full[GCFS_CNAME_MAX], dec[300];
	const char *pw = "0Bn4Q1wwY9fN3P";
	size_t n, ol;
	int is_long;

	unhex("5fd30d95008ce24b953b7bdadadc10307f10433743e28f05d92ab37f40b7b32e", salt, 32);
	unhex("213bec5632afb9896a7d611d9a5d51b570ece166f804fd7de5c84a2ee8993c60", S, 32);
	assert_int_equal(gcfs_hkdf(S, 32, GCFS_HKDF_INFO_GCM, w, 32), 0);
	assert_hex(w, "6bfbbf5b78a32133e33744d72b97a08bf94cae32624b3e93b604b2eb0977e4d9");
	assert_int_equal(gcfs_conf_wrap_key((const uint8_t *)pw, 14, salt, 32, 65536, 8, 1, 32, w),
	                 0);
	assert_hex(w, "6bfbbf5b78a32133e33744d72b97a08bf94cae32624b3e93b604b2eb0977e4d9");
	unhex("33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103", mk, 32);
	assert_int_equal(gcfs_hkdf(mk, 32, GCFS_HKDF_INFO_EME, kn, 32), 0);
	assert_hex(kn, "d9098b50c683cf4244dd5d93600799aac6b05bb5fd82f55a194bb79a961bc2e0");
	assert_int_equal(gcfs_hkdf(mk, 32, GCFS_HKDF_INFO_GCM, kg, 32), 0);
	assert_hex(kg, "4b2f440f5b55ab1d3c68d89bd0ce482adf08b096a6eee2a6266ab6003d519872");

	gcfs_keys *k =
	    keys_from_hex("33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103",
	                  GCFS_FLAGS_DEFAULT, GCFS_ENGINE_AUTO);
	unhex("8201598d57475c516bdff500ae5a8780", iv, 16);
	name_vec(k, iv, "hello.txt", "1d02e4ca360a45bdee4f09d19bb3112d", "HQLkyjYKRb3uTwnRm7MRLQ");
	/* size_1.bin: block 0 of file ID 106f..c9 */
	n = unhex("02635ad32ebfefd3290795964ebc656a4b56ff7dbf34f3a199177c17ed64887fdc", raw,
	          sizeof(raw));
	unhex("106f820cdf621749391bbe64936d00c9", iv, 16);
	assert_int_equal(gcfs_block_decrypt(k, 0, iv, raw, n, out), 0);
	assert_int_equal(out[0], 0x58);
	assert_int_equal(
	    gcfs_symlink_decrypt(k, "v0Zf3YfK9QiIrjODLexjuZaePoPD1ERugZvhcFpFiNViSpaypNgLux22HQ",
	                         dec, sizeof(dec), &ol),
	    0);
	assert_string_equal(dec, "config.json");
	assert_int_equal(ol, 11);
	/* longname_176: hash of the 256-char encrypted name */
	char name176[177];
	memcpy(name176, "longname_176_", 13);
	memset(name176 + 13, 'x', 163);
	name176[176] = 0;
	unhex("8201598d57475c516bdff500ae5a8780", iv, 16);
	assert_int_equal(gcfs_name_encrypt(k, iv, name176, cname, full, &is_long), 0);
	assert_int_equal(is_long, 1);
	assert_int_equal(strlen(full), 256);
	assert_string_equal(cname,
	                    "gocryptfs.longname.z_beDbh0_QPVgQVWh6B7awUq0vRu0Oz2pKcB8qUs0RQ");
	gcfs_keys_free(k);
}

/* ---- upstream examples ---- */

static void check_example_entry(gcfs_keys *k, const char *dir, const char *cn)
{
	char p[8192], q[8192], nm[GCFS_NAME_MAX + 1], tgt[4096], out[4096];
	uint8_t iv[16] = {0}, *want, *cb, *db;
	size_t wl, cl, ol, done;
	struct stat st;

	if (gcfs_keys_flags(k) & GCFS_F_DIRIV) {
		PATHF(p, "%s/" GCFS_DIRIV_NAME, dir);
		db = slurp(p, &cl);
		assert_int_equal(gcfs_diriv_check(db, cl), 0);
		memcpy(iv, db, 16);
		free(db);
	}
	if (gcfs_name_is_longname(cn)) {
		PATHF(p, "%s/%s.name", dir, cn);
		char *full = (char *)slurp(p, NULL);
		assert_int_equal(gcfs_name_decrypt(k, iv, full, nm), 0);
		free(full);
	} else {
		assert_int_equal(gcfs_name_decrypt(k, iv, cn, nm), 0);
	}
	PATHF(q, EXAMPLES "/content/%s", nm);
	want = slurp(q, &wl);
	assert_non_null(want);
	PATHF(p, "%s/%s", dir, cn);
	assert_int_equal(lstat(p, &st), 0);
	/* README: rel and abs are symlinks; the shared copy may hold them as
	 * regular files whose body is the (encrypted) target. */
	if (S_ISLNK(st.st_mode) || !strcmp(nm, "rel") || !strcmp(nm, "abs")) {
		ssize_t n = readlink(p, tgt, sizeof(tgt) - 1);

		if (n < 0) {
			db = slurp(p, &cl);
			assert_true(cl > 0 && cl < sizeof(tgt));
			memcpy(tgt, db, cl + 1);
			free(db);
			n = (ssize_t)cl;
		}
		assert_true(n > 0);
		tgt[n] = 0;
		assert_int_equal(gcfs_symlink_decrypt(k, tgt, out, sizeof(out), &ol), 0);
		assert_int_equal(ol, wl);
		assert_memory_equal(out, want, wl);
	} else {
		mem_io m;
		gcfs_io io = {&m, mem_pread};
		gcfs_file f;

		cb = slurp(p, &cl);
		m = (mem_io){cb, cl, 0};
		assert_int_equal(gcfs_file_open(&io, cl, &f, NULL, 0), 0);
		assert_int_equal(
		    gcfs_file_read(k, &io, &f, out, sizeof(out), 0, 1, &done, NULL, NULL, 0), 0);
		assert_int_equal(done, wl);
		assert_memory_equal(out, want, wl);
		free(cb);
	}
	free(want);
}

static void run_example(const char *sub, const char *mkhex)
{
	char p[4096], err[GCFS_ERRBUF] = "";
	size_t jl;
	gcfs_conf c;
	uint8_t mk[32];
	gcfs_keys *k;
	DIR *d;
	struct dirent *de;
	int n = 0;

	PATHF(p, EXAMPLES "/%s/gocryptfs.conf", sub);
	char *json = (char *)slurp(p, &jl);
	assert_non_null(json);
	assert_int_equal(gcfs_conf_parse(json, jl, &c, err, sizeof(err)), 0);
	assert_int_equal(gcfs_conf_unwrap(&c, (const uint8_t *)"test", 4, mk, err, sizeof(err)), 0);
	assert_hex(mk, mkhex);
	assert_int_equal(
	    gcfs_keys_new(mk, c.flags, c.longname_max, GCFS_ENGINE_AUTO, &k, err, sizeof(err)), 0);
	PATHF(p, EXAMPLES "/%s", sub);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || gcfs_name_is_meta(k, de->d_name, 1))
			continue;
		check_example_entry(k, p, de->d_name);
		n++;
	}
	assert_int_equal(n, 4);
	closedir(d);
	gcfs_keys_free(k);
	free(json);
}

static void test_examples(void **s)
{
	(void)s;
	if (access(EXAMPLES "/README.md", R_OK)) {
		fprintf(stderr, "SKIP: upstream examples not found at %s\n", EXAMPLES);
		skip();
	}
	run_example("v1.3", "fd890dab86bf61cfec5ad460ad3ed01f9c52d5462a31783da56b088d3d05232e");
	run_example("v2.2-deterministic-names",
	            "722733f5b0f399f55465ad7af0bed125e82de7b4045e7608a5e5c78e04a1a61e");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hkdf),
	    cmocka_unit_test(test_eme_vector),
	    cmocka_unit_test(test_name_vectors),
	    cmocka_unit_test(test_content_vector_openssl),
	    cmocka_unit_test(test_content_vector_ipsecmb),
	    cmocka_unit_test(test_golden_chain),
	    cmocka_unit_test(test_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
