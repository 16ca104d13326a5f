/* Negative tests: every refused conf variant names its flag/field, wrong
 * passwords, bad padding and base64, tampered blocks/headers/file IDs,
 * swapped blocks, zero nonces, short blocks, bad dir IVs, bad names, I/O
 * failures, and the first-bad-block report under threads. */
#include "test_crypto_util.h"
#include "crypto/internal.h"

static const char *MK = "33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103";

static const char *CONF_HEAD =
    "{\"Creator\":\"t\",\"EncryptedKey\":\"hxxBqFVUxw5Wrl3YFXqmnIOmQg1+veABGVlAr/+67l/"
    "nj9Yr8ip2HgCJ78EqyzYdL7wkvFc8CCqsYkiHKXUHYA==\",\"ScryptObject\":{\"Salt\":"
    "\"X9MNlQCM4kuVO3va2twQMH8QQzdD4o8F2Sqzf0C3sy4=\",\"N\":%s,\"R\":8,\"P\":1,\"KeyLen\":32},"
    "\"Version\":%s,\"FeatureFlags\":[%s]%s}";

static int conf_try(const char *n, const char *ver, const char *flags, const char *extra, char *err)
{
	char json[2048];
	gcfs_conf c;

	PATHF(json, CONF_HEAD, n, ver, flags, extra);
	err[0] = 0;
	return gcfs_conf_parse(json, strlen(json), &c, err, GCFS_ERRBUF);
}

#define DEF "\"HKDF\",\"GCMIV128\",\"DirIV\",\"EMENames\",\"LongNames\",\"Raw64\""

static void expect_conf(int rc, const char *n, const char *ver, const char *flags,
                        const char *extra, const char *needle)
{
	char err[GCFS_ERRBUF];
	int got = conf_try(n, ver, flags, extra, err);

	if (got != rc || (needle && !strstr(err, needle)))
		fail_msg("flags [%s] extra [%s]: rc %d err \"%s\", want %d \"%s\"", flags, extra,
		         got, err, rc, needle ? needle : "");
}

