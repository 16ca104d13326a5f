/* Path-layer consumer: openat with a dirfd on a virtual dir, O_DIRECTORY,
 * O_PATH, O_NOFOLLOW, statx, syscall(SYS_statx), legacy __xstat, access,
 * realpath/readlink/getcwd after chdir, relative opens.
 * usage: paths ROOT   (ROOT holds the fixture tree) */
#include "consumer.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Pre-2.33 binaries import these; glibc 2.36 still exports them as compat
 * symbols, so bind to the old version explicitly. */
extern int __xstat(int ver, const char *path, struct stat *buf);
extern int __lxstat(int ver, const char *path, struct stat *buf);
__asm__(".symver __xstat,__xstat@GLIBC_2.2.5");
__asm__(".symver __lxstat,__lxstat@GLIBC_2.2.5");

static char root[PATH_MAX];
/* Values the compiler cannot fold, so _FORTIFY_SOURCE emits __open_2 and
 * __read_chk instead of the plain calls. */
static volatile int nonconst;
static volatile size_t chunk = 8192;

static const char *P(const char *rel)
{
	return root_path(root, rel);
}

static void sum_fd(const char *what, int fd)
{
	char buf[8192];
	uint64_t h = FNV0;
	ssize_t n, total = 0;
	if (fd < 0) {
		printf("%s: open %s\n", what, ename(errno));
		return;
	}
	while ((n = read(fd, buf, chunk)) > 0) {
		h = fnv(h, buf, n);
		total += n;
	}
	printf("%s: n=%zd fnv=%016llx\n", what, total, (unsigned long long)h);
	close(fd);
}

/* Directory sizes are filesystem-specific (cipher dir vs plaintext dir);
 * only regular-file and symlink sizes are meaningful to compare. */
static long long sz(int r, mode_t m, long long s)
{
	return r || S_ISDIR(m) ? -1LL : s;
}

