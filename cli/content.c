/* Decrypting whole files and symlink targets for decrypt and verify. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/common.h"

#define CHUNK_PER_THREAD (4u << 20) /* plaintext bytes per worker per call */
#define CHUNK_MAX (64u << 20)
#define SYMLINK_MAX (64 * 1024)

/* gcfs_io callback: pread that only comes back short at EOF. */
static ssize_t fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = *(const int *)ctx;
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int cli_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

/* gcfs may already say "block N: cause"; we print the block ourselves. */
static void strip_block_prefix(char *err)
{
	size_t i = 6;

	if (strncmp(err, "block ", 6))
		return;
	while (err[i] >= '0' && err[i] <= '9')
		i++;
	if (i > 6 && err[i] == ':' && err[i + 1] == ' ')
		memmove(err, err + i + 2, strlen(err + i + 2) + 1);
}

int cli_decrypt_fd(const gcfs_keys *k, int fd, uint64_t cipher_size, int nthreads,
                   cli_progress *prog, cli_sink sink, void *u, uint64_t *bad_block, char *err,
                   size_t errlen)
{
	gcfs_io io = {.ctx = &fd, .pread = fd_pread};
	gcfs_file f;
	size_t chunk;
	uint8_t *buf;
	uint64_t off = 0;
	int rc;

	*bad_block = UINT64_MAX;
	rc = gcfs_file_open(&io, cipher_size, &f, err, errlen);
	if (rc < 0)
		return rc;
	if (nthreads < 1)
		nthreads = 1;
	chunk = (size_t)nthreads * CHUNK_PER_THREAD;
	if (chunk > CHUNK_MAX)
		chunk = CHUNK_MAX;
	if (chunk > f.plain_size)
		chunk = f.plain_size ? (size_t)f.plain_size : 1;
	buf = malloc(chunk);
	if (!buf)
		return GCFS_ENOMEM;
	while (off < f.plain_size) {
		size_t done = 0;
		uint64_t bb = UINT64_MAX;

		rc = gcfs_file_read(k, &io, &f, buf, chunk, off, nthreads, &done, &bb, err, errlen);
		if (rc < 0) {
			/* bb is the absolute block index of the first failure. */
			*bad_block = bb;
			strip_block_prefix(err);
			break;
		}
		if (done == 0) {
			snprintf(err, errlen, "short read at plaintext offset %llu",
			         (unsigned long long)off);
			rc = GCFS_EIO;
			*bad_block = off / GCFS_BLOCK_PLAIN;
			break;
		}
		if (cli_interrupted() || sink(u, buf, done, off) < 0) {
			if (cli_interrupted())
				errno = EINTR;
			rc = 1;
			break;
		}
		cli_progress_add(prog, done);
		off += done;
	}
	/* Plaintext of a failed chunk must not linger or leak further. */
	gcfs_wipe(buf, chunk);
	free(buf);
	return rc;
}

int cli_symlink_read(const gcfs_keys *k, int dirfd, const char *name, char **out, char *err,
                     size_t errlen)
{
	char *ct = malloc(SYMLINK_MAX + 1), *pt = NULL;
	ssize_t n;
	size_t plen = 0;
	int rc;

	if (!ct)
		return GCFS_ENOMEM;
	n = readlinkat(dirfd, name, ct, SYMLINK_MAX + 1);
	if (n < 0 || n > SYMLINK_MAX) {
		snprintf(err, errlen, "%s", n < 0 ? strerror(errno) : "target too long");
		free(ct);
		return GCFS_EIO;
	}
	ct[n] = '\0';
	if (gcfs_keys_flags(k) & GCFS_F_PLAINTEXTNAMES) {
		/* -plaintextnames keeps targets in clear text. */
		*out = ct;
		return 0;
	}
	pt = malloc((size_t)n + 1);
	if (!pt) {
		free(ct);
		return GCFS_ENOMEM;
	}
	rc = gcfs_symlink_decrypt(k, ct, pt, (size_t)n + 1, &plen);
	free(ct);
	if (rc < 0) {
		snprintf(err, errlen, "%s", gcfs_strerror(rc));
		free(pt);
		return rc;
	}
	pt[plen] = '\0';
	*out = pt;
	return 0;
}
