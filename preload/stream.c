/* Streaming mode (UNSEAL_STREAM=1, or files above UNSEAL_STREAM_MIN bytes):
 * peak memory about constant for programs that load a huge file with
 * read()/pread() into their own heap (no 2x plaintext).
 *
 * The program gets a placeholder fd: O_PATH on the /proc/self symlink.
 * fstat through the shim shows the plaintext size; a read that bypasses
 * the shim (raw syscall, io_uring, an exec'd child that inherited it) fails
 * with EBADF, and reopening /proc/<pid>/fd/N fails with ELOOP, root or not
 * -- never an empty file, zeros, plaintext or ciphertext.  Interposed read/pread/
 * readv/preadv/lseek are served from the ciphertext.  Reads of 64 KiB and
 * more are decrypted straight into the caller's buffer (all threads from
 * 1 MiB up); smaller ones go through a 2 MiB read-ahead window that all
 * decrypt threads fill at once.  Peak extra memory: the window, plus the
 * decrypt threads' 264 KiB ciphertext scratch each.  Any use we cannot serve this way (mmap,
 * fdopen, dup, sendfile, copy_file_range, splice) first decrypts into a new sealed memfd
 * (file.c's shim_plain_memfd: holes skipped, all or nothing) and dup3()s a normal read-only fd
 * on it over the program's fd number, keeping its offset and FD_CLOEXEC.
 *
 * fork: a stream's lock may be held by a thread that does not exist in the
 * child; the child handler re-initialises every stream's lock and drops the
 * read-ahead windows (possibly half written).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/memfill.h"

/* Big enough that the threads' start-up is noise next to the decryption,
 * small enough to stay in the caches between decrypting and copying out. */
#define WIN_SIZE (2 * 1024 * 1024)
/* From here a copy out of the window costs more than it saves: the cipher
 * is read in 264 KiB preads either way. */
#define SMALL_READ (64 * 1024)

struct shim_stream {
	struct shim_stream *prev, *next; /* all streams, for the fork handler */
	pthread_mutex_t lock;
	int cfd;   /* cipher file (internal fd) */
	int memfd; /* the complete plaintext once filled, else -1 (internal fd) */
	shim_ifd_id cid, mid;
	int filled;
	gcfs_file gf;
	uint64_t off;
	uint8_t *win;
	uint64_t win_off;
	size_t win_len;
	char vpath[PATH_MAX];
};

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_stream *all;

static void all_add(struct shim_stream *s)
{
	pthread_mutex_lock(&all_lock);
	s->next = all;
	if (all)
		all->prev = s;
	all = s;
	pthread_mutex_unlock(&all_lock);
}

static void all_del(struct shim_stream *s)
{
	pthread_mutex_lock(&all_lock);
	if (s->prev)
		s->prev->next = s->next;
	else if (all == s)
		all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	pthread_mutex_unlock(&all_lock);
}

/* Fork handlers, called from real.c's (see the lock order there). */
void shim_stream_atfork_prepare(void)
{
	pthread_mutex_lock(&all_lock);
}

void shim_stream_atfork_parent(void)
{
	pthread_mutex_unlock(&all_lock);
}

void shim_stream_atfork_child(void)
{
	/* One thread now.  A read in flight in another thread left its lock
	 * held and maybe a half-decrypted window: reset both. */
	pthread_mutex_init(&all_lock, NULL);
	for (struct shim_stream *s = all; s; s = s->next) {
		pthread_mutex_init(&s->lock, NULL);
		s->win_len = 0;
	}
}

int shim_stream_want(uint64_t plain_size)
{
	/* More than RAM cannot be copied whole: stream it whatever the mode. */
	return shim_cfg.stream || (shim_cfg.stream_min && plain_size > shim_cfg.stream_min) ||
	       plain_size > shim_mem_budget();
}

