/* More path and fd behaviour, compared with the plaintext run:
 * "//", "." and ".." (resolved physically: ".." after a symlink is the
 * parent of the symlink's TARGET, as the kernel does), trailing slashes,
 * O_CLOEXEC / O_PATH / O_DIRECTORY seen through fcntl, legacy __fxstat*,
 * faccessat, and mmap with MAP_POPULATE, partial munmap and mremap of a
 * mapping that outlives its fd.
 * usage: more_paths ROOT */
#include "consumer.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern int __fxstat(int ver, int fd, struct stat *buf);
extern int __fxstatat(int ver, int dirfd, const char *path, struct stat *buf, int flags);
__asm__(".symver __fxstat,__fxstat@GLIBC_2.2.5");
__asm__(".symver __fxstatat,__fxstatat@GLIBC_2.4");

static char root[PATH_MAX];
/* not foldable: with _FORTIFY_SOURCE, openat/open64 become __openat_2 etc. */
static volatile int nonconst;

static const char *P(const char *rel)
{
	return root_path(root, rel);
}

static void try_open(const char *rel, int flags)
{
	char buf[4096];
	uint64_t h = FNV0;
	ssize_t n, tot = 0;
	errno = 0;
	int fd = open(P(rel), flags);
	if (fd < 0) {
		printf("open %s flags=%o: %s\n", rel, flags, ename(errno));
		return;
	}
	if (!(flags & (O_PATH | O_DIRECTORY)))
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			h = fnv(h, buf, n);
			tot += n;
		}
	int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
	printf("open %s flags=%o: OK n=%zd fnv=%016llx cloexec=%d acc=%d path=%d\n", rel, flags,
	       tot, (unsigned long long)h, !!(fdfl & FD_CLOEXEC), fl & O_ACCMODE, !!(fl & O_PATH));
	close(fd);
}

