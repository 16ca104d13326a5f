/* shim: internal interfaces of the LD_PRELOAD library (build/libunseal.so).
 *
 * Layering: w_*.c are thin exported entry points; they ask path.c to
 * classify a path (pass through / virtual / redirected), fd.c for what an fd
 * is, file.c for decrypted file objects, vdir.c for virtual directories and
 * key.c for the keys.  Every call to libc goes through REAL() (real.h) so a
 * wrapper never re-enters another wrapper.
 */
#ifndef SHIM_H
#define SHIM_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "crypto/gcfs.h"
#include "preload/real.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define SHIM_MAXSYMLINKS 40

/* ---- state shared by every wrapper (real.c) ---- */

/* Thread-local re-entrancy flag: set while the shim runs library code of its
 * own (key fetch, OpenSSL config loading, dlopen), so those file accesses
 * pass straight through. */
extern __thread int shim_busy __attribute__((tls_model("initial-exec")));

/* 1 when this process is not the one that recorded the pid: a vfork or raw
 * clone child that shares our memory.  Then nothing shared may change. */
int shim_foreign(void);
void shim_pid_update(void);

/* Block all signals around a locked section (a handler may call close()). */
typedef struct {
	sigset_t old;
} shim_sigs;
void shim_sig_block(shim_sigs *s);
void shim_sig_restore(const shim_sigs *s);

/* ---- logging (log.c) ---- */
enum { SHIM_LOG_ERROR = 0, SHIM_LOG_WARN = 1, SHIM_LOG_INFO = 2, SHIM_LOG_DEBUG = 3 };
extern int shim_log_level;
void shim_log_init(void);
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* snprintf where truncation is acceptable (bounded diagnostics and paths
 * whose length was checked elsewhere); returns what snprintf returns. */
int shim_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define SHIM_DBG(...)                                                                              \
	do {                                                                                       \
		if (shim_log_level >= SHIM_LOG_DEBUG)                                              \
			shim_log(SHIM_LOG_DEBUG, __VA_ARGS__);                                     \
	} while (0)

/* ---- configuration and path resolution (path.c) ---- */
struct shim_cfg {
	int enabled;           /* 0: everything passes through */
	char cipher[PATH_MAX]; /* cipher directory, absolute, no trailing '/' */
	size_t cipher_len;
	char mount[PATH_MAX]; /* virtual root, absolute, normalised, canonical ancestors */
	size_t mount_len;
	char alias[PATH_MAX]; /* UNSEAL_MOUNT as given, if it went through a symlink */
	size_t alias_len;     /* 0: no alias */
	int stream;           /* UNSEAL_STREAM=1 */
	uint64_t stream_min;  /* UNSEAL_STREAM_MIN (0 = never by size) */
	int nthreads;         /* decrypt threads */
};
extern struct shim_cfg shim_cfg;
void shim_init(void); /* idempotent, thread-safe */

/* SHIM_WALK: shim_outside() rewrote the path to one under the mount. */
enum { SHIM_PASS = 0, SHIM_VIRT = 1, SHIM_REAL = 2, SHIM_FAIL = 3, SHIM_WALK = 4 };
enum {
	SHIM_R_NOFOLLOW = 1, /* do not follow a final symlink */
	SHIM_R_EMPTY_OK = 2, /* "" names dirfd itself (AT_EMPTY_PATH) */
};

struct shim_res {
	int kind;             /* SHIM_PASS/VIRT/REAL/FAIL */
	int err;              /* FAIL: errno; VIRT: ENOENT if the final entry is missing */
	int exists;           /* VIRT: final entry exists (st valid) */
	int is_root;          /* VIRT: the virtual root itself */
	int is_anc;           /* VIRT: a missing ancestor of the mount (stat-only dir) */
	struct stat st;       /* VIRT && exists: lstat of the cipher entry (untranslated) */
	char vpath[PATH_MAX]; /* VIRT: normalised virtual path */
	char cpath[PATH_MAX]; /* VIRT: cipher path; REAL: real path to use instead */
};

