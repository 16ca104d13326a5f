/* mmap/munmap bookkeeping: a file object stays cached while a mapping made
 * from one of our fds exists (safetensors opens, maps, closes, and opens
 * the same file again).  The mapping itself is the kernel's: a memfd. */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "preload/shim.h"

static void *mmap_core(void *(*real)(void *, size_t, int, int, int, off_t), void *addr, size_t len,
                       int prot, int flags, int fd, off_t off)
{
	struct shim_fd *e;
	void *p;

	if (fd < 0 || !shim_fd_tracked(fd))
		return real(addr, len, prot, flags, fd, off);
	shim_trace_fd("mmap", fd);
	/* A streaming fd has no content yet: fill it first (or fail). */
	if (shim_fill_failed(fd))
		return MAP_FAILED;
	p = real(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return p;
	e = shim_fd_get(fd);
	if (e && (e->kind == SHIM_FD_FILE || e->kind == SHIM_FD_STREAM)) {
		int saved = errno;

		/* Plaintext: keep it out of core dumps (the kernel dumps
		 * shared memfd mappings by default).  Best effort: a failure
		 * leaves the mapping usable. */
		(void)madvise(p, len, MADV_DONTDUMP);
		if (e->file)
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

/* Keep the mapping table true after a successful mremap: forget ranges the
 * kernel no longer maps at the old address (never let a stale range match a later,
 * unrelated munmap there).  Forgetting only unpins the cache entry: the
 * moved mapping still holds the memfd through the kernel, so its bytes stay
 * valid; at worst a later open of the same file decrypts it again. */
static void remap_book(void *old, size_t oldlen, void *p, size_t newlen, int flags)
{
	/* oldlen 0 duplicates a shared mapping and MREMAP_DONTUNMAP leaves the
	 * old range mapped: the old range is still there, still tracked, and
	 * the extra mapping at p simply is not (the kernel pins the memfd). */
	if (!oldlen || (flags & MREMAP_DONTUNMAP))
		return;
	if (p == old) {
		if (newlen < oldlen) /* shrunk in place: the tail is unmapped */
			shim_file_unmapped((char *)old + newlen, oldlen - newlen);
		return; /* grown in place: the tracked prefix is still right */
	}
	shim_file_unmapped(old, oldlen); /* moved: nothing is left at old */
}

SHIM_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	void *naddr = NULL, *p;

	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		naddr = va_arg(ap, void *);
		va_end(ap);
	}
	p = REAL(mremap)(old, oldlen, newlen, flags, naddr);
	if (p != MAP_FAILED) {
		int saved = errno;

		remap_book(old, oldlen, p, newlen, flags);
		errno = saved;
	}
	return p;
}
