/* `unseal encrypt`: a plaintext tree into a new gocryptfs v2 cipher dir
 * (default flags, or -plaintextnames).  Built in a temporary sibling and
 * renamed into place at the end; the input is only ever opened read-only. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/common.h"

static const char *const VERB = "encrypt";

#define BATCH_BLOCKS 64 /* blocks per read/write round */

struct enc {
	gcfs_keys *k;
	int diriv, plaintextnames;
	cli_progress *prog;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: unseal encrypt [options] PLAIN_DIR CIPHER_DIR\n"
	        "Encrypt PLAIN_DIR into a new gocryptfs v2 cipher dir (missing or empty).\n\n"
	        "  --passfile F        password = first line of F\n"
	        "                      (else: asked twice on the terminal, or stdin's first line)\n"
	        "  --masterkey-file F  use this hex master key instead of a random one\n"
	        "                      (the password still wraps it in gocryptfs.conf)\n"
	        "  --scryptn LOG2N     scrypt cost 2^LOG2N, 10..22 (default 16, like gocryptfs)\n"
	        "  --plaintextnames    do not encrypt names and symlink targets\n"
	        "  --quiet             no progress bar\n"
	        "  --verbose           name the content cipher and engine in use (stderr)\n"
	        "  -h, --help          this help\n"
	        "Exit: 0 ok, 1 failure, 2 usage.\n");
}

static char *join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

