/* numpy-style dup + fdopen + fread, dup2 onto a fixed number, readv,
 * preadv and lseek (SEEK_SET/CUR/END) on a virtual file.
 * usage: dup_fdopen FILE */
#include "consumer.h"
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

static void pr(const char *what, const void *p, ssize_t n)
{
	printf("%s n=%zd fnv=%016llx\n", what, n, (unsigned long long)fnv(FNV0, p, n > 0 ? n : 0));
}

/* Hash only the n bytes a vectored read actually filled. */
static uint64_t iov_fnv(const struct iovec *iov, int cnt, ssize_t n)
{
	uint64_t h = FNV0;
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
		h = fnv(h, iov[i].iov_base, k);
		n -= k;
	}
	return h;
}

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	if (argc != 2)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		DIE("open %s", argv[1]);
	off_t end = lseek(fd, 0, SEEK_END);
	printf("end=%lld\n", (long long)end);
	printf("set=%lld\n", (long long)lseek(fd, 100, SEEK_SET));

	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	FILE *f = fdopen(d, "rb");
	if (!f)
		DIE("fdopen");
	if (fseeko(f, 100, SEEK_SET))
		DIE("fseeko");
	size_t total = 0, n;
	uint64_t h = FNV0;
	while ((n = fread(buf, 1, 65536, f)) > 0) {
		h = fnv(h, buf, n);
		total += n;
	}
	printf("fdopen fread=%zu fnv=%016llx ftello=%lld\n", total, (unsigned long long)h,
	       (long long)ftello(f));
	fclose(f);
	/* the original fd is still open and usable after fclose of its dup */
	printf("cur after dup closed=%lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	pr("pread0", buf, pread(fd, buf, 5000, 0));

	if (dup2(fd, 57) != 57)
		DIE("dup2");
	lseek(57, 3, SEEK_SET);
	pr("dup2 read", buf, read(57, buf, 10000));
	printf("shared offset=%lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	close(57);

	char a[100], b[4000], c[9000];
	struct iovec iov[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
	lseek(fd, 0, SEEK_SET);
	ssize_t r = readv(fd, iov, 3);
	printf("readv=%zd fnv=%016llx\n", r, (unsigned long long)iov_fnv(iov, 3, r));
	r = preadv(fd, iov, 2, 4000);
	printf("preadv=%zd fnv=%016llx cur=%lld\n", r, (unsigned long long)iov_fnv(iov, 2, r),
	       (long long)lseek(fd, 0, SEEK_CUR));
	printf("past end read=%zd\n", pread(fd, buf, 100, end + 5));
	printf("seek end-10=%lld\n", (long long)lseek(fd, -10, SEEK_END));
	pr("tail", buf, read(fd, buf, 100));
	close(fd);
	return 0;
}
