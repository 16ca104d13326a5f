/* rv_fdmut PATH dir|file|fifo|link: open PATH (O_RDONLY[|O_DIRECTORY|
 * O_NONBLOCK] and O_PATH; link: only O_PATH|O_NOFOLLOW) and try every
 * mutation through the fd, printing "<open>:<call>=<rc>/<errno>" per call;
 * link also prints what readlinkat(fd, "") and fstat(fd) say.  Through the shim on a read-only view each must be -1/EROFS
 * (posix_fallocate: EROFS returned) and the cipher entry must not change. */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "consumer.h"

static void show(const char *how, const char *call, long rc, int err)
{
	printf("%s:%s=%ld/%s\n", how, call, rc, rc < 0 ? ename(err) : "OK");
}

#define T(call) (errno = 0, r = (long)(call), show(how, #call, r, errno))

static void try_all(int fd, const char *how)
{
	struct timespec ts[2] = {{0, 0}, {0, 0}};
	struct timeval tv[2] = {{0, 0}, {0, 0}};
	long r;
	int pf;

	T(fchmod(fd, 0777));
	T(fchown(fd, 4321, 4321));
	T(futimens(fd, ts));
	T(futimes(fd, tv));
	T(fsetxattr(fd, "user.rv", "x", 1, 0));
	T(fremovexattr(fd, "user.rv"));
	T(fallocate(fd, 0, 0, 4096));
	T(ftruncate(fd, 0));
	pf = posix_fallocate(fd, 0, 4096);
	show(how, "posix_fallocate", pf ? -1 : 0, pf);
	T(fchmodat(fd, "", 0777, AT_EMPTY_PATH));
	T(fchownat(fd, "", 4321, 4321, AT_EMPTY_PATH));
	T(utimensat(fd, "", ts, AT_EMPTY_PATH));
	T(futimesat(fd, NULL, tv));
	T(syscall(SYS_fchmod, fd, 0777));
	T(syscall(SYS_fchown, fd, 4321, 4321));
	T(syscall(SYS_utimensat, fd, NULL, ts, 0));
	T(syscall(SYS_fchownat, fd, "", 4321, 4321, AT_EMPTY_PATH));
	T(syscall(SYS_ftruncate, fd, 0));
	T(syscall(SYS_fallocate, fd, 0, 0, 4096));
	T(syscall(SYS_fsetxattr, fd, "user.rv", "x", 1, 0));
	T(syscall(SYS_mkdirat, fd, "rv-newdir", 0755));
}

/* An O_PATH|O_NOFOLLOW fd on a symlink refers to the link itself. */
static int link_fd(const char *path)
{
	char t[PATH_MAX];
	struct stat st;
	ssize_t k;
	int fd = open(path, O_PATH | O_NOFOLLOW);

	if (fd < 0) {
		perror("open O_PATH|O_NOFOLLOW");
		return 1;
	}
	try_all(fd, "link");
	k = readlinkat(fd, "", t, sizeof(t) - 1);
	printf("readlinkat=%.*s\n", k < 0 ? 0 : (int)k, t);
	if (fstat(fd, &st) == 0)
		printf("fstat=%s size=%lld\n", S_ISLNK(st.st_mode) ? "link" : "other",
		       (long long)st.st_size);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int isdir, fd;

	if (argc < 3)
		return 2;
	if (!strcmp(argv[2], "link"))
		return link_fd(argv[1]);
	isdir = !strcmp(argv[2], "dir");
	fd = open(argv[1], O_RDONLY | (isdir ? O_DIRECTORY : 0) |
	                       (!strcmp(argv[2], "fifo") ? O_NONBLOCK : 0));
	if (fd < 0) {
		perror("open");
		return 1;
	}
	try_all(fd, "rd");
	close(fd);
	fd = open(argv[1], O_PATH);
	if (fd < 0) {
		perror("open O_PATH");
		return 1;
	}
	try_all(fd, "path");
	close(fd);
	return 0;
}
