/* Evidence providers: sample shape, TEE selection, and configfs-tsm against
 * a fake tree.
 *
 * The fake: plain directories cannot generate quotes, so this test binary
 * interposes mkdir()/rmdir() (the attest objects are linked statically into
 * it, so their calls bind to these definitions).  mkdir under the fake root
 * creates the entry and pre-fills `provider`, an empty `inblob`, `outblob`
 * (a canned quote) and `generation` ("1", what configfs shows after one
 * inblob write).  rmdir saves what our code wrote to inblob, so the test
 * checks the 64-byte REPORTDATA (digest || zeros) byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>
#include "attest/kbs_int.h"

static char root[256];
static const char *fake_provider = "tdx_guest\n";
static const char *fake_generation = "1\n";
static int fake_mkdir_fail;
static uint8_t seen_inblob[128];
static ssize_t seen_inblob_len = -1;
static int entries_made, entries_removed;
static const char quote[] = "QUOTE-BYTES\x00\x01\x02";

static void put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, p, n) != (ssize_t)n)
			abort();
		close(fd);
	}
}

int mkdir(const char *path, mode_t mode)
{
	int rc;

	if (strncmp(path, root, strlen(root)) || !root[0])
		return (int)syscall(SYS_mkdir, path, mode);
	if (fake_mkdir_fail) {
		errno = fake_mkdir_fail;
		return -1;
	}
	rc = (int)syscall(SYS_mkdir, path, mode);
	if (rc)
		return rc;
	entries_made++;
	put(path, "provider", fake_provider, strlen(fake_provider));
	put(path, "inblob", "", 0);
	put(path, "outblob", quote, sizeof(quote) - 1);
	put(path, "generation", fake_generation, strlen(fake_generation));
	return 0;
}

int rmdir(const char *path)
{
	char p[512];
	int fd;

	if (strncmp(path, root, strlen(root)) || !root[0])
		return (int)syscall(SYS_rmdir, path);
	snprintf(p, sizeof(p), "%s/inblob", path);
	fd = open(p, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, seen_inblob, sizeof(seen_inblob));

		close(fd);
		if (n > 0)
			seen_inblob_len = n;
	}
	static const char *const names[] = {"provider", "inblob", "outblob", "generation"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		unlink(p);
	}
	entries_removed++;
	return (int)syscall(SYS_rmdir, path);
}

static int setup(void **s)
{
	(void)s;
	snprintf(root, sizeof(root), "/tmp/kbs-tsm-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **s)
{
	(void)s;
	syscall(SYS_rmdir, root);
	return 0;
}

static void reset(void)
{
	fake_provider = "tdx_guest\n";
	fake_generation = "1\n";
	fake_mkdir_fail = 0;
	seen_inblob_len = -1;
	entries_made = entries_removed = 0;
}

static int dir_empty(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(dp)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dp);
	return n == 0;
}

static void test_sample_shape(void **s)
{
	uint8_t dg[48];
	kbs_tee t;
	cJSON *ev = NULL;
	char cause[200], *txt;

	(void)s;
	for (int i = 0; i < 48; i++)
		dg[i] = (uint8_t)i;
	assert_int_equal(kbs_tee_resolve("sample", NULL, &t, cause, sizeof(cause)), KBS_OK);
	assert_string_equal(t.name, "sample");
	assert_int_equal(kbs_evidence(&t, dg, 48, &ev, cause, sizeof(cause)), KBS_OK);
	txt = cJSON_PrintUnformatted(ev);
	/* Bare 48-byte digest in standard base64, not zero-padded to 64. */
	assert_string_equal(txt, "{\"svn\":\"1\",\"report_data\":"
	                         "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
	                         "LS4v\"}");
	free(txt);
	cJSON_Delete(ev);
}

