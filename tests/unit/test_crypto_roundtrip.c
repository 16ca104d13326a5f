/* Round trips and size arithmetic: conf writer (checked by the real
 * gocryptfs-xray when installed), names 1..255 bytes incl. the long-name
 * cutoff, LongNameMax, deterministic names, symlinks, blocks and whole
 * files, encrypting with one engine and decrypting with the other (the
 * cases that need ipsec-mb are their own tests, skipped without it). */
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "test_crypto_util.h"

static const char *MK = "33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103";
#define SIV_FLAGS (GCFS_FLAGS_DEFAULT | GCFS_F_AESSIV)

static void test_sizes(void **s)
{
	(void)s;
	static const uint64_t tab[][2] = {
	    {0, 0},       {1, 51},      {4095, 4145},   {4096, 4146},       {4097, 4179},
	    {5000, 5082}, {8192, 8274}, {12289, 12435}, {1048583, 1056825},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		assert_int_equal(gcfs_cipher_size(tab[i][0]), tab[i][1]);
		assert_int_equal(gcfs_plain_size(tab[i][1]), tab[i][0]);
	}
	for (uint64_t p = 0; p < 3 * 4096 + 3; p++)
		assert_int_equal(gcfs_plain_size(gcfs_cipher_size(p)), p);
	/* header only, and shorter than a header */
	assert_int_equal(gcfs_plain_size(18), 0);
	for (uint64_t c = 1; c < 18; c++)
		assert_int_equal(gcfs_plain_size(c), 0);
	/* 1..32-byte tails are corrupt: counted as one byte so reads fail */
	for (uint64_t k = 0; k < 3; k++)
		for (uint64_t r = 1; r <= 32; r++)
			assert_int_equal(gcfs_plain_size(18 + k * 4128 + r), k * 4096 + 1);
	assert_int_equal(gcfs_plain_size(18 + 4128 + 33), 4097);
}

/* Keys of a JSON object in file order, space-separated. */
static void keys_in_order(const cJSON *o, char *out, size_t cap)
{
	const cJSON *it;

	out[0] = '\0';
	cJSON_ArrayForEach(it, o)
	{
		size_t n = strlen(out);

		snprintf(out + n, cap - n, "%s%s", n ? " " : "",
		         it->string ? it->string : it->valuestring);
	}
}

/* What gocryptfs writes, field for field and in its order (the whitespace
 * is free: spec section 2); one object, then exactly one newline. */
static void check_layout(const char *json, double n, const char *flags)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
	const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "ScryptObject");
	char got[512];

	assert_non_null(root);
	assert_string_equal(end, "\n");
	keys_in_order(root, got, sizeof(got));
	assert_string_equal(got, "Creator EncryptedKey ScryptObject Version FeatureFlags");
	keys_in_order(so, got, sizeof(got));
	assert_string_equal(got, "Salt N R P KeyLen");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "Creator")->valuestring,
	                    "unseal 0.1");
	assert_true(cJSON_GetObjectItemCaseSensitive(so, "N")->valuedouble == n);
	assert_true(cJSON_GetObjectItemCaseSensitive(so, "R")->valuedouble == 8);
	assert_true(cJSON_GetObjectItemCaseSensitive(so, "P")->valuedouble == 1);
	assert_true(cJSON_GetObjectItemCaseSensitive(so, "KeyLen")->valuedouble == 32);
	assert_true(cJSON_GetObjectItemCaseSensitive(root, "Version")->valuedouble == 2);
	keys_in_order(cJSON_GetObjectItemCaseSensitive(root, "FeatureFlags"), got, sizeof(got));
	assert_string_equal(got, flags);
	/* Integers are written as integers ("N": 1024, not 1024.0 or 1.024e3). */
	const char *v = strstr(json, "\"N\":");
	size_t digits;

	assert_non_null(v);
	v += 4;
	v += strspn(v, " \t\n");
	digits = strspn(v, "0123456789");
	snprintf(got, sizeof(got), "%.0f", n);
	assert_int_equal(digits, strlen(got));
	assert_memory_equal(v, got, digits);
	assert_true(v[digits] == ',' || v[digits] == '\n' || v[digits] == ' ');
	cJSON_Delete(root);
}

