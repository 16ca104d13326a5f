/* Paths around the mount: its missing ancestors and the alias it has when
 * UNSEAL_MOUNT goes through a symlinked directory.
 *
 * A missing ancestor (/models of /models/qwen/m) must look like a
 * directory: component-wise realpath implementations (coreutils, Node)
 * lstat/readlink every prefix, and walkers list and enter it.  It shows the
 * cipher root's modes and times, an inode of its own, and one entry: the
 * next component of the mount path.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "preload/shim.h"

/* The mount path as the kernel would canonicalise it: its deepest existing
 * ancestor through realpath(), the missing rest appended.  A mount under a
 * symlinked directory (/models -> /data/models) then matches what
 * realpath() and getcwd() return; the spelling the user gave stays an alias. */
void shim_canonical_mount(const char *m, char *out, size_t cap)
{
	char head[PATH_MAX], real[PATH_MAX];
	size_t n = strlen(m);

	shim_fmt(out, cap, "%s", m);
	for (;;) {
		shim_fmt(head, sizeof(head), "%.*s", (int)n, m);
		if (REAL(realpath)(head, real)) {
			/* real + the missing rest ("/" + "/x" must not be "//x");
			 * if that does not fit, keep the given spelling. */
			char tmp[PATH_MAX];

			if (shim_fmt(tmp, sizeof(tmp), "%s%s", strcmp(real, "/") ? real : "",
			             n > 1 ? m + n : m) < (int)sizeof(tmp))
				shim_fmt(out, cap, "%s", tmp);
			return;
		}
		if (n == 1)
			return;
		while (n > 1 && m[n - 1] != '/')
			n--;
		if (n > 1)
			n--;
	}
}

int shim_alias_subst(const char *in, char *out, size_t cap)
{
	size_t n = shim_cfg.alias_len;

	if (!n || strncmp(in, shim_cfg.alias, n) || (in[n] && in[n] != '/'))
		return 0;
	return shim_fmt(out, cap, "%s%s", shim_cfg.mount, in + n) < (int)cap;
}

/* ---- missing ancestors of the mount ---- */

void shim_anc_next(const char *vpath, char *next, size_t ncap)
{
	size_t n = strlen(vpath);
	const char *p = shim_cfg.mount + n + (n > 1), *e = strchr(p, '/');

	shim_fmt(next, ncap, "%.*s", (int)(e ? (size_t)(e - p) : strlen(p)), p);
}

void shim_anc_real(const char *vpath, char *real, size_t rcap)
{
	struct stat st;

	shim_fmt(real, rcap, "%s", vpath);
	for (;;) {
		char *s = strrchr(real, '/');

		if (!s || s == real) {
			shim_fmt(real, rcap, "/");
			return;
		}
		*s = 0;
		if (REAL(stat)(real, &st) == 0 && S_ISDIR(st.st_mode))
			return;
	}
}

ino_t shim_anc_ino(const char *vpath)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	struct stat st;

	if (!strcmp(vpath, shim_cfg.mount))
		return REAL(lstat)(shim_cfg.cipher, &st) == 0 ? st.st_ino : 0;
	/* FNV-1a of the path, above any 32-bit inode number: distinct per
	 * ancestor, so walkers (find, fts) see no directory loop. */
	for (const char *c = vpath; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
	return (ino_t)((1ULL << 62) | (h & ((1ULL << 62) - 1)));
}

/* Length of the virtual path of missing ancestor abs[0..n) of the mount,
 * also when spelled through the UNSEAL_MOUNT alias (their missing tails
 * are the same); 0 if it is not one. */
size_t shim_anc_len(const char *abs, size_t n)
{
	size_t ml = shim_cfg.mount_len, al = shim_cfg.alias_len;

	if (n < ml && !strncmp(shim_cfg.mount, abs, n) && shim_cfg.mount[n] == '/')
		return n;
	if (n < al && !strncmp(shim_cfg.alias, abs, n) && shim_cfg.alias[n] == '/' && al - n < ml &&
	    shim_cfg.mount[ml - (al - n)] == '/')
		return ml - (al - n);
	return 0;
}

static int ancestor(const char *abs, struct shim_res *r)
{
	size_t n = strlen(abs), vn;
	struct stat st;

	while (n > 1 && abs[n - 1] == '/')
		n--;
	if (n == 1 || !(vn = shim_anc_len(abs, n)))
		return SHIM_PASS;
	if (REAL(lstat)(abs, &st) == 0 || errno != ENOENT)
		return SHIM_PASS;
	if (REAL(lstat)(shim_cfg.cipher, &r->st) < 0)
		return SHIM_PASS;
	r->kind = SHIM_VIRT;
	r->exists = 1;
	r->err = 0;
	r->is_root = 0;
	r->is_anc = 1;
	shim_fmt(r->vpath, sizeof(r->vpath), "%.*s", (int)vn, shim_cfg.mount);
	shim_fmt(r->cpath, sizeof(r->cpath), "%s", shim_cfg.cipher);
	/* Its own directory (the cipher root's modes and times): own inode,
	 * "." + its entry above + its one child's "..". */
	r->st.st_ino = shim_anc_ino(r->vpath);
	r->st.st_nlink = 3;
	return r->kind;
}

int shim_outside(const char *abs, char *work, size_t cap, struct shim_res *r)
{
	if (shim_alias_subst(abs, work, cap))
		return SHIM_WALK;
	return ancestor(abs, r);
}