/* shim_resolve() records its caller's name (__func__) so that UNSEAL_LOG=debug
 * traces every intercepted path call that lands on the mount. */
int shim_resolve_at(const char *fn, int dirfd, const char *path, int rflags, struct shim_res *r);
#define shim_resolve(dirfd, path, rflags, r) shim_resolve_at(__func__, dirfd, path, rflags, r)
/* Convenience: resolve and for PASS/REAL fill *use with the path to hand to
 * the real call (the original, or the redirected one). */
const char *shim_res_path(const struct shim_res *r, const char *orig);

/* Lexical normalisation of an absolute path (//, ., ..); 0 or -ENAMETOOLONG. */
int shim_normalize(const char *in, char *out, size_t cap);
int shim_under_mount(const char *abs);
/* ---- paths around the mount (around.c) ---- */
/* m with its deepest existing ancestor canonicalised (realpath). */
void shim_canonical_mount(const char *m, char *out, size_t cap);
/* abs spelled through the UNSEAL_MOUNT alias: out = the same path under the
 * canonical mount; 1 if substituted. */
int shim_alias_subst(const char *abs, char *out, size_t cap);
/* abs (absolute, normalised) is not under the mount as spelled: SHIM_WALK
 * with work = the same path under the mount if it goes through the alias;
 * SHIM_VIRT with r describing it (is_anc) if it is a missing ancestor of
 * the mount or of its alias; else SHIM_PASS.  abs and work differ. */
int shim_outside(const char *abs, char *work, size_t cap, struct shim_res *r);
/* n > 0 if abs[0..n) is a strict ancestor of the mount or of its alias. */
size_t shim_anc_len(const char *abs, size_t n);
/* "/proc/self/fd/N[/rest]" (and /dev/fd, /proc/<pid>/fd) of a tracked fd:
 * out gets its virtual path + rest; 1 if substituted. */
int shim_proc_fd_subst(const char *path, char *out, size_t cap);

/* A missing ancestor of the mount (/models of /models/qwen/m): the deepest
 * real directory above it, which chdir and opendir really use, and the one
 * entry it lists (the next component of the mount path). */
void shim_anc_real(const char *vpath, char *real, size_t rcap);
void shim_anc_next(const char *vpath, char *next, size_t ncap);
/* The inode number an ancestor (or the mount root) shows. */
ino_t shim_anc_ino(const char *vpath);

/* Virtual cwd (path.c): set after chdir/fchdir. */
void shim_cwd_set_virtual(const char *vpath);
void shim_cwd_set_real(void);
int shim_cwd_get_virtual(char *out, size_t cap); /* 1 if the cwd is virtual */
/* Base for relative paths: 1 and out set if the cwd is virtual (*virt = 1)
 * or a real ancestor of the mount (*virt = 0); 0: relative paths pass. */
int shim_cwd_base(char *out, size_t cap, int *virt);

void shim_path_atfork_prepare(void);
void shim_path_atfork_parent(void);
void shim_path_atfork_child(void);

/* Per-directory IV of a cipher directory (cached). */
int shim_diriv(const char *cdir, uint8_t iv[GCFS_DIRIV_LEN]);

/* Decrypted target of a cipher symlink; returns length or -errno. */
ssize_t shim_symlink_target(const char *cpath, char *out, size_t cap);

/* Translate a cipher lstat/stat result into the plaintext view. */
void shim_stat_translate(const char *cpath, struct stat *st);

/* ---- keys (key.c) ---- */
/* The derived keys, loading them on first use.  NULL with errno = EACCES
 * when no key is available (logged once). */
const gcfs_keys *shim_keys(void);
void shim_keys_atexit(void);
void shim_key_atfork_prepare(void);
void shim_key_atfork_parent(void);
void shim_key_atfork_child(void);
/* The derived keys' context-pool lock (crypto's, a leaf): taken last. */
void shim_key_pool_atfork_prepare(void);
void shim_key_pool_atfork_parent(void);
void shim_key_pool_atfork_child(void);

