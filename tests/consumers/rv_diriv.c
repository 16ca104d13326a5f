/* rv_diriv VDIR CDIR CREPL: list the virtual directory VDIR, then (through
 * the real file system) move its cipher directory CDIR away and another
 * cipher directory CREPL into its place, and list VDIR again.  Prints
 * "1: <name>" and "2: <name>" lines (unsorted order is the kernel's; the
 * test sorts).  The second listing must be CREPL's plaintext names. */
#include <dirent.h>
#include <stdio.h>

#include "consumer.h"

static void list(const char *dir, int pass)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		printf("%d: opendir %s\n", pass, ename(errno));
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			printf("%d: %s\n", pass, e->d_name);
	closedir(d);
}

int main(int argc, char **argv)
{
	char old[4096];

	if (argc < 4)
		return 2;
	list(argv[1], 1);
	snprintf(old, sizeof(old), "%s.old", argv[2]);
	if (rename(argv[2], old) || rename(argv[3], argv[2])) {
		perror("rename");
		return 1;
	}
	list(argv[1], 2);
	return 0;
}
