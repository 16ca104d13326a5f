/* Shared helpers for the shim consumer programs (header-only on purpose:
 * the Makefile builds each tests/consumers/X.c as its own binary).
 * Every consumer prints a deterministic report to stdout; the pytest side
 * runs it on the plaintext tree and through the shim and compares. */
#ifndef CONSUMER_H
#define CONSUMER_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a 64: no crypto library is linked into consumers, and equality with
 * the plaintext run is all we need. */
static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV0 0xcbf29ce484222325ULL

/* errno as a stable name so outputs compare across runs. */
static inline const char *ename(int e)
{
	switch (e) {
	case 0: return "OK";
	case ENOENT: return "ENOENT";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ELOOP: return "ELOOP";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENOTEMPTY: return "ENOTEMPTY";
	default: return "E?";
	}
}

/* root/rel in one of four rotating buffers, so one call can take several
 * such paths (rename(P(a), P(b))). */
static inline const char *root_path(const char *root, const char *rel)
{
	static char buf[4][PATH_MAX + 256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, rel);
	return buf[i];
}

/* argv[1] opened read-only, for the one-file consumers: exits 2 when it is
 * missing and 1 (after perror) when it does not open. */
static inline int open_arg1(int argc, char **argv)
{
	int fd;

	if (argc < 2)
		exit(2);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror("open");
		exit(1);
	}
	return fd;
}

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno));                       \
		exit(2);                                                                           \
	} while (0)

#endif
