/* rv_mapdd FILE private|shared: mmap FILE and print the VmFlags line of the
 * mapping from /proc/self/smaps ("VmFlags: rd mr mw me dd ..."); a mapping
 * of plaintext must carry "dd" (excluded from core dumps). */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consumer.h"

int main(int argc, char **argv)
{
	char line[512];
	unsigned long lo, hi, at;
	int in = 0, fd;
	struct stat st;
	FILE *f;
	void *m;

	if (argc < 3)
		return 2;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || st.st_size == 0) {
		perror("open");
		return 1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ,
	         strcmp(argv[2], "shared") ? MAP_PRIVATE : MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	at = (unsigned long)m;
	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo <= at && at < hi;
		else if (in && !strncmp(line, "VmFlags:", 8))
			fputs(line, stdout);
	}
	fclose(f);
	return 0;
}
