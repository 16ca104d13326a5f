/* Helpers shared by the `unseal` verbs (the cli module only; not a public API). */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "crypto/gcfs.h"

#define CLI_VERSION "0.1.0"

/* Exit codes of every verb. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

#define CLI_PW_MAX 2048 /* gocryptfs' own password limit */

/* ---- messages (fsutil.c) ---- */
/* "unseal: <verb>: <what>: <cause>" on stderr. */
void cli_err(const char *verb, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Usage error: message plus "Try 'unseal <verb> --help'"; returns CLI_EXIT_USAGE. */
int cli_usage_err(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After getopt_long (opterr = 0, optstring starting with ':') returned '?'
 * or ':': "unseal: <verb>: --name: unrecognized option" (or "option requires
 * an argument", "option takes no argument", "ambiguous option"); returns
 * CLI_EXIT_USAGE. */
struct option;
int cli_bad_option(const char *verb, int c, char *const *argv, const struct option *opts);
/* Parse a decimal int in [lo, hi]; -1 on junk. */
int cli_parse_int(const char *s, long lo, long hi, long *out);

/* ---- file system (fsutil.c) ---- */
/* Read a whole (small) file relative to dirfd into a malloc'd, NUL-terminated
 * buffer of at most `max` bytes.  -1 with errno (EFBIG if larger). */
int cli_read_small(int dirfd, const char *path, size_t max, char **buf, size_t *len);
/* Write all bytes; -1 with errno. */
int cli_write_all(int fd, const void *buf, size_t len);
int cli_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* 1 if path is a dir with no entries, 0 if it has entries, -1 with errno. */
int cli_dir_is_empty(const char *path);
/* 0 if path is an existing directory, else -1 with a message printed. */
int cli_need_dir(const char *verb, const char *path);
/* Remove a tree (no symlinks followed); best effort, -1 if anything stayed. */
int cli_rm_rf(const char *path);
int cli_open_regular(int dirfd, const char *name, struct stat *st);
/* Absolute, symlink-resolved form of a path that may not exist yet (its
 * parent must).  malloc'd, NULL with errno. */
char *cli_abspath(const char *path);
/* 1 if `inner` equals `outer` or lies below it (both from cli_abspath). */
int cli_path_within(const char *inner, const char *outer);
/* mkdtemp() a sibling "<final>.unseal-tmp-XXXXXX"; malloc'd path or NULL. */
char *cli_tmp_sibling(const char *final);
/* Move the finished temp dir to `final`: plain rename when final is missing
 * or an empty dir; with `replace`, swap atomically (RENAME_EXCHANGE) and
 * delete the old tree.  -1 with errno. */
int cli_commit_dir(const char *tmp, const char *final, int replace);
/* SIGINT/SIGTERM/SIGHUP only set a flag from here on; long loops poll
 * cli_interrupted() and fail normally, so temp dirs are still removed. */
void cli_catch_signals(void);
int cli_interrupted(void);
/* "unseal: <verb>: <out>: interrupted by SIGTERM; temporary output removed".
 * Messages about the interrupted file itself are left out by the verbs. */
void cli_report_interrupt(const char *verb, const char *out);
/* End of a verb that built its result in the temp dir `tmp`: with rc == 0
 * and no signal seen, commit it to `out` (cli_commit_dir); otherwise, or if
 * that fails (reported), remove tmp and report an interrupt.  Returns rc,
 * or -1 if nothing was committed.  tmp itself is not freed. */
int cli_finish_tmp(const char *verb, const char *tmp, const char *out, int replace, int rc);
/* Sum of st_size of the regular files under path (no symlinks followed). */
uint64_t cli_tree_bytes(const char *path, int cipher_sizes);

/* ---- progress (progress.c): stderr, only when it is a TTY ---- */
typedef struct cli_progress cli_progress;
/* NULL (a no-op bar) if quiet or stderr is no TTY; else the total is the
 * sum of the regular files under tree (as plaintext sizes if cipher). */
cli_progress *cli_progress_new(const char *verb, const char *tree, int cipher, int quiet);
void cli_progress_add(cli_progress *p, uint64_t bytes);
void cli_progress_end(cli_progress *p);

/* ---- keys (keyopt.c) ---- */
typedef struct cli_keyopt {
	const char *passfile;
	const char *masterkey_file;
} cli_keyopt;

/* Options shared by encrypt/decrypt/verify, parsed in one place:
 * --passfile ('p'), --masterkey-file ('m'), --threads ('t'), --quiet ('q'),
 * --verbose ('v'). */
typedef struct cli_common {
	cli_keyopt ko;
	long nthreads;
	int quiet;
	int verbose; /* --verbose ('v'): cli_say_engine after the unlock */
} cli_common;
/* 1 if getopt code `c` was one of the shared options, 0 if not, or
 * CLI_EXIT_USAGE negated after printing a usage error. */
int cli_common_opt(const char *verb, int c, const char *arg, cli_common *co);
/* After parsing: the key options exclude each other.  0 or CLI_EXIT_USAGE. */
int cli_keyopt_check(const char *verb, const cli_keyopt *ko);

/* Password from the terminal (no echo; asked twice if `confirm`) or the
 * first line of stdin.  Returns the length or -1 (message printed). */
long cli_read_password(const char *verb, int confirm, uint8_t *pw, size_t cap);
/* The password from ko->passfile, else from the terminal/stdin. */
long cli_get_password(const char *verb, const char *passfile, int confirm, uint8_t *pw, size_t cap);
/* Master key from a hex file.  0 or -1 (message printed). */
int cli_read_masterkey(const char *verb, const char *file, uint8_t master[GCFS_KEY_LEN]);
/* --verbose: "unseal: <verb>: content cipher: AES-GCM-256 by ipsec-mb
 * (UNSEAL_CRYPTO=auto)" on stderr, naming the engine the keys really use. */
void cli_say_engine(const char *verb, const gcfs_keys *k);
/* Engine from env UNSEAL_CRYPTO.  0 or -1 (message printed). */
int cli_engine_from_env(const char *verb, gcfs_engine *e);
/* Read + parse CIPHER_DIR/gocryptfs.conf.  0 or -1 (message printed). */
int cli_conf_load(const char *verb, const char *cipherdir, gcfs_conf *conf);
/* The whole unlock: conf, key options, engine -> keys.  Returns 0 or
 * CLI_EXIT_FAIL / CLI_EXIT_USAGE (message printed). */
int cli_unlock(const char *verb, const char *cipherdir, const cli_keyopt *ko, gcfs_conf *conf,
               gcfs_keys **out);

/* ---- walking a cipher tree (walk.c) ---- */
typedef struct cli_node cli_node;
struct cli_node {
	const cli_node *parent; /* NULL for the root */
	int dirfd;              /* cipher dir holding this entry (AT_FDCWD for root) */
	const char *cname;      /* name in dirfd (the root: the cipher dir path) */
	const char *cpath;      /* cipher path, for messages */
	const char *ppath;      /* plaintext path relative to the root ("" = root) */
	const char *pname;      /* plaintext name ("" = root) */
	struct stat st;
	int fd;      /* for directories: the open cipher dir */
	int user_fd; /* free for the visitor (e.g. the output dir) */
};

typedef struct cli_walk_ops {
	int (*dir_pre)(void *u, cli_node *n);
	int (*dir_post)(void *u, cli_node *n);
	int (*leaf)(void *u, cli_node *n);
	/* A bad entry.  Return 0 to carry on, -1 to stop the walk. */
	int (*bad)(void *u, const char *cpath, const char *ppath, const char *what,
	           const char *cause);
	/* Also report a gocryptfs.longname.X.name without its X ("name",
	 * "orphan long-name file", no plain path).  It holds no plaintext and
	 * gocryptfs ignores it, so only verify asks. */
	int check_orphans;
} cli_walk_ops;

/* Sorted entry names of an open dir (without . and ..); the fd stays open. */
int cli_list_dir(int fd, char ***names, size_t *count);
void cli_free_names(char **names, size_t count);

/* Walk CIPHER_DIR in sorted order, decrypting and re-checking every name.
 * Returns 0, or -1 if a visitor stopped the walk. */
int cli_walk(const gcfs_keys *k, const char *cipherdir, const cli_walk_ops *ops, void *u);

/* ---- contents (content.c) ---- */
/* Called with each decrypted chunk in order; return -1 to stop. */
typedef int (*cli_sink)(void *u, const void *buf, size_t len, uint64_t off);
/* Decrypt a whole cipher file (fd, size from fstat) into `sink`.  On an
 * authentication failure *bad_block gets the first bad block (UINT64_MAX
 * for the header) and err the cause.  Returns 0, a gcfs_err, or 1 if the
 * sink stopped. */
int cli_decrypt_fd(const gcfs_keys *k, int fd, uint64_t cipher_size, int nthreads,
                   cli_progress *prog, cli_sink sink, void *u, uint64_t *bad_block, char *err,
                   size_t errlen);
/* Symlink target of a cipher symlink (dirfd/name) into out (malloc'd). */
int cli_symlink_read(const gcfs_keys *k, int dirfd, const char *name, char **out, char *err,
                     size_t errlen);
/* Default worker count: the online cores. */
int cli_default_threads(void);

#endif