/* ---- file objects (file.c) ---- */
struct shim_file;
/* Get (decrypting if needed) the file object of a virtual regular file;
 * returns NULL with errno set (EIO on a bad block, EACCES without key). */
struct shim_file *shim_file_get(const struct shim_res *r);
void shim_file_put(struct shim_file *f);
int shim_file_memfd(const struct shim_file *f);
uint64_t shim_file_size(const struct shim_file *f);
/* Open a fresh file description on the plaintext with the caller's flags;
 * ESTALE if the memfd is no longer reachable (then shim_file_stale(f) and
 * get a new object). */
int shim_file_reopen(struct shim_file *f, int flags);
void shim_file_stale(struct shim_file *f);
/* mmap/munmap bookkeeping so a file stays cached while mapped. */
void shim_file_mapped(struct shim_file *f, void *addr, size_t len);
void shim_file_unmapped(void *addr, size_t len);
void shim_file_atfork_prepare(void);
void shim_file_atfork_parent(void);
void shim_file_atfork_child(void);

/* ---- fd table (fd.c) ---- */
/* NODE: an O_PATH symlink or a fifo/device: metadata and EROFS only. */
enum { SHIM_FD_FILE = 1, SHIM_FD_DIR = 2, SHIM_FD_STREAM = 3, SHIM_FD_NODE = 4 };
struct shim_stream;
struct shim_fd {
	int refs; /* fd numbers sharing this entry (dup) + holders */
	int kind;
	struct shim_file *file; /* FILE, STREAM */
	struct shim_stream *stream;
	struct stat st; /* spoofed fstat */
	int anc;        /* DIR: a missing ancestor of the mount (lists one entry) */
	char vpath[PATH_MAX];
	char cpath[PATH_MAX];
	struct shim_fd *next; /* graveyard */
};
void shim_fd_init(void);
int shim_fd_tracked(int fd); /* lock-free hint */
/* Take a reference on fd's entry (NULL if untracked); drop with shim_fd_put. */
struct shim_fd *shim_fd_get(int fd);
void shim_fd_put(struct shim_fd *e);
/* New entry for fd (kind, vpath, cpath, st); takes a ref on file. */
int shim_fd_add(int fd, int kind, struct shim_file *file, const char *vpath, const char *cpath,
                const struct stat *st);
/* A DIR entry for a missing ancestor of the mount (its fd is on the deepest
 * real directory above). */
int shim_fd_add_anc(int fd, const char *vpath, const char *cpath, const struct stat *st);
/* Forget fd (before the real close). */
void shim_fd_drop(int fd);
void shim_fd_drop_range(unsigned lo, unsigned hi);
/* newfd now refers to the same description as oldfd. */
void shim_fd_dup(int oldfd, int newfd);
/* Drop entries whose fd numbers are no longer open (after fcloseall etc). */
void shim_fd_revalidate(void);
void shim_fd_gc(void); /* free graveyard entries (never on the close path) */
/* 1 if fd is tracked (virtual dir, O_PATH handle, file, stream): any
 * mutation through it must fail with EROFS (w_fdmut.c). */
int shim_fd_readonly(int fd);
/* UNSEAL_LOG=debug: trace fd-level call `fn` when fd is one of ours. */
void shim_trace_fd_at(const char *fn, int fd);
#define shim_trace_fd(fn, fd)                                                                      \
	do {                                                                                       \
		if (shim_log_level >= SHIM_LOG_DEBUG)                                              \
			shim_trace_fd_at(fn, fd);                                                  \
	} while (0)
void shim_fd_atfork_prepare(void);
void shim_fd_atfork_parent(void);
void shim_fd_atfork_child(void);

/* ---- the shim's own fds (ifd.c) ---- */
typedef struct {
	dev_t dev;
	ino_t ino; /* 0: not an internal fd */
} shim_ifd_id;
/* Move fd to a high number (close-on-exec) and mark it internal; returns
 * the fd to use from now on and fills id, which the owner keeps. */
