/* fd-number reuse after fclose/closedir: glibc closes those fds internally
 * (not through close()), so a shim that tracks fds must still forget them.
 * The real file opened next gets the same number and must read real bytes.
 * usage: fd_reuse VFILE VDIR REALFILE */
#include "consumer.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_real(const char *what, int oldfd, const char *real)
{
	int fd = open(real, O_RDONLY);
	char buf[4096];
	uint64_t h = FNV0;
	ssize_t n, total = 0;
	struct stat st;

	if (fd < 0)
		DIE("open real");
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(h, buf, n);
		total += n;
	}
	if (fstat(fd, &st))
		DIE("fstat");
	n = pread(fd, buf, 16, 0);
	printf("%s: same_fd=%d read=%zd size=%lld fnv=%016llx pread=%zd\n", what, fd == oldfd,
	       total, (long long)st.st_size, (unsigned long long)h, n);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	FILE *fp = fopen(argv[1], "rb");
	if (!fp)
		DIE("fopen %s", argv[1]);
	char b[100];
	printf("vread=%zu\n", fread(b, 1, sizeof(b), fp));
	int n = fileno(fp);
	fclose(fp);
	check_real("after fclose", n, argv[3]);

	DIR *d = opendir(argv[2]);
	if (!d)
		DIE("opendir %s", argv[2]);
	int ents = 0;
	while (readdir(d))
		ents++;
	n = dirfd(d);
	closedir(d);
	printf("dir entries=%d\n", ents);
	check_real("after closedir", n, argv[3]);

	/* and a plain close() of a virtual fd */
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		DIE("open");
	close(fd);
	check_real("after close", fd, argv[3]);
	return 0;
}
