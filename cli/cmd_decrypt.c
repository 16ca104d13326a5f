/* `unseal decrypt`: a cipher dir back to a plaintext tree.  Everything is
 * built in a temporary sibling of OUT_DIR and renamed into place only when
 * every name, block and symlink authenticated, so a failure leaves nothing
 * under the final name and no plaintext of a bad block is ever written. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/common.h"

static const char *const VERB = "decrypt";

struct dec {
	const gcfs_keys *k;
	const char *out; /* final OUT_DIR, for messages */
	const char *tmp;
	int nthreads;
	cli_progress *prog;
	int outfd; /* the file being written */
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: unseal decrypt [options] CIPHER_DIR OUT_DIR\n"
	        "Decrypt a gocryptfs v2 cipher directory into OUT_DIR.\n\n"
	        "  --passfile F        password = first line of F\n"
	        "  --masterkey-file F  hex master key (dashes allowed) instead of a password\n"
	        "                      (neither: prompt on the terminal, or first line of stdin)\n"
	        "  --threads N         decryption threads (default: all cores)\n"
	        "  --force             replace an existing non-empty OUT_DIR (atomically)\n"
	        "  --quiet             no progress bar\n"
	        "  --verbose           name the content cipher and engine in use (stderr)\n"
	        "  -h, --help          this help\n"
	        "Environment: UNSEAL_CRYPTO=openssl|ipsec-mb|auto (AES-GCM engine).\n"
	        "Exit: 0 ok, 1 failure, 2 usage.\n");
}

static void out_err(struct dec *d, const char *ppath, const char *cause)
{
	char *p;

	if (asprintf(&p, "%s%s%s", d->out, *ppath ? "/" : "", ppath) < 0)
		p = NULL;
	cli_err(VERB, p ? p : d->out, "%s", cause);
	free(p);
}

/* Set mode and times from the cipher entry (gocryptfs keeps them 1:1).
 * Modes are not authenticated by the format, so setuid/setgid/sticky bits
 * from a cipher dir someone else could write are never restored. */
static int finish_meta(int fd, const struct stat *st)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};

	if (fchmod(fd, st->st_mode & 0777) < 0)
		return -1;
	return futimens(fd, ts);
}

