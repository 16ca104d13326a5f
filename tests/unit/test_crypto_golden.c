/* Golden corpus: the full key chain from the password, then every entry of
 * all three variants (names both ways, contents, symlinks) against plain/,
 * with both engines and with 1 and 4 threads, plus random-range reads. */
#include "test_crypto_util.h"

typedef struct {
	const char *dir, *namemap, *mkfile;
	unsigned flags;
} variant;

static const variant variants[] = {
    {"cipher", "namemap.tsv", "masterkey.txt", GCFS_FLAGS_DEFAULT},
    {"cipher-plaintextnames", "namemap-plaintextnames.tsv", "masterkey-plaintextnames.txt",
     GCFS_F_HKDF | GCFS_F_GCMIV128 | GCFS_F_PLAINTEXTNAMES},
    {"cipher-aessiv", "namemap-aessiv.tsv", "masterkey-aessiv.txt",
     GCFS_FLAGS_DEFAULT | GCFS_F_AESSIV},
};

static void test_chain_from_password(void **state)
{
	(void)state;
	NEED_GOLDEN();
	size_t jl, pl;
	char *json = (char *)slurp(GOLDEN "/cipher/gocryptfs.conf", &jl);
	uint8_t *pw = slurp(GOLDEN "/password.txt", &pl);
	char *mkhex = (char *)slurp(GOLDEN "/masterkey.txt", NULL);
	uint8_t master[32], want[32];
	char err[GCFS_ERRBUF] = "";
	gcfs_conf c;

	assert_int_equal(gcfs_conf_parse(json, jl, &c, err, sizeof(err)), 0);
	assert_int_equal(c.flags, GCFS_FLAGS_DEFAULT);
	assert_int_equal(c.scrypt_n, 65536);
	assert_int_equal(c.longname_max, 255);
	assert_string_equal(c.creator, "gocryptfs 2.3");
	assert_hex(c.salt, "5fd30d95008ce24b953b7bdadadc10307f10433743e28f05d92ab37f40b7b32e");
	long n = gcfs_passfile_first_line(pw, pl);
	assert_int_equal(n, 14);
	assert_int_equal(gcfs_conf_unwrap(&c, pw, (size_t)n, master, err, sizeof(err)), 0);
	assert_int_equal(gcfs_masterkey_parse(mkhex, strlen(mkhex), want), 0);
	assert_memory_equal(master, want, 32);
	assert_hex(master, "33aad18fe1065d7386b9dca0e155f00f55abdd2afe9f833207a1abc2d70e0103");
	/* wrong password: one byte off */
	pw[0] ^= 1;
	assert_int_equal(gcfs_conf_unwrap(&c, pw, (size_t)n, master, err, sizeof(err)), GCFS_EAUTH);
	assert_non_null(strstr(err, "wrong password or corrupt gocryptfs.conf"));
	free(json);
	free(pw);
	free(mkhex);
}

static void read_diriv(const char *cdir, uint8_t iv[16])
{
	char p[16384];
	size_t n;
	uint8_t *b;

	PATHF(p, "%s/" GCFS_DIRIV_NAME, cdir);
	b = slurp(p, &n);
	assert_non_null(b);
	assert_int_equal(gcfs_diriv_check(b, n), 0);
	memcpy(iv, b, 16);
	free(b);
}

/* Names in both directions for each level of one namemap line. */
static void check_names(gcfs_keys *k, const char *root, char *plain, char *cipher, char *cdir)
{
	char *ps, *cs, *pc = strtok_r(plain, "/", &ps), *cc = strtok_r(cipher, "/", &cs);
	char out[GCFS_CNAME_MAX], full[GCFS_CNAME_MAX], dec[GCFS_NAME_MAX + 1], p[16384];
	int is_long;
	uint8_t iv[16] = {0};

	assert_true(snprintf(cdir, 8192, "%s", root) < 8192);
	for (; pc && cc; pc = strtok_r(NULL, "/", &ps), cc = strtok_r(NULL, "/", &cs)) {
		if (gcfs_keys_flags(k) & GCFS_F_DIRIV)
			read_diriv(cdir, iv);
		assert_int_equal(gcfs_name_encrypt(k, iv, pc, out, full, &is_long), 0);
		assert_string_equal(out, cc);
		if (is_long) {
			assert_true(gcfs_name_is_longname(cc));
			PATHF(p, "%s/%s.name", cdir, cc);
			char *nm = (char *)slurp(p, NULL);
			assert_non_null(nm);
			assert_string_equal(full, nm);
			assert_int_equal(gcfs_name_decrypt(k, iv, nm, dec), 0);
			free(nm);
		} else {
			assert_int_equal(gcfs_name_decrypt(k, iv, cc, dec), 0);
		}
		assert_string_equal(dec, pc);
		assert_false(gcfs_name_is_meta(k, cc, 0));
		PATHF(p, "%s/%s", cdir, cc);
		assert_true(snprintf(cdir, 8192, "%s", p) < 8192);
	}
	assert_null(pc);
	assert_null(cc);
}

