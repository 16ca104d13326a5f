/* `unseal verify`: authenticate every name, dir IV, file header, block and
 * symlink of a cipher dir without writing anything.  Keeps going after a
 * bad entry so one run lists every problem. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/common.h"

static const char *const VERB = "verify";

struct ver {
	const gcfs_keys *k;
	int nthreads;
	cli_progress *prog;
	uint64_t files, dirs, symlinks, special, bytes, errors;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: unseal verify [options] CIPHER_DIR\n"
	        "Authenticate every name, block and symlink of a gocryptfs v2 cipher dir.\n"
	        "Prints 'BAD <cipher path> (<plain path>): <where>: <cause>' per bad entry and\n"
	        "'verified N files, M dirs, K symlinks, S special, X bytes: E errors'\n"
	        "(files: regular files; special: FIFOs, sockets, device nodes).\n"
	        "A gocryptfs.longname.*.name file without its entry is reported as\n"
	        "'BAD <path> (?): name: orphan long-name file'.\n\n"
	        "  --passfile F        password = first line of F\n"
	        "  --masterkey-file F  hex master key (dashes allowed) instead of a password\n"
	        "                      (neither: prompt on the terminal, or first line of stdin)\n"
	        "  --threads N         decryption threads (default: all cores)\n"
	        "  --quiet             no progress bar\n"
	        "  --verbose           name the content cipher and engine in use (stderr)\n"
	        "  -h, --help          this help\n"
	        "Environment: UNSEAL_CRYPTO=openssl|ipsec-mb|auto (AES-GCM engine).\n"
	        "Exit: 0 all good, 1 errors found or failure, 2 usage.\n");
}

static int bad(void *u, const char *cpath, const char *ppath, const char *what, const char *cause)
{
	struct ver *v = u;

	v->errors++;
	printf("BAD %s (%s): %s: %s\n", cpath, ppath ? ppath : "?", what, cause);
	fflush(stdout);
	return 0;
}

static int dir_pre(void *u, cli_node *n)
{
	struct ver *v = u;

	(void)n;
	v->dirs++;
	return 0;
}

static int dir_post(void *u, cli_node *n)
{
	(void)u;
	(void)n;
	return 0;
}

/* The plaintext is dropped: verify only wants the authentication result. */
static int sink_count(void *u, const void *buf, size_t len, uint64_t off)
{
	struct ver *v = u;

	(void)buf;
	(void)off;
	v->bytes += len;
	return 0;
}

static void do_file(struct ver *v, cli_node *n)
{
	char err[GCFS_ERRBUF] = "", where[48];
	uint64_t bb;
	int fd, rc;

	v->files++;
	fd = cli_open_regular(n->dirfd, n->cname, &n->st);
	if (fd < 0) {
		bad(v, n->cpath, n->ppath, "open", strerror(errno));
		return;
	}
	rc = cli_decrypt_fd(v->k, fd, (uint64_t)n->st.st_size, v->nthreads, v->prog, sink_count, v,
	                    &bb, err, sizeof(err));
	close(fd);
	if (rc >= 0)
		return;
	if (bb == UINT64_MAX)
		snprintf(where, sizeof(where), "header");
	else
		snprintf(where, sizeof(where), "block %llu", (unsigned long long)bb);
	bad(v, n->cpath, n->ppath, where, *err ? err : gcfs_strerror(rc));
}

static int leaf(void *u, cli_node *n)
{
	struct ver *v = u;
	char err[GCFS_ERRBUF] = "";
	char *target;

	switch (n->st.st_mode & S_IFMT) {
	case S_IFREG:
		do_file(v, n);
		break;
	case S_IFLNK:
		v->symlinks++;
		if (cli_symlink_read(v->k, n->dirfd, n->cname, &target, err, sizeof(err)) < 0)
			bad(v, n->cpath, n->ppath, "symlink", err);
		else
			free(target);
		break;
	default:
		/* FIFOs, sockets and device nodes: only the name carries
		 * ciphertext, which the walk has already checked. */
		v->special++;
		break;
	}
	return 0;
}

static int run(const char *cdir, const cli_common *co)
{
	static const cli_walk_ops ops = {dir_pre, dir_post, leaf, bad, .check_orphans = 1};
	struct ver v = {.nthreads = (int)co->nthreads};
	gcfs_keys *k = NULL;
	gcfs_conf conf;
	int rc;

	if (cli_need_dir(VERB, cdir) < 0)
		return CLI_EXIT_FAIL;
	if ((rc = cli_unlock(VERB, cdir, &co->ko, &conf, &k)))
		return rc;
	if (co->verbose)
		cli_say_engine(VERB, k);
	v.k = k;
	v.prog = cli_progress_new(VERB, cdir, 1, co->quiet);
	rc = cli_walk(k, cdir, &ops, &v);
	cli_progress_end(v.prog);
	gcfs_keys_free(k);
	printf("verified %llu files, %llu dirs, %llu symlinks, %llu special, %llu bytes: %llu "
	       "errors\n",
	       (unsigned long long)v.files, (unsigned long long)v.dirs,
	       (unsigned long long)v.symlinks, (unsigned long long)v.special,
	       (unsigned long long)v.bytes, (unsigned long long)v.errors);
	return (rc == 0 && v.errors == 0) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"passfile", required_argument, NULL, 'p'},
	    {"masterkey-file", required_argument, NULL, 'm'},
	    {"threads", required_argument, NULL, 't'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	cli_common co = {.nthreads = cli_default_threads()};
	int c, h;

	optind = 1;
	opterr = 0; /* cli_bad_option says what was wrong, in our format */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if ((h = cli_common_opt(VERB, c, optarg, &co)) != 0) {
			if (h < 0)
				return -h;
			continue;
		}
		switch (c) {
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option(VERB, c, argv, opts);
		}
	}
	if ((h = cli_keyopt_check(VERB, &co.ko)))
		return h;
	if (argc - optind != 1)
		return cli_usage_err(VERB, "usage: need exactly one CIPHER_DIR (got %d arguments)",
		                     argc - optind);
	return run(argv[optind], &co);
}