int shim_ifd_hide(int fd, shim_ifd_id *id);
/* fd is one of the shim's (for the program-facing close/dup2 wrappers). */
int shim_ifd_is(int fd);
/* fd is still the owner's id: not closed, replaced or taken over. */
int shim_ifd_mine(int fd, const shim_ifd_id *id);
/* The same without the fstat: only not taken over by a wrapped dup2. */
int shim_ifd_marked(int fd, const shim_ifd_id *id);
/* Close fd if it is still the owner's id; otherwise leave it alone. */
void shim_ifd_close(int fd, const shim_ifd_id *id);
/* The program made fd its own (after a successful dup2/dup3 onto it). */
void shim_ifd_lost(int fd);
/* close_range()/closefrom() that leave internal fds open. */
int shim_ifd_close_range(unsigned lo, unsigned hi, int flags);
void shim_ifd_closefrom(int lo);

/* ---- virtual directories (vdir.c) ---- */
int shim_vdir_active(void);
int shim_vdir_register(DIR *d, const char *vpath, const char *cpath, int is_root);
/* d (a real DIR on some directory above) lists ".", ".." and the next
 * component of the mount after ancestor vpath. */
int shim_vdir_register_anc(DIR *d, const char *vpath);
/* rewinddir/seekdir/telldir on an ancestor's DIR (op 'r', 's', 't'); 0 if
 * d is not one. */
int shim_vdir_anc_pos(DIR *d, int op, long *pos);
void shim_vdir_forget(DIR *d);
/* 1 and *out set (NULL at end) if d is virtual; 0 if not ours. */
int shim_vdir_next(DIR *d, struct dirent64 **out);
/* Translate one cipher name from directory cdir; 0 ok, -1 skip. */
void shim_vdir_atfork_prepare(void);
void shim_vdir_atfork_parent(void);
void shim_vdir_atfork_child(void);
int shim_name_plain(const char *cdir, const uint8_t *iv, int in_root, const char *cname,
                    char out[GCFS_NAME_MAX + 1]);

/* ---- internal entry points shared between wrapper files ---- */
int shim_open_impl(int dirfd, const char *path, int flags, mode_t mode, int *handled);
int shim_stat_impl(int dirfd, const char *path, struct stat *st, int atflags, int *handled);
int shim_fstat_impl(int fd, struct stat *st, int *handled);
DIR *shim_opendir_impl(const char *path, int *handled);
ssize_t shim_readlink_impl(int dirfd, const char *path, char *buf, size_t len, int *handled);
int shim_statx_impl(int dirfd, const char *path, int flags, unsigned mask, void *stx, int *handled);
int shim_access_impl(int dirfd, const char *path, int mode, int flags, int *handled);
long shim_getdents_impl(int fd, void *buf, size_t len, int *handled);

/* ---- streaming mode (stream.c) ---- */
int shim_stream_want(uint64_t plain_size);
int shim_stream_open(const struct shim_res *r, int flags, int *handled);
/* Interposed reads on a streaming fd; *handled = 0 if fd is not streaming. */
ssize_t shim_stream_pread(int fd, void *buf, size_t n, int64_t off, int use_off, int *handled);
off_t shim_stream_lseek(int fd, off_t off, int whence, int *handled);
/* Turn a streaming fd into a plain memfd-backed fd before a use we cannot
 * serve (mmap, fdopen, dup, sendfile...).  0 if done or not streaming. */
int shim_stream_fill(int fd);
/* shim_stream_fill() in a wrapper: 1 with errno set (EIO, EFBIG, ...) if
 * the fd cannot be completed; the wrapper then fails. */
static inline int shim_fill_failed(int fd)
{
	int rc = shim_stream_fill(fd);

	if (rc >= 0)
		return 0;
	errno = -rc;
	return 1;
}
void shim_stream_free(struct shim_stream *s);

#endif