static void test_conf_create(void **s)
{
	(void)s;
	const char *pw = "pa55 word";
	uint8_t mk[32], back[32], fixed[32];
	char *json = NULL, err[GCFS_ERRBUF] = "";
	gcfs_conf c;

	assert_int_equal(gcfs_conf_create((const uint8_t *)pw, strlen(pw), 10, GCFS_FLAGS_DEFAULT,
	                                  NULL, mk, &json, err, sizeof(err)),
	                 0);
	check_layout(json, 1024, "HKDF GCMIV128 DirIV EMENames LongNames Raw64");
	assert_int_equal(gcfs_conf_parse(json, strlen(json), &c, err, sizeof(err)), 0);
	assert_int_equal(c.flags, GCFS_FLAGS_DEFAULT);
	assert_int_equal(c.salt_len, 32);
	assert_int_equal(
	    gcfs_conf_unwrap(&c, (const uint8_t *)pw, strlen(pw), back, err, sizeof(err)), 0);
	assert_memory_equal(mk, back, 32);
	assert_int_equal(
	    gcfs_conf_unwrap(&c, (const uint8_t *)"pa55 worD", 9, back, err, sizeof(err)),
	    GCFS_EAUTH);
	free(json);
	/* wrap a given key; PlaintextNames layout */
	memset(fixed, 0x5a, 32);
	assert_int_equal(gcfs_conf_create((const uint8_t *)pw, strlen(pw), 10,
	                                  GCFS_F_HKDF | GCFS_F_GCMIV128 | GCFS_F_PLAINTEXTNAMES,
	                                  fixed, mk, &json, err, sizeof(err)),
	                 0);
	assert_memory_equal(mk, fixed, 32);
	check_layout(json, 1024, "HKDF GCMIV128 PlaintextNames");
	assert_int_equal(gcfs_conf_parse(json, strlen(json), &c, err, sizeof(err)), 0);
	assert_int_equal(
	    gcfs_conf_unwrap(&c, (const uint8_t *)pw, strlen(pw), back, err, sizeof(err)), 0);
	assert_memory_equal(back, fixed, 32);
	free(json);
	/* refused parameters */
	assert_int_equal(gcfs_conf_create((const uint8_t *)pw, 3, 9, GCFS_FLAGS_DEFAULT, NULL, mk,
	                                  &json, err, sizeof(err)),
	                 GCFS_EINVAL);
	assert_int_equal(gcfs_conf_create((const uint8_t *)pw, 3, 23, GCFS_FLAGS_DEFAULT, NULL, mk,
	                                  &json, err, sizeof(err)),
	                 GCFS_EINVAL);
	assert_int_not_equal(gcfs_conf_create((const uint8_t *)pw, 3, 10, GCFS_F_DIRIV, NULL, mk,
	                                      &json, err, sizeof(err)),
	                     0);
}

/* The real gocryptfs-xray must unwrap what we wrote to the same key. */
static void test_conf_create_xray(void **s)
{
	(void)s;
	char dir[] = "/tmp/gcfs-conf-XXXXXX", p[256], cmd[512], hex[65], line[256];
	uint8_t mk[32];
	char *json = NULL;
	FILE *fp;

	if (access("/usr/bin/gocryptfs-xray", X_OK)) {
		fprintf(stderr, "SKIP: gocryptfs-xray not installed\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	assert_int_equal(gcfs_conf_create((const uint8_t *)"xray pw", 7, 10, GCFS_FLAGS_DEFAULT,
	                                  NULL, mk, &json, NULL, 0),
	                 0);
	PATHF(p, "%s/gocryptfs.conf", dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(json, fp);
	fclose(fp);
	free(json);
	PATHF(cmd, "printf 'xray pw' | gocryptfs-xray -dumpmasterkey %s 2>&1", p);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	pclose(fp);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mk[i]);
	assert_true(!strncmp(line, hex, 64));
	unlink(p);
	rmdir(dir);
}

