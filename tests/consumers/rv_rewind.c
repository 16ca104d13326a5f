/* rv_rewind DIR: readdir DIR to the end, rewinddir, read it again; prints
 * "<n1> <n2> <names1> <names2>" with each list sorted and comma-joined. */
#include <dirent.h>

#include "consumer.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(DIR *d, char *out, size_t cap)
{
	char *names[64];
	struct dirent *e;
	int n = 0;

	out[0] = 0;
	while ((e = readdir(d)) && n < 64)
		names[n++] = strdup(e->d_name);
	qsort(names, (size_t)n, sizeof(names[0]), cmp);
	for (int i = 0; i < n; i++) {
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", names[i]);
		free(names[i]);
	}
	return n;
}

int main(int argc, char **argv)
{
	char a[4096], b[4096];
	DIR *d;
	int n1, n2;

	if (argc < 2 || !(d = opendir(argv[1])))
		return 1;
	n1 = list(d, a, sizeof(a));
	rewinddir(d);
	n2 = list(d, b, sizeof(b));
	printf("%d %d %s %s\n", n1, n2, a, b);
	closedir(d);
	return 0;
}
