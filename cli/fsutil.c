/* Messages and file-system helpers shared by the verbs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/common.h"

void cli_err(const char *verb, const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "unseal: %s: %s: ", verb, what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_err(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "unseal: %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'unseal %s --help'.\n", verb);
	return CLI_EXIT_USAGE;
}

/* The long option that `arg` ("--name" or "--name=value") names, allowing
 * unique abbreviations as getopt_long does; *n gets the name's length.
 * NULL if none, `ambiguous` set if several. */
static const struct option *long_named(const char *arg, const struct option *opts, size_t *n,
                                       int *ambiguous)
{
	const struct option *hit = NULL;
	int count = 0;

	*n = strcspn(arg, "=");
	for (const struct option *o = opts; o->name; o++) {
		if (strncmp(o->name, arg, *n))
			continue;
		if (strlen(o->name) == *n)
			return o; /* an exact match wins */
		hit = o;
		count++;
	}
	*ambiguous = count > 1;
	return count == 1 ? hit : NULL;
}

int cli_bad_option(const char *verb, int c, char *const *argv, const struct option *opts)
{
	/* getopt_long has consumed a long option's whole argument, so it is
	 * argv[optind - 1]; a short one is optopt. */
	const char *elem = optind > 0 ? argv[optind - 1] : "";
	const struct option *o;
	size_t n = 0;
	int ambiguous = 0;

	if (!strncmp(elem, "--", 2)) {
		o = long_named(elem + 2, opts, &n, &ambiguous);
		if (!optopt)
			return cli_usage_err(verb, "--%.*s: %s", (int)n, elem + 2,
			                     ambiguous ? "ambiguous option"
			                               : "unrecognized option");
		if (o && o->val == optopt)
			return cli_usage_err(verb, "--%s: %s", o->name,
			                     c == ':' ? "option requires an argument"
			                              : "option takes no argument");
	}
	if (!optopt)
		return cli_usage_err(verb, "%s: unrecognized option", elem);
	return cli_usage_err(verb, "-%c: unrecognized option", optopt);
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int cli_read_small(int dirfd, const char *path, size_t max, char **buf, size_t *len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *b;
	size_t n = 0;

	if (fd < 0)
		return -1;
	/* One spare byte to detect oversize files, one for the NUL. */
	b = malloc(max + 2);
	if (!b) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, max + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(b);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0 || (n += (size_t)r) > max)
			break;
	}
	close(fd);
	if (n > max) {
		free(b);
		errno = EFBIG;
		return -1;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int cli_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO; /* no progress: never spin on it */
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int cli_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t w = pwrite(fd, p, len, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO; /* no progress: never spin on it */
		if (w <= 0)
			return -1;
		p += w;
		off += w;
		len -= (size_t)w;
	}
	return 0;
}

int cli_dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

int cli_need_dir(const char *verb, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		cli_err(verb, path, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_err(verb, path, "%s", strerror(ENOTDIR));
		return -1;
	}
	return 0;
}

/* Remove the contents of dirfd, then the caller removes the dir itself.
 * Dirs are made writable first: we may have already given them their final
 * read-only mode. */
static int rm_contents(int dirfd)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		close(dirfd);
		return -1;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			int sub;

			fchmodat(dirfd, e->d_name, 0700, AT_SYMLINK_NOFOLLOW);
			sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			if (sub < 0 || rm_contents(sub) < 0)
				rc = -1;
			if (unlinkat(dirfd, e->d_name, AT_REMOVEDIR) < 0)
				rc = -1;
		} else if (unlinkat(dirfd, e->d_name, 0) < 0) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

int cli_rm_rf(const char *path)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	chmod(path, 0700);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	rc = rm_contents(fd);
	if (rmdir(path) < 0)
		rc = -1;
	return rc;
}

char *cli_abspath(const char *path)
{
	char *res = realpath(path, NULL);
	char *c1, *c2, *dir, *out;
	const char *base;

	if (res || errno != ENOENT)
		return res;
	/* Missing leaf: resolve the parent and append the name. */
	c1 = strdup(path);
	c2 = strdup(path);
	if (!c1 || !c2) {
		free(c1);
		free(c2);
		return NULL;
	}
	dir = realpath(dirname(c1), NULL);
	base = basename(c2);
	out = NULL;
	if (dir && strcmp(base, ".") && strcmp(base, "..") && strcmp(base, "/")) {
		if (asprintf(&out, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base) < 0)
			out = NULL;
	} else if (dir) {
		errno = EINVAL;
	}
	free(dir);
	free(c1);
	free(c2);
	return out;
}