static void names_roundtrip(gcfs_engine e)
{
	gcfs_keys *k = keys_from_hex(MK, GCFS_FLAGS_DEFAULT, e);
	uint8_t iv[16];
	char name[256], out[GCFS_CNAME_MAX], full[GCFS_CNAME_MAX], dec[GCFS_NAME_MAX + 1];
	int is_long;

	memset(iv, 0x42, sizeof(iv));
	for (size_t n = 1; n <= 255; n++) {
		for (size_t i = 0; i < n; i++)
			name[i] = (char)('a' + (i * 7 + n) % 26);
		name[n] = 0;
		assert_int_equal(gcfs_name_encrypt(k, iv, name, out, full, &is_long), 0);
		assert_int_equal(is_long, n >= 176); /* spec §5.2 cutoff */
		if (is_long) {
			assert_true(gcfs_name_is_longname(out));
			assert_int_equal(strlen(full),
			                 n < 240 ? ((n / 16 + 1) * 16 * 4 + 2) / 3 : 342);
		}
		assert_int_equal(gcfs_name_decrypt(k, iv, is_long ? full : out, dec), 0);
		assert_string_equal(dec, name);
	}
	gcfs_keys_free(k);
}

static void test_names(void **s)
{
	(void)s;
	names_roundtrip(GCFS_ENGINE_OPENSSL);
	names_roundtrip(GCFS_ENGINE_AUTO);
}

static void test_longnamemax_and_deterministic(void **s)
{
	(void)s;
	uint8_t mk[32], iv1[16], iv2[16];
	char o1[GCFS_CNAME_MAX], o2[GCFS_CNAME_MAX], full[GCFS_CNAME_MAX], dec[256];
	gcfs_keys *k;
	int is_long;

	memset(mk, 7, 32);
	memset(iv1, 1, 16);
	memset(iv2, 2, 16);
	assert_int_equal(gcfs_keys_new(mk, GCFS_FLAGS_DEFAULT | GCFS_F_LONGNAMEMAX, 62,
	                               GCFS_ENGINE_OPENSSL, &k, NULL, 0),
	                 0);
	/* 47 B -> 64 chars > 62: hashed; 31 B -> 43 chars: not */
	assert_int_equal(gcfs_name_encrypt(k, iv1,
	                                   "0123456789012345678901234567890123456789012345x", o1,
	                                   full, &is_long),
	                 0);
	assert_int_equal(is_long, 1);
	assert_int_equal(
	    gcfs_name_encrypt(k, iv1, "0123456789012345678901234567890", o1, full, &is_long), 0);
	assert_int_equal(is_long, 0);
	gcfs_keys_free(k);
	/* no DirIV: the tweak is zero whatever diriv is passed */
	assert_int_equal(gcfs_keys_new(mk, GCFS_FLAGS_DEFAULT & ~GCFS_F_DIRIV, 255,
	                               GCFS_ENGINE_OPENSSL, &k, NULL, 0),
	                 0);
	assert_int_equal(gcfs_name_encrypt(k, iv1, "same", o1, NULL, NULL), 0);
	assert_int_equal(gcfs_name_encrypt(k, iv2, "same", o2, NULL, NULL), 0);
	assert_string_equal(o1, o2);
	assert_int_equal(gcfs_name_encrypt(k, NULL, "same", o2, NULL, NULL), 0);
	assert_string_equal(o1, o2);
	assert_int_equal(gcfs_name_decrypt(k, NULL, o1, dec), 0);
	assert_string_equal(dec, "same");
	gcfs_keys_free(k);
}

