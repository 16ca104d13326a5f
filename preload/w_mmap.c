/* mmap/munmap bookkeeping: a file object stays cached while a mapping made
 * from one of our fds exists (safetensors opens, maps, closes, and opens
 * the same file again).  The mapping itself is the kernel's: a memfd. */
#include <errno.h>
#include <sys/mman.h>

#include "preload/shim.h"

static void *mmap_core(void *(*real)(void *, size_t, int, int, int, off_t), void *addr, size_t len,
                       int prot, int flags, int fd, off_t off)
{
	struct shim_fd *e;
	void *p;

	if (fd < 0 || !shim_fd_tracked(fd))
		return real(addr, len, prot, flags, fd, off);
	/* A streaming fd has no content yet: fill it first. */
	shim_stream_fill(fd);
	p = real(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return p;
	e = shim_fd_get(fd);
	if (e && e->kind == SHIM_FD_FILE && e->file) {
		int saved = errno;

		shim_file_mapped(e->file, p, len);
		errno = saved;
	}
	shim_fd_put(e);
	return p;
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_core(REAL(mmap), addr, len, prot, flags, fd, off);
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap_core(REAL(mmap64), addr, len, prot, flags, fd, off);
}

SHIM_EXPORT int munmap(void *addr, size_t len)
{
	int rc = REAL(munmap)(addr, len);

	if (rc == 0) {
		int saved = errno;

		shim_file_unmapped(addr, len);
		errno = saved;
	}
	return rc;
}
