/* fd bookkeeping: which fd numbers are virtual files or directories.
 *
 * A lazily mapped array of entry pointers indexed by fd; untracked fds cost
 * one atomic load.  Entries describe an open file description, so dup'd fds
 * share one refcounted entry (they share the offset too).  Entries are never
 * freed on the close path (a signal handler may call close): dead ones go to
 * a lock-free graveyard that shim_fd_gc() empties from an open path.
 * Mutations are skipped in a vfork/raw-clone child (it shares our memory but
 * has its own fd table).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "preload/shim.h"

#define FD_MAX (1 << 20)

static struct shim_fd *_Atomic *tab;
static _Atomic int fd_hi = -1; /* highest fd ever tracked */
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_fd *_Atomic grave;

void shim_fd_init(void)
{
	void *p;

	if (tab)
		return;
	/* Untouched pages cost nothing; 8 MiB of address space. */
	p = REAL(mmap)(NULL, sizeof(*tab) * FD_MAX, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p != MAP_FAILED)
		tab = p;
}

int shim_fd_tracked(int fd)
{
	return tab && fd >= 0 && fd < FD_MAX &&
	       atomic_load_explicit(&tab[fd], memory_order_acquire) != NULL;
}

static void lock(shim_sigs *s)
{
	shim_sig_block(s);
	pthread_mutex_lock(&tab_lock);
}

static void unlock(shim_sigs *s)
{
	pthread_mutex_unlock(&tab_lock);
	shim_sig_restore(s);
}

static void bury(struct shim_fd *e)
{
	struct shim_fd *head = atomic_load(&grave);

	do {
		e->next = head;
	} while (!atomic_compare_exchange_weak(&grave, &head, e));
}

struct shim_fd *shim_fd_get(int fd)
{
	struct shim_fd *e;
	shim_sigs s;

	if (!shim_fd_tracked(fd))
		return NULL;
	lock(&s);
	e = atomic_load(&tab[fd]);
	if (e)
		e->refs++;
	unlock(&s);
	return e;
}

void shim_fd_put(struct shim_fd *e)
{
	shim_sigs s;
	int last;

	if (!e)
		return;
	lock(&s);
	last = --e->refs == 0;
	unlock(&s);
	if (!last)
		return;
	/* Outside tab_lock: file.c has its own lock (never nested). */
	if (e->file)
		shim_file_put(e->file);
	e->file = NULL;
	bury(e);
}

void shim_fd_gc(void)
{
	struct shim_fd *e = atomic_exchange(&grave, NULL);

	while (e) {
		struct shim_fd *n = e->next;

		if (e->stream)
			shim_stream_free(e->stream);
		free(e);
		e = n;
	}
}

/* Install e at fd (e's reference moves into the table). */
static void install(int fd, struct shim_fd *e)
{
	struct shim_fd *old;
	shim_sigs s;
	int hi;

	lock(&s);
	old = atomic_exchange(&tab[fd], e);
	unlock(&s);
	hi = atomic_load(&fd_hi);
	while (fd > hi && !atomic_compare_exchange_weak(&fd_hi, &hi, fd))
		;
	shim_fd_put(old);
}

static int fd_add(int fd, int kind, int anc, struct shim_file *file, const char *vpath,
                  const char *cpath, const struct stat *st)
{
	struct shim_fd *e;

	if (!tab || fd < 0 || fd >= FD_MAX || shim_foreign())
		return -1;
	shim_fd_gc();
	e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	e->refs = 1;
	e->kind = kind;
	e->anc = anc;
	e->file = file;
	if (st)
		e->st = *st;
	shim_fmt(e->vpath, sizeof(e->vpath), "%s", vpath);
	shim_fmt(e->cpath, sizeof(e->cpath), "%s", cpath);
	install(fd, e);
	return 0;
}

int shim_fd_add(int fd, int kind, struct shim_file *file, const char *vpath, const char *cpath,
                const struct stat *st)
{
	return fd_add(fd, kind, 0, file, vpath, cpath, st);
}

int shim_fd_add_anc(int fd, const char *vpath, const char *cpath, const struct stat *st)
{
	return fd_add(fd, SHIM_FD_DIR, 1, NULL, vpath, cpath, st);
}

void shim_fd_drop(int fd)
{
	struct shim_fd *e;
	shim_sigs s;

	if (!shim_fd_tracked(fd) || shim_foreign())
		return;
	lock(&s);
	e = atomic_exchange(&tab[fd], NULL);
	unlock(&s);
	shim_fd_put(e);
}

void shim_fd_drop_range(unsigned lo, unsigned hi)
{
	int top = atomic_load(&fd_hi);

	if (!tab || top < 0 || shim_foreign())
		return;
	if (hi > (unsigned)top)
		hi = (unsigned)top;
	for (unsigned fd = lo; fd <= hi && fd < FD_MAX; fd++)
		if (atomic_load_explicit(&tab[fd], memory_order_relaxed))
			shim_fd_drop((int)fd);
}

void shim_fd_dup(int oldfd, int newfd)
{
	struct shim_fd *e;

	if (!tab || newfd < 0 || newfd >= FD_MAX || oldfd == newfd || shim_foreign())
		return;
	e = shim_fd_get(oldfd);
	if (!e) {
		shim_fd_drop(newfd);
		return;
	}
	install(newfd, e);
}

void shim_fd_revalidate(void)
{
	int top = atomic_load(&fd_hi);
	int saved = errno;

	if (!tab || shim_foreign())
		return;
	for (int fd = 0; fd <= top && fd < FD_MAX; fd++)
		if (atomic_load_explicit(&tab[fd], memory_order_relaxed) &&
		    REAL(fcntl)(fd, F_GETFD) < 0 && errno == EBADF)
			shim_fd_drop(fd);
	errno = saved;
}

void shim_trace_fd_at(const char *fn, int fd)
{
	struct shim_fd *e = shim_fd_get(fd);

	if (!e)
		return;
	shim_log(SHIM_LOG_DEBUG, "unseal: trace: %s: %s (fd %d)", fn, e->vpath, fd);
	shim_fd_put(e);
}

void shim_fd_atfork_prepare(void)
{
	pthread_mutex_lock(&tab_lock);
}

void shim_fd_atfork_parent(void)
{
	pthread_mutex_unlock(&tab_lock);
}

void shim_fd_atfork_child(void)
{
	pthread_mutex_unlock(&tab_lock);
}