static void symlinks_for(unsigned flags, gcfs_engine enc_e, gcfs_engine dec_e)
{
	gcfs_keys *a = keys_from_hex(MK, flags, enc_e), *b = keys_from_hex(MK, flags, dec_e);
	static const size_t lens[] = {1, 11, 15, 16, 100, 3000};
	char t[3001], c[4100], d[4100];
	size_t ol;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(t, 'L', lens[i]);
		t[lens[i]] = 0;
		assert_int_equal(
		    gcfs_symlink_encrypt(a, t, c, gcfs_symlink_cipher_len(lens[i]) + 1), 0);
		assert_int_equal(strlen(c), gcfs_symlink_cipher_len(lens[i]));
		assert_int_equal(gcfs_symlink_decrypt(b, c, d, sizeof(d), &ol), 0);
		assert_int_equal(ol, lens[i]);
		assert_string_equal(d, t);
	}
	assert_int_equal(gcfs_symlink_encrypt(a, "", c, sizeof(c)), 0);
	assert_string_equal(c, "");
	gcfs_keys_free(a);
	gcfs_keys_free(b);
}

/* AES-SIV is OpenSSL's whatever the engine, so it needs no ipsec-mb. */
static void test_symlinks_openssl(void **s)
{
	(void)s;
	symlinks_for(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL, GCFS_ENGINE_OPENSSL);
	symlinks_for(SIV_FLAGS, GCFS_ENGINE_OPENSSL, GCFS_ENGINE_IPSECMB);
	symlinks_for(SIV_FLAGS, GCFS_ENGINE_IPSECMB, GCFS_ENGINE_OPENSSL);
}

static void test_symlinks_ipsecmb(void **s)
{
	(void)s;
	NEED_IPSEC();
	symlinks_for(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL, GCFS_ENGINE_IPSECMB);
	symlinks_for(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_IPSECMB, GCFS_ENGINE_OPENSSL);
}

/* Build a cipher file with engine `enc_e`, read it back with `dec_e`. */
static void file_roundtrip(unsigned flags, gcfs_engine enc_e, gcfs_engine dec_e, size_t plen)
{
	gcfs_keys *a = keys_from_hex(MK, flags, enc_e), *b = keys_from_hex(MK, flags, dec_e);
	uint64_t cl = gcfs_cipher_size(plen);
	uint8_t *p = malloc(plen + 1), *c = malloc(cl + 1), *d = malloc(plen + 1), fid[16];
	unsigned seed = (unsigned)plen;
	mem_io m = {c, cl, 0};
	gcfs_io io = {&m, mem_pread};
	gcfs_file f;
	size_t done;

	for (size_t i = 0; i < plen; i++)
		p[i] = (uint8_t)rand_r(&seed);
	if (plen) {
		assert_int_equal(gcfs_header_new(c, fid), 0);
		assert_memory_equal(c + 2, fid, 16);
	}
	for (size_t o = 0, blk = 0; o < plen; o += 4096, blk++) {
		size_t n = plen - o < 4096 ? plen - o : 4096;
		assert_int_equal(gcfs_block_encrypt(a, blk, fid, p + o, n, c + 18 + blk * 4128), 0);
	}
	assert_int_equal(gcfs_file_open(&io, cl, &f, NULL, 0), 0);
	for (int th = 1; th <= 4; th *= 2) {
		memset(d, 0, plen + 1);
		assert_int_equal(gcfs_file_read(b, &io, &f, d, plen, 0, th, &done, NULL, NULL, 0),
		                 0);
		assert_int_equal(done, plen);
		assert_memory_equal(d, p, plen);
	}
	for (int i = 0; i < 30 && plen; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % plen;
		size_t len = (size_t)rand_r(&seed) % (plen - off + 1);

		if (i % 3 == 0) /* large tail reads take the threaded path */
			len = plen - off;
		assert_int_equal(gcfs_file_read(b, &io, &f, d, len, off, 4, &done, NULL, NULL, 0),
		                 0);
		assert_int_equal(done, len);
		assert_memory_equal(d, p + off, len);
	}
	free(p);
	free(c);
	free(d);
	gcfs_keys_free(a);
	gcfs_keys_free(b);
}