static void dots(void)
{
	const char *rels[] = {"nested//a///sib.bin", "./nested/./a/./sib.bin",
			      "nested/a/b/../../x/y.bin", "nested/x/../a/b/c/deep.bin",
			      "dirlink/../x/y.bin", /* physical: nested/x/y.bin exists */
			      "dirlink/../one.bin", /* physical: nested/one.bin is missing */
			      "nested/../nested/a/b/up3", "one.bin/", "nested/x/y.bin/.",
			      "nested/a/b/c/deep.bin/..", "../model/nope", "nested/nope/../x/y.bin"};
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		struct stat st;
		errno = 0;
		int r = stat(P(rels[i]), &st);
		printf("stat %s: %s size=%lld\n", rels[i], ename(r ? errno : 0),
		       r || S_ISDIR(st.st_mode) ? -1LL : (long long)st.st_size);
		try_open(rels[i], O_RDONLY);
	}
	try_open("nested/", O_RDONLY | O_DIRECTORY);
	try_open("nested//a//", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void flags(void)
{
	try_open("b4097.bin", O_RDONLY);
	try_open("b4097.bin", O_RDONLY | O_CLOEXEC);
	try_open("b4097.bin", O_PATH);
	try_open("b4097.bin", O_PATH | O_CLOEXEC);
	try_open("nested", O_PATH | O_DIRECTORY);
	try_open("link_deep", O_PATH | O_NOFOLLOW);
	try_open("link_deep", O_RDONLY | O_NOFOLLOW);
	try_open("dirlink", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	try_open("dirlink", O_RDONLY | O_DIRECTORY);
	try_open("nested", O_RDONLY);
	try_open("empty.bin", O_RDONLY | O_NOATIME);
	try_open("emptydir", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* fopen "re" is O_CLOEXEC too */
	FILE *f = fopen(P("one.bin"), "re");
	printf("fopen re: cloexec=%d\n", f ? !!(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) : -1);
	if (f)
		fclose(f);
	/* dup drops FD_CLOEXEC, F_DUPFD_CLOEXEC sets it, F_SETFD changes it */
	int fd = open(P("one.bin"), O_RDONLY | O_CLOEXEC);
	int d1 = dup(fd), d2 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
	printf("dup cloexec=%d dupfd_cloexec=%d\n", !!(fcntl(d1, F_GETFD) & FD_CLOEXEC),
	       !!(fcntl(d2, F_GETFD) & FD_CLOEXEC));
	fcntl(fd, F_SETFD, 0);
	printf("after F_SETFD 0: %d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	close(d1);
	close(d2);
}

static void meta(void)
{
	struct stat a, b, c;
	int fd = open(P("nested/a/sib.bin"), O_RDONLY);
	int dfd = open(P("nested/a"), O_RDONLY | O_DIRECTORY);
	int r1 = __fxstat(1, fd, &a), r2 = __fxstatat(1, dfd, "sib.bin", &b, 0);
	int r3 = fstatat(dfd, "b/up3", &c, AT_SYMLINK_NOFOLLOW);
	printf("__fxstat: %d size=%lld mode=%o nlink=%ld\n", r1, (long long)a.st_size, a.st_mode,
	       (long)a.st_nlink);
	printf("__fxstatat: %d size=%lld same_ino=%d\n", r2, (long long)b.st_size,
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	printf("fstatat nofollow up3: %d mode=%o size=%lld\n", r3, c.st_mode, (long long)c.st_size);
	int fl = O_RDONLY | (nonconst ? O_CREAT : 0);
	int ofd = openat(dfd, "b/c/deep.bin", fl);
	printf("openat nonconst flags: %s size=%lld\n", ofd < 0 ? ename(errno) : "OK",
	       ofd < 0 || fstat(ofd, &c) ? -1LL : (long long)c.st_size);
	if (ofd >= 0)
		close(ofd);
	printf("faccessat R_OK: %d X_OK dir: %d nofollow: %d missing: %s\n",
	       faccessat(dfd, "sib.bin", R_OK, 0), faccessat(AT_FDCWD, P("nested"), X_OK, 0),
	       faccessat(dfd, "b/up3", F_OK, AT_SYMLINK_NOFOLLOW),
	       faccessat(dfd, "nope", F_OK, 0) ? ename(errno) : "OK");
	close(fd);
	close(dfd);
}

static void maps(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd = open(P("mid.bin"), O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		DIE("open mid.bin");
	size_t len = st.st_size;
	unsigned char *m = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	unsigned char *o = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 8 * pg);
	if (m == MAP_FAILED || o == MAP_FAILED)
		DIE("mmap");
	close(fd); /* mappings outlive the fd */
	printf("populate fnv=%016llx off8 fnv=%016llx\n", (unsigned long long)fnv(FNV0, m, len),
	       (unsigned long long)fnv(FNV0, o, 4 * pg));
	/* unmap a hole in the middle, then read both sides */
	munmap(m + 16 * pg, 16 * pg);
	printf("after hole: %016llx %016llx\n", (unsigned long long)fnv(FNV0, m, 16 * pg),
	       (unsigned long long)fnv(FNV0, m + 32 * pg, len - 32 * pg));
	/* shrink the head in place, then move the tail elsewhere */
	unsigned char *h = mremap(m, 16 * pg, 8 * pg, 0);
	unsigned char *t = mremap(m + 32 * pg, len - 32 * pg, len - 32 * pg + pg, MREMAP_MAYMOVE);
	printf("mremap shrink: %s fnv=%016llx\n", h == m ? "in place" : "?",
	       (unsigned long long)fnv(FNV0, h, 8 * pg));
	if (t == MAP_FAILED)
		DIE("mremap grow");
	printf("mremap grow: fnv=%016llx\n", (unsigned long long)fnv(FNV0, t, len - 32 * pg));
	munmap(h, 8 * pg);
	munmap(t, len - 32 * pg + pg);
	munmap(o, 4 * pg);
	/* a new open after all of that reads the same bytes */
	fd = open(P("mid.bin"), O_RDONLY);
	unsigned char *again = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	printf("again fnv=%016llx\n", (unsigned long long)fnv(FNV0, again, len));
	munmap(again, len);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= sizeof(root))
		return 2;
	strcpy(root, argv[1]);
	dots();
	flags();
	meta();
	maps();
	return 0;
}
