/* Shared helpers for the crypto cmocka tests (header-only, static). */
#ifndef TEST_CRYPTO_UTIL_H
#define TEST_CRYPTO_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/gcfs.h"

/* Relative to the repo root, which is the cwd of the test runner. */
#define GOLDEN "../shared/testdata/gocryptfs-golden"
#define EXAMPLES "../shared/testdata/gocryptfs-examples"

/* snprintf that must not truncate (also keeps -Wformat-truncation quiet). */
#define PATHF(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

#define PATHF_N(buf, cap, ...) assert_true(snprintf(buf, cap, __VA_ARGS__) < (int)(cap))

static inline size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static inline void assert_hex(const uint8_t *got, const char *want)
{
	uint8_t buf[512];
	size_t n = unhex(want, buf, sizeof(buf));

	assert_memory_equal(got, buf, n);
}

/* Whole file into a malloc'd NUL-terminated buffer (NULL if missing). */
static inline uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;
	ssize_t n;

	if (len)
		*len = 0;
	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	n = st.st_size ? pread(fd, buf, (size_t)st.st_size, 0) : 0;
	assert_int_equal(n, st.st_size);
	buf[st.st_size] = 0;
	close(fd);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

/* Skip (not pass) a test when the shared corpus is not there. */
#define NEED_GOLDEN()                                                                              \
	do {                                                                                       \
		if (access(GOLDEN "/README.md", R_OK)) {                                           \
			fprintf(stderr, "SKIP: golden corpus not found at %s\n", GOLDEN);          \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* An in-memory gcfs_io. */
typedef struct {
	const uint8_t *buf;
	size_t len;
	int fail_at; /* pread at offsets >= this fail (if > 0) */
} mem_io;

static inline ssize_t mem_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	mem_io *m = ctx;

	if (m->fail_at > 0 && off >= (uint64_t)m->fail_at) {
		errno = EIO;
		return -1;
	}
	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	/* Return short reads on purpose to exercise the retry loop. */
	if (len > 7000)
		len -= 3;
	memcpy(buf, m->buf + off, len);
	return (ssize_t)len;
}

static inline gcfs_keys *keys_from_hex(const char *hex, unsigned flags, gcfs_engine e)
{
	uint8_t mk[GCFS_KEY_LEN];
	gcfs_keys *k = NULL;
	char err[GCFS_ERRBUF] = "";

	assert_int_equal(gcfs_masterkey_parse(hex, strlen(hex), mk), 0);
	assert_int_equal(gcfs_keys_new(mk, flags, 255, e, &k, err, sizeof(err)), 0);
	gcfs_wipe(mk, sizeof(mk));
	return k;
}

/* ipsec-mb usable here?  Tests print why they skip it. */
static inline int ipsec_usable(void)
{
	uint8_t mk[GCFS_KEY_LEN] = {1};
	gcfs_keys *k = NULL;
	char err[GCFS_ERRBUF] = "";
	int rc =
	    gcfs_keys_new(mk, GCFS_FLAGS_DEFAULT, 255, GCFS_ENGINE_IPSECMB, &k, err, sizeof(err));

	gcfs_keys_free(k);
	if (rc)
		fprintf(stderr, "SKIP: ipsec-mb engine unusable: %s\n", err);
	return rc == 0;
}

/* The ipsec-mb half of a check is its own test case: skip (reported as
 * SKIP with the reason above), never a silent pass. */
#define NEED_IPSEC()                                                                               \
	do {                                                                                       \
		if (!ipsec_usable())                                                               \
			skip();                                                                    \
	} while (0)

#endif
