/* The one table of libc functions the shim interposes or calls.
 *
 * Each X(ret, name, params) line yields a pointer shim_real.name resolved
 * with dlsym(RTLD_NEXT).  The library is linked -Bsymbolic, so inside the
 * shim a plain call to e.g. close() binds to our own wrapper: internal code
 * must always call REAL(close)(...) for any name in this table.
 */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H

#include <dirent.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <utime.h>
#include <sys/time.h>

typedef int (*shim_scandir_filter)(const struct dirent *);
typedef int (*shim_scandir_cmp)(const struct dirent **, const struct dirent **);
typedef int (*shim_scandir64_filter)(const struct dirent64 *);
typedef int (*shim_scandir64_cmp)(const struct dirent64 **, const struct dirent64 **);
typedef int (*shim_glob_err)(const char *, int);
typedef int (*shim_ftw_fn)(const char *, const struct stat *, int);
typedef int (*shim_ftw64_fn)(const char *, const struct stat64 *, int);
typedef int (*shim_nftw_fn)(const char *, const struct stat *, int, struct FTW *);
typedef int (*shim_nftw64_fn)(const char *, const struct stat64 *, int, struct FTW *);
typedef int (*shim_fts_cmp)(const FTSENT **, const FTSENT **);
typedef int (*shim_fts64_cmp)(const FTSENT64 **, const FTSENT64 **);

