/* A private writable map at a page-aligned non-zero offset (torch
 * from_file / memmap2 map_copy style): write into it, close the fd, then
 * read the rest.  A fresh read of the file must not see our writes.
 * usage: mmap_private FILE */
#include "consumer.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		DIE("open %s", argv[1]);
	struct stat st;
	if (fstat(fd, &st))
		DIE("fstat");
	long page = sysconf(_SC_PAGESIZE);
	off_t off = (st.st_size / 3) & ~(off_t)(page - 1);
	if (off == 0)
		off = page;
	if (st.st_size <= off)
		DIE("file too small");
	size_t len = st.st_size - off;
	unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, off);
	if (m == MAP_FAILED)
		DIE("mmap private");
	printf("off=%lld len=%zu orig fnv=%016llx\n", (long long)off, len,
	       (unsigned long long)fnv(FNV0, m, len));
	for (size_t i = 0; i < len; i += 1000)
		m[i] ^= 0x5a;
	if (close(fd))
		DIE("close");
	printf("written fnv=%016llx\n", (unsigned long long)fnv(FNV0, m, len));
	munmap(m, len);

	/* a new open must still read the unmodified bytes */
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		DIE("reopen");
	unsigned char *buf = malloc(len);
	ssize_t n = pread(fd, buf, len, off);
	printf("reread n=%zd fnv=%016llx\n", n, (unsigned long long)fnv(FNV0, buf, n > 0 ? n : 0));
	free(buf);
	close(fd);
	return 0;
}
