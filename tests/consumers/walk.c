/* Directory consumers: opendir/readdir recursion, scandir, glob, nftw.
 * Names are printed sorted so the order of readdir does not matter.
 * usage: walk ROOT */
#include "consumer.h"
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>

static char *lines[4096];
static int nlines;

static void add(const char *fmt, const char *a, long long n, int t)
{
	char buf[PATH_MAX + 64];
	snprintf(buf, sizeof(buf), fmt, a, n, t);
	if (nlines < 4096)
		lines[nlines++] = strdup(buf);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void flush(const char *title)
{
	qsort(lines, nlines, sizeof(char *), cmp);
	printf("== %s (%d)\n", title, nlines);
	for (int i = 0; i < nlines; i++) {
		puts(lines[i]);
		free(lines[i]);
	}
	nlines = 0;
}

static void rec(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d) {
		add("opendir %s failed %lld %d", dir, errno, 0);
		return;
	}
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		add("%s type=%lld %d", p, e->d_type, 0);
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rec(p);
	}
	rewinddir(d);
	int again = 0;
	while (readdir(d))
		again++;
	add("rewind %s count=%lld %d", dir, again, 0);
	closedir(d);
}

static int nftw_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	add("%s size=%lld flag=%d", p, S_ISREG(st->st_mode) ? (long long)st->st_size : -1,
	    flag * 100 + f->level);
	return 0;
}

/* With symlink following, nftw visits a directory reached by two paths once
 * (it remembers dev/ino), and which alias wins depends on readdir order,
 * which differs between a cipher and a plaintext directory.  So key every
 * entry by its realpath, relative to the root's realpath, and drop the
 * depth: the multiset of (target, size, type) is order independent, yet a
 * missing, extra, mis-sized or mis-typed entry still changes it. */
static char rroot[PATH_MAX];

static int nftw_follow_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	char rp[PATH_MAX];
	size_t n = strlen(rroot);
	(void)f;
	if (!realpath(p, rp)) {
		add("realpath %s failed %lld %d", p, errno, flag);
		return 0;
	}
	add(strncmp(rp, rroot, n) ? "%s size=%lld flag=%d" : "<R>%s size=%lld flag=%d",
	    strncmp(rp, rroot, n) ? rp : rp + n,
	    S_ISREG(st->st_mode) ? (long long)st->st_size : -1, flag);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	const char *root = argv[1];
	rec(root);
	flush("readdir");

	struct dirent **list;
	int n = scandir(root, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		add("%s %lld %d", list[i]->d_name, 0, list[i]->d_type);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	add("scandir n=%s%lld %d", "", n, 0);
	flush("scandir");

	char pat[PATH_MAX];
	const char *pats[] = {"%s/*.bin", "%s/nested/*/*", "%s/*/a/b/c/*.bin", "%s/nomatch*"};
	for (size_t i = 0; i < 4; i++) {
		glob_t g;
		snprintf(pat, sizeof(pat), pats[i], root);
		int r = glob(pat, GLOB_MARK, NULL, &g);
		add("glob %s rc=%lld %d", pats[i], r, 0);
		for (size_t j = 0; r == 0 && j < g.gl_pathc; j++)
			add("  %s%lld", g.gl_pathv[j], 0, 0);
		if (r == 0)
			globfree(&g);
	}
	flush("glob");

	int r = nftw(root, nftw_cb, 16, FTW_PHYS);
	add("nftw rc=%s%lld %d", "", r, 0);
	flush("nftw FTW_PHYS");
	if (!realpath(root, rroot))
		DIE("realpath root");
	r = nftw(root, nftw_follow_cb, 16, 0);
	add("nftw rc=%s%lld %d", "", r, 0);
	flush("nftw follow");
	return 0;
}
