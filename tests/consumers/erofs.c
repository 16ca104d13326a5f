/* Mutations under the mount from C: every call must fail with EROFS (the
 * mount is read-only), a lookup of a missing parent with ENOENT, and the
 * files must read the same afterwards.  Run on the mount only (on the
 * plaintext tree these calls would succeed).
 * usage: erofs ROOT REALFILE */
#include "consumer.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static char root[PATH_MAX];

static const char *P(const char *rel)
{
	return root_path(root, rel);
}

#define T(what, call)                                                                              \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(call);                                                            \
		printf("%s: %s\n", what, r_ < 0 ? ename(errno) : "OK");                           \
		if (r_ >= 0 && r_ > 2 && !strncmp(what, "open", 4))                                \
			close((int)r_);                                                            \
	} while (0)

int main(int argc, char **argv)
{
	if (argc != 3 || strlen(argv[1]) >= sizeof(root))
		return 2;
	strcpy(root, argv[1]);
	const char *real = argv[2];
	T("open O_WRONLY", open(P("one.bin"), O_WRONLY));
	T("open O_RDWR", open(P("one.bin"), O_RDWR));
	T("open O_RDONLY|O_TRUNC", open(P("one.bin"), O_RDONLY | O_TRUNC));
	T("open O_CREAT new", open(P("new.bin"), O_WRONLY | O_CREAT, 0644));
	T("open O_CREAT|O_EXCL existing", open(P("one.bin"), O_RDONLY | O_CREAT | O_EXCL, 0644));
	T("openat O_WRONLY", openat(AT_FDCWD, P("nested/x/y.bin"), O_WRONLY));
	T("open O_TMPFILE", open(P("nested"), O_TMPFILE | O_WRONLY, 0600));
	T("creat new", creat(P("created.bin"), 0644));
	T("creat existing", creat(P("one.bin"), 0644));
	T("fopen w", fopen(P("one.bin"), "w") ? 0 : -1);
	T("fopen a", fopen(P("fresh.txt"), "a") ? 0 : -1);
	T("fopen r+", fopen(P("one.bin"), "r+") ? 0 : -1);
	T("truncate", truncate(P("one.bin"), 0));
	T("truncate dir", truncate(P("nested"), 0));
	T("unlink", unlink(P("one.bin")));
	T("unlinkat", unlinkat(AT_FDCWD, P("nested/x/y.bin"), 0));
	T("unlink symlink", unlink(P("link_deep")));
	T("rmdir", rmdir(P("emptydir")));
	T("rename in mount", rename(P("one.bin"), P("two.bin")));
	T("rename out of mount", rename(P("one.bin"), real));
	T("rename into mount", rename(real, P("real.bin")));
	T("renameat2", renameat2(AT_FDCWD, P("b4095.bin"), AT_FDCWD, P("b4096.bin"),
				 RENAME_EXCHANGE));
	T("mkdir", mkdir(P("newdir"), 0755));
	T("mkdir existing", mkdir(P("nested"), 0755));
	T("mkdirat", mkdirat(AT_FDCWD, P("nested/newdir"), 0755));
	T("symlink", symlink("one.bin", P("newlink")));
	T("link", link(P("one.bin"), P("hard.bin")));
	T("chmod", chmod(P("one.bin"), 0600));
	T("utimes", utimes(P("one.bin"), NULL));
	T("mkfifo", mkfifo(P("fifo"), 0600));
	T("access W_OK", access(P("one.bin"), W_OK));
	T("access R_OK", access(P("one.bin"), R_OK));
	T("missing parent creat", creat(P("nope/x.bin"), 0644));
	T("missing parent mkdir", mkdir(P("nope/d"), 0755));
	T("missing unlink", unlink(P("nope.bin")));
	T("open missing O_RDONLY", open(P("nope.bin"), O_RDONLY));
	/* nothing changed: the file still reads its one byte */
	char c[2];
	int fd = open(P("one.bin"), O_RDONLY);
	printf("still reads: %zd\n", fd < 0 ? (ssize_t)-1 : read(fd, c, 2));
	struct stat st;
	printf("real file intact: %d\n", stat(real, &st) == 0 && st.st_size > 0);
	return 0;
}
