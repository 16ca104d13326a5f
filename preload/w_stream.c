/* The read side.  Only streaming fds need it (everything else is a real
 * fd on plaintext): read/pread/readv/preadv* and lseek are served from the
 * ciphertext; sendfile/copy_file_range/splice fill the file first.  An
 * untracked fd costs one atomic load.
 *
 * copy_file_range from a memfd to another file system fails with EXDEV
 * where the plaintext original would have worked, so it is emulated with
 * pread/pwrite for our fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload/shim.h"

#define RD(fd, buf, n, off, use_off, realcall)                                                     \
	do {                                                                                       \
		int h_;                                                                            \
		ssize_t r_;                                                                        \
		if (!shim_fd_tracked(fd))                                                          \
			return realcall;                                                           \
		shim_trace_fd(__func__, fd);                                                       \
		r_ = shim_stream_pread(fd, buf, n, off, use_off, &h_);                             \
		return h_ ? r_ : (realcall);                                                       \
	} while (0)

SHIM_EXPORT ssize_t read(int fd, void *b, size_t n)
{
	RD(fd, b, n, 0, 0, REAL(read)(fd, b, n));
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *b, size_t n, size_t bl)
{
	if (n > bl)
		return REAL(__read_chk)(fd, b, n, bl);
	RD(fd, b, n, 0, 0, REAL(__read_chk)(fd, b, n, bl));
}

SHIM_EXPORT ssize_t pread(int fd, void *b, size_t n, off_t o)
{
	RD(fd, b, n, o, 1, REAL(pread)(fd, b, n, o));
}

SHIM_EXPORT ssize_t pread64(int fd, void *b, size_t n, off64_t o)
{
	RD(fd, b, n, o, 1, REAL(pread64)(fd, b, n, o));
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *b, size_t n, off_t o, size_t bl)
{
	if (n > bl)
		return REAL(__pread_chk)(fd, b, n, o, bl);
	RD(fd, b, n, o, 1, REAL(__pread_chk)(fd, b, n, o, bl));
}

SHIM_EXPORT ssize_t __pread64_chk(int fd, void *b, size_t n, off64_t o, size_t bl)
{
	if (n > bl)
		return REAL(__pread64_chk)(fd, b, n, o, bl);
	RD(fd, b, n, o, 1, REAL(__pread64_chk)(fd, b, n, o, bl));
}

/* Vectored: one segment at a time, stopping at a short read. */
static ssize_t vec(int fd, const struct iovec *iov, int cnt, int64_t off, int use_off, int *h)
{
	ssize_t total = 0;

	*h = 0;
	if (!shim_fd_tracked(fd))
		return -1;
	shim_trace_fd("readv", fd);
	for (int i = 0; i < cnt; i++) {
		ssize_t r =
		    shim_stream_pread(fd, iov[i].iov_base, iov[i].iov_len, off + total, use_off, h);

		if (!*h)
			return -1;
		if (r < 0)
			return total ? total : -1;
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	*h = 1;
	return total;
}

#define VEC(fd, iov, cnt, off, use_off, realcall)                                                  \
	do {                                                                                       \
		int h_;                                                                            \
		ssize_t r_ = vec(fd, iov, cnt, off, use_off, &h_);                                 \
		return h_ ? r_ : (realcall);                                                       \
	} while (0)

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *v, int c)
{
	VEC(fd, v, c, 0, 0, REAL(readv)(fd, v, c));
}

SHIM_EXPORT ssize_t preadv(int fd, const struct iovec *v, int c, off_t o)
{
	VEC(fd, v, c, o, 1, REAL(preadv)(fd, v, c, o));
}

SHIM_EXPORT ssize_t preadv64(int fd, const struct iovec *v, int c, off64_t o)
{
	VEC(fd, v, c, o, 1, REAL(preadv64)(fd, v, c, o));
}

/* preadv2 with offset -1 means "current offset". */
SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *v, int c, off_t o, int fl)
{
	VEC(fd, v, c, o, o != -1, REAL(preadv2)(fd, v, c, o, fl));
}

SHIM_EXPORT ssize_t preadv64v2(int fd, const struct iovec *v, int c, off64_t o, int fl)
{
	VEC(fd, v, c, o, o != -1, REAL(preadv64v2)(fd, v, c, o, fl));
}

SHIM_EXPORT off_t lseek(int fd, off_t o, int wh)
{
	int h;
	off_t r;

	if (!shim_fd_tracked(fd))
		return REAL(lseek)(fd, o, wh);
	shim_trace_fd(__func__, fd);
	r = shim_stream_lseek(fd, o, wh, &h);
	return h ? r : REAL(lseek)(fd, o, wh);
}

SHIM_EXPORT off64_t lseek64(int fd, off64_t o, int wh)
{
	return lseek(fd, o, wh);
}

/* ---- copies ---- */

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	shim_trace_fd(__func__, in);
	if (shim_fill_failed(in))
		return -1;
	return REAL(sendfile)(out, in, off, n);
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
	shim_trace_fd(__func__, in);
	if (shim_fill_failed(in))
		return -1;
	return REAL(sendfile64)(out, in, off, n);
}

SHIM_EXPORT ssize_t splice(int in, off64_t *oin, int out, off64_t *oout, size_t n, unsigned fl)
{
	shim_trace_fd(__func__, in);
	if (shim_fill_failed(in))
		return -1;
	return REAL(splice)(in, oin, out, oout, n, fl);
}

/* pread/pwrite loop with copy_file_range's offset semantics. */
static ssize_t copy_emul(int in, off64_t *oin, int out, off64_t *oout, size_t n)
{
	size_t chunk = n < (1 << 20) ? n : (1 << 20);
	char *buf = malloc(chunk ? chunk : 1);
	ssize_t total = 0;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	while ((size_t)total < n) {
		size_t want = n - (size_t)total < chunk ? n - (size_t)total : chunk;
		ssize_t r = oin ? REAL(pread)(in, buf, want, *oin) : REAL(read)(in, buf, want);
		ssize_t w = 0;

		if (r <= 0) {
			if (r < 0 && !total)
				total = -1;
			break;
		}
		while (w < r) {
			ssize_t k = oout ? pwrite(out, buf + w, (size_t)(r - w), *oout + w)
			                 : write(out, buf + w, (size_t)(r - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			w += k;
		}
		if (oin)
			*oin += w;
		if (oout)
			*oout += w;
		if (!oin && w < r)
			REAL(lseek)(in, w - r, SEEK_CUR); /* give back what was not written */
		total += w;
		if (w < r) {
			if (!w && total == 0)
				total = -1;
			break;
		}
	}
	free(buf);
	return total;
}

SHIM_EXPORT ssize_t copy_file_range(int in, off64_t *oin, int out, off64_t *oout, size_t n,
                                    unsigned fl)
{
	ssize_t r;

	shim_trace_fd(__func__, in);
	if (shim_fill_failed(in))
		return -1;
	r = REAL(copy_file_range)(in, oin, out, oout, n, fl);
	if (r < 0 && (errno == EXDEV || errno == EINVAL) && fl == 0 && shim_fd_tracked(in))
		return copy_emul(in, oin, out, oout, n);
	return r;
}