/* Create a small read-only metadata file (conf, diriv, .name). */
static int write_meta(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -1;
	rc = cli_write_all(fd, buf, len);
	if (rc == 0)
		rc = fchmod(fd, mode);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* Is the full plaintext block at b entirely inside a hole?  Holes stay
 * holes: gocryptfs stores them as all-zero cipher blocks (spec §4.4). */
struct holes {
	int fd;
	off_t data, hole; /* [data, hole) is data; before data (from the last query) is a hole */
};

static int block_is_hole(struct holes *h, off_t b)
{
	off_t d, e;

	if (b >= h->data && b < h->hole)
		return 0;
	if (b < h->data)
		return h->data >= b + GCFS_BLOCK_PLAIN;
	d = lseek(h->fd, b, SEEK_DATA);
	if (d < 0) {
		/* ENXIO: only a hole up to EOF; anything else: assume data. */
		return errno == ENXIO;
	}
	e = lseek(h->fd, d, SEEK_HOLE);
	h->data = d;
	h->hole = e < 0 ? d + GCFS_BLOCK_PLAIN : e;
	return d >= b + GCFS_BLOCK_PLAIN;
}

/* Encrypt one batch [off, off+len) of plaintext; writes each non-hole block. */
static int enc_batch(struct enc *e, struct holes *h, int out, const uint8_t *fid,
                     const uint8_t *plain, size_t len, uint64_t off, uint8_t *cbuf)
{
	for (size_t i = 0; i < len; i += GCFS_BLOCK_PLAIN) {
		size_t n = len - i < GCFS_BLOCK_PLAIN ? len - i : GCFS_BLOCK_PLAIN;
		uint64_t bno = (off + i) / GCFS_BLOCK_PLAIN;

		if (n == GCFS_BLOCK_PLAIN && block_is_hole(h, (off_t)(off + i)))
			continue;
		if (gcfs_block_encrypt(e->k, bno, fid, plain + i, n, cbuf) < 0) {
			errno = EIO;
			return -1;
		}
		if (cli_pwrite_all(out, cbuf, n + GCFS_BLOCK_OVERHEAD,
		                   (off_t)(GCFS_HEADER_LEN + bno * GCFS_BLOCK_CIPHER)) < 0)
			return -1;
	}
	return 0;
}

static int enc_contents(struct enc *e, int in, int out, uint64_t size)
{
	uint8_t hdr[GCFS_HEADER_LEN], fid[GCFS_FILEID_LEN];
	uint8_t *pbuf = malloc(BATCH_BLOCKS * GCFS_BLOCK_PLAIN), *cbuf = malloc(GCFS_BLOCK_CIPHER);
	struct holes h = {.fd = in};
	uint64_t off = 0;
	int rc = -1;

	if (!pbuf || !cbuf)
		goto out;
	/* A 0-byte file stays 0 bytes: no header (spec §4.1). */
	if (size && (gcfs_header_new(hdr, fid) < 0 || cli_pwrite_all(out, hdr, sizeof(hdr), 0)))
		goto out;
	while (off < size) {
		size_t want = size - off < BATCH_BLOCKS * GCFS_BLOCK_PLAIN
		                  ? (size_t)(size - off)
		                  : BATCH_BLOCKS * GCFS_BLOCK_PLAIN;
		ssize_t r = pread(in, pbuf, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (cli_interrupted()) {
			errno = EINTR;
			goto out;
		}
		if (r <= 0) {
			errno = r < 0 ? errno : ESTALE; /* shrank while we read it */
			goto out;
		}
		if (enc_batch(e, &h, out, fid, pbuf, (size_t)r, off, cbuf) < 0)
			goto out;
		cli_progress_add(e->prog, (uint64_t)r);
		off += (uint64_t)r;
	}
	/* Trailing holes: extend to the exact cipher size. */
	rc = ftruncate(out, (off_t)gcfs_cipher_size(size));
out:
	free(pbuf);
	free(cbuf);
	return rc;
}

static int set_times(int dirfd, const char *name, const struct stat *st)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};

	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int enc_file(struct enc *e, int in_dir, const char *name, int out_dir, const char *cname,
                    const struct stat *st)
{
	int in = openat(in_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = -1;
	struct stat now;

	if (in < 0 || fstat(in, &now) < 0)
		goto out;
	out = openat(out_dir, cname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		goto out;
	rc = enc_contents(e, in, out, (uint64_t)now.st_size);
	if (rc == 0)
		rc = fchmod(out, st->st_mode & 07777);
	if (close(out) < 0)
		rc = -1;
	if (rc == 0)
		rc = set_times(out_dir, cname, st);
out:
	if (in >= 0) {
		int saved = errno;

		close(in);
		errno = saved;
	}
	return rc;
}

static int enc_symlink(struct enc *e, int in_dir, const char *name, int out_dir, const char *cname,
                       const struct stat *st)
{
	size_t cap = (size_t)st->st_size + 2;
	char *t = malloc(cap), *ct = NULL;
	ssize_t n = t ? readlinkat(in_dir, name, t, cap) : -1;
	int rc = -1;

	if (n < 0 || (size_t)n >= cap) {
		errno = n < 0 ? errno : ESTALE;
		goto out;
	}
	t[n] = '\0';
	if (e->plaintextnames) {
		ct = strdup(t);
	} else {
		size_t ccap = gcfs_symlink_cipher_len((size_t)n) + 1;

		ct = malloc(ccap);
		if (ct && gcfs_symlink_encrypt(e->k, t, ct, ccap) < 0) {
			errno = EIO;
			goto out;
		}
	}
	if (ct && symlinkat(ct, out_dir, cname) == 0)
		rc = set_times(out_dir, cname, st);
out:
	free(t);
	free(ct);
	return rc;
}

static int enc_dir(struct enc *e, int in, int out, const char *rel, int root);

/* One entry: its encrypted name (plus .name file), then its contents. */
static int enc_entry(struct enc *e, int in, int out, const uint8_t *iv, const char *rel, int root,
                     const char *name)
{
	char cname[GCFS_CNAME_MAX], full[GCFS_CNAME_MAX], nf[GCFS_CNAME_MAX + 8];
	char *path = join(rel, name);
	struct stat st;
	int is_long = 0, rc = -1, sub_in = -1, sub_out = -1;

	if (!path)
		return -1;
	if (fstatat(in, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		cli_err(VERB, path, "%s", strerror(errno));
		goto out;
	}
	if (S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "unseal: %s: %s: skipping socket\n", VERB, path);
		rc = 0;
		goto out;
	}
	if (gcfs_name_encrypt(e->k, iv, name, cname, full, &is_long) < 0 ||
	    (e->plaintextnames && root && !strcmp(name, GCFS_CONF_NAME))) {
		cli_err(VERB, path, "cannot store this name in gocryptfs");
		goto out;
	}
	snprintf(nf, sizeof(nf), "%s.name", cname);
	if (is_long && write_meta(out, nf, full, strlen(full), 0444) < 0)
		goto err;
	if (S_ISREG(st.st_mode)) {
		rc = enc_file(e, in, name, out, cname, &st);
	} else if (S_ISLNK(st.st_mode)) {
		rc = enc_symlink(e, in, name, out, cname, &st);
	} else if (S_ISDIR(st.st_mode)) {
		if (mkdirat(out, cname, 0700) < 0 ||
		    (sub_in = openat(in, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) < 0 ||
		    (sub_out = openat(out, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) < 0)
			goto err;
		if (enc_dir(e, sub_in, sub_out, path, 0) < 0)
			goto out;
		rc = fchmod(sub_out, st.st_mode & 07777);
		if (rc == 0)
			rc = set_times(out, cname, &st);
	} else {
		rc = mknodat(out, cname, st.st_mode, st.st_rdev);
		if (rc == 0)
			rc = fchmodat(out, cname, st.st_mode & 07777, 0);
		if (rc == 0)
			rc = set_times(out, cname, &st);
	}
	if (rc == 0)
		goto out;
err:
	if (!cli_interrupted()) /* run() reports that once */
		cli_err(VERB, path, "%s", strerror(errno));
	rc = -1;
out:
	if (sub_in >= 0)
		close(sub_in);
	if (sub_out >= 0)
		close(sub_out);
	free(path);
	return rc;
}

/* Write this dir's IV, then every entry in sorted order.  rel: the plain
 * path, for messages. */
static int enc_dir(struct enc *e, int in, int out, const char *rel, int root)
{
	uint8_t iv[GCFS_DIRIV_LEN] = {0};
	char **names;
	size_t count;
	int rc = 0;

	if (e->diriv) {
		/* A random IV; all zero is invalid (and astronomically unlikely). */
		do {
			if (RAND_bytes(iv, sizeof(iv)) != 1) {
				cli_err(VERB, rel, "no random bytes for the dir IV");
				return -1;
			}
		} while (gcfs_diriv_check(iv, sizeof(iv)) < 0);
		if (write_meta(out, GCFS_DIRIV_NAME, iv, sizeof(iv), 0444) < 0) {
			cli_err(VERB, rel, "writing %s: %s", GCFS_DIRIV_NAME, strerror(errno));
			return -1;
		}
	}
	if (cli_list_dir(in, &names, &count) < 0) {
		cli_err(VERB, rel, "%s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = cli_interrupted() ? -1 : enc_entry(e, in, out, iv, rel, root, names[i]);
	cli_free_names(names, count);
	return rc;
}

/* Password (and optional given master key) -> conf JSON + keys. */
static int make_keys(const char *pf, const char *mkf, int scryptn, unsigned flags, char **json,
                     gcfs_keys **k)
{
	char err[GCFS_ERRBUF] = "";
	uint8_t pw[CLI_PW_MAX], mk_in[GCFS_KEY_LEN], master[GCFS_KEY_LEN];
	gcfs_engine eng;
	long n;
	int rc;

	if (cli_engine_from_env(VERB, &eng) < 0)
		return CLI_EXIT_USAGE;
	if (mkf && cli_read_masterkey(VERB, mkf, mk_in) < 0)
		return CLI_EXIT_FAIL;
	n = cli_get_password(VERB, pf, 1, pw, sizeof(pw));
	if (n < 0) {
		gcfs_wipe(mk_in, sizeof(mk_in));
		return CLI_EXIT_FAIL;
	}
	rc = gcfs_conf_create(pw, (size_t)n, scryptn, flags, mkf ? mk_in : NULL, master, json, err,
	                      sizeof(err));
	gcfs_wipe(pw, sizeof(pw));
	gcfs_wipe(mk_in, sizeof(mk_in));
	if (rc < 0) {
		gcfs_wipe(master, sizeof(master));
		cli_err(VERB, GCFS_CONF_NAME, "%s", *err ? err : gcfs_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	/* "keys", like decrypt and verify: the engine or key setup failed. */
	rc = gcfs_keys_new(master, flags, GCFS_NAME_MAX, eng, k, err, sizeof(err));
	gcfs_wipe(master, sizeof(master));
	if (rc < 0) {
		free(*json);
		*json = NULL;
		cli_err(VERB, "keys", "%s", *err ? err : gcfs_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Refuse nesting and a non-empty target; 0 or an exit code. */
static int check_paths(const char *plain, const char *cdir)
{
	char *a, *b;
	int rc = 0;

	if (cli_need_dir(VERB, plain) < 0)
		return CLI_EXIT_FAIL;
	a = cli_abspath(plain);
	b = cli_abspath(cdir);
	if (!a || !b) {
		cli_err(VERB, a ? cdir : plain, "%s", strerror(errno));
		rc = CLI_EXIT_FAIL;
	} else if (cli_path_within(b, a) || cli_path_within(a, b)) {
		cli_err(VERB, cdir, "cipher directory and %s must not contain each other", plain);
		rc = CLI_EXIT_USAGE;
	} else {
		struct stat st;

		if (lstat(cdir, &st) == 0 &&
		    (!S_ISDIR(st.st_mode) || cli_dir_is_empty(cdir) != 1)) {
			cli_err(VERB, cdir, "%s",
			        S_ISDIR(st.st_mode) ? "directory is not empty"
			                            : "exists and is not a directory");
			rc = CLI_EXIT_FAIL;
		}
	}
	free(a);
	free(b);
	return rc;
}

/* Conf, then the tree, then the root's own mode and times. */
static int build(struct enc *e, const char *plain, const char *tmp, const char *json)
{
	struct stat st;
	struct timespec ts[2];
	int in = open(plain, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int out = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1;

	if (in < 0 || out < 0 || fstat(in, &st) < 0) {
		cli_err(VERB, in < 0 ? plain : tmp, "%s", strerror(errno));
		goto out;
	}
	if (write_meta(out, GCFS_CONF_NAME, json, strlen(json), 0400) < 0) {
		cli_err(VERB, tmp, "writing %s: %s", GCFS_CONF_NAME, strerror(errno));
		goto out;
	}
	if (enc_dir(e, in, out, plain, 1) < 0)
		goto out;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	rc = fchmod(out, st.st_mode & 07777);
	if (rc == 0)
		rc = futimens(out, ts);
	if (rc < 0)
		cli_err(VERB, tmp, "%s", strerror(errno));
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int run(const char *plain, const char *cdir, const cli_common *co, int scryptn, int ptnames)
{
	unsigned flags =
	    ptnames ? (GCFS_F_HKDF | GCFS_F_GCMIV128 | GCFS_F_PLAINTEXTNAMES) : GCFS_FLAGS_DEFAULT;
	struct enc e = {.diriv = !!(flags & GCFS_F_DIRIV), .plaintextnames = ptnames};
	char *json = NULL, *tmp;
	int rc;

	if ((rc = check_paths(plain, cdir)))
		return rc;
	if ((rc = make_keys(co->ko.passfile, co->ko.masterkey_file, scryptn, flags, &json, &e.k)))
		return rc;
	if (co->verbose)
		cli_say_engine(VERB, e.k);
	cli_catch_signals();
	tmp = cli_tmp_sibling(cdir);
	if (!tmp) {
		cli_err(VERB, cdir, "cannot create a temporary directory next to it: %s",
		        strerror(errno));
		rc = -1;
		goto out;
	}
	e.prog = cli_progress_new(VERB, plain, 0, co->quiet);
	rc = build(&e, plain, tmp, json);
	cli_progress_end(e.prog);
	rc = cli_finish_tmp(VERB, tmp, cdir, 0, rc);
	free(tmp);
out:
	free(json);
	gcfs_keys_free(e.k);
	return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_encrypt_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"passfile", required_argument, NULL, 'p'},
	    {"masterkey-file", required_argument, NULL, 'm'},
	    {"scryptn", required_argument, NULL, 's'},
	    {"plaintextnames", no_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	cli_common co = {0};
	long scryptn = 16;
	int ptnames = 0, c, h;

	optind = 1;
	opterr = 0; /* cli_bad_option says what was wrong, in our format */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		/* 't' is not in opts, so only p/m/q/v reach the shared handler. */
		if ((h = cli_common_opt(VERB, c, optarg, &co)) != 0) {
			if (h < 0)
				return -h;
			continue;
		}
		switch (c) {
		case 's':
			if (cli_parse_int(optarg, 10, 22, &scryptn) < 0)
				return cli_usage_err(VERB, "--scryptn: not a number in 10..22: %s",
				                     optarg);
			break;
		case 'n':
			ptnames = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option(VERB, c, argv, opts);
		}
	}
	if (argc - optind != 2)
		return cli_usage_err(
		    VERB, "usage: need PLAIN_DIR and CIPHER_DIR (got %d arguments)", argc - optind);
	return run(argv[optind], argv[optind + 1], &co, (int)scryptn, ptnames);
}
