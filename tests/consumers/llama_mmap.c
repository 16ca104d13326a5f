/* llama.cpp's loading pattern (llama_file + llama_mmap): fopen, fseek/ftell
 * for the size, fread of the header, then fileno + fstat + posix_fadvise +
 * mmap(MAP_SHARED|MAP_POPULATE) + posix_madvise, checksum, munmap of a
 * fragment (as after GPU offload) and a read of what is still mapped.
 * usage: llama_mmap FILE */
#include "consumer.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	FILE *fp = fopen(argv[1], "rb");
	if (!fp)
		DIE("fopen %s", argv[1]);
	if (fseek(fp, 0, SEEK_END))
		DIE("fseek");
	long size = ftell(fp);
	if (fseek(fp, 0, SEEK_SET))
		DIE("fseek");
	unsigned char hdr[64];
	size_t got = fread(hdr, 1, sizeof(hdr), fp);
	printf("size=%ld hdr=%zu %016llx\n", size, got, (unsigned long long)fnv(FNV0, hdr, got));

	int fd = fileno(fp);
	struct stat st;
	if (fstat(fd, &st))
		DIE("fstat");
	printf("fstat size=%lld reg=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (size == 0) {
		fclose(fp);
		return 0;
	}
	unsigned char *addr = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (addr == MAP_FAILED)
		DIE("mmap");
	posix_madvise(addr, size, POSIX_MADV_WILLNEED);
	printf("map fnv=%016llx\n", (unsigned long long)fnv(FNV0, addr, size));

	/* unmap the first page-aligned half, keep reading the tail */
	long page = sysconf(_SC_PAGESIZE);
	size_t cut = (size_t)(size / 2) & ~(size_t)(page - 1);
	if (cut > 0) {
		if (munmap(addr, cut))
			DIE("munmap fragment");
		printf("tail fnv=%016llx\n", (unsigned long long)fnv(FNV0, addr + cut, size - cut));
	}
	fclose(fp);
	/* the mapping outlives the stream, as in llama.cpp */
	printf("after fclose fnv=%016llx\n",
	       (unsigned long long)fnv(FNV0, addr + cut, size - cut));
	munmap(addr + cut, size - cut);
	return 0;
}