static void test_conf_refusals(void **s)
{
	(void)s;
	expect_conf(0, "65536", "2", DEF, "", NULL);
	expect_conf(0, "65536", "2", DEF ",\"AESSIV\"", "", NULL);
	expect_conf(0, "1024", "2", "\"HKDF\",\"GCMIV128\",\"PlaintextNames\"", "", NULL);
	expect_conf(0, "1024", "2", DEF ",\"LongNameMax\"", ",\"LongNameMax\":100", NULL);
	expect_conf(GCFS_EUNSUPP, "65536", "2",
	            "\"HKDF\",\"XChaCha20Poly1305\",\"DirIV\",\"EMENames\",\"LongNames\",\"Raw64\"",
	            "", "XChaCha20Poly1305");
	expect_conf(GCFS_EUNSUPP, "65536", "2", DEF ",\"FIDO2\"", "", "FIDO2");
	expect_conf(GCFS_EUNSUPP, "65536", "2", DEF, ",\"FIDO2\":{\"CredentialID\":\"AA==\"}",
	            "FIDO2");
	expect_conf(GCFS_EUNSUPP, "65536", "2", DEF ",\"Frobnicate\"", "", "Frobnicate");
	expect_conf(GCFS_EUNSUPP, "65536", "2",
	            "\"GCMIV128\",\"DirIV\",\"EMENames\",\"LongNames\",\"Raw64\"", "", "HKDF");
	expect_conf(GCFS_EUNSUPP, "65536", "2",
	            "\"HKDF\",\"DirIV\",\"EMENames\",\"LongNames\",\"Raw64\"", "", "GCMIV128");
	expect_conf(GCFS_EUNSUPP, "65536", "2", "\"HKDF\",\"GCMIV128\",\"DirIV\",\"LongNames\"", "",
	            "EMENames");
	expect_conf(GCFS_EUNSUPP, "65536", "2",
	            "\"HKDF\",\"GCMIV128\",\"DirIV\",\"EMENames\",\"LongNames\"", "", "Raw64");
	expect_conf(GCFS_EUNSUPP, "65536", "1", DEF, "", "Version");
	expect_conf(GCFS_EUNSUPP, "65536", "3", DEF, "", "Version");
	expect_conf(GCFS_EFORMAT, "65536", "\"2\"", DEF, "", "Version");
	expect_conf(GCFS_EFORMAT, "65536", "2",
	            "\"HKDF\",\"GCMIV128\",\"PlaintextNames\",\"DirIV\"", "", "PlaintextNames");
	expect_conf(GCFS_EFORMAT, "65536", "2", DEF ",\"LongNameMax\"", "", "LongNameMax");
	expect_conf(GCFS_EFORMAT, "65536", "2", DEF, ",\"LongNameMax\":100", "LongNameMax");
	expect_conf(GCFS_EFORMAT, "65536", "2", DEF ",\"LongNameMax\"", ",\"LongNameMax\":30",
	            "LongNameMax");
	expect_conf(GCFS_EFORMAT, "65535", "2", DEF, "", "ScryptObject.N");
	expect_conf(GCFS_EUNSUPP, "536870912", "2", DEF, "", "ScryptObject.N");
	expect_conf(GCFS_EUNSUPP, "512", "2", DEF, "", "ScryptObject.N");
	expect_conf(GCFS_EFORMAT, "65536", "2", DEF ",7", "", "FeatureFlags");
	char err[GCFS_ERRBUF];
	gcfs_conf c;
	assert_int_equal(gcfs_conf_parse("{", 1, &c, err, sizeof(err)), GCFS_EFORMAT);
	assert_int_equal(gcfs_conf_parse("[]", 2, &c, err, sizeof(err)), GCFS_EFORMAT);
	const char *shortkey =
	    "{\"EncryptedKey\":\"AAAA\",\"ScryptObject\":{\"Salt\":"
	    "\"X9MNlQCM4kuVO3va2twQMH8QQzdD4o8F2Sqzf0C3sy4=\",\"N\":1024,\"R\":8,"
	    "\"P\":1,\"KeyLen\":32},\"Version\":2,\"FeatureFlags\":[" DEF "]}";
	assert_int_equal(gcfs_conf_parse(shortkey, strlen(shortkey), &c, err, sizeof(err)),
	                 GCFS_EFORMAT);
	assert_non_null(strstr(err, "EncryptedKey"));
}

static void test_passfile_and_hex(void **s)
{
	(void)s;
	uint8_t mk[32];

	assert_int_equal(gcfs_passfile_first_line((const uint8_t *)"abc\ndef", 7), 3);
	assert_int_equal(gcfs_passfile_first_line((const uint8_t *)"abc\r\n", 5), 4);
	assert_int_equal(gcfs_passfile_first_line((const uint8_t *)"abc", 3), 3);
	assert_int_equal(gcfs_passfile_first_line((const uint8_t *)"\nabc", 4), GCFS_EINVAL);
	assert_int_equal(gcfs_passfile_first_line((const uint8_t *)"", 0), GCFS_EINVAL);
	const char *dashed =
	    " 33aad18f-e1065d73-86b9dca0-e155f00f-55abdd2a-fe9f8332-07a1abc2-d70e0103\n";
	assert_int_equal(gcfs_masterkey_parse(dashed, strlen(dashed), mk), 0);
	assert_hex(mk, MK);
	assert_int_equal(gcfs_masterkey_parse(MK, 63, mk), GCFS_EINVAL);
	assert_int_equal(gcfs_masterkey_parse("zz", 2, mk), GCFS_EINVAL);
	char longer[80];
	PATHF(longer, "%s00", MK);
	assert_int_equal(gcfs_masterkey_parse(longer, strlen(longer), mk), GCFS_EINVAL);
}

/* The accepted inputs of gcfs_masterkey_parse, written out independently:
 * trim surrounding whitespace, drop every '-', then exactly 64 hex digits. */
