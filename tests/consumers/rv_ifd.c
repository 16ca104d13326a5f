/* rv_ifd FILE SCRATCH: a program that churns through fd numbers it never
 * opened, as daemons and fork children do, then opens FILE again.
 *   1. open FILE, mmap it whole, close the fd (the mapping keeps it cached)
 *   2. close() every fd number that /proc/self/fd shows and the program did
 *      not open (the shim's own): "close_foreign=<n> ok=<k> ebadf=<m>"
 *   3. close_range(3, ~0U, 0)
 *   4. dup2() a scratch file over every number from 3 to the soft fd limit
 *      (at most 4096) except its own
 *   5. close 3..9 to make room, open FILE again and read it whole: "reopen=<same|DIFFERENT|errno>"
 *      compares it with the mapping from step 1, and prints its FNV hash.
 * The scratch file must stay empty: nothing may be written to it through
 * a number the program took over ("scratch=<bytes>"). */
#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consumer.h"

int main(int argc, char **argv)
{
	int fd, s, ok = 0, ebadf = 0, n = 0;
	struct rlimit rl;
	struct stat st;
	unsigned char *m, *buf;
	ssize_t got = 0, r;
	DIR *d;
	struct dirent *e;
	int fds[4096], nfds = 0;
	rlim_t top;

	if (argc < 3)
		return 2;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return 1;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	close(fd);

	d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	while ((e = readdir(d)) && nfds < 4096) {
		int x = atoi(e->d_name);

		if (e->d_name[0] != '.' && x > 2 && x != dirfd(d))
			fds[nfds++] = x;
	}
	closedir(d);
	for (int i = 0; i < nfds; i++) {
		n++;
		if (close(fds[i]) == 0)
			ok++;
		else if (errno == EBADF)
			ebadf++;
	}
	printf("close_foreign=%d ok=%d ebadf=%d\n", n, ok, ebadf);
	printf("close_range=%d\n", close_range(3, ~0U, 0));

	s = open(argv[2], O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (s < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	top = rl.rlim_cur > 4096 ? 4096 : rl.rlim_cur;
	for (int i = 3; i < (int)top; i++)
		if (i != s)
			(void)dup2(s, i);
	close(s);
	for (int i = 3; i < 10; i++)
		close(i); /* room for the reopen (and the shim's fds for it) */

	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		printf("reopen=%s\n", ename(errno));
	} else {
		buf = malloc((size_t)st.st_size);
		while (buf && got < st.st_size && (r = read(fd, buf + got, (size_t)(st.st_size - got))) > 0)
			got += r;
		printf("reopen=%s n=%zd\n",
		       got == st.st_size && !memcmp(buf, m, (size_t)got) ? "same" : "DIFFERENT", got);
		printf("fnv=%016llx\n", (unsigned long long)fnv(FNV0, buf, (size_t)got));
	}
	if (stat(argv[2], &st) == 0)
		printf("scratch=%lld\n", (long long)st.st_size);
	return 0;
}