void shim_stream_free(struct shim_stream *s)
{
	if (!s)
		return;
	all_del(s);
	if (s->cfd >= 0)
		shim_ifd_close(s->cfd, &s->cid);
	if (s->memfd >= 0)
		shim_ifd_close(s->memfd, &s->mid);
	if (s->win) {
		gcfs_wipe(s->win, WIN_SIZE);
		REAL(munmap)(s->win, WIN_SIZE);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The program's fd (see the top): an fd that can be neither read nor
 * reopened for reading by anything that bypasses the shim. */
static int placeholder(int flags)
{
	return REAL(open)("/proc/self", O_PATH | O_NOFOLLOW | (flags & O_CLOEXEC));
}

int shim_stream_open(const struct shim_res *r, int flags, int *handled)
{
	struct shim_stream *s = calloc(1, sizeof(*s));
	gcfs_io io = {.ctx = &s->cfd, .pread = shim_cipher_pread};
	char err[GCFS_ERRBUF] = "";
	struct stat st = r->st, cst;
	int fd, e;

	*handled = 1;
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->memfd = -1;
	all_add(s);
	shim_fmt(s->vpath, sizeof(s->vpath), "%s", r->vpath);
	s->cfd = shim_ifd_hide(shim_cipher_open(r, &cst), &s->cid);
	if (s->cfd < 0)
		goto fail;
	if (gcfs_file_open(&io, (uint64_t)cst.st_size, &s->gf, err, sizeof(err))) {
		shim_log(SHIM_LOG_ERROR, "unseal: open: %s: header: %s", r->vpath, err);
		errno = EIO;
		goto fail;
	}
	fd = placeholder(flags);
	if (fd < 0)
		goto fail;
	st.st_size = (off_t)s->gf.plain_size;
	if (shim_fd_add(fd, SHIM_FD_STREAM, NULL, r->vpath, r->cpath, &st)) {
		REAL(close)(fd);
		errno = EMFILE;
		goto fail;
	}
	{
		struct shim_fd *ent = shim_fd_get(fd);

		if (ent)
			ent->stream = s;
		shim_fd_put(ent);
	}
	SHIM_DBG("unseal: open: %s: streaming (%llu bytes)", r->vpath,
	         (unsigned long long)s->gf.plain_size);
	return fd;
fail:
	e = errno;
	shim_stream_free(s);
	errno = e;
	return -1;
}

/* The cipher fd is still ours (the program may have dup2()ed over it; what
 * sits there now fails authentication anyway, so this only says why). */
static int cipher_ok(struct shim_stream *s)
{
	if (shim_ifd_mine(s->cfd, &s->cid))
		return 1;
	shim_log(SHIM_LOG_ERROR, "unseal: read: %s: cipher fd %d: taken over by the program",
	         s->vpath, s->cfd);
	return 0;
}

static int decrypt(struct shim_stream *s, void *dst, size_t n, uint64_t off, int threads,
                   size_t *done)
{
	gcfs_io io = {.ctx = &s->cfd, .pread = shim_cipher_pread};
	const gcfs_keys *k = shim_keys();
	char err[GCFS_ERRBUF] = "";
	uint64_t bad = 0;
	int rc;

	if (!k)
		return -EACCES;
	rc = gcfs_file_read(k, &io, &s->gf, dst, n, off, threads, done, &bad, err, sizeof(err));
	if (rc) {
		if (!cipher_ok(s)) /* it said why */
			return -EIO;
		if (err[0])
			shim_log(SHIM_LOG_ERROR, "unseal: read: %s: %s", s->vpath, err);
		else
			shim_log(SHIM_LOG_ERROR, "unseal: read: %s: block %llu: %s", s->vpath,
			         (unsigned long long)bad, gcfs_strerror(rc));
		return -EIO;
	}
	return 0;
}

/* Serve [off, off+n) into buf, with s->lock held; bytes or -errno. */
static ssize_t serve(struct shim_stream *s, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	int rc;

	if (off >= s->gf.plain_size || n == 0)
		return 0;
	if (n > s->gf.plain_size - off)
		n = (size_t)(s->gf.plain_size - off);
	if (n >= SMALL_READ) {
		rc = decrypt(s, buf, n, off, shim_cfg.nthreads, &done);
		return rc ? rc : (ssize_t)done;
	}
	if (!s->win || off < s->win_off || off + n > s->win_off + s->win_len) {
		uint64_t wo = off & ~(uint64_t)(GCFS_BLOCK_PLAIN - 1);

		if (!s->win) {
			s->win = REAL(mmap)(NULL, WIN_SIZE, PROT_READ | PROT_WRITE,
			                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (s->win == MAP_FAILED) {
				s->win = NULL;
				return -ENOMEM;
			}
			(void)madvise(s->win, WIN_SIZE, MADV_DONTDUMP);
		}
		s->win_len = 0;
		rc = decrypt(s, s->win, WIN_SIZE, wo, shim_cfg.nthreads, &done);
		if (rc) {
			/* A bad block elsewhere in the window must not fail a
			 * read that does not touch it. */
			rc = decrypt(s, buf, n, off, 1, &done);
			return rc ? rc : (ssize_t)done;
		}
		s->win_off = wo;
		s->win_len = done;
		if (off + n > wo + done)
			n = off >= wo + done ? 0 : (size_t)(wo + done - off);
	}
	memcpy(buf, s->win + (off - s->win_off), n);
	return (ssize_t)n;
}

/* The streaming entry of fd, referenced; NULL if fd is not streaming. */
static struct shim_fd *stream_entry(int fd)
{
	struct shim_fd *e;

	if (!shim_fd_tracked(fd))
		return NULL;
	e = shim_fd_get(fd);
	if (e && (e->kind != SHIM_FD_STREAM || !e->stream)) {
		shim_fd_put(e);
		return NULL;
	}
	return e;
}

ssize_t shim_stream_pread(int fd, void *buf, size_t n, int64_t off, int use_off, int *handled)
{
	struct shim_fd *e = stream_entry(fd);
	struct shim_stream *s;
	ssize_t r;

	*handled = e != NULL;
	if (!e)
		return -1;
	s = e->stream;
	if (use_off && off < 0) {
		shim_fd_put(e);
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	r = serve(s, buf, n, use_off ? (uint64_t)off : s->off);
	if (r > 0 && !use_off)
		s->off += (uint64_t)r;
	pthread_mutex_unlock(&s->lock);
	shim_fd_put(e);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* The new offset of an lseek on a file of `size` bytes at offset `cur`;
 * -errno on failure.  No signed overflow: base + off is checked first. */
static int64_t seek_to(int64_t cur, int64_t size, int64_t off, int whence)
{
	int64_t base;

	if (whence == SEEK_DATA || whence == SEEK_HOLE) {
		/* No holes in the plaintext view; like the kernel, a negative
		 * or past-the-end offset has no data. */
		if (off < 0 || off >= size)
			return -ENXIO;
		return whence == SEEK_DATA ? off : size;
	}
	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
		return -EINVAL;
	base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? cur : size;
	if (off > 0 && base > INT64_MAX - off)
		return -EOVERFLOW;
	if (base + off < 0)
		return -EINVAL;
	return base + off;
}

off_t shim_stream_lseek(int fd, off_t off, int whence, int *handled)
{
	struct shim_fd *e = stream_entry(fd);
	struct shim_stream *s;
	int64_t r;

	*handled = e != NULL;
	if (!e)
		return -1;
	s = e->stream;
	pthread_mutex_lock(&s->lock);
	r = seek_to((int64_t)s->off, (int64_t)s->gf.plain_size, (int64_t)off, whence);
	if (r >= 0)
		s->off = (uint64_t)r;
	pthread_mutex_unlock(&s->lock);
	shim_fd_put(e);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (off_t)r;
}

/* Decrypt everything into a new sealed memfd; with s->lock held.  A failed
 * attempt leaves nothing behind (the next one starts from scratch). */
static int fill_memfd(struct shim_stream *s)
{
	const gcfs_keys *k;
	int mfd;

	if (s->filled)
		return 0;
	k = shim_keys();
	if (!k)
		return -EACCES;
	if (!cipher_ok(s))
		return -EIO;
	mfd = shim_plain_memfd(k, s->cfd, &s->gf, s->vpath, "stream", &s->mid);
	if (mfd < 0)
		return mfd;
	s->memfd = mfd;
	s->filled = 1;
	return 0;
}

int shim_stream_fill(int fd)
{
	struct shim_fd *e = stream_entry(fd);
	struct shim_stream *s;
	char p[64];
	int rc, nfd, cloexec, saved = errno;

	if (!e)
		return 0;
	s = e->stream;
	pthread_mutex_lock(&s->lock);
	rc = fill_memfd(s);
	if (rc == 0) {
		cloexec = REAL(fcntl)(fd, F_GETFD) & FD_CLOEXEC;
		shim_fmt(p, sizeof(p), "/proc/self/fd/%d", s->memfd);
		nfd = REAL(open)(p, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || REAL(lseek)(nfd, (off_t)s->off, SEEK_SET) < 0 ||
		    REAL(dup3)(nfd, fd, cloexec ? O_CLOEXEC : 0) < 0)
			rc = -errno;
		if (nfd >= 0)
			REAL(close)(nfd);
	}
	if (rc == 0) {
		/* From now on a plain plaintext fd; the entry keeps the
		 * spoofed metadata and (when possible) a file object that
		 * owns the memfd, so mappings are bookkept and not dumped. */
		if (!e->file) {
			e->file = shim_file_adopt(s->memfd, &s->mid, s->gf.plain_size);
			if (e->file)
				s->memfd = -1;
		}
		e->kind = SHIM_FD_FILE;
		SHIM_DBG("unseal: stream: %s: filled for a non-streamable use", s->vpath);
	} else {
		shim_log(SHIM_LOG_ERROR, "unseal: stream: %s: cannot fill: %s", s->vpath,
		         strerror(-rc));
	}
	pthread_mutex_unlock(&s->lock);
	shim_fd_put(e);
	errno = saved;
	return rc;
}