static int ref_masterkey(const char *s, size_t len, uint8_t out[32])
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	size_t a = 0, nd = 0;

	while (len && s[len - 1] && strchr(" \t\n\v\f\r", s[len - 1]))
		len--;
	while (a < len && s[a] && strchr(" \t\n\v\f\r", s[a]))
		a++;
	for (size_t i = a; i < len; i++) {
		const char *d = s[i] ? strchr(digits, s[i]) : NULL;

		if (s[i] == '-')
			continue;
		if (!d || nd == 64)
			return -1;
		int v = (int)((d - digits) % 16);
		out[nd / 2] = (uint8_t)(nd % 2 ? (out[nd / 2] | v) : v << 4);
		nd++;
	}
	return nd == 64 ? 0 : -1;
}

static void test_masterkey_inputs(void **s)
{
	(void)s;
	static const char *const good[] = {
	    "33AAD18FE1065D7386B9DCA0E155F00F55ABDD2AFE9F833207A1ABC2D70E0103",
	    "3-3aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103", /* mid-byte */
	    "--33aad18f--e1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103-",
	    "\t33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103\r\n",
	};
	static const char *const bad[] = {
	    "",
	    "   \n",
	    "0x33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e01",
	    "33aad18f e1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103",
	    "33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e010g",
	    "33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103-0",
	};
	uint8_t mk[32], want[32];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(gcfs_masterkey_parse(good[i], strlen(good[i]), mk), 0);
		assert_hex(mk, MK);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(mk, 0xaa, sizeof(mk));
		assert_int_equal(gcfs_masterkey_parse(bad[i], strlen(bad[i]), mk), GCFS_EINVAL);
		assert_true(gcfs_all_zero(mk, sizeof(mk))); /* wiped on failure */
	}
	/* A NUL inside the length is not the end of the key. */
	char nul[66];
	memcpy(nul, MK, 64);
	nul[64] = '\0';
	nul[65] = '0';
	assert_int_equal(gcfs_masterkey_parse(nul, 64, mk), 0);
	assert_int_equal(gcfs_masterkey_parse(nul, 66, mk), GCFS_EINVAL);

	/* Random near-keys: the same verdict and bytes as the reference. */
	static const char alpha[] = "0123456789abcdefABCDEF--- \n\tgx:";
	unsigned seed = 99;
	char buf[80];

	for (int t = 0; t < 20000; t++) {
		size_t n = 60 + (size_t)rand_r(&seed) % 16, flips = (size_t)rand_r(&seed) % 4;

		for (size_t i = 0; i < n; i++)
			buf[i] = MK[i % 64];
		for (size_t f = 0; f < flips; f++)
			buf[(size_t)rand_r(&seed) % n] =
			    alpha[(size_t)rand_r(&seed) % (sizeof(alpha) - 1)];
		int r = ref_masterkey(buf, n, want);
		int g = gcfs_masterkey_parse(buf, n, mk);

		assert_int_equal(g == 0, r == 0);
		if (r == 0)
			assert_memory_equal(mk, want, 32);
	}
}

/* 1 only when every byte is zero, whatever its position. */
static void test_all_zero(void **s)
{
	(void)s;
	uint8_t b[4128] = {0};

	assert_true(gcfs_all_zero(b, 0));
	assert_true(gcfs_all_zero(b, sizeof(b)));
	for (size_t i = 0; i < sizeof(b); i += (i < 40 ? 1 : 97)) {
		b[i] = 0x80;
		assert_false(gcfs_all_zero(b, sizeof(b)));
		assert_int_equal(gcfs_all_zero(b, i), 1);
		assert_false(gcfs_all_zero(b, i + 1));
		b[i] = 0;
	}
	b[sizeof(b) - 1] = 1;
	assert_false(gcfs_all_zero(b, sizeof(b)));
}

