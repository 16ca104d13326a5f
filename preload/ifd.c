/* Internal fds: the shim's own long-lived descriptors (cache memfds, the
 * cipher fds of streams, the log file).  The program never opened them, so
 * it must not close or replace them by accident: a daemon's
 * close-everything loop, close_range() before exec in a fork child, or a
 * dup2() onto a number it believes free.
 *
 * They live at high numbers (out of the way of the kernel's lowest-free
 * allocation and of fixed numbers like a shell's 3..9), close() of one says
 * EBADF (it is not the program's), close_range()/closefrom() step around
 * them, and a dup2()/dup3() onto one takes the number over: the owner finds
 * shim_ifd_ok() false and never uses or closes it again.  Owners that read
 * plaintext through an internal fd also check the identity of what they
 * opened (file.c), so even a raw-syscall replacement fails closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "preload/shim.h"

#define IFD_MAX (1 << 20)
#define IFD_WORDS (IFD_MAX / 64)

static _Atomic uint64_t *bits;
static _Atomic int ifd_top = -1; /* highest internal fd ever marked */
static _Atomic int ifd_floor;

static int bits_init(void)
{
	void *p;

	if (atomic_load(&bits))
		return 0;
	/* 128 KiB of address space; untouched pages cost nothing. */
	p = REAL(mmap)(NULL, IFD_WORDS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	{
		_Atomic uint64_t *expect = NULL;

		if (!atomic_compare_exchange_strong(&bits, &expect, p))
			REAL(munmap)(p, IFD_WORDS * sizeof(uint64_t));
	}
	return 0;
}

/* Half the soft fd limit, at most 1024: high enough that ordinary opens
 * never get there first, low enough not to grow the kernel's fd table. */
static int floor_fd(void)
{
	int f = atomic_load_explicit(&ifd_floor, memory_order_relaxed);
	struct rlimit rl;

	if (f)
		return f;
	f = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < 1024)
		f = rl.rlim_cur / 2 > 3 ? (int)(rl.rlim_cur / 2) : 3;
	atomic_store_explicit(&ifd_floor, f, memory_order_relaxed);
	return f;
}

int shim_ifd_is(int fd)
{
	_Atomic uint64_t *b = atomic_load_explicit(&bits, memory_order_acquire);

	if (!b || fd < 0 || fd > atomic_load_explicit(&ifd_top, memory_order_relaxed))
		return 0;
	return (atomic_load_explicit(&b[fd / 64], memory_order_relaxed) >> (fd % 64)) & 1;
}

int shim_ifd_hide(int fd)
{
	int saved = errno, nfd, top;

	if (fd < 0 || shim_foreign())
		return fd;
	nfd = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor_fd());
	if (nfd >= 0) {
		REAL(close)(fd);
		fd = nfd;
	}
	if (fd < IFD_MAX && bits_init() == 0) {
		atomic_fetch_or(&bits[fd / 64], (uint64_t)1 << (fd % 64));
		top = atomic_load(&ifd_top);
		while (fd > top && !atomic_compare_exchange_weak(&ifd_top, &top, fd))
			;
	}
	errno = saved;
	return fd;
}

static int unmark(int fd)
{
	uint64_t bit = (uint64_t)1 << (fd % 64);

	if (!shim_ifd_is(fd))
		return 0;
	return (atomic_fetch_and(&bits[fd / 64], ~bit) & bit) != 0;
}

void shim_ifd_close(int fd)
{
	int saved = errno;

	/* A vfork child has its own fd table but our memory: close, keep the
	 * parent's marks.  Otherwise an unmarked fd was taken over by a dup2
	 * and belongs to the program now. */
	if (fd >= 0 && (shim_foreign() || unmark(fd)))
		REAL(close)(fd);
	errno = saved;
}

void shim_ifd_lost(int fd)
{
	if (!shim_foreign() && unmark(fd))
		SHIM_DBG("unseal: fd %d: taken over by the program", fd);
}

int shim_ifd_close_range(unsigned lo, unsigned hi, int flags)
{
	int top = atomic_load(&ifd_top), rc = 0;
	unsigned from = lo;

	if (top < 0 || lo > (unsigned)top)
		return REAL(close_range)(lo, hi, flags);
	/* Close the gaps between internal fds, in order. */
	for (unsigned fd = lo; fd <= (unsigned)top && fd <= hi; fd++) {
		if (!shim_ifd_is((int)fd))
			continue;
		if (fd > from && REAL(close_range)(from, fd - 1, flags) < 0 && !rc)
			rc = -1;
		from = fd + 1;
	}
	if (from <= hi && REAL(close_range)(from, hi, flags) < 0 && !rc)
		rc = -1;
	return rc;
}

int shim_ifd_last(void)
{
	return atomic_load(&ifd_top);
}