static void check_read(gcfs_keys *k, const uint8_t *cb, size_t cl, const uint8_t *pb, size_t plen)
{
	mem_io m = {cb, cl, 0};
	gcfs_io io = {&m, mem_pread};
	gcfs_file f;
	char err[GCFS_ERRBUF] = "";
	uint8_t *dst = malloc(plen + 1);
	size_t done;
	unsigned seed = 1234;

	if (gcfs_file_open(&io, cl, &f, err, sizeof(err)))
		fail_msg("open: %s (cipher size %zu)", err, cl);
	assert_int_equal(f.plain_size, plen);
	assert_int_equal(gcfs_plain_size(cl), plen);
	assert_int_equal(gcfs_cipher_size(plen), cl);
	for (int th = 1; th <= 4; th += 3) {
		memset(dst, 0xaa, plen + 1);
		assert_int_equal(gcfs_file_read(k, &io, &f, dst, plen + 100, 0, th, &done, NULL,
		                                err, sizeof(err)),
		                 0);
		assert_int_equal(done, plen);
		assert_memory_equal(dst, pb, plen);
	}
	for (int i = 0; i < 40 && plen; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % plen;
		size_t len = (size_t)rand_r(&seed) % (plen - off + 1);

		assert_int_equal(gcfs_file_read(k, &io, &f, dst, len, off, 1 + (i % 4), &done, NULL,
		                                err, sizeof(err)),
		                 0);
		assert_int_equal(done, len);
		assert_memory_equal(dst, pb + off, len);
	}
	free(dst);
}

/* Type ('f', 'd', 'l') and symlink target of a plain path from
 * MANIFEST.tree: the shared copy may have turned symlinks into files. */
static char manifest_type(const char *plain, char *target, size_t cap)
{
	char *buf = (char *)slurp(GOLDEN "/MANIFEST.tree", NULL), *save, *line;
	char type = 0;

	assert_non_null(buf);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {line, NULL, NULL, NULL};

		for (int i = 1; i < 4; i++) {
			f[i] = strchr(f[i - 1], '\t');
			if (!f[i])
				break;
			*f[i]++ = 0;
		}
		if (f[2] && !strcmp(f[2], plain)) {
			type = f[0][0];
			PATHF_N(target, cap, "%s", f[3] ? f[3] : "");
			break;
		}
	}
	free(buf);
	assert_true(type != 0);
	return type;
}

/* A cipher symlink's target: readlink, or the file body if materialised. */
static void cipher_link(const char *cp, char *out, size_t cap)
{
	ssize_t n = readlink(cp, out, cap - 1);
	size_t l;
	uint8_t *b;

	if (n >= 0) {
		out[n] = 0;
		return;
	}
	b = slurp(cp, &l);
	assert_non_null(b);
	assert_true(l < cap);
	memcpy(out, b, l + 1);
	free(b);
}

static void check_entry(gcfs_keys *k, const variant *v, const char *plain, const char *cipher)
{
	char pc[8192], cc[8192], cdir[8192], pp[8192], cp[8192], t1[8192], t2[8192];
	char type;

	PATHF(pc, "%s", plain);
	PATHF(cc, "%s", cipher);
	PATHF(t1, GOLDEN "/%s", v->dir);
	check_names(k, t1, pc, cc, cdir);
	PATHF(pp, GOLDEN "/plain/%s", plain);
	PATHF(cp, GOLDEN "/%s/%s", v->dir, cipher);
	type = manifest_type(plain, t1, sizeof(t1));
	if (type == 'f') {
		size_t cl, pl;
		uint8_t *cb = slurp(cp, &cl), *pb = slurp(pp, &pl);

		assert_non_null(cb);
		check_read(k, cb, cl, pb, pl);
		free(cb);
		free(pb);
	} else if (type == 'l') {
		char out[8192];
		size_t ol;

		cipher_link(cp, t2, sizeof(t2));
		assert_int_equal(gcfs_symlink_decrypt(k, t2, out, sizeof(out), &ol), 0);
		assert_int_equal(ol, strlen(t1));
		assert_string_equal(out, t1);
		if (v->flags & GCFS_F_PLAINTEXTNAMES)
			assert_string_equal(t2, t1);
		else
			assert_int_equal(strlen(t2), gcfs_symlink_cipher_len(ol));
	}
}

static void run_variant(const variant *v, gcfs_engine e)
{
	char p[16384], line[8192];
	char *mk;
	gcfs_keys *k;
	FILE *fp;
	int n = 0;

	PATHF(p, GOLDEN "/%s", v->mkfile);
	mk = (char *)slurp(p, NULL);
	assert_non_null(mk);
	k = keys_from_hex(mk, v->flags, e);
	PATHF(p, GOLDEN "/%s", v->namemap);
	fp = fopen(p, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		assert_non_null(tab);
		*tab = 0;
		check_entry(k, v, line, tab + 1);
		n++;
	}
	assert_true(n >= 20);
	/* the root conf is hidden; so is diriv unless PlaintextNames */
	assert_true(gcfs_name_is_meta(k, GCFS_CONF_NAME, 1));
	assert_int_equal(gcfs_name_is_meta(k, GCFS_DIRIV_NAME, 0),
	                 !(v->flags & GCFS_F_PLAINTEXTNAMES));
	fclose(fp);
	free(mk);
	gcfs_keys_free(k);
}

static void test_default_openssl(void **s)
{
	(void)s;
	NEED_GOLDEN();
	run_variant(&variants[0], GCFS_ENGINE_OPENSSL);
}

static void test_plaintextnames_openssl(void **s)
{
	(void)s;
	NEED_GOLDEN();
	run_variant(&variants[1], GCFS_ENGINE_OPENSSL);
}

static void test_aessiv_openssl(void **s)
{
	(void)s;
	NEED_GOLDEN();
	run_variant(&variants[2], GCFS_ENGINE_OPENSSL);
}

static void test_all_ipsecmb(void **s)
{
	(void)s;
	NEED_GOLDEN();
	if (!ipsec_usable())
		skip();
	for (size_t i = 0; i < 3; i++)
		run_variant(&variants[i], GCFS_ENGINE_IPSECMB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_from_password),
	    cmocka_unit_test(test_default_openssl),
	    cmocka_unit_test(test_plaintextnames_openssl),
	    cmocka_unit_test(test_aessiv_openssl),
	    cmocka_unit_test(test_all_ipsecmb),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
