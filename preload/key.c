/* Keys: loaded once per process on first access under the mount (or at load
 * with UNSEAL_EAGER=1), single-flight across threads.  Sources, first match:
 *   UNSEAL_KEY_FD            hand-off from a parent shim (UNSEAL_KEY_HANDOFF=1)
 *   UNSEAL_PASSFILE          password file (first line) -> scrypt unwrap
 *   UNSEAL_MASTERKEY_FILE    32 raw bytes or 64 hex digits
 *   UNSEAL_KBS_URL + UNSEAL_KEY_URI  attested fetch via libunseal-kbs.so,
 *                            UNSEAL_KEY_FORMAT=password (default) | masterkey,
 *                            UNSEAL_KBS_PROTOCOL=auto|0.1.0|0.1.1|0.2.0|0.4.0 (a version pins it)
 * A failure is logged once; afterwards every access under the mount gets
 * EACCES and the process goes on. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/kbs.h"
#include "preload/shim.h"

#define CONF_MAX (64 * 1024)
#define SECRET_MAX 4096

enum { KEY_NONE = 0, KEY_OK = 1, KEY_FAILED = 2 };

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
/* KEY_*; stored (release) under key_lock after key_keys is set, so a thread
 * that reads KEY_OK (acquire) without the lock sees complete keys. */
static int key_state;
static gcfs_keys *key_keys;

static int state_get(void)
{
	return __atomic_load_n(&key_state, __ATOMIC_ACQUIRE);
}

static void state_set(int st)
{
	__atomic_store_n(&key_state, st, __ATOMIC_RELEASE);
}

/* Master key and secret scratch live in one mlocked, non-dumpable page. */
struct key_scratch {
	uint8_t master[GCFS_KEY_LEN];
	uint8_t secret[SECRET_MAX];
};
static struct key_scratch *scratch;

static int scratch_get(void)
{
	if (scratch)
		return 0;
	scratch = REAL(mmap)(NULL, sizeof(*scratch), PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED) {
		scratch = NULL;
		return -1;
	}
	/* Best effort: RLIMIT_MEMLOCK may be tiny; the page is wiped after
	 * every load either way, so only say so. */
	if (mlock(scratch, sizeof(*scratch)))
		SHIM_DBG("unseal: key: mlock: %s (key scratch may be swapped)", strerror(errno));
	(void)madvise(scratch, sizeof(*scratch), MADV_DONTDUMP);
	return 0;
}

/* Called on every exit path of key_load, success or error, and at exit. */
static void scratch_wipe(void)
{
	if (scratch)
		gcfs_wipe(scratch, sizeof(*scratch));
}

