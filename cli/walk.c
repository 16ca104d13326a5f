/* Walk a cipher directory: per directory read and check the dir IV, list
 * the entries in sorted order, skip gocryptfs metadata, decrypt each name
 * (reading the .name file of long names) and re-encrypt it to check that
 * the on-disk name is exactly what the key produces (and, when asked, report
 * .name files whose long-name entry is gone).  Directories are opened
 * with O_NOFOLLOW relative to their parent, as gocryptfs does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/common.h"

#define NAMEFILE_MAX 344 /* spec §8: a .name file is 1..344 bytes */

struct walker {
	const gcfs_keys *k;
	const cli_walk_ops *ops;
	void *u;
	int plaintextnames, diriv;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cli_free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cli_list_dir(int fd, char ***out, size_t *count)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));

			if (!nv)
				goto oom;
			v = nv;
		}
		if (!(v[n] = strdup(e->d_name)))
			goto oom;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*count = n;
	return 0;
oom:
	closedir(d);
	cli_free_names(v, n);
	errno = ENOMEM;
	return -1;
}

static char *join(const char *a, const char *b)
{
	char *s;

	if (!*a)
		return strdup(b);
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

static int report(struct walker *w, const char *cpath, const char *ppath, const char *what,
                  const char *cause)
{
	return w->ops->bad(w->u, cpath, ppath, what, cause);
}

/* The dir IV of an open cipher dir (all zero without the DirIV flag). */
static int read_diriv(struct walker *w, cli_node *dn, uint8_t iv[GCFS_DIRIV_LEN])
{
	char *buf = NULL, *path;
	size_t len = 0;
	int rc = 0;

	memset(iv, 0, GCFS_DIRIV_LEN);
	if (!w->diriv)
		return 0;
	path = join(dn->cpath, GCFS_DIRIV_NAME);
	if (cli_read_small(dn->fd, GCFS_DIRIV_NAME, GCFS_DIRIV_LEN, &buf, &len) < 0) {
		rc = report(w, path, dn->ppath, "diriv",
		            errno == EFBIG ? "longer than 16 bytes" : strerror(errno));
		rc = rc < 0 ? -1 : 1;
	} else if (gcfs_diriv_check((const uint8_t *)buf, len) < 0) {
		rc = report(w, path, dn->ppath, "diriv", "not 16 bytes or all zero");
		rc = rc < 0 ? -1 : 1;
	} else {
		memcpy(iv, buf, GCFS_DIRIV_LEN);
	}
	free(buf);
	free(path);
	return rc;
}

/* Plaintext name of cipher entry `name` in dn; 0 ok, 1 bad (reported), -1 stop. */
static int decrypt_name(struct walker *w, cli_node *dn, const uint8_t *iv, const char *name,
                        const char *cpath, char pname[GCFS_NAME_MAX + 1])
{
	char *full = NULL, *nf = NULL;
	char again[GCFS_CNAME_MAX];
	const char *cause = NULL;
	size_t len;
	int is_long = 0, rc;

	if (w->plaintextnames) {
		if (strlen(name) > GCFS_NAME_MAX)
			cause = "name too long";
		else
			strcpy(pname, name);
		goto out;
	}
	if (gcfs_name_is_longname(name)) {
		if (asprintf(&nf, "%s.name", name) < 0)
			return -1;
		if (cli_read_small(dn->fd, nf, NAMEFILE_MAX, &full, &len) < 0) {
			cause = errno == EFBIG ? ".name file longer than 344 bytes"
			                       : "cannot read .name file";
			goto out;
		}
		if (len == 0) {
			cause = "empty .name file";
			goto out;
		}
	}
	rc = gcfs_name_decrypt(w->k, iv, full ? full : name, pname);
	if (rc < 0) {
		cause = full ? "cannot decrypt the name in the .name file" : "cannot decrypt name";
		goto out;
	}
	/* Re-encrypting must give back exactly the on-disk name: this checks
	 * the long-name hash against its .name file and rejects non-canonical
	 * encodings that happen to decrypt. */
	rc = gcfs_name_encrypt(w->k, iv, pname, again, NULL, &is_long);
	if (rc < 0 || strcmp(again, name))
		cause = full ? "long name hash does not match its .name file"
		             : "name does not re-encrypt to itself";
out:
	free(full);
	free(nf);
	if (!cause)
		return 0;
	return report(w, cpath, NULL, "name", cause) < 0 ? -1 : 1;
}

static int walk_dir(struct walker *w, cli_node *dn);

/* A long-name .name file whose entry is not in the (sorted) listing. */
static int is_orphan(struct walker *w, char **names, size_t count, const char *name)
{
	size_t n = strlen(name);
	char base[GCFS_CNAME_MAX];
	const char *key = base;

	if (!w->ops->check_orphans || w->plaintextnames || n < 5 || n - 5 >= sizeof(base) ||
	    strncmp(name, GCFS_LONGNAME_PREFIX, sizeof(GCFS_LONGNAME_PREFIX) - 1) ||
	    strcmp(name + n - 5, ".name"))
		return 0;
	memcpy(base, name, n - 5);
	base[n - 5] = '\0';
	return !bsearch(&key, names, count, sizeof(*names), cmp_str);
}

static int visit(struct walker *w, cli_node *dn, const uint8_t *iv, const char *name)
{
	char pname[GCFS_NAME_MAX + 1];
	cli_node n = {.parent = dn, .dirfd = dn->fd, .cname = name, .fd = -1, .user_fd = -1};
	char *cpath = join(dn->cpath, name), *ppath = NULL;
	int rc;

	if (!cpath)
		return -1;
	rc = decrypt_name(w, dn, iv, name, cpath, pname);
	if (rc)
		goto out;
	ppath = join(dn->ppath, pname);
	if (!ppath) {
		rc = -1;
		goto out;
	}
	n.cpath = cpath;
	n.ppath = ppath;
	n.pname = pname;
	if (fstatat(dn->fd, name, &n.st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = report(w, cpath, ppath, "stat", strerror(errno)) < 0 ? -1 : 0;
		goto out;
	}
	if (!S_ISDIR(n.st.st_mode)) {
		rc = w->ops->leaf(w->u, &n);
		goto out;
	}
	n.fd = openat(dn->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (n.fd < 0) {
		rc = report(w, cpath, ppath, "open", strerror(errno)) < 0 ? -1 : 0;
		goto out;
	}
	rc = w->ops->dir_pre(w->u, &n);
	if (rc == 0)
		rc = walk_dir(w, &n);
	if (rc == 0)
		rc = w->ops->dir_post(w->u, &n);
	close(n.fd);
out:
	free(cpath);
	free(ppath);
	return rc < 0 ? -1 : 0;
}

static int walk_dir(struct walker *w, cli_node *dn)
{
	uint8_t iv[GCFS_DIRIV_LEN];
	char **names;
	size_t count;
	int rc = read_diriv(w, dn, iv);

	if (rc)
		return rc < 0 ? -1 : 0;
	if (cli_list_dir(dn->fd, &names, &count) < 0)
		return report(w, dn->cpath, dn->ppath, "readdir", strerror(errno)) < 0 ? -1 : 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (is_orphan(w, names, count, names[i])) {
			char *cpath = join(dn->cpath, names[i]);

			rc = !cpath || report(w, cpath, NULL, "name", "orphan long-name file") < 0
			         ? -1
			         : 0;
			free(cpath);
			continue;
		}
		if (gcfs_name_is_meta(w->k, names[i], dn->parent == NULL))
			continue;
		if (cli_interrupted()) {
			/* The verb reports it once, naming its output. */
			errno = EINTR;
			rc = -1;
			break;
		}
		rc = visit(w, dn, iv, names[i]);
	}
	cli_free_names(names, count);
	return rc;
}

int cli_walk(const gcfs_keys *k, const char *cipherdir, const cli_walk_ops *ops, void *u)
{
	unsigned flags = gcfs_keys_flags(k);
	struct walker w = {.k = k, .ops = ops, .u = u};
	cli_node root = {.dirfd = AT_FDCWD, .ppath = "", .pname = "", .fd = -1, .user_fd = -1};
	char *cpath = strdup(cipherdir);
	size_t len;
	int rc;

	if (!cpath)
		return -1;
	len = strlen(cpath);
	while (len > 1 && cpath[len - 1] == '/')
		cpath[--len] = '\0';
	w.plaintextnames = !!(flags & GCFS_F_PLAINTEXTNAMES);
	w.diriv = !!(flags & GCFS_F_DIRIV);
	root.cname = root.cpath = cpath;
	root.fd = open(cpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root.fd < 0 || fstat(root.fd, &root.st) < 0) {
		rc = report(&w, cpath, "", "open", strerror(errno));
		if (root.fd >= 0)
			close(root.fd);
		free(cpath);
		return -1;
	}
	rc = ops->dir_pre(u, &root);
	if (rc == 0)
		rc = walk_dir(&w, &root);
	if (rc == 0)
		rc = ops->dir_post(u, &root);
	close(root.fd);
	free(cpath);
	return rc < 0 ? -1 : 0;
}
