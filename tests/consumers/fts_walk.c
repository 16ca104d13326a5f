/* fts consumer: fts_open/fts_read/fts_children/fts_set/fts_close over a
 * tree, printing path, info, level, size and mode of every entry.
 * usage: fts_walk ROOT [REALDIR]   (REALDIR: a real directory walked in the
 * same fts_open call, so mixed root lists are covered too)
 * Walks with a compar print in walk order (deterministic); walks without
 * one sort their lines, since readdir order differs between a cipher and a
 * plaintext directory. */
#include "consumer.h"
#include <fcntl.h>
#include <fts.h>
#include <limits.h>
#include <sys/stat.h>

/* glibc leaves fts_statp unset for every entry under FTS_NOSTAT. */
static int nostat;
static char *lines[8192];
static int nlines;

static void add(const char *s)
{
	if (nlines < 8192)
		lines[nlines++] = strdup(s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void flush(const char *title, int sort)
{
	if (sort)
		qsort(lines, nlines, sizeof(char *), cmp_str);
	printf("== %s (%d)\n", title, nlines);
	for (int i = 0; i < nlines; i++) {
		puts(lines[i]);
		free(lines[i]);
	}
	nlines = 0;
}

static int by_name(const FTSENT **a, const FTSENT **b)
{
	return strcmp((*a)->fts_name, (*b)->fts_name);
}

static const char *info_name(int i)
{
	static const char *n[] = {"?",   "D",  "DC", "DEFAULT", "DNR", "DOT",   "DP",
				  "ERR", "F",  "INIT", "NS",    "NSOK", "SL",   "SLNONE"};
	return i >= 0 && i <= FTS_SLNONE ? n[i] : "?";
}

/* Directory sizes are filesystem specific: only files and links compare.
 * Entries from fts_children (tag != "") print no path: glibc leaves their
 * fts_path pointing into a shared buffer that holds only the parent. */
static void line(const FTSENT *p, const char *tag)
{
	char buf[PATH_MAX + 160], acc[32] = "";
	const struct stat *st = p->fts_statp;
	/* ".." of the root is outside the tree (the mount's parent is not the
	 * plaintext tree's parent): only its presence compares */
	int outside = p->fts_level == 1 && !strcmp(p->fts_name, "..");
	int has = !nostat && !outside && p->fts_info != FTS_NS && p->fts_info != FTS_NSOK &&
		  p->fts_info != FTS_DNR;
	long long sz = has && !S_ISDIR(st->st_mode) ? (long long)st->st_size : -1;
	const char *name = p->fts_name, *slash = strrchr(p->fts_path, '/');
	struct stat ast;

	if (!*tag) {
		/* fts_accpath is relative to the cwd fts chose (glibc chdirs
		 * unless FTS_NOCHDIR); it must name the entry either way. */
		snprintf(acc, sizeof(acc), " acc=%d", lstat(p->fts_accpath, &ast) == 0);
		/* a root's name is the last component of the root path */
		if (p->fts_level == 0)
			name = slash && !strcmp(name, slash + 1) ? "<base>" : name;
	}
	snprintf(buf, sizeof(buf), "%s%s %s lvl=%d size=%lld mode=%o nlink=%ld name=%s%s err=%s",
		 tag, *tag ? "" : p->fts_path, info_name(p->fts_info), p->fts_level, sz,
		 has ? (unsigned)st->st_mode : 0, has ? (long)st->st_nlink : -1L, name, acc,
		 ename(p->fts_errno));
	add(buf);
}

static void walk(char **roots, int opts, int compar, const char *title)
{
	FTS *fts = fts_open(roots, opts, compar ? by_name : NULL);
	FTSENT *p;

	nostat = !!(opts & FTS_NOSTAT);
	if (!fts) {
		printf("== %s: fts_open %s\n", title, ename(errno));
		return;
	}
	while ((p = fts_read(fts)))
		line(p, "");
	add(errno ? "end errno!=0" : "end errno=0");
	if (fts_close(fts))
		add("fts_close failed");
	flush(title, !compar);
}

/* fts_children on each directory in pre-order, FTS_SKIP on "nested",
 * FTS_FOLLOW on "link_deep", FTS_AGAIN once on "one.bin". */
static void controls(char *root)
{
	char *roots[] = {root, NULL};
	FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, by_name);
	FTSENT *p, *c;
	int again = 0;

	if (!fts) {
		printf("== controls: fts_open %s\n", ename(errno));
		return;
	}
	c = fts_children(fts, 0); /* before fts_read: the root list */
	for (; c; c = c->fts_link)
		line(c, "roots: ");
	while ((p = fts_read(fts))) {
		line(p, "");
		if (p->fts_info == FTS_D && p->fts_level == 1 && !strcmp(p->fts_name, "nested")) {
			fts_set(fts, p, FTS_SKIP);
			continue;
		}
		if (p->fts_info == FTS_D) {
			for (c = fts_children(fts, p->fts_level ? 0 : FTS_NAMEONLY); c; c = c->fts_link)
				line(c, "  child: ");
		}
		if (p->fts_info == FTS_SL && !strcmp(p->fts_name, "link_deep"))
			fts_set(fts, p, FTS_FOLLOW);
		if (!again && !strcmp(p->fts_name, "one.bin")) {
			again = 1;
			fts_set(fts, p, FTS_AGAIN);
		}
	}
	add(errno ? "end errno!=0" : "end errno=0");
	fts_close(fts);
	flush("controls", 0);
}

/* Stop early: fts_close in the middle of a walk must not leak or crash. */
static void early_close(char *root)
{
	char *roots[] = {root, NULL};
	FTS *fts = fts_open(roots, FTS_LOGICAL, by_name);
	int n = 0;

	while (fts && n < 7 && fts_read(fts))
		n++;
	printf("== early close after %d: %d\n", n, fts ? fts_close(fts) : -1);
}

int main(int argc, char **argv)
{
	char missing[PATH_MAX], sub[PATH_MAX];

	if (argc < 2 || argc > 3 || strlen(argv[1]) > PATH_MAX - 32)
		return 2;
	char *root = argv[1];
	char *one[] = {root, NULL};
	walk(one, FTS_PHYSICAL, 1, "physical compar");
	walk(one, FTS_PHYSICAL | FTS_NOCHDIR, 0, "physical nochdir");
	walk(one, FTS_LOGICAL, 1, "logical compar");
	walk(one, FTS_PHYSICAL | FTS_NOSTAT, 1, "physical nostat");
	walk(one, FTS_PHYSICAL | FTS_SEEDOT | FTS_XDEV, 1, "seedot xdev");
	snprintf(sub, sizeof(sub), "%s/dirlink", root);
	char *link[] = {sub, NULL};
	walk(link, FTS_PHYSICAL, 1, "symlink root physical");
	walk(link, FTS_PHYSICAL | FTS_COMFOLLOW, 1, "symlink root comfollow");
	snprintf(missing, sizeof(missing), "%s/nope", root);
	char *several[] = {missing, sub, root, argc == 3 ? argv[2] : NULL, NULL};
	walk(several, FTS_PHYSICAL, 1, "several roots");
	char empty[] = "";
	char *bad[] = {empty, NULL};
	errno = 0;
	FTS *f = fts_open(bad, FTS_PHYSICAL, NULL);
	printf("== empty root: %s\n", f ? "opened" : ename(errno));
	controls(root);
	early_close(root);
	return 0;
}
