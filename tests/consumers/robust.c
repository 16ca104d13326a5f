/* Robustness on virtual files, compared with the plaintext run:
 *  - errno after successful calls is whatever glibc leaves there on a real
 *    file (the shim must not leak its own internal errnos);
 *  - a constructor in the program opens a virtual file before main;
 *  - a signal handler closes a virtual fd;
 *  - 4 threads open/read/dup2/close virtual files and open real files onto
 *    the recycled numbers (bookkeeping must never mix them up).
 * usage: robust ROOT REALFILE */
#include "consumer.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];
static const char *real;
static char ctor_report[128];

static const char *P(const char *rel)
{
	static __thread char buf[4][PATH_MAX + 256];
	static __thread int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, rel);
	return buf[i];
}

/* glibc passes argc/argv to ELF constructors. */
__attribute__((constructor)) static void early(int argc, char **argv)
{
	char b[16];
	if (argc < 2 || strlen(argv[1]) >= sizeof(root))
		return;
	snprintf(b, sizeof(b), "%s", "");
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/b4097.bin", argv[1]);
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, b, sizeof(b), 4090);
	snprintf(ctor_report, sizeof(ctor_report), "ctor open: %s n=%zd fnv=%016llx",
		 fd < 0 ? ename(errno) : "OK", n, (unsigned long long)fnv(FNV0, b, n > 0 ? n : 0));
	if (fd >= 0)
		close(fd);
}

#define KEEP(what, call)                                                                           \
	do {                                                                                       \
		errno = 4242;                                                                      \
		long ok_ = (long)(call);                                                           \
		printf("errno after %s (%s): %d\n", what, ok_ ? "ok" : "FAILED", errno);           \
	} while (0)

static void errnos(void)
{
	int fd = -1;
	struct stat st;
	char buf[64], rp[PATH_MAX];
	DIR *d = NULL;
	FILE *f = NULL;
	void *m = MAP_FAILED;
	KEEP("open", (fd = open(P("mid.bin"), O_RDONLY)) >= 0);
	KEEP("read", read(fd, buf, sizeof(buf)) == sizeof(buf));
	KEEP("pread", pread(fd, buf, sizeof(buf), 4000) == sizeof(buf));
	KEEP("lseek", lseek(fd, 10, SEEK_END) > 0);
	KEEP("fstat", fstat(fd, &st) == 0);
	KEEP("mmap", (m = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0)) != MAP_FAILED);
	KEEP("munmap", munmap(m, 8192) == 0);
	KEEP("dup2", dup2(fd, 77) == 77);
	KEEP("close dup", close(77) == 0);
	KEEP("close", close(fd) == 0);
	KEEP("stat", stat(P("link_deep"), &st) == 0);
	KEEP("lstat", lstat(P("link_deep"), &st) == 0);
	KEEP("access", access(P("nested/a/sib.bin"), R_OK) == 0);
	KEEP("readlink", readlink(P("link_deep"), buf, sizeof(buf)) > 0);
	/* not realpath: glibc's leaves its internal readlink EINVAL behind on
	 * success, the shim's does not; POSIX leaves errno unspecified there */
	(void)rp;
	KEEP("opendir", (d = opendir(P("nested"))) != NULL);
	KEEP("readdir", readdir(d) != NULL);
	KEEP("closedir", closedir(d) == 0);
	KEEP("fopen", (f = fopen(P("text.txt"), "r")) != NULL);
	KEEP("fgets", fgets(buf, sizeof(buf), f) != NULL);
	KEEP("fclose", fclose(f) == 0);
}

static volatile sig_atomic_t sigfd = -1;

static void on_usr1(int sig)
{
	(void)sig;
	close(sigfd);
}

static void signal_close(void)
{
	signal(SIGUSR1, on_usr1);
	sigfd = open(P("one.bin"), O_RDONLY);
	int was = sigfd;
	raise(SIGUSR1);
	errno = 0;
	int r = fcntl(was, F_GETFD);
	printf("closed by handler: %s\n", r < 0 ? ename(errno) : "still open");
	int fd = open(real, O_RDONLY);
	char c = 0;
	printf("real reuses number: %d first=%c\n", fd == was, read(fd, &c, 1) == 1 ? c : '?');
	close(fd);
}

static uint64_t want_sib, want_real;
static int bad;

static uint64_t sum(int fd)
{
	char b[4096];
	uint64_t h = FNV0;
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, b, sizeof(b))) > 0)
		h = fnv(h, b, n);
	return h;
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < 150; i++) {
		int v = open(P("nested/a/sib.bin"), O_RDONLY | O_CLOEXEC);
		int target = 200 + id * 8 + i % 8;
		if (v < 0 || dup2(v, target) != target) {
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (sum(target) != want_sib)
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
		close(v);
		close(target);
		int r = open(real, O_RDONLY);
		if (r < 0 || sum(r) != want_real)
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
		DIR *d = opendir(P("nested/a"));
		int n = 0;
		while (d && readdir(d))
			n++;
		if (!d || n != 5) /* ., .., QQ.., b, sib.bin */
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
		if (d)
			closedir(d);
		close(r);
	}
	return NULL;
}

static void threads(void)
{
	pthread_t t[4];
	int fd = open(P("nested/a/sib.bin"), O_RDONLY);
	want_sib = sum(fd);
	close(fd);
	fd = open(real, O_RDONLY);
	want_real = sum(fd);
	close(fd);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("threads: bad=%d sib=%016llx\n", bad, (unsigned long long)want_sib);
}

int main(int argc, char **argv)
{
	if (argc != 3 || strlen(argv[1]) >= sizeof(root))
		return 2;
	strcpy(root, argv[1]);
	real = argv[2];
	puts(ctor_report);
	errnos();
	signal_close();
	threads();
	return 0;
}
