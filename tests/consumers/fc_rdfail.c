/* fc_rdfail PATH LEN OFF: pread LEN bytes at OFF into a buffer pre-filled
 * with 0xEE.  stderr: "r=<ret> errno=<name>"; stdout: the whole buffer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t n, w = 0;
	unsigned char *b;
	ssize_t r;
	int fd, e;

	if (argc < 4)
		return 2;
	n = strtoul(argv[2], NULL, 0);
	b = malloc(n);
	if (!b)
		return 2;
	memset(b, 0xEE, n);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	r = pread(fd, b, n, strtol(argv[3], NULL, 0));
	e = errno;
	fprintf(stderr, "r=%zd errno=%s\n", r, r < 0 && e == EIO ? "EIO" : strerror(e));
	while (w < n) {
		ssize_t k = write(1, b + w, n - w);

		if (k <= 0)
			return 1;
		w += (size_t)k;
	}
	return 0;
}
