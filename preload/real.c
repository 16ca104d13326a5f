/* Real-symbol resolution, process identity, signal masking, and the
 * library's constructor/destructor and fork handlers. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/memfill.h"
#include "preload/shim.h"

struct shim_real_tab shim_real;
__thread int shim_busy __attribute__((tls_model("initial-exec")));

static pid_t shim_pid;

void shim_real_resolve(void)
{
	/* Idempotent: concurrent callers store the same pointers.  dlsym does
	 * not allocate on glibc 2.36 (measured), so this is safe anywhere. */
	int saved = errno;
#define SHIM_X(ret, name, params) shim_real.name = (ret(*) params)dlsym(RTLD_NEXT, #name);
	SHIM_REAL_TABLE(SHIM_X)
#undef SHIM_X
	errno = saved;
}

void shim_pid_update(void)
{
	shim_pid = (pid_t)syscall(SYS_getpid);
}

int shim_foreign(void)
{
	/* glibc no longer caches the pid, so this is one cheap syscall; it is
	 * only asked on paths that are about to change shared state.  Before
	 * our constructor ran (another library's constructor calling in), the
	 * process is the one that loaded us: record it now (the constructor
	 * records it again). */
	pid_t me = (pid_t)syscall(SYS_getpid);

	if (!shim_pid)
		shim_pid = me;
	return me != shim_pid;
}

void shim_sig_block(shim_sigs *s)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &s->old);
}

void shim_sig_restore(const shim_sigs *s)
{
	pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

/* fork: hold every lock across fork() so the child never inherits a lock
 * taken by a thread that does not exist there.
 *
 * Lock order (prepare; parent/child release in reverse):
 *   key_lock (key.c)  - held across a key load, which takes no shim lock
 *   iv_lock (path.c)  - leaf
 *   v_lock (vdir.c)   - leaf
 *   f_lock (file.c)   - may be followed by the keys' pool lock (decrypt)
 *   tab_lock (fd.c)   - taken alone (file puts happen after unlocking)
 *   all_lock (stream.c) - leaf; per-stream locks (held while decrypting,
 *                       which takes the pool lock) are reset in the child
 *   keys' pool lock   - crypto's leaf, so LAST: a thread holding it never
 *                       waits for any shim lock, while a thread holding
 *                       f_lock may wait for it.
 * No code takes an earlier lock while holding a later one, so prepare
 * cannot deadlock against a running thread. */
static void atfork_prepare(void)
{
	shim_key_atfork_prepare();
	shim_path_atfork_prepare();
	shim_vdir_atfork_prepare();
	shim_file_atfork_prepare();
	shim_fd_atfork_prepare();
	shim_stream_atfork_prepare();
	shim_key_pool_atfork_prepare();
}

static void atfork_parent(void)
{
	shim_key_pool_atfork_parent();
	shim_stream_atfork_parent();
	shim_fd_atfork_parent();
	shim_file_atfork_parent();
	shim_vdir_atfork_parent();
	shim_path_atfork_parent();
	shim_key_atfork_parent();
}

static void atfork_child(void)
{
	shim_pid_update();
	shim_key_pool_atfork_child();
	shim_stream_atfork_child();
	shim_fd_atfork_child();
	shim_file_atfork_child();
	shim_vdir_atfork_child();
	shim_path_atfork_child();
	shim_key_atfork_child();
}

__attribute__((constructor)) static void shim_ctor(void)
{
	shim_pid_update();
	shim_real_resolve();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	shim_init();
	{
		const char *e = getenv("UNSEAL_EAGER");

		/* Fail fast: fetch the key now rather than on first access. */
		if (e && !strcmp(e, "1") && shim_cfg.enabled)
			(void)shim_keys();
	}
}

__attribute__((destructor)) static void shim_dtor(void)
{
	shim_keys_atexit();
}
