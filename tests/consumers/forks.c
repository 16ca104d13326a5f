/* Process lifecycle with a virtual fd open: a vfork child calling
 * close_range (CPython subprocess does this) must not break the parent's
 * fd; a fork child reads the inherited fd and opens another virtual file.
 * usage: forks VFILE1 VFILE2 */
#include "consumer.h"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t sum_fd(int fd, size_t len, off_t off, ssize_t *got)
{
	static char buf[1 << 16];
	uint64_t h = FNV0;
	ssize_t n;
	*got = 0;
	while (len > 0 && (n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), off)) > 0) {
		h = fnv(h, buf, n);
		off += n;
		len -= n;
		*got += n;
	}
	return h;
}

int main(int argc, char **argv)
{
	ssize_t got;
	if (argc != 3)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		DIE("open");
	printf("parent before: %016llx", (unsigned long long)sum_fd(fd, 1 << 20, 0, &got));
	printf(" n=%zd\n", got);
	fflush(stdout);

	pid_t p = vfork();
	if (p == 0) {
		close_range(3, ~0U, 0);
		_exit(7);
	}
	int status;
	waitpid(p, &status, 0);
	printf("vfork child exit=%d\n", WEXITSTATUS(status));
	printf("parent after vfork: %016llx", (unsigned long long)sum_fd(fd, 1 << 20, 0, &got));
	printf(" n=%zd\n", got);
	fflush(stdout);

	p = fork();
	if (p == 0) {
		printf("fork child fd: %016llx", (unsigned long long)sum_fd(fd, 1 << 20, 0, &got));
		printf(" n=%zd\n", got);
		int fd2 = open(argv[2], O_RDONLY);
		if (fd2 < 0) {
			printf("fork child open2: %s\n", ename(errno));
			_exit(1);
		}
		printf("fork child open2: %016llx",
		       (unsigned long long)sum_fd(fd2, 1 << 30, 0, &got));
		printf(" n=%zd\n", got);
		fflush(stdout);
		_exit(0);
	}
	waitpid(p, &status, 0);
	printf("fork child exit=%d\n", WEXITSTATUS(status));
	printf("parent end: %016llx", (unsigned long long)sum_fd(fd, 1 << 20, 0, &got));
	printf(" n=%zd\n", got);
	close(fd);
	return 0;
}