/* EME-encrypt raw bytes under the keys' K_name and b64url them. */
static void raw_name(gcfs_keys *k, const uint8_t *iv, const uint8_t *buf, size_t n, char *out)
{
	uint8_t tmp[64];
	gcfs_tctx *t = gcfs_tctx_get(k);

	assert_int_equal(gcfs_eme(t, 1, iv, buf, tmp, n), 0);
	gcfs_tctx_put(k, t);
	assert_true(gcfs_b64url_enc(tmp, n, out, GCFS_CNAME_MAX) > 0);
}

static void test_bad_names(void **s)
{
	(void)s;
	gcfs_keys *k = keys_from_hex(MK, GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL);
	uint8_t iv[16], b[32];
	char c[GCFS_CNAME_MAX], d[GCFS_NAME_MAX + 1], big[300];

	memset(iv, 9, 16);
	memcpy(b, "abc", 3);
	memset(b + 3, 0, 13); /* pad value 0 */
	raw_name(k, iv, b, 16, c);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	memset(b + 3, 17, 13); /* pad value > 16 */
	raw_name(k, iv, b, 16, c);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	memset(b + 3, 13, 13);
	b[5] = 12; /* inconsistent pad bytes */
	raw_name(k, iv, b, 16, c);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	memset(b, 16, 16); /* pad = whole length: empty name */
	raw_name(k, iv, b, 16, c);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	memcpy(b, "a/b", 3); /* a slash inside */
	memset(b + 3, 13, 13);
	raw_name(k, iv, b, 16, c);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	memcpy(b, "..", 2);
	memset(b + 2, 14, 14);
	raw_name(k, iv, b, 16, c);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	/* the valid one decrypts; wrong IV breaks padding (almost surely) */
	assert_int_equal(gcfs_name_encrypt(k, iv, "hello.txt", c, NULL, NULL), 0);
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), 0);
	iv[0] ^= 1;
	assert_int_equal(gcfs_name_decrypt(k, iv, c, d), GCFS_EFORMAT);
	iv[0] ^= 1;
	/* bad base64: trailing bits, padding, CR/LF, bad length, std alphabet */
	assert_int_equal(gcfs_name_decrypt(k, iv, "rLCC1ckcLIkkFisntW7_3B", d), GCFS_EFORMAT);
	assert_int_equal(gcfs_name_decrypt(k, iv, "rLCC1ckcLIkkFisntW7_3A==", d), GCFS_EFORMAT);
	assert_int_equal(gcfs_name_decrypt(k, iv, "rLCC1ckcLIkkFisntW7_3A\n", d), GCFS_EFORMAT);
	assert_int_equal(gcfs_name_decrypt(k, iv, "rLCC1ckcLIkkFisn\rtW7_3A", d), GCFS_EFORMAT);
	assert_int_equal(gcfs_name_decrypt(k, iv, "rLCC1ckcLIkkFisntW7_3", d), GCFS_EFORMAT);
	assert_int_equal(gcfs_name_decrypt(k, iv, "rLCC1ckcLIkkFisntW7/3A", d), GCFS_EFORMAT);
	assert_int_equal(gcfs_name_decrypt(k, iv, "", d), GCFS_EFORMAT);
	uint8_t raw[4];
	assert_int_equal(gcfs_b64url_dec("QQ", 2, raw, 4), 1);
	assert_int_equal(gcfs_b64url_dec("QR", 2, raw, 4), GCFS_EFORMAT);
	assert_int_equal(gcfs_b64url_dec("QUI", 3, raw, 4), 2);
	assert_int_equal(gcfs_b64url_dec("QUJ", 3, raw, 4), GCFS_EFORMAT);
	/* plaintext names refused on encrypt */
	assert_int_equal(gcfs_name_encrypt(k, iv, "", c, NULL, NULL), GCFS_EINVAL);
	assert_int_equal(gcfs_name_encrypt(k, iv, ".", c, NULL, NULL), GCFS_EINVAL);
	assert_int_equal(gcfs_name_encrypt(k, iv, "..", c, NULL, NULL), GCFS_EINVAL);
	assert_int_equal(gcfs_name_encrypt(k, iv, "a/b", c, NULL, NULL), GCFS_EINVAL);
	memset(big, 'y', 256);
	big[256] = 0;
	assert_int_equal(gcfs_name_encrypt(k, iv, big, c, NULL, NULL), GCFS_ENAMETOOLONG);
	/* metadata and long-name forms */
	assert_true(gcfs_name_is_meta(
	    k, "gocryptfs.longname.z_beDbh0_QPVgQVWh6B7awUq0vRu0Oz2pKcB8qUs0RQ.name", 0));
	assert_false(gcfs_name_is_meta(
	    k, "gocryptfs.longname.z_beDbh0_QPVgQVWh6B7awUq0vRu0Oz2pKcB8qUs0RQ", 0));
	assert_false(gcfs_name_is_meta(k, GCFS_CONF_NAME, 0));
	assert_true(gcfs_name_is_longname(
	    "gocryptfs.longname.z_beDbh0_QPVgQVWh6B7awUq0vRu0Oz2pKcB8qUs0RQ"));
	assert_false(
	    gcfs_name_is_longname("gocryptfs.longname.z_beDbh0_QPVgQVWh6B7awUq0vRu0Oz2pKcB8qUs0R"));
	assert_false(gcfs_name_is_longname(
	    "gocryptfs.longname.z_beDbh0_QPVgQVWh6B7awUq0vRu0Oz2pKcB8qUs0RQ.name"));
	gcfs_keys_free(k);
}