static void test_tee_names(void **s)
{
	kbs_tee t;
	char cause[200];

	(void)s;
	reset();
	assert_int_equal(kbs_tee_resolve("bogus", root, &t, cause, sizeof(cause)), KBS_E_USAGE);
	/* No provider registered: auto must refuse, never fall back to sample. */
	fake_mkdir_fail = ENXIO;
	if (access("/dev/tdx_guest", F_OK)) {
		assert_int_equal(kbs_tee_resolve("auto", root, &t, cause, sizeof(cause)),
		                 KBS_E_EVIDENCE);
		assert_non_null(strstr(cause, "no TEE found; set UNSEAL_TEE=sample"));
		assert_int_equal(kbs_tee_resolve("tdx", root, &t, cause, sizeof(cause)),
		                 KBS_E_EVIDENCE);
	}
	assert_int_equal(kbs_tee_resolve("tsm", root, &t, cause, sizeof(cause)), KBS_E_EVIDENCE);
	assert_int_equal(kbs_tee_resolve("snp", root, &t, cause, sizeof(cause)), KBS_E_EVIDENCE);
}

static void test_tsm_tdx(void **s)
{
	uint8_t dg[48], want[64] = {0};
	kbs_tee t;
	cJSON *ev = NULL;
	char cause[200], *q;

	(void)s;
	reset();
	memset(dg, 0xab, sizeof(dg));
	memcpy(want, dg, 48);
	assert_int_equal(kbs_tee_resolve("auto", root, &t, cause, sizeof(cause)), KBS_OK);
	assert_int_equal(t.kind, KBS_TEE_TSM);
	assert_string_equal(t.name, "tdx");
	assert_int_equal(kbs_evidence(&t, dg, 48, &ev, cause, sizeof(cause)), KBS_OK);
	/* REPORTDATA = digest || 16 zeros, written once. */
	assert_int_equal(seen_inblob_len, 64);
	assert_memory_equal(seen_inblob, want, 64);
	q = kbs_b64std((const uint8_t *)quote, sizeof(quote) - 1);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "quote")->valuestring, q);
	assert_null(cJSON_GetObjectItemCaseSensitive(ev, "cc_eventlog"));
	free(q);
	cJSON_Delete(ev);
	/* Probe + quote entries, all removed again. */
	assert_int_equal(entries_made, 2);
	assert_int_equal(entries_removed, 2);
	assert_true(dir_empty(root));
}

/* Evidence from t fails cleanly: the error, no JSON, nothing left in the TSM
 * dir; and the cause names why when why is set. */
static void assert_evidence_fails(const kbs_tee *t, const char *why)
{
	uint8_t dg[48] = {1};
	cJSON *ev = NULL;
	char cause[200];

	assert_int_equal(kbs_evidence(t, dg, 48, &ev, cause, sizeof(cause)), KBS_E_EVIDENCE);
	if (why)
		assert_non_null(strstr(cause, why));
	assert_null(ev);
	assert_true(dir_empty(root));
}

static void test_tsm_generation(void **s)
{
	kbs_tee t;
	char cause[200];

	(void)s;
	reset();
	assert_int_equal(kbs_tee_resolve("tsm", root, &t, cause, sizeof(cause)), KBS_OK);
	fake_generation = "2\n"; /* someone else wrote our entry */
	assert_evidence_fails(&t, "generation");
}

static void test_tsm_snp(void **s)
{
	kbs_tee t;
	char cause[200];

	(void)s;
	reset();
	fake_provider = "sev_guest\n";
	assert_int_equal(kbs_tee_resolve("snp", root, &t, cause, sizeof(cause)), KBS_OK);
	assert_string_equal(t.name, "snp");
	assert_int_equal(kbs_tee_resolve("tdx", root, &t, cause, sizeof(cause)) == KBS_OK,
	                 access("/dev/tdx_guest", F_OK) == 0);
	assert_int_equal(kbs_tee_resolve("tsm", root, &t, cause, sizeof(cause)), KBS_OK);
	/* SNP evidence encoding is not implemented: a clear error, no JSON. */
	assert_evidence_fails(&t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sample_shape), cmocka_unit_test(test_tee_names),
	    cmocka_unit_test(test_tsm_tdx),      cmocka_unit_test(test_tsm_generation),
	    cmocka_unit_test(test_tsm_snp),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
