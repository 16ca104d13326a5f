/* rv_exitrace FILE: four threads pread FILE in a loop (in streaming mode
 * every read decrypts with the keys) while the main thread calls exit(0)
 * after a short delay.  The shim's destructor must not free keys those
 * threads still use: the process must exit 0, not crash. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "consumer.h"

static int fd;
static off_t size;

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	static __thread char buf[65536];

	for (;;) {
		off_t off = (off_t)(rand_r(&seed) % (unsigned)(size > 65536 ? size - 65536 : 1));

		if (pread(fd, buf, sizeof(buf), off) < 0 && errno != EACCES && errno != EIO)
			abort();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 30 * 1000 * 1000};
	struct stat st;
	pthread_t t;

	if (argc < 2)
		return 2;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return 1;
	size = st.st_size;
	for (uintptr_t i = 1; i <= 4; i++)
		pthread_create(&t, NULL, reader, (void *)i);
	nanosleep(&ts, NULL);
	exit(0);
}
