/* Configuration from the environment, and the cwd as the resolver sees it.
 *
 * UNSEAL_CIPHER_DIR is the gocryptfs cipher directory, UNSEAL_MOUNT the
 * absolute virtual root.  The virtual root must not exist (or be an empty
 * directory): then anything that slips past the shim gets ENOENT, never
 * ciphertext.  If it exists and is not empty, the shim refuses to shadow it:
 * one error line, and everything passes through untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/shim.h"

struct shim_cfg shim_cfg;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* cwd: immutable snapshots swapped atomically (old ones are leaked on
 * purpose: chdir is rare and a reader may still hold the old one). */
struct cwd_state {
	int virt; /* 1: virtual cwd; 0: real cwd, an ancestor of the mount; 2: cipher cwd, not yet
	             translated */
	char path[PATH_MAX];
};
static struct cwd_state *_Atomic cwd_now;

/* ---- configuration ---- */

static int mount_is_usable(const char *m)
{
	struct stat st;
	DIR *d;
	struct dirent64 *e;
	int empty = 1;

	if (REAL(lstat)(m, &st) < 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return 0;
	d = REAL(opendir)(m);
	if (!d)
		return 0;
	while ((e = REAL(readdir64)(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	REAL(closedir)(d);
	return empty;
}

static void init_once_fn(void)
{
	const char *c = getenv("UNSEAL_CIPHER_DIR");
	const char *m = getenv("UNSEAL_MOUNT");
	const char *s;
	long n;

	shim_log_init();
	shim_fd_init();
	if (!c || !*c || !m || !*m)
		return;
	if (m[0] != '/' || shim_normalize(m, shim_cfg.mount, sizeof(shim_cfg.mount)) ||
	    !strcmp(shim_cfg.mount, "/")) {
		shim_log(SHIM_LOG_ERROR,
		         "unseal: config: UNSEAL_MOUNT=%s: must be an absolute "
		         "path below /; shim disabled",
		         m);
		return;
	}
	if (!REAL(realpath)(c, shim_cfg.cipher)) {
		shim_log(SHIM_LOG_ERROR, "unseal: config: UNSEAL_CIPHER_DIR=%s: %s; shim disabled",
		         c, strerror(errno));
		return;
	}
	{
		char canon[PATH_MAX];

		shim_canonical_mount(shim_cfg.mount, canon, sizeof(canon));
		if (strcmp(canon, shim_cfg.mount)) {
			memcpy(shim_cfg.alias, shim_cfg.mount, sizeof(shim_cfg.alias));
			shim_cfg.alias_len = strlen(shim_cfg.alias);
			memcpy(shim_cfg.mount, canon, sizeof(shim_cfg.mount));
		}
	}
	if (!mount_is_usable(shim_cfg.mount)) {
		shim_log(SHIM_LOG_ERROR,
		         "unseal: config: %s: exists and is not an empty directory; refusing to "
		         "shadow it, shim disabled",
		         shim_cfg.mount);
		return;
	}
	shim_cfg.mount_len = strlen(shim_cfg.mount);
	shim_cfg.cipher_len = strlen(shim_cfg.cipher);
	s = getenv("UNSEAL_STREAM");
	shim_cfg.stream = s && !strcmp(s, "1");
	s = getenv("UNSEAL_STREAM_MIN");
	shim_cfg.stream_min = s ? strtoull(s, NULL, 0) : 0;
	s = getenv("UNSEAL_THREADS");
	n = s ? strtol(s, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	shim_cfg.nthreads = n > 0 ? (int)(n > 64 ? 64 : n) : 1;
	shim_cwd_set_real();
	shim_cfg.enabled = 1;
	SHIM_DBG("unseal: config: %s -> %s", shim_cfg.mount, shim_cfg.cipher);
}

void shim_init(void)
{
	pthread_once(&init_once, init_once_fn);
}

/* ---- cwd ---- */

static void cwd_publish(int virt, const char *path)
{
	struct cwd_state *s = NULL;

	if (path) {
		s = malloc(sizeof(*s));
		if (!s)
			return;
		s->virt = virt;
		shim_fmt(s->path, sizeof(s->path), "%s", path);
	}
	cwd_now = s;
}

void shim_cwd_set_virtual(const char *vpath)
{
	cwd_publish(1, vpath);
}

void shim_cwd_set_real(void)
{
	char buf[PATH_MAX];
	size_t n;

	if (!REAL(getcwd)(buf, sizeof(buf))) {
		cwd_publish(0, NULL);
		return;
	}
	n = strlen(buf);
	/* Inside the cipher tree (an exec'd child of a process whose virtual
	 * cwd was there): translated back to plaintext on first use. */
	if (!strncmp(buf, shim_cfg.cipher, shim_cfg.cipher_len) &&
	    (buf[shim_cfg.cipher_len] == 0 || buf[shim_cfg.cipher_len] == '/')) {
		cwd_publish(2, buf);
		return;
	}
	/* Only an ancestor of the mount (or of its alias) can make a relative
	 * path virtual. */
	if (!strcmp(buf, "/") || shim_anc_len(buf, n))
		cwd_publish(0, buf);
	else
		cwd_publish(0, NULL);
}

/* Cipher path under the cipher root -> virtual path; 0 or -1. */
static int cipher_to_virtual(const char *cpath, char *out, size_t cap)
{
	char cur[PATH_MAX], name[GCFS_NAME_MAX + 1];
	uint8_t iv[GCFS_DIRIV_LEN];
	const char *p = cpath + shim_cfg.cipher_len;
	size_t o;

	memcpy(cur, shim_cfg.cipher, shim_cfg.cipher_len + 1);
	if (shim_fmt(out, cap, "%s", shim_cfg.mount) >= (int)cap)
		return -1;
	o = strlen(out);
	while (*p == '/') {
		const char *s = ++p;
		size_t n, cl = strlen(cur);

		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (!n)
			continue;
		if (shim_diriv(cur, iv) || cl + n + 2 > sizeof(cur))
			return -1;
		cur[cl] = '/';
		memcpy(cur + cl + 1, s, n);
		cur[cl + 1 + n] = 0;
		if (shim_name_plain(cur, iv, cl == shim_cfg.cipher_len, cur + cl + 1, name))
			return -1;
		if (o + strlen(name) + 2 > cap)
			return -1;
		out[o++] = '/';
		strcpy(out + o, name);
		o += strlen(name);
	}
	return 0;
}

/* The cwd snapshot, translating a pending cipher cwd on first use. */
static struct cwd_state *cwd_current(void)
{
	struct cwd_state *s = cwd_now;
	char v[PATH_MAX];

	if (!s || s->virt != 2)
		return s;
	if (cipher_to_virtual(s->path, v, sizeof(v)) == 0)
		cwd_publish(1, v);
	else
		cwd_publish(0, NULL);
	return cwd_now;
}

int shim_cwd_base(char *out, size_t cap, int *virt)
{
	struct cwd_state *s = cwd_current();

	if (!s)
		return 0;
	shim_fmt(out, cap, "%s", s->path);
	*virt = s->virt;
	return 1;
}

int shim_cwd_get_virtual(char *out, size_t cap)
{
	struct cwd_state *s;

	if (shim_busy || !shim_cfg.enabled)
		return 0;
	s = cwd_current();

	if (!s || !s->virt)
		return 0;
	shim_fmt(out, cap, "%s", s->path);
	return 1;
}