static void stats(const char *rel)
{
	struct stat st;
	struct statx sx;
	int r;

	errno = 0;
	r = stat(P(rel), &st);
	printf("stat %s: %s size=%lld mode=%o\n", rel, ename(r ? errno : 0),
	       sz(r, st.st_mode, st.st_size), r ? 0 : st.st_mode & S_IFMT);
	errno = 0;
	r = lstat(P(rel), &st);
	printf("lstat %s: %s size=%lld mode=%o\n", rel, ename(r ? errno : 0),
	       sz(r, st.st_mode, st.st_size), r ? 0 : st.st_mode & S_IFMT);
	errno = 0;
	r = statx(AT_FDCWD, P(rel), 0, STATX_BASIC_STATS, &sx);
	printf("statx %s: %s size=%lld mode=%o\n", rel, ename(r ? errno : 0),
	       sz(r, sx.stx_mode, sx.stx_size), r ? 0 : sx.stx_mode & S_IFMT);
	errno = 0;
	r = syscall(SYS_statx, AT_FDCWD, P(rel), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
	printf("SYS_statx nofollow %s: %s size=%lld mode=%o\n", rel, ename(r ? errno : 0),
	       sz(r, sx.stx_mode, sx.stx_size), r ? 0 : sx.stx_mode & S_IFMT);
	errno = 0;
	r = __xstat(1, P(rel), &st);
	printf("__xstat %s: %s size=%lld\n", rel, ename(r ? errno : 0),
	       sz(r, st.st_mode, st.st_size));
	errno = 0;
	r = __lxstat(1, P(rel), &st);
	printf("__lxstat %s: %s mode=%o\n", rel, ename(r ? errno : 0),
	       r ? 0 : st.st_mode & S_IFMT);
	errno = 0;
	r = access(P(rel), R_OK);
	printf("access %s: %s\n", rel, ename(r ? errno : 0));
}

static void links(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(P("link_deep"), buf, sizeof(buf) - 1);
	printf("readlink link_deep: %.*s\n", (int)(n > 0 ? n : 0), buf);
	n = readlink(P("nested/a/b/up3"), buf, sizeof(buf) - 1);
	printf("readlink up3: %.*s\n", (int)(n > 0 ? n : 0), buf);
	errno = 0;
	n = readlink(P("one.bin"), buf, sizeof(buf));
	printf("readlink regular: %s\n", ename(n < 0 ? errno : 0));
	const char *rp[] = {"link_deep", "dirlink/b/../sib.bin", "nested/a/b/up3", "nested/up_one",
			    "./nested//a/", "dangling", "nope/x"};
	for (size_t i = 0; i < sizeof(rp) / sizeof(rp[0]); i++) {
		errno = 0;
		char *r = realpath(P(rp[i]), buf);
		printf("realpath %s: %s\n", rp[i], r ? r : ename(errno));
	}
}

static void dirfd_ops(void)
{
	int dfd = open(P("nested/a"), O_RDONLY | O_DIRECTORY);
	printf("O_DIRECTORY dir: %s\n", ename(dfd < 0 ? errno : 0));
	sum_fd("openat dirfd b/c/deep.bin", openat(dfd, "b/c/deep.bin", O_RDONLY));
	sum_fd("openat dirfd b/up3", openat(dfd, "b/up3", O_RDONLY));
	sum_fd("openat dirfd ../up_one", openat(dfd, "../up_one", O_RDONLY));
	struct stat st;
	int r = fstatat(dfd, "sib.bin", &st, 0);
	printf("fstatat dirfd sib.bin: %s size=%lld\n", ename(r ? errno : 0),
	       r ? -1LL : (long long)st.st_size);
	struct statx sx;
	r = statx(dfd, "b", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
	printf("statx dirfd b: %s mode=%o\n", ename(r ? errno : 0), r ? 0 : sx.stx_mode & S_IFMT);
	close(dfd);

	errno = 0;
	int fd = open(P("one.bin"), O_RDONLY | O_DIRECTORY);
	printf("O_DIRECTORY file: %s\n", ename(fd < 0 ? errno : 0));
	if (fd >= 0)
		close(fd);
	errno = 0;
	fd = open(P("link_deep"), O_RDONLY | O_NOFOLLOW);
	printf("O_NOFOLLOW symlink: %s\n", ename(fd < 0 ? errno : 0));
	if (fd >= 0)
		close(fd);
	sum_fd("O_NOFOLLOW regular", open(P("b4097.bin"), O_RDONLY | O_NOFOLLOW));
	fd = open(P("b4097.bin"), O_PATH);
	r = fd < 0 ? -1 : fstat(fd, &st);
	printf("O_PATH fstat: %s size=%lld\n", ename(r ? errno : 0), r ? -1LL : (long long)st.st_size);
	if (fd >= 0) {
		/* the common O_PATH idiom: reopen through /proc/self/fd */
		char pp[64];
		snprintf(pp, sizeof(pp), "/proc/self/fd/%d", fd);
		sum_fd("O_PATH reopen", open(pp, O_RDONLY));
		close(fd);
	}
	errno = 0;
	fd = open(P("nested/nope.bin"), O_RDONLY);
	printf("missing: %s\n", ename(fd < 0 ? errno : 0));
}

static void cwd_ops(void)
{
	char buf[PATH_MAX];
	if (chdir(P("nested/a")))
		DIE("chdir");
	printf("getcwd: %s\n", getcwd(buf, sizeof(buf)) ? buf : ename(errno));
	sum_fd("relative b/c/deep.bin", open("b/c/deep.bin", O_RDONLY));
	sum_fd("relative ../x/y.bin", open("../x/y.bin", O_RDONLY));
	char *r = realpath("b/up3", buf);
	printf("relative realpath b/up3: %s\n", r ? r : ename(errno));
	struct stat st;
	printf("relative stat sib.bin: %lld\n", stat("sib.bin", &st) ? -1LL : (long long)st.st_size);
	if (chdir("b/c"))
		DIE("chdir rel");
	printf("getcwd rel: %s\n", getcwd(buf, sizeof(buf)) ? buf : ename(errno));
	if (chdir(P("emptydir")))
		DIE("chdir emptydir");
	printf("getcwd emptydir: %s\n", getcwd(buf, sizeof(buf)) ? buf : ename(errno));
	if (chdir("/"))
		DIE("chdir /");
}

int main(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= sizeof(root))
		return 2;
	strcpy(root, argv[1]);
	const char *names[] = {"one.bin", "empty.bin", "b4095.bin", "b4096.bin", "b4097.bin",
			       "big40.bin", "link_deep", "dirlink", "nested", "dangling", "nope",
			       "nested/a/b/c/deep.bin"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		stats(names[i]);
	links();
	dirfd_ops();
	cwd_ops();
	/* open with a non-constant flag word: with _FORTIFY_SOURCE this is __open_2 */
	int flags = O_RDONLY | (nonconst ? O_CREAT : 0);
	sum_fd("nonconst flags", open(P("b4096.bin"), flags));
	return 0;
}
