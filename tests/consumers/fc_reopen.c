/* fc_reopen PATH [mmapfirst|wait]: open PATH, then reopen /proc/self/fd/N
 * with a raw openat (inline syscall instruction: the shim cannot see it)
 * and read it raw.  Prints "raw_open=<fd or -errno> raw_read=<n>
 * nonzero=<count>".  mmapfirst: try an mmap first (a non-streamable use
 * that fills the file).  wait: also print "pid fd" and wait for a line on
 * stdin so another process can look at /proc/<pid>/fd/N. */
#include "consumer.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long raw3(long nr, long a, long b, long c)
{
	long r;

	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "0"(nr), "D"(a), "S"(b), "d"(c)
	                 : "rcx", "r11", "memory");
	return r;
}

static long raw_openat(const char *p, int flags)
{
	long r;
	register long r10 __asm__("r10") = 0;

	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "0"((long)SYS_openat), "D"((long)AT_FDCWD), "S"(p), "d"((long)flags),
	                   "r"(r10)
	                 : "rcx", "r11", "memory");
	return r;
}

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 16];
	const char *mode = argc > 2 ? argv[2] : "";
	long fd2, n = 0, nz = 0;
	char p[64];
	int fd;

	fd = open_arg1(argc, argv);
	if (!strcmp(mode, "mmapfirst")) {
		void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

		printf("mmap=%s\n", m == MAP_FAILED ? "fail" : "ok");
	}
	if (!strcmp(mode, "wait")) {
		printf("%d %d\n", (int)getpid(), fd);
		fflush(stdout);
		if (!fgets(p, sizeof(p), stdin))
			return 3;
	}
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	fd2 = raw_openat(p, O_RDONLY);
	if (fd2 >= 0) {
		n = raw3(SYS_read, fd2, (long)buf, sizeof(buf));
		for (long i = 0; i < n; i++)
			nz += buf[i] != 0;
	}
	printf("raw_open=%ld raw_read=%ld nonzero=%ld\n", fd2 < 0 ? fd2 : 0L, n, nz);
	return 0;
}
