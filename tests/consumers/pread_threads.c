/* 8 threads doing random pread on the same virtual fd, each read compared
 * byte for byte with the same range of the plaintext file opened directly.
 * usage: pread_threads VIRTUAL PLAIN */
#include "consumer.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS 8
#define READS 300

static int vfd, pfd;
static off_t fsize;
static long bad;
static long done;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	static __thread unsigned char a[65536], b[65536];
	long my_bad = 0;

	for (int i = 0; i < READS; i++) {
		size_t len = 1 + rand_r(&seed) % sizeof(a);
		off_t off = (off_t)(((uint64_t)rand_r(&seed) << 16 ^ rand_r(&seed)) %
				    (uint64_t)(fsize + 100));
		ssize_t x = pread(vfd, a, len, off);
		ssize_t y = pread(pfd, b, len, off);
		if (x != y || (x > 0 && memcmp(a, b, x))) {
			if (my_bad++ < 3)
				fprintf(stderr, "mismatch off=%lld len=%zu got=%zd want=%zd\n",
					(long long)off, len, x, y);
		}
	}
	pthread_mutex_lock(&mu);
	bad += my_bad;
	done += READS;
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	vfd = open(argv[1], O_RDONLY | O_CLOEXEC);
	pfd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (vfd < 0 || pfd < 0)
		DIE("open");
	struct stat st;
	if (fstat(pfd, &st))
		DIE("fstat");
	fsize = st.st_size;
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("reads=%ld mismatches=%ld\n", done, bad);
	return bad ? 1 : 0;
}