int cli_path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	if (!strcmp(outer, "/"))
		return 1;
	return !strncmp(inner, outer, n) && (inner[n] == '\0' || inner[n] == '/');
}

char *cli_tmp_sibling(const char *final)
{
	/* The absolute form: "." or "dir/" must still give a true sibling. */
	char *abs = cli_abspath(final), *t;
	int n;

	if (!abs)
		return NULL;
	n = asprintf(&t, "%s.unseal-tmp-XXXXXX", abs);
	free(abs);
	if (n < 0)
		return NULL;
	if (!mkdtemp(t)) {
		int e = errno;

		free(t);
		errno = e;
		return NULL;
	}
	return t;
}

static int commit_abs(const char *tmp, const char *final, int replace)
{
	struct stat st;

	if (lstat(final, &st) < 0) {
		if (errno != ENOENT)
			return -1;
		return rename(tmp, final);
	}
	if (S_ISDIR(st.st_mode) && cli_dir_is_empty(final) == 1)
		return rename(tmp, final);
	if (!replace) {
		errno = ENOTEMPTY;
		return -1;
	}
	/* Swap so readers see either the old or the new tree, never a mix;
	 * the old tree then sits under the temp name and is removed. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) < 0)
		return -1;
	return cli_rm_rf(tmp);
}

int cli_commit_dir(const char *tmp, const char *final, int replace)
{
	char *abs = cli_abspath(final);
	int rc, e;

	if (!abs)
		return -1;
	rc = commit_abs(tmp, abs, replace);
	e = errno;
	free(abs);
	errno = e;
	return rc;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

void cli_catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int cli_interrupted(void)
{
	return got_signal != 0;
}

void cli_report_interrupt(const char *verb, const char *out)
{
	const char *name = got_signal == SIGINT    ? "SIGINT"
	                   : got_signal == SIGTERM ? "SIGTERM"
	                   : got_signal == SIGHUP  ? "SIGHUP"
	                                           : "a signal";

	cli_err(verb, out, "interrupted by %s; temporary output removed", name);
}

int cli_finish_tmp(const char *verb, const char *tmp, const char *out, int replace, int rc)
{
	if (rc == 0 && cli_interrupted())
		rc = -1; /* a signal after the last entry: still nothing committed */
	if (rc == 0 && cli_commit_dir(tmp, out, replace) < 0) {
		cli_err(verb, out, "cannot move the result into place: %s", strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		cli_rm_rf(tmp);
	if (rc < 0 && cli_interrupted())
		cli_report_interrupt(verb, out);
	return rc;
}

static uint64_t tree_sum;
static int tree_cipher;

static int tree_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
	const char *n = p + f->base;
	size_t len = strlen(n);

	/* gocryptfs metadata is not part of the plaintext being counted. */
	if (tree_cipher && !strncmp(n, "gocryptfs.", 10) &&
	    (!strcmp(n, GCFS_CONF_NAME) || !strcmp(n, GCFS_DIRIV_NAME) ||
	     (len > 5 && !strcmp(n + len - 5, ".name"))))
		return 0;
	if (type == FTW_F && S_ISREG(st->st_mode))
		tree_sum +=
		    tree_cipher ? gcfs_plain_size((uint64_t)st->st_size) : (uint64_t)st->st_size;
	return 0;
}

uint64_t cli_tree_bytes(const char *path, int cipher_sizes)
{
	/* nftw has no user pointer; the CLI is single-threaded here. */
	tree_sum = 0;
	tree_cipher = cipher_sizes;
	nftw(path, tree_cb, 32, FTW_PHYS);
	return tree_sum;
}

/* Open a cipher file for reading without following a symlink or blocking on
 * a FIFO swapped in since the walk saw it, and refresh *st from the opened
 * file so sizes come from what is actually read. */
int cli_open_regular(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		int e = S_ISREG(st->st_mode) ? errno : EINVAL;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