#define SHIM_REAL_TABLE(X)                                                                         \
	/* open */                                                                                 \
	X(int, open, (const char *, int, ...))                                                     \
	X(int, open64, (const char *, int, ...))                                                   \
	X(int, openat, (int, const char *, int, ...))                                              \
	X(int, openat64, (int, const char *, int, ...))                                            \
	X(int, __open_2, (const char *, int))                                                      \
	X(int, __open64_2, (const char *, int))                                                    \
	X(int, __openat_2, (int, const char *, int))                                               \
	X(int, __openat64_2, (int, const char *, int))                                             \
	X(int, creat, (const char *, mode_t))                                                      \
	X(int, creat64, (const char *, mode_t))                                                    \
	X(FILE *, fopen, (const char *, const char *))                                             \
	X(FILE *, fopen64, (const char *, const char *))                                           \
	X(FILE *, freopen, (const char *, const char *, FILE *))                                   \
	X(FILE *, freopen64, (const char *, const char *, FILE *))                                 \
	X(FILE *, fdopen, (int, const char *))                                                     \
	/* fd life */                                                                              \
	X(int, fclose, (FILE *))                                                                   \
	X(int, fcloseall, (void))                                                                  \
	X(int, close, (int))                                                                       \
	X(int, close_range, (unsigned, unsigned, int))                                             \
	X(void, closefrom, (int))                                                                  \
	X(int, dup, (int))                                                                         \
	X(int, dup2, (int, int))                                                                   \
	X(int, dup3, (int, int, int))                                                              \
	X(int, fcntl, (int, int, ...))                                                             \
	X(int, fcntl64, (int, int, ...))                                                           \
	/* stat */                                                                                 \
	X(int, stat, (const char *, struct stat *))                                                \
	X(int, stat64, (const char *, struct stat64 *))                                            \
	X(int, lstat, (const char *, struct stat *))                                               \
	X(int, lstat64, (const char *, struct stat64 *))                                           \
	X(int, fstat, (int, struct stat *))                                                        \
	X(int, fstat64, (int, struct stat64 *))                                                    \
	X(int, fstatat, (int, const char *, struct stat *, int))                                   \
	X(int, fstatat64, (int, const char *, struct stat64 *, int))                               \
	X(int, __xstat, (int, const char *, struct stat *))                                        \
	X(int, __xstat64, (int, const char *, struct stat64 *))                                    \
	X(int, __lxstat, (int, const char *, struct stat *))                                       \
	X(int, __lxstat64, (int, const char *, struct stat64 *))                                   \
	X(int, __fxstat, (int, int, struct stat *))                                                \
	X(int, __fxstat64, (int, int, struct stat64 *))                                            \
	X(int, __fxstatat, (int, int, const char *, struct stat *, int))                           \
	X(int, __fxstatat64, (int, int, const char *, struct stat64 *, int))                       \
	X(int, statx, (int, const char *, int, unsigned, struct statx *))                          \
	X(int, access, (const char *, int))                                                        \
	X(int, faccessat, (int, const char *, int, int))                                           \
	X(int, euidaccess, (const char *, int))                                                    \
	X(int, eaccess, (const char *, int))                                                       \
	/* links, names, cwd */                                                                    \
	X(ssize_t, readlink, (const char *, char *, size_t))                                       \
	X(ssize_t, readlinkat, (int, const char *, char *, size_t))                                \
	X(ssize_t, __readlink_chk, (const char *, char *, size_t, size_t))                         \
	X(ssize_t, __readlinkat_chk, (int, const char *, char *, size_t, size_t))                  \
	X(char *, realpath, (const char *, char *))                                                \
	X(char *, __realpath_chk, (const char *, char *, size_t))                                  \
	X(char *, canonicalize_file_name, (const char *))                                          \
	X(char *, getcwd, (char *, size_t))                                                        \
	X(char *, __getcwd_chk, (char *, size_t, size_t))                                          \
	X(char *, get_current_dir_name, (void))                                                    \
	X(int, chdir, (const char *))                                                              \
	X(int, fchdir, (int))                                                                      \
	/* fs info, xattr */                                                                       \
	X(int, statfs, (const char *, struct statfs *))                                            \
	X(int, statfs64, (const char *, struct statfs64 *))                                        \
	X(int, fstatfs, (int, struct statfs *))                                                    \
	X(int, fstatfs64, (int, struct statfs64 *))                                                \
	X(int, statvfs, (const char *, struct statvfs *))                                          \
	X(int, statvfs64, (const char *, struct statvfs64 *))                                      \
	X(int, fstatvfs, (int, struct statvfs *))                                                  \
	X(int, fstatvfs64, (int, struct statvfs64 *))                                              \
	X(ssize_t, getxattr, (const char *, const char *, void *, size_t))                         \
	X(ssize_t, lgetxattr, (const char *, const char *, void *, size_t))                        \
	X(ssize_t, listxattr, (const char *, char *, size_t))                                      \
	X(ssize_t, llistxattr, (const char *, char *, size_t))                                     \
	/* directories */                                                                          \
	X(DIR *, opendir, (const char *))                                                          \
	X(DIR *, fdopendir, (int))                                                                 \
	X(struct dirent *, readdir, (DIR *))                                                       \
	X(struct dirent64 *, readdir64, (DIR *))                                                   \
	X(int, readdir_r, (DIR *, struct dirent *, struct dirent **))                              \
	X(int, readdir64_r, (DIR *, struct dirent64 *, struct dirent64 **))                        \
	X(int, closedir, (DIR *))                                                                  \
	X(void, rewinddir, (DIR *))                                                                \
	X(void, seekdir, (DIR *, long))                                                            \
	X(long, telldir, (DIR *))                                                                  \
	X(int, scandir, (const char *, struct dirent ***, shim_scandir_filter, shim_scandir_cmp))  \
	X(int, scandir64,                                                                          \
	  (const char *, struct dirent64 ***, shim_scandir64_filter, shim_scandir64_cmp))          \
	X(int, scandirat,                                                                          \
	  (int, const char *, struct dirent ***, shim_scandir_filter, shim_scandir_cmp))           \
	X(int, scandirat64,                                                                        \
	  (int, const char *, struct dirent64 ***, shim_scandir64_filter, shim_scandir64_cmp))     \
	X(ssize_t, getdents64, (int, void *, size_t))                                              \
	X(int, glob, (const char *, int, shim_glob_err, glob_t *))                                 \
	X(int, glob64, (const char *, int, shim_glob_err, glob64_t *))                             \
	X(int, ftw, (const char *, shim_ftw_fn, int))                                              \
	X(int, ftw64, (const char *, shim_ftw64_fn, int))                                          \
	X(int, nftw, (const char *, shim_nftw_fn, int, int))                                       \
	X(int, nftw64, (const char *, shim_nftw64_fn, int, int))                                   \
	X(FTS *, fts_open, (char *const *, int, shim_fts_cmp))                                     \
	X(FTSENT *, fts_read, (FTS *))                                                             \
	X(FTSENT *, fts_children, (FTS *, int))                                                    \
	X(int, fts_set, (FTS *, FTSENT *, int))                                                    \
	X(int, fts_close, (FTS *))                                                                 \
	X(FTS64 *, fts64_open, (char *const *, int, shim_fts64_cmp))                               \
	X(FTSENT64 *, fts64_read, (FTS64 *))                                                       \
	X(FTSENT64 *, fts64_children, (FTS64 *, int))                                              \
	X(int, fts64_set, (FTS64 *, FTSENT64 *, int))                                              \
	X(int, fts64_close, (FTS64 *))                                                             \
	/* mutations (EROFS under the mount) */                                                    \
	X(int, unlink, (const char *))                                                             \
	X(int, unlinkat, (int, const char *, int))                                                 \
	X(int, rename, (const char *, const char *))                                               \
	X(int, renameat, (int, const char *, int, const char *))                                   \
	X(int, renameat2, (int, const char *, int, const char *, unsigned))                        \
	X(int, mkdir, (const char *, mode_t))                                                      \
	X(int, mkdirat, (int, const char *, mode_t))                                               \
	X(int, rmdir, (const char *))                                                              \
	X(int, truncate, (const char *, off_t))                                                    \
	X(int, truncate64, (const char *, off64_t))                                                \
	X(int, symlink, (const char *, const char *))                                              \
	X(int, symlinkat, (const char *, int, const char *))                                       \
	X(int, link, (const char *, const char *))                                                 \
	X(int, linkat, (int, const char *, int, const char *, int))                                \
	X(int, chmod, (const char *, mode_t))                                                      \
	X(int, fchmodat, (int, const char *, mode_t, int))                                         \
	X(int, chown, (const char *, uid_t, gid_t))                                                \
	X(int, lchown, (const char *, uid_t, gid_t))                                               \
	X(int, fchownat, (int, const char *, uid_t, gid_t, int))                                   \
	X(int, utime, (const char *, const struct utimbuf *))                                      \
	X(int, utimes, (const char *, const struct timeval *))                                     \
	X(int, lutimes, (const char *, const struct timeval *))                                    \
	X(int, utimensat, (int, const char *, const struct timespec *, int))                       \
	X(int, futimesat, (int, const char *, const struct timeval *))                             \
	X(int, mknod, (const char *, mode_t, dev_t))                                               \
	X(int, mknodat, (int, const char *, mode_t, dev_t))                                        \
	X(int, mkfifo, (const char *, mode_t))                                                     \
	X(int, mkfifoat, (int, const char *, mode_t))                                              \
	X(int, setxattr, (const char *, const char *, const void *, size_t, int))                  \
	X(int, lsetxattr, (const char *, const char *, const void *, size_t, int))                 \
	X(int, removexattr, (const char *, const char *))                                          \
	X(int, lremovexattr, (const char *, const char *))                                         \
	/* fd mutations (EROFS on tracked fds) */                                                  \
	X(int, fchmod, (int, mode_t))                                                              \
	X(int, fchown, (int, uid_t, gid_t))                                                        \
	X(int, futimens, (int, const struct timespec *))                                           \
	X(int, futimes, (int, const struct timeval *))                                             \
	X(int, fsetxattr, (int, const char *, const void *, size_t, int))                          \
	X(int, fremovexattr, (int, const char *))                                                  \
	X(int, fallocate, (int, int, off_t, off_t))                                                \
	X(int, fallocate64, (int, int, off64_t, off64_t))                                          \
	X(int, posix_fallocate, (int, off_t, off_t))                                               \
	X(int, posix_fallocate64, (int, off64_t, off64_t))                                         \
	X(int, ftruncate, (int, off_t))                                                            \
	X(int, ftruncate64, (int, off64_t))                                                        \
	/* memory */                                                                               \
	X(void *, mmap, (void *, size_t, int, int, int, off_t))                                    \
	X(void *, mmap64, (void *, size_t, int, int, int, off64_t))                                \
	X(void *, mremap, (void *, size_t, size_t, int, ...))                                      \
	X(int, munmap, (void *, size_t))                                                           \
	/* read side (streaming mode) */                                                           \
	X(ssize_t, read, (int, void *, size_t))                                                    \
	X(ssize_t, __read_chk, (int, void *, size_t, size_t))                                      \
	X(ssize_t, pread, (int, void *, size_t, off_t))                                            \
	X(ssize_t, pread64, (int, void *, size_t, off64_t))                                        \
	X(ssize_t, __pread_chk, (int, void *, size_t, off_t, size_t))                              \
	X(ssize_t, __pread64_chk, (int, void *, size_t, off64_t, size_t))                          \
	X(ssize_t, readv, (int, const struct iovec *, int))                                        \
	X(ssize_t, preadv, (int, const struct iovec *, int, off_t))                                \
	X(ssize_t, preadv64, (int, const struct iovec *, int, off64_t))                            \
	X(ssize_t, preadv2, (int, const struct iovec *, int, off_t, int))                          \
	X(ssize_t, preadv64v2, (int, const struct iovec *, int, off64_t, int))                     \
	X(off_t, lseek, (int, off_t, int))                                                         \
	X(off64_t, lseek64, (int, off64_t, int))                                                   \
	X(ssize_t, sendfile, (int, int, off_t *, size_t))                                          \
	X(ssize_t, sendfile64, (int, int, off64_t *, size_t))                                      \
	X(ssize_t, copy_file_range, (int, off64_t *, int, off64_t *, size_t, unsigned))            \
	X(ssize_t, splice, (int, off64_t *, int, off64_t *, size_t, unsigned))                     \
	/* escape hatch */                                                                         \
	X(long, syscall, (long, ...))

struct shim_real_tab {
#define SHIM_X(ret, name, params) ret(*name) params;
	SHIM_REAL_TABLE(SHIM_X)
#undef SHIM_X
};

extern struct shim_real_tab shim_real;
void shim_real_resolve(void);

/* The real libc function `name`; resolves the table on first use (a wrapper
 * can run before our constructor, from another library's constructor). */
#define REAL(name)                                                                                 \
	(__builtin_expect(shim_real.name != NULL, 1) ? shim_real.name                              \
	                                             : (shim_real_resolve(), shim_real.name))

#endif