static const size_t file_lens[] = {0, 1, 4095, 4096, 4097, 300000, 3 * 1048576 + 5};
#define NFILE_LENS (sizeof(file_lens) / sizeof(file_lens[0]))

static void test_files_openssl(void **s)
{
	(void)s;
	for (size_t i = 0; i < NFILE_LENS; i++) {
		file_roundtrip(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL, GCFS_ENGINE_OPENSSL,
		               file_lens[i]);
		file_roundtrip(SIV_FLAGS, GCFS_ENGINE_OPENSSL, GCFS_ENGINE_IPSECMB, file_lens[i]);
	}
}

static void test_files_ipsecmb(void **s)
{
	(void)s;
	NEED_IPSEC();
	for (size_t i = 0; i < NFILE_LENS; i++) {
		file_roundtrip(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL, GCFS_ENGINE_IPSECMB,
		               file_lens[i]);
		file_roundtrip(GCFS_FLAGS_DEFAULT, GCFS_ENGINE_IPSECMB, GCFS_ENGINE_OPENSSL,
		               file_lens[i]);
	}
}

static void test_engines(void **s)
{
	(void)s;
	gcfs_engine e;
	gcfs_keys *k;

	assert_int_equal(gcfs_engine_parse(NULL, &e), 0);
	assert_int_equal(e, GCFS_ENGINE_AUTO);
	assert_int_equal(gcfs_engine_parse("openssl", &e), 0);
	assert_int_equal(e, GCFS_ENGINE_OPENSSL);
	assert_int_equal(gcfs_engine_parse("ipsec-mb", &e), 0);
	assert_int_equal(e, GCFS_ENGINE_IPSECMB);
	assert_int_equal(gcfs_engine_parse("ipsec", &e), -1);
	assert_string_equal(gcfs_engine_name(GCFS_ENGINE_IPSECMB), "ipsec-mb");
	k = keys_from_hex(MK, GCFS_FLAGS_DEFAULT, GCFS_ENGINE_OPENSSL);
	assert_int_equal(gcfs_keys_engine(k), GCFS_ENGINE_OPENSSL);
	gcfs_keys_free(k);
	/* auto is ipsec-mb exactly when an explicit ipsec-mb works (asked
	 * directly: this case runs either way, so it prints no SKIP). */
	uint8_t mk[GCFS_KEY_LEN] = {1};
	gcfs_keys *ip = NULL;
	int have_ip = gcfs_keys_new(mk, GCFS_FLAGS_DEFAULT, 255, GCFS_ENGINE_IPSECMB, &ip, NULL, 0);

	gcfs_keys_free(ip);
	k = keys_from_hex(MK, GCFS_FLAGS_DEFAULT, GCFS_ENGINE_AUTO);
	assert_int_equal(gcfs_keys_engine(k),
	                 have_ip == 0 ? GCFS_ENGINE_IPSECMB : GCFS_ENGINE_OPENSSL);
	gcfs_keys_free(k);
	/* AES-SIV is OpenSSL's whichever engine was asked for. */
	k = keys_from_hex(MK, SIV_FLAGS, GCFS_ENGINE_IPSECMB);
	assert_int_equal(gcfs_keys_engine(k), GCFS_ENGINE_OPENSSL);
	gcfs_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_conf_create),
	    cmocka_unit_test(test_conf_create_xray),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_longnamemax_and_deterministic),
	    cmocka_unit_test(test_symlinks_openssl),
	    cmocka_unit_test(test_symlinks_ipsecmb),
	    cmocka_unit_test(test_files_openssl),
	    cmocka_unit_test(test_files_ipsecmb),
	    cmocka_unit_test(test_engines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
