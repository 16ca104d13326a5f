/* fc_fork PATH: a thread loops big preads on PATH while the main thread
 * forks 10 children that each pread 16 bytes (under alarm(10)).  Prints
 * "hung=<n> bad=<n>"; exit 0 only if every child exited 0. */
#include "consumer.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int fd;
static char *buf;
static size_t len;

static void *reader(void *a)
{
	(void)a;
	for (;;)
		if (pread(fd, buf, len, 0) < 0)
			_exit(4);
	return NULL;
}

int main(int argc, char **argv)
{
	int hung = 0, bad = 0;
	pthread_t t;

	fd = open_arg1(argc, argv);
	len = (size_t)lseek(fd, 0, SEEK_END);
	buf = malloc(len ? len : 1);
	if (!buf || pthread_create(&t, NULL, reader, NULL))
		return 2;
	usleep(100000);
	for (int i = 0; i < 10; i++) {
		pid_t p = fork();
		int st;

		if (p == 0) {
			char b[16];

			alarm(10);
			_exit(pread(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) ? 0 : 5);
		}
		if (p < 0 || waitpid(p, &st, 0) < 0)
			return 2;
		if (WIFSIGNALED(st))
			hung++;
		else if (WEXITSTATUS(st))
			bad++;
	}
	printf("hung=%d bad=%d\n", hung, bad);
	fflush(stdout);
	_exit(hung || bad ? 1 : 0);
}
