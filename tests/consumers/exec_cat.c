/* exec a child (/bin/cat FILE): LD_PRELOAD and the shim's environment are
 * inherited, so the child must see the plaintext too.  Also posix_spawn.
 * usage: exec_cat FILE */
#include "consumer.h"
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		execl("/bin/cat", "cat", argv[1], (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	char *args[] = {"cat", argv[1], NULL};
	if (posix_spawn(&p, "/bin/cat", NULL, NULL, args, environ))
		DIE("posix_spawn");
	int st2;
	waitpid(p, &st2, 0);
	fprintf(stderr, "exec_cat: exit %d %d\n", WEXITSTATUS(st), WEXITSTATUS(st2));
	return WEXITSTATUS(st) | WEXITSTATUS(st2);
}