static void test_diriv(void **s)
{
	(void)s;
	uint8_t iv[17] = {0};

	assert_int_equal(gcfs_diriv_check(iv, 16), GCFS_EFORMAT);
	iv[3] = 1;
	assert_int_equal(gcfs_diriv_check(iv, 16), 0);
	assert_int_equal(gcfs_diriv_check(iv, 15), GCFS_EFORMAT);
	assert_int_equal(gcfs_diriv_check(iv, 17), GCFS_EFORMAT);
	assert_int_equal(gcfs_diriv_check(iv, 0), GCFS_EFORMAT);
}

/* Tampering with any part of a block must fail; per engine and AEAD. */
static void tamper_blocks(unsigned flags, gcfs_engine e)
{
	gcfs_keys *k = keys_from_hex(MK, flags, e);
	uint8_t fid[16], p[4096], c[2][4128], t[4128], out[4096];

	memset(fid, 0x11, 16);
	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (uint8_t)(i * 31);
	assert_int_equal(gcfs_block_encrypt(k, 0, fid, p, 4096, c[0]), 0);
	assert_int_equal(gcfs_block_encrypt(k, 1, fid, p, 4096, c[1]), 0);
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, c[0], 4128, out), 0);
	assert_memory_equal(out, p, 4096);
	static const size_t pos[] = {0, 15, 16, 31, 32, 2000, 4111, 4112, 4127};
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		memcpy(t, c[0], 4128);
		t[pos[i]] ^= 0x01;
		assert_int_equal(gcfs_block_decrypt(k, 0, fid, t, 4128, out), GCFS_EAUTH);
	}
	/* swapped blocks: AAD binds the position; another file ID fails too */
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, c[1], 4128, out), GCFS_EAUTH);
	assert_int_equal(gcfs_block_decrypt(k, 1, fid, c[0], 4128, out), GCFS_EAUTH);
	fid[15] ^= 1;
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, c[0], 4128, out), GCFS_EAUTH);
	fid[15] ^= 1;
	/* zero nonce in a non-hole block */
	memcpy(t, c[0], 4128);
	memset(t, 0, 16);
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, t, 4128, out), GCFS_EFORMAT);
	/* holes: only the full all-zero block */
	memset(t, 0, sizeof(t));
	memset(out, 0xff, sizeof(out));
	assert_int_equal(gcfs_block_decrypt(k, 3, fid, t, 4128, out), 0);
	assert_true(out[0] == 0 && out[4095] == 0);
	for (size_t n = 1; n < 4128; n += 611)
		assert_int_equal(gcfs_block_decrypt(k, 0, fid, t, n, out), GCFS_EFORMAT);
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, t, 4127, out), GCFS_EFORMAT);
	/* truncated blocks: nothing past nonce+tag */
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, c[0], 32, out), GCFS_EFORMAT);
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, c[0], 10, out), GCFS_EFORMAT);
	assert_int_equal(gcfs_block_decrypt(k, 0, fid, c[0], 4129, out), GCFS_EINVAL);
	gcfs_keys_free(k);
}