static int dir_pre(void *u, cli_node *n)
{
	struct dec *d = u;

	if (!n->parent) {
		n->user_fd = open(d->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (mkdirat(n->parent->user_fd, n->pname, 0700) == 0) {
		n->user_fd = openat(n->parent->user_fd, n->pname,
		                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (n->user_fd < 0) {
		out_err(d, n->ppath, strerror(errno));
		return -1;
	}
	return 0;
}

static int dir_post(void *u, cli_node *n)
{
	struct dec *d = u;
	int rc = finish_meta(n->user_fd, &n->st);

	if (rc < 0)
		out_err(d, n->ppath, strerror(errno));
	close(n->user_fd);
	n->user_fd = -1;
	return rc;
}

/* Write a decrypted chunk, leaving all-zero 4 KiB blocks as holes so sparse
 * files stay sparse (the final ftruncate sets the size). */
static int sink_write(void *u, const void *buf, size_t len, uint64_t off)
{
	struct dec *d = u;
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i += GCFS_BLOCK_PLAIN) {
		size_t n = len - i < GCFS_BLOCK_PLAIN ? len - i : GCFS_BLOCK_PLAIN;

		if (n == GCFS_BLOCK_PLAIN && gcfs_all_zero(p + i, n))
			continue;
		if (cli_pwrite_all(d->outfd, p + i, n, (off_t)(off + i)) < 0)
			return -1;
	}
	return 0;
}

static void report_block(const cli_node *n, int rc, uint64_t bb, const char *err)
{
	const char *cause = *err ? err : gcfs_strerror(rc);

	if (bb == UINT64_MAX)
		cli_err(VERB, n->cpath, "header: %s", cause);
	else
		cli_err(VERB, n->cpath, "block %llu: %s", (unsigned long long)bb, cause);
}

static int do_file(struct dec *d, cli_node *n)
{
	char err[GCFS_ERRBUF] = "";
	uint64_t bb;
	int in, rc;

	in = cli_open_regular(n->dirfd, n->cname, &n->st);
	if (in < 0) {
		cli_err(VERB, n->cpath, "%s", strerror(errno));
		return -1;
	}
	d->outfd = openat(n->parent->user_fd, n->pname,
	                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->outfd < 0) {
		out_err(d, n->ppath, strerror(errno));
		close(in);
		return -1;
	}
	rc = cli_decrypt_fd(d->k, in, (uint64_t)n->st.st_size, d->nthreads, d->prog, sink_write, d,
	                    &bb, err, sizeof(err));
	close(in);
	if (rc < 0)
		report_block(n, rc, bb, err);
	else if (rc > 0 && cli_interrupted())
		rc = 1; /* run() says so, once */
	else if (rc > 0 || ftruncate(d->outfd, (off_t)gcfs_plain_size((uint64_t)n->st.st_size)) ||
	         finish_meta(d->outfd, &n->st))
		out_err(d, n->ppath, strerror(errno));
	if (close(d->outfd) < 0 && rc == 0)
		rc = -1;
	return rc ? -1 : 0;
}

static int do_symlink(struct dec *d, cli_node *n)
{
	char err[GCFS_ERRBUF] = "";
	char *target;
	struct timespec ts[2] = {n->st.st_atim, n->st.st_mtim};
	int rc = cli_symlink_read(d->k, n->dirfd, n->cname, &target, err, sizeof(err));

	if (rc < 0) {
		cli_err(VERB, n->cpath, "symlink: %s", err);
		return -1;
	}
	if (symlinkat(target, n->parent->user_fd, n->pname) < 0 ||
	    utimensat(n->parent->user_fd, n->pname, ts, AT_SYMLINK_NOFOLLOW) < 0) {
		out_err(d, n->ppath, strerror(errno));
		rc = -1;
	}
	free(target);
	return rc;
}

static int leaf(void *u, cli_node *n)
{
	struct dec *d = u;
	mode_t t = n->st.st_mode & S_IFMT;

	if (t == S_IFREG)
		return do_file(d, n);
	if (t == S_IFLNK)
		return do_symlink(d, n);
	if (t == S_IFSOCK) {
		/* A socket is only meaningful while its server runs. */
		fprintf(stderr, "unseal: %s: %s: skipping socket\n", VERB, n->cpath);
		return 0;
	}
	if (t == S_IFCHR || t == S_IFBLK) {
		/* Unauthenticated metadata must not create device nodes for root. */
		fprintf(stderr, "unseal: %s: %s: skipping device node\n", VERB, n->cpath);
		return 0;
	}
	if (mknodat(n->parent->user_fd, n->pname, n->st.st_mode, n->st.st_rdev) < 0) {
		out_err(d, n->ppath, strerror(errno));
		return -1;
	}
	return 0;
}

static int bad(void *u, const char *cpath, const char *ppath, const char *what, const char *cause)
{
	(void)u;
	(void)ppath;
	cli_err(VERB, cpath, "%s: %s", what, cause);
	return -1;
}

/* OUT_DIR must be missing, an empty dir, or (with --force) anything. */
static int check_out(const char *out, int force)
{
	struct stat st;

	if (lstat(out, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		cli_err(VERB, out, "%s", strerror(errno));
		return -1;
	}
	if (force || (S_ISDIR(st.st_mode) && cli_dir_is_empty(out) == 1))
		return 0;
	cli_err(VERB, out, "%s (use --force to replace it)",
	        S_ISDIR(st.st_mode) ? "directory is not empty" : "exists and is not a directory");
	return -1;
}

/* Refuse OUT_DIR inside CIPHER_DIR and vice versa; 0, or an exit code. */
static int check_nesting(const char *cdir, const char *out)
{
	char *a = cli_abspath(cdir), *b = cli_abspath(out);
	int rc = 0;

	if (!a || !b) {
		cli_err(VERB, a ? out : cdir, "%s", strerror(errno));
		rc = CLI_EXIT_FAIL;
	} else if (cli_path_within(b, a)) {
		cli_err(VERB, out, "output directory is inside the cipher directory %s", cdir);
		rc = CLI_EXIT_USAGE;
	} else if (cli_path_within(a, b)) {
		cli_err(VERB, out, "output directory contains the cipher directory %s", cdir);
		rc = CLI_EXIT_USAGE;
	}
	free(a);
	free(b);
	return rc;
}

static int run(const char *cdir, const char *out, const cli_common *co, int force)
{
	/* Orphan .name files hold no plaintext: not a reason to fail. */
	static const cli_walk_ops ops = {dir_pre, dir_post, leaf, bad, .check_orphans = 0};
	struct dec d = {.out = out, .nthreads = (int)co->nthreads, .outfd = -1};
	gcfs_keys *k = NULL;
	gcfs_conf conf;
	char *tmp;
	int rc;

	if (cli_need_dir(VERB, cdir) < 0)
		return CLI_EXIT_FAIL;
	if ((rc = check_nesting(cdir, out)))
		return rc;
	if (check_out(out, force) < 0)
		return CLI_EXIT_FAIL;
	if ((rc = cli_unlock(VERB, cdir, &co->ko, &conf, &k)))
		return rc;
	if (co->verbose)
		cli_say_engine(VERB, k);
	cli_catch_signals();
	tmp = cli_tmp_sibling(out);
	if (!tmp) {
		cli_err(VERB, out, "cannot create a temporary directory next to it: %s",
		        strerror(errno));
		gcfs_keys_free(k);
		return CLI_EXIT_FAIL;
	}
	d.k = k;
	d.tmp = tmp;
	d.prog = cli_progress_new(VERB, cdir, 1, co->quiet);
	rc = cli_walk(k, cdir, &ops, &d);
	cli_progress_end(d.prog);
	gcfs_keys_free(k);
	rc = cli_finish_tmp(VERB, tmp, out, force, rc);
	free(tmp);
	return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_decrypt_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"passfile", required_argument, NULL, 'p'},
	    {"masterkey-file", required_argument, NULL, 'm'},
	    {"threads", required_argument, NULL, 't'},
	    {"force", no_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	cli_common co = {.nthreads = cli_default_threads()};
	int force = 0, c, h;

	optind = 1;
	opterr = 0; /* cli_bad_option says what was wrong, in our format */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if ((h = cli_common_opt(VERB, c, optarg, &co)) != 0) {
			if (h < 0)
				return -h;
			continue;
		}
		switch (c) {
		case 'f':
			force = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option(VERB, c, argv, opts);
		}
	}
	if ((h = cli_keyopt_check(VERB, &co.ko)))
		return h;
	if (argc - optind != 2)
		return cli_usage_err(VERB, "usage: need CIPHER_DIR and OUT_DIR (got %d arguments)",
		                     argc - optind);
	return run(argv[optind], argv[optind + 1], &co, force);
}
