/* rv_ifd2 rawclose|closefrom FILE: fd numbers that change hands behind the
 * shim's back.
 *
 * rawclose (soft RLIMIT_NOFILE 16, so the shim's fds sit at 8 and up):
 *   open FILE, mmap it, close the fd; find the cached memfd M in
 *   /proc/self/fd; a failed dup2() onto M must leave it the shim's
 *   ("dup2_fail_close=<errno of close(M)>", EBADF: still not the
 *   program's); close M with a raw syscall (glibc's __close, not
 *   interposed), fill the fd table until an open gets M, then:
 *   "close_own=<rc>" (the program's own M closes), open FILE again and
 *   read it ("reopen=same|DIFFERENT|<errno>"), open a file at M again,
 *   munmap the old mapping (the old cache entry dies) and report whether
 *   the program's M survived ("m_open=1").
 * closefrom: close_range() made unavailable by a seccomp filter (ENOSYS,
 *   as on old kernels or strict profiles); open two files and FILE, then
 *   closefrom(3): every one of them must be closed ("a=EBADF b=EBADF
 *   v=EBADF"), as glibc's fallback does without the shim. */
#include <dirent.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "consumer.h"

extern int __close(int); /* glibc's own alias: not interposed */

static int find_memfd(void)
{
	char p[300], t[256];
	struct dirent *e;
	int found = -1;
	DIR *d = opendir("/proc/self/fd");

	while (d && (e = readdir(d))) {
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		n = readlink(p, t, sizeof(t) - 1);
		if (n > 0) {
			t[n] = 0;
			if (strstr(t, "memfd:unseal"))
				found = atoi(e->d_name);
		}
	}
	if (d)
		closedir(d);
	return found;
}

static const char *fdstate(int fd)
{
	return fcntl(fd, F_GETFD) < 0 ? ename(errno) : "open";
}

static int read_all(const char *path, unsigned char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	while (got < n && (r = read(fd, buf + got, n - got)) > 0)
		got += (size_t)r;
	close(fd);
	return (int)got;
}

static int rawclose(const char *path)
{
	struct rlimit rl = {16, 16};
	struct stat st;
	unsigned char *m, *buf;
	int fd, mfd, got, p;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max >= 16)
		rl.rlim_cur = 16;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return 1;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	mfd = find_memfd();
	if (m == MAP_FAILED || mfd < 0) {
		printf("no memfd\n");
		return 1;
	}
	errno = 0;
	(void)dup2(900000, mfd); /* fails: EBADF */
	printf("dup2_fail_close=%s\n", close(mfd) < 0 ? ename(errno) : "OK");
	__close(mfd);
	do
		p = open("/dev/null", O_RDONLY);
	while (p >= 0 && p < mfd);
	if (p != mfd) {
		printf("did not get %d back (%d)\n", mfd, p);
		return 1;
	}
	printf("close_own=%d\n", close(mfd));
	for (int i = 3; i < mfd; i++)
		close(i); /* room for the reopen */
	buf = malloc((size_t)st.st_size);
	got = buf ? read_all(path, buf, (size_t)st.st_size) : -ENOMEM;
	if (got < 0)
		printf("reopen=%s\n", ename(-got));
	else
		printf("reopen=%s\n",
		       got == st.st_size && !memcmp(buf, m, (size_t)got) ? "same" : "DIFFERENT");
	do
		p = open("/dev/null", O_RDONLY);
	while (p >= 0 && p < mfd);
	munmap(m, (size_t)st.st_size); /* drops the old cache entry */
	printf("m_open=%d\n", p == mfd && fcntl(mfd, F_GETFD) >= 0);
	return 0;
}

static int no_close_range(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static int closefrom_case(const char *path)
{
	int a, b, v;

	if (no_close_range()) {
		printf("no seccomp\n");
		return 1;
	}
	a = open("/dev/null", O_RDONLY);
	b = open("/dev/null", O_RDONLY);
	v = open(path, O_RDONLY);
	if (a < 0 || b < 0 || v < 0)
		return 1;
	closefrom(3);
	printf("a=%s b=%s v=%s\n", fdstate(a), fdstate(b), fdstate(v));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "rawclose"))
		return rawclose(argv[2]);
	return closefrom_case(argv[2]);
}
