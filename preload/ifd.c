/* Internal fds: the shim's own long-lived descriptors (cache memfds, the
 * cipher fds of streams, the log file).  The program never opened them, so
 * it must not close or replace them by accident: a daemon's
 * close-everything loop, close_range() before exec in a fork child, or a
 * dup2() onto a number it believes free.
 *
 * They live at high numbers (out of the way of the kernel's lowest-free
 * allocation and of fixed numbers like a shell's 3..9), close() of one says
 * EBADF (it is not the program's), close_range()/closefrom() step around
 * them, and a successful dup2()/dup3() onto one takes the number over.
 *
 * A number alone proves nothing: a raw close() behind our back lets the
 * kernel reuse it.  So each mark records the inode it was made for, and
 * every question (is it ours, may the owner use or close it) is answered
 * by fstat()ing the number now, which is async-signal-safe.  Owners keep
 * the identity hide() gave them: a dead owner can never close the number
 * after a new owner got it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "preload/shim.h"

#define IFD_MAX (1 << 20)

struct mark {
	_Atomic uint64_t dev, ino; /* ino 0: not ours */
};

static struct mark *_Atomic marks;
static _Atomic int ifd_top = -1; /* highest internal fd ever marked */
static _Atomic int ifd_floor;

static struct mark *marks_get(void)
{
	struct mark *m = atomic_load_explicit(&marks, memory_order_acquire), *expect = NULL;
	void *p;

	if (m)
		return m;
	/* 16 MiB of address space; only the pages of high fds are touched. */
	p = REAL(mmap)(NULL, IFD_MAX * sizeof(struct mark), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (!atomic_compare_exchange_strong(&marks, &expect, p)) {
		REAL(munmap)(p, IFD_MAX * sizeof(struct mark));
		return expect;
	}
	return p;
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

static struct mark *mark_of(int fd)
{
	struct mark *m = atomic_load_explicit(&marks, memory_order_acquire);

	if (!m || fd < 0 || fd > atomic_load_explicit(&ifd_top, memory_order_relaxed))
		return NULL;
	return atomic_load_explicit(&m[fd].ino, memory_order_relaxed) ? &m[fd] : NULL;
}

/* fd is open on the inode id names. */
static int is_inode(int fd, const shim_ifd_id *id)
{
	struct stat st;
	int saved = errno, ok;

	ok = id->ino && REAL(fstat)(fd, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino;
	errno = saved;
	return ok;
}

static int mark_matches(const struct mark *m, const shim_ifd_id *id)
{
	return atomic_load(&m->dev) == (uint64_t)id->dev &&
	       atomic_load(&m->ino) == (uint64_t)id->ino;
}

int shim_ifd_hide(int fd, shim_ifd_id *id)
{
	int saved = errno, nfd, top;
	struct mark *m;
	struct stat st;

	id->dev = 0;
	id->ino = 0;
	if (fd < 0 || shim_foreign())
		return fd;
	nfd = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor_fd());
	if (nfd >= 0) {
		REAL(close)(fd);
		fd = nfd;
	}
	m = fd < IFD_MAX ? marks_get() : NULL;
	if (m && REAL(fstat)(fd, &st) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		atomic_store(&m[fd].dev, (uint64_t)st.st_dev);
		atomic_store(&m[fd].ino, (uint64_t)st.st_ino);
		top = atomic_load(&ifd_top);
		while (fd > top && !atomic_compare_exchange_weak(&ifd_top, &top, fd))
			;
	}
	errno = saved;
	return fd;
}

int shim_ifd_is(int fd)
{
	struct mark *m = mark_of(fd);
	shim_ifd_id id;

	if (!m)
		return 0;
	id.dev = (dev_t)atomic_load(&m->dev);
	id.ino = (ino_t)atomic_load(&m->ino);
	if (is_inode(fd, &id))
		return 1;
	/* Closed behind our back and maybe reused: the program's now. */
	if (!shim_foreign())
		atomic_compare_exchange_strong(&m->ino, &(uint64_t){(uint64_t)id.ino}, 0);
	return 0;
}

int shim_ifd_marked(int fd, const shim_ifd_id *id)
{
	struct mark *m = mark_of(fd);

	return m && mark_matches(m, id);
}

int shim_ifd_mine(int fd, const shim_ifd_id *id)
{
	struct mark *m = mark_of(fd);

	return m && mark_matches(m, id) && is_inode(fd, id);
}

void shim_ifd_close(int fd, const shim_ifd_id *id)
{
	struct mark *m = mark_of(fd);
	int saved = errno;

	if (!m || !mark_matches(m, id) || !is_inode(fd, id))
		return; /* not ours any more: someone else's number now */
	/* A vfork child has its own fd table but our memory: keep the mark. */
	if (!shim_foreign())
		atomic_store(&m->ino, 0);
	REAL(close)(fd);
	errno = saved;
}

void shim_ifd_lost(int fd)
{
	struct mark *m = mark_of(fd);

	if (m && !shim_foreign()) {
		atomic_store(&m->ino, 0);
		SHIM_DBG("unseal: dup2: fd %d: now the program's (was the shim's)", fd);
	}
}

int shim_ifd_close_range(unsigned lo, unsigned hi, int flags)
{
	int top = atomic_load(&ifd_top), err = 0;
	unsigned from = lo, end;

	/* Bad arguments, or nothing of ours in range: the kernel decides. */
	if (top < 0 || lo > hi || lo > (unsigned)top ||
	    (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
		return REAL(close_range)(lo, hi, flags);
	end = hi < (unsigned)top ? hi : (unsigned)top;
	for (unsigned fd = lo; fd <= end; fd++) {
		if (!shim_ifd_is((int)fd))
			continue;
		if (fd > from && REAL(close_range)(from, fd - 1, flags) < 0 && !err)
			err = errno;
		from = fd + 1;
	}
	/* The rest has none of ours; a huge tail cannot be walked one by one. */
	if (from <= hi && REAL(close_range)(from, hi, flags) < 0 && !err)
		err = errno;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

void shim_ifd_closefrom(int lo)
{
	int top = atomic_load(&ifd_top);

	if (lo > top) {
		REAL(closefrom)(lo);
		return;
	}
	/* Around ours up to our highest fd; where close_range is missing or
	 * filtered, one by one (only up to our highest fd).  Above it glibc's
	 * closefrom, with its own fallbacks. */
	if (shim_ifd_close_range((unsigned)lo, (unsigned)top, 0) < 0 &&
	    (errno == ENOSYS || errno == EPERM))
		for (int fd = lo; fd <= top; fd++)
			if (!shim_ifd_is(fd))
				(void)REAL(close)(fd);
	REAL(closefrom)(top + 1);
}