/* Whole small file into buf; returns length or -1 with errno. */
static ssize_t slurp(const char *path, void *buf, size_t cap)
{
	int fd = REAL(open)(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got < cap) {
		ssize_t n = REAL(read)(fd, (char *)buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	REAL(close)(fd);
	return (ssize_t)got;
}

static int conf_load(gcfs_conf *conf, char *why, size_t whylen)
{
	char path[PATH_MAX + 32];
	char *json = malloc(CONF_MAX);
	char err[GCFS_ERRBUF] = "";
	ssize_t n;
	int rc;

	if (!json) {
		shim_fmt(why, whylen, "out of memory");
		return -1;
	}
	shim_fmt(path, sizeof(path), "%s/%s", shim_cfg.cipher, GCFS_CONF_NAME);
	n = slurp(path, json, CONF_MAX);
	if (n < 0) {
		shim_fmt(why, whylen, "%s: %s", path, strerror(errno));
		free(json);
		return -1;
	}
	rc = gcfs_conf_parse(json, (size_t)n, conf, err, sizeof(err));
	free(json);
	if (rc) {
		shim_fmt(why, whylen, "%s: %s", path, err[0] ? err : gcfs_strerror(rc));
		return -1;
	}
	return 0;
}

/* A password (first line semantics already applied) -> master. */
static int from_password(const gcfs_conf *conf, const uint8_t *pw, size_t len, char *why,
                         size_t whylen)
{
	char err[GCFS_ERRBUF] = "";
	int rc = gcfs_conf_unwrap(conf, pw, len, scratch->master, err, sizeof(err));

	if (rc) {
		shim_fmt(why, whylen, "%s",
		         rc == GCFS_EAUTH ? "wrong password or corrupt gocryptfs.conf"
		                          : (err[0] ? err : gcfs_strerror(rc)));
		return -1;
	}
	return 0;
}

/* Secret bytes in scratch->secret -> master, by format. */
static int from_secret(const gcfs_conf *conf, size_t len, int is_password, char *why, size_t whylen)
{
	if (is_password) {
		long pl = gcfs_passfile_first_line(scratch->secret, len);

		if (pl <= 0) {
			shim_fmt(why, whylen, "empty password");
			return -1;
		}
		return from_password(conf, scratch->secret, (size_t)pl, why, whylen);
	}
	if (len == GCFS_KEY_LEN) {
		memcpy(scratch->master, scratch->secret, GCFS_KEY_LEN);
		return 0;
	}
	if (gcfs_masterkey_parse((const char *)scratch->secret, len, scratch->master)) {
		shim_fmt(why, whylen, "master key is neither 32 raw bytes nor 64 hex digits");
		return -1;
	}
	return 0;
}

static int from_file(const gcfs_conf *conf, const char *path, int is_password, char *why,
                     size_t whylen)
{
	ssize_t n = slurp(path, scratch->secret, SECRET_MAX);

	if (n < 0) {
		shim_fmt(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return from_secret(conf, (size_t)n, is_password, why, whylen);
}

/* UNSEAL_KBS_PROTOCOL: pin the version so a known older server costs one
 * /auth, not a rejected 0.4.0 attempt first.  Unset or "auto": negotiate. */
static int kbs_proto_env(kbs_proto *out)
{
	static const char *const names[] = {"auto", "0.1.0", "0.1.1", "0.2.0", "0.4.0"};
	const char *v = getenv("UNSEAL_KBS_PROTOCOL");

	*out = KBS_PROTO_AUTO;
	if (!v || !*v)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(v, names[i])) {
			*out = (kbs_proto)i;
			return 0;
		}
	}
	return -1;
}

static int from_kbs(const gcfs_conf *conf, char *why, size_t whylen)
{
	const char *fmt = getenv("UNSEAL_KEY_FORMAT");
	kbs_config cfg = {.url = getenv("UNSEAL_KBS_URL"), .key_uri = getenv("UNSEAL_KEY_URI")};
	kbs_result res = {0};
	char err[512] = "";
	char path[PATH_MAX];
	Dl_info info;
	void *h;
	kbs_fetch_fn fetch;
	kbs_free_fn release;
	int rc, is_pw = !fmt || strcmp(fmt, "masterkey") != 0;

	if (kbs_proto_env(&cfg.proto)) {
		shim_fmt(why, whylen,
		         "UNSEAL_KBS_PROTOCOL: not one of auto, 0.1.0, 0.1.1, 0.2.0, 0.4.0");
		return -1;
	}
	/* Load the client from our own directory; libcurl stays out of
	 * processes that never use KBS. */
	if (!dladdr((void *)from_kbs, &info) || !info.dli_fname) {
		shim_fmt(why, whylen, "cannot locate libunseal.so");
		return -1;
	}
	shim_fmt(path, sizeof(path), "%s", info.dli_fname);
	shim_fmt(path + strlen(dirname(path)), sizeof(path) - strlen(path), "/libunseal-kbs.so");
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		shim_fmt(why, whylen, "%s", dlerror());
		return -1;
	}
	fetch = (kbs_fetch_fn)dlsym(h, KBS_FETCH_SYM);
	release = (kbs_free_fn)dlsym(h, KBS_FREE_SYM);
	if (!fetch || !release) {
		shim_fmt(why, whylen, "%s: missing kbs_fetch", path);
		dlclose(h);
		return -1;
	}
	rc = fetch(&cfg, &res, err, sizeof(err));
	if (rc) {
		/* The client frees on error; releasing again is a no-op and
		 * covers a client that does not. */
		release(&res);
		/* err is "unseal: attest: <step>: <cause>"; our log line
		 * already starts with "unseal: key: <mount>: ". */
		shim_fmt(why, whylen, "%s",
		         !err[0] ? "attest: fetch failed"
		                 : err + (strncmp(err, "unseal: ", 8) ? 0 : 8));
		return -1;
	}
	/* A success may carry one warning (e.g. an unsigned TDREPORT was sent). */
	if (err[0])
		shim_log(SHIM_LOG_WARN, "unseal: key: %s: %s", shim_cfg.mount,
		         err + (strncmp(err, "unseal: ", 8) ? 0 : 8));
	SHIM_DBG("unseal: key: kbs: protocol %s, tee %s, %d auth, %d attest", res.proto, res.tee,
	         res.auth_calls, res.attest_calls);
	if (!res.secret || res.secret_len == 0 || res.secret_len > SECRET_MAX) {
		shim_fmt(why, whylen, "kbs: resource is %s",
		         res.secret_len ? "too large" : "empty");
		release(&res);
		return -1;
	}
	memcpy(scratch->secret, res.secret, res.secret_len);
	rc = from_secret(conf, res.secret_len, is_pw, why, whylen);
	release(&res); /* wipes the client's copy */
	return rc;
}

/* The hand-off chain continues only where it was asked for. */
static int handoff_wanted(void)
{
	const char *on = getenv("UNSEAL_KEY_HANDOFF");

	return on && !strcmp(on, "1");
}

/* fd is a hand-off memfd: exactly the key's size and sealed against any
 * change, so nobody (not even the fd's other holders) can swap the key. */
static int handoff_fd_ok(int fd)
{
	const int need = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	struct stat st;
	int seals = REAL(fcntl)(fd, F_GET_SEALS);

	if (seals < 0 || (seals & need) != need)
		return 0;
	return !REAL(fstat)(fd, &st) && S_ISREG(st.st_mode) && st.st_size == GCFS_KEY_LEN;
}

/* UNSEAL_KEY_FD: a sealed 32-byte memfd left open by a parent shim.  A
 * process that does not hand off again itself (no UNSEAL_KEY_HANDOFF=1)
 * closes it and drops the variable once read, so its own children (which
 * never opted in) do not inherit the key. */
static int from_handoff(void)
{
	const char *s = getenv("UNSEAL_KEY_FD");
	int fd, ok;
	char *end;

	if (!s || !*s)
		return -1;
	fd = (int)strtol(s, &end, 10);
	if (*end || fd < 0) {
		if (!handoff_wanted())
			unsetenv("UNSEAL_KEY_FD");
		return -1;
	}
	ok = handoff_fd_ok(fd) && REAL(pread)(fd, scratch->master, GCFS_KEY_LEN, 0) == GCFS_KEY_LEN;
	if (!handoff_wanted() && ok)
		REAL(close)(fd); /* ours (checked): never close a stranger's fd */
	if (!handoff_wanted() || !ok)
		unsetenv("UNSEAL_KEY_FD"); /* a bad one is not passed on either */
	if (!ok) {
		SHIM_DBG("unseal: key: hand-off fd %d is not a sealed %d-byte memfd", fd,
		         GCFS_KEY_LEN);
		return -1;
	}
	SHIM_DBG("unseal: key: using hand-off fd %d", fd);
	return 0;
}

/* UNSEAL_KEY_HANDOFF=1: leave the master key in a sealed memfd that survives
 * exec, so exec'd children skip the fetch.  The fd number (never the key)
 * goes into the environment. */
static void handoff_publish(void)
{
	char num[16];
	int fd;

	if (!handoff_wanted() || getenv("UNSEAL_KEY_FD"))
		return;
	fd = memfd_create("unseal-key", MFD_ALLOW_SEALING);
	if (fd < 0)
		return;
	if (write(fd, scratch->master, GCFS_KEY_LEN) != GCFS_KEY_LEN ||
	    REAL(fcntl)(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	        0) {
		REAL(close)(fd);
		return;
	}
	shim_fmt(num, sizeof(num), "%d", fd);
	setenv("UNSEAL_KEY_FD", num, 1);
}

static int key_load(char *why, size_t whylen)
{
	const char *pass = getenv("UNSEAL_PASSFILE");
	const char *mkf = getenv("UNSEAL_MASTERKEY_FILE");
	const char *kbs = getenv("UNSEAL_KEY_URI");
	char err[GCFS_ERRBUF] = "";
	gcfs_engine eng;
	gcfs_conf conf;
	int rc;

	if (scratch_get()) {
		shim_fmt(why, whylen, "out of memory");
		return -1;
	}
	if (conf_load(&conf, why, whylen))
		return -1;
	if (gcfs_engine_parse(getenv("UNSEAL_CRYPTO"), &eng)) {
		shim_fmt(why, whylen, "UNSEAL_CRYPTO: unknown engine");
		return -1;
	}
	if (!from_handoff())
		rc = 0;
	else if (pass && *pass)
		rc = from_file(&conf, pass, 1, why, whylen);
	else if (mkf && *mkf)
		rc = from_file(&conf, mkf, 0, why, whylen);
	else if (kbs && *kbs)
		rc = from_kbs(&conf, why, whylen);
	else {
		shim_fmt(why, whylen,
		         "no key source (set UNSEAL_PASSFILE, UNSEAL_MASTERKEY_FILE or "
		         "UNSEAL_KBS_URL+UNSEAL_KEY_URI)");
		rc = -1;
	}
	if (rc == 0) {
		handoff_publish();
		rc = gcfs_keys_new(scratch->master, conf.flags, conf.longname_max, eng, &key_keys,
		                   err, sizeof(err));
		if (rc) {
			shim_fmt(why, whylen, "%s", err[0] ? err : gcfs_strerror(rc));
			rc = -1;
		}
	}
	scratch_wipe();
	gcfs_wipe(&conf, sizeof(conf));
	return rc;
}

/* From the first key load on, this process holds key material that is not
 * all ours to place: OpenSSL's expanded key schedules and the KBS session
 * key live in its heap, which MADV_DONTDUMP cannot reach.  So no core
 * dumps (children inherit the limit) unless UNSEAL_ALLOW_CORE=1. */
static void core_guard(void)
{
	const char *a = getenv("UNSEAL_ALLOW_CORE");
	struct rlimit rl;

	if (a && !strcmp(a, "1"))
		return;
	if (getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur != 0) {
		rl.rlim_cur = 0;
		if (setrlimit(RLIMIT_CORE, &rl) == 0)
			shim_log(SHIM_LOG_INFO,
			         "unseal: key: %s: core dumps off (RLIMIT_CORE 0; "
			         "UNSEAL_ALLOW_CORE=1 keeps them)",
			         shim_cfg.mount);
	}
}

const gcfs_keys *shim_keys(void)
{
	char why[768];

	int st = state_get();

	if (__builtin_expect(st == KEY_OK, 1))
		return key_keys;
	if (st == KEY_FAILED || shim_foreign()) {
		errno = EACCES;
		return NULL;
	}
	/* Key loading runs OpenSSL and maybe libcurl: their own file accesses
	 * must pass through. Signals stay deliverable (scrypt/KBS are slow). */
	pthread_mutex_lock(&key_lock);
	if (state_get() == KEY_NONE) {
		core_guard();
		shim_busy++;
		why[0] = 0;
		st = key_load(why, sizeof(why)) ? KEY_FAILED : KEY_OK;
		shim_busy--;
		state_set(st);
		/* Logged once, by the one thread that did the load. */
		if (st == KEY_FAILED)
			shim_log(SHIM_LOG_ERROR, "unseal: key: %s: %s", shim_cfg.mount, why);
		else
			shim_log(SHIM_LOG_INFO, "unseal: key: %s: loaded (engine %s)",
			         shim_cfg.mount, gcfs_engine_name(gcfs_keys_engine(key_keys)));
	}
	st = state_get();
	pthread_mutex_unlock(&key_lock);
	if (st != KEY_OK) {
		errno = EACCES;
		return NULL;
	}
	return key_keys;
}

/* 1 if this is the process's only thread.  /proc/self/task has one link
 * per thread plus "." and ".."; unknown counts as "not alone". */
static int single_threaded(void)
{
	struct stat st;

	return !REAL(stat)("/proc/self/task", &st) && st.st_nlink == 3;
}

/* Destructor.  Other threads may still be decrypting with the keys (exit()
 * does not stop them), so the keys are freed -- and wiped by
 * gcfs_keys_free -- only when this is the last thread; otherwise they stay
 * mlocked and out of core dumps until the kernel reclaims the process
 * (freeing them would be a use-after-free in those threads).  Late
 * accesses (other destructors, new lookups) get EACCES either way. */
void shim_keys_atexit(void)
{
	if (state_get() == KEY_OK && !shim_foreign()) {
		gcfs_keys *k = key_keys;

		state_set(KEY_FAILED);
		if (single_threaded()) {
			key_keys = NULL;
			gcfs_keys_free(k);
		}
	}
	scratch_wipe();
}

void shim_key_atfork_prepare(void)
{
	pthread_mutex_lock(&key_lock);
}

void shim_key_atfork_parent(void)
{
	pthread_mutex_unlock(&key_lock);
}

void shim_key_atfork_child(void)
{
	/* fork children keep the derived keys (same memory image). */
	pthread_mutex_unlock(&key_lock);
}

/* The keys in use, if any.  Stable across prepare..parent/child: they are
 * only set under key_lock (held by then) and never freed while another
 * thread could use them (shim_keys_atexit). */
static gcfs_keys *pool_keys(void)
{
	return state_get() == KEY_OK ? key_keys : NULL;
}

void shim_key_pool_atfork_prepare(void)
{
	gcfs_keys *k = pool_keys();

	if (k)
		gcfs_keys_fork_prepare(k);
}

void shim_key_pool_atfork_parent(void)
{
	gcfs_keys *k = pool_keys();

	if (k)
		gcfs_keys_fork_parent(k);
}

void shim_key_pool_atfork_child(void)
{
	gcfs_keys *k = pool_keys();

	if (k)
		gcfs_keys_fork_child(k);
}