static void test_tamper_openssl(void **s)
{
	(void)s;
	tamper_blocks(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL);
	tamper_blocks(GCFS_FLAGS_DEFAULT | GCFS_F_AESSIV, GCFS_ENGINE_OPENSSL);
}

static void test_tamper_ipsecmb(void **s)
{
	(void)s;
	NEED_IPSEC();
	tamper_blocks(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_IPSECMB);
}

static void test_symlink_tamper(void **s)
{
	(void)s;
	gcfs_keys *k = keys_from_hex(MK, GCFS_FLAGS_DEFAULT, GCFS_ENGINE_AUTO);
	char c[200], d[200];

	assert_int_equal(gcfs_symlink_encrypt(k, "config.json", c, sizeof(c)), 0);
	c[30] = c[30] == 'A' ? 'B' : 'A';
	assert_int_equal(gcfs_symlink_decrypt(k, c, d, sizeof(d), NULL), GCFS_EAUTH);
	assert_int_equal(gcfs_symlink_decrypt(k, "not base64!", d, sizeof(d), NULL), GCFS_EFORMAT);
	assert_int_equal(gcfs_symlink_decrypt(k, "QUJD", d, sizeof(d), NULL), GCFS_EFORMAT);
	gcfs_keys_free(k);
}

/* A file of n blocks built in memory. */
static uint8_t *make_file(gcfs_keys *k, size_t nblocks, size_t *cl)
{
	uint8_t *c = malloc(18 + nblocks * 4128), p[4096], fid[16];

	memset(p, 0x3c, sizeof(p));
	assert_int_equal(gcfs_header_new(c, fid), 0);
	for (size_t b = 0; b < nblocks; b++)
		assert_int_equal(gcfs_block_encrypt(k, b, fid, p, 4096, c + 18 + b * 4128), 0);
	*cl = 18 + nblocks * 4128;
	return c;
}

