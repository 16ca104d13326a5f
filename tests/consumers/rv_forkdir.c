/* rv_forkdir DIR [N]: two threads list the virtual directory DIR in a loop
 * (readdir translates names under the shim's vdir lock) while the main
 * thread forks N times; each child lists DIR once and exits.  A child that
 * inherited a held lock hangs and is killed by its alarm.  Prints
 * "hung=<children killed> bad=<children that failed>". */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "consumer.h"

static const char *dir;
static atomic_int stop;

static int list_once(void)
{
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void *lister(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		list_once();
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 300, hung = 0, bad = 0, want;
	pthread_t t[2];

	if (argc < 2)
		return 2;
	dir = argv[1];
	want = list_once();
	if (want <= 2) {
		fprintf(stderr, "cannot list %s\n", dir);
		return 1;
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, lister, NULL);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();
		int st;

		if (p == 0) {
			alarm(3);
			_exit(list_once() == want ? 0 : 1);
		}
		if (p < 0 || waitpid(p, &st, 0) != p)
			return 1;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			hung++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("hung=%d bad=%d\n", hung, bad);
	return 0;
}
