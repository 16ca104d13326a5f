/* fc_mapdump PATH: open and mmap PATH (shared, read-only), print
 * "<pid> <hex address> <first byte>" and wait for a line on stdin, so the
 * test can inspect /proc/<pid>/smaps, maps and fd from outside the shim. */
#include "consumer.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[16];
	unsigned char *m;
	off_t n;
	int fd;

	fd = open_arg1(argc, argv);
	n = lseek(fd, 0, SEEK_END);
	m = mmap(NULL, (size_t)n, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("%d %lx %u\n", (int)getpid(), (unsigned long)m, m[0]);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 3;
	return 0;
}