static void test_file_errors(void **s)
{
	(void)s;
	gcfs_keys *k = keys_from_hex(MK, GCFS_FLAGS_DEFAULT, GCFS_ENGINE_AUTO);
	size_t cl, done;
	uint8_t *c = make_file(k, 600, &cl), *dst = malloc(600 * 4096), hdr[18];
	mem_io m = {c, cl, 0};
	gcfs_io io = {&m, mem_pread};
	uint64_t bad = 0;
	char err[GCFS_ERRBUF];
	gcfs_file f;

	assert_int_equal(gcfs_file_open(&io, cl, &f, err, sizeof(err)), 0);
	assert_int_equal(
	    gcfs_file_read(k, &io, &f, dst, 600 * 4096, 0, 4, &done, &bad, err, sizeof(err)), 0);
	/* the earliest bad block wins even when a later thread fails first */
	c[18 + 5 * 4128 + 100] ^= 1;
	c[18 + 590 * 4128 + 100] ^= 1;
	assert_int_equal(
	    gcfs_file_read(k, &io, &f, dst, 600 * 4096, 0, 4, &done, &bad, err, sizeof(err)),
	    GCFS_EAUTH);
	assert_int_equal(bad, 5);
	assert_int_equal(done, 0);
	assert_non_null(strstr(err, "block 5"));
	assert_int_equal(gcfs_file_read(k, &io, &f, dst, 4096 * 590, 4096 * 10, 4, &done, &bad, err,
	                                sizeof(err)),
	                 GCFS_EAUTH);
	assert_int_equal(bad, 590);
	/* reads that avoid the bad blocks still work */
	bad = 999;
	if (gcfs_file_read(k, &io, &f, dst, 4096 * 10, 4096 * 6, 2, &done, &bad, err, sizeof(err)))
		fail_msg("%s", err);
	/* I/O failure and truncation */
	m.fail_at = 18 + 300 * 4128;
	assert_int_equal(gcfs_file_read(k, &io, &f, dst, 4096 * 100, 4096 * 250, 4, &done, &bad,
	                                err, sizeof(err)),
	                 GCFS_EIO);
	m.fail_at = 0;
	m.len = cl - 5000;
	assert_int_equal(
	    gcfs_file_read(k, &io, &f, dst, 4096, 4096 * 599, 1, &done, &bad, err, sizeof(err)),
	    GCFS_EIO);
	m.len = cl;
	/* corrupt tail: 1..32 bytes after the last whole block */
	gcfs_file ft;
	assert_int_equal(gcfs_file_open(&io, 18 + 2 * 4128 + 20, &ft, err, sizeof(err)), 0);
	assert_int_equal(ft.plain_size, 2 * 4096 + 1);
	assert_int_equal(
	    gcfs_file_read(k, &io, &ft, dst, 9000, 0, 1, &done, &bad, err, sizeof(err)),
	    GCFS_EFORMAT);
	assert_int_equal(bad, 2);
	/* headers: version, zero file ID, short */
	memcpy(hdr, c, 18);
	c[1] = 3;
	assert_int_equal(gcfs_file_open(&io, cl, &f, err, sizeof(err)), GCFS_EFORMAT);
	c[1] = 2;
	memset(c + 2, 0, 16);
	assert_int_equal(gcfs_file_open(&io, cl, &f, err, sizeof(err)), GCFS_EFORMAT);
	assert_int_equal(gcfs_file_open(&io, 17, &f, err, sizeof(err)), GCFS_EFORMAT);
	/* tampered file ID in the header: every block fails */
	memcpy(c, hdr, 18);
	c[10] ^= 0x80;
	assert_int_equal(gcfs_file_open(&io, cl, &f, err, sizeof(err)), 0);
	assert_int_equal(gcfs_file_read(k, &io, &f, dst, 4096, 0, 1, &done, &bad, err, sizeof(err)),
	                 GCFS_EAUTH);
	assert_int_equal(bad, 0);
	/* empty files */
	assert_int_equal(gcfs_file_open(&io, 0, &f, err, sizeof(err)), 0);
	assert_true(f.empty);
	memcpy(c, hdr, 18);
	assert_int_equal(gcfs_file_open(&io, 18, &f, err, sizeof(err)), 0);
	assert_true(f.empty);
	assert_int_equal(gcfs_file_read(k, &io, &f, dst, 100, 0, 1, &done, &bad, err, sizeof(err)),
	                 0);
	assert_int_equal(done, 0);
	free(c);
	free(dst);
	gcfs_keys_free(k);
}

static void test_engine_refusal(void **s)
{
	(void)s;
	uint8_t mk[32] = {1};
	gcfs_keys *k = NULL;
	char err[GCFS_ERRBUF] = "";

	/* Explicit ipsec-mb either works or fails with EUNSUPP, never silently. */
	int rc =
	    gcfs_keys_new(mk, GCFS_FLAGS_DEFAULT, 255, GCFS_ENGINE_IPSECMB, &k, err, sizeof(err));
	if (rc == 0)
		assert_int_equal(gcfs_keys_engine(k), GCFS_ENGINE_IPSECMB);
	else
		assert_int_equal(rc, GCFS_EUNSUPP);
	gcfs_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conf_refusals),  cmocka_unit_test(test_passfile_and_hex),
	    cmocka_unit_test(test_bad_names),      cmocka_unit_test(test_diriv),
	    cmocka_unit_test(test_tamper_openssl), cmocka_unit_test(test_tamper_ipsecmb),
	    cmocka_unit_test(test_symlink_tamper), cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_engine_refusal), cmocka_unit_test(test_masterkey_inputs),
	    cmocka_unit_test(test_all_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
