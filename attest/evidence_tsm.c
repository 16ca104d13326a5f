/* evidence_tsm: quotes through the Linux configfs-tsm report interface
 * (Documentation/ABI/testing/configfs-tsm, spec 6.2):
 * mkdir entry -> read provider -> write 64-byte inblob in ONE write and
 * close (configfs commits binary attributes on release) -> read outblob to
 * EOF -> generation must be 1 (nobody else wrote our entry) -> rmdir. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "attest/kbs_int.h"

#define TSM_QUOTE_MAX (256u * 1024u)

static int read_all(const char *path, uint8_t **out, size_t *len, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;
	size_t n = 0;

	if (fd < 0)
		return -1;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && n + (size_t)r >= cap)) {
			int e = r < 0 ? errno : EFBIG;

			free(buf);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

/* First line of a small text attribute, without the newline. */
static int read_line(const char *path, char *out, size_t cap)
{
	uint8_t *b;
	size_t n;

	if (read_all(path, &b, &n, 256))
		return -1;
	n = strcspn((char *)b, "\n");
	snprintf(out, cap, "%.*s", (int)n, (char *)b);
	free(b);
	return 0;
}

static int make_entry(const char *root, char *dir, size_t cap)
{
	uint32_t r = 0;

	/* Unique per call: configfs entries are shared by the whole system. */
	if (RAND_bytes((uint8_t *)&r, sizeof(r)) != 1)
		return -1;
	snprintf(dir, cap, "%s/unseal-%d-%08x", root, (int)getpid(), r);
	return mkdir(dir, 0700);
}

static int entry_path(char *out, size_t cap, const char *dir, const char *attr)
{
	int n = snprintf(out, cap, "%s/%s", dir, attr);

	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int kbs_tsm_provider(const char *root, char *prov, size_t cap)
{
	char dir[600], p[700];
	int rc = -1;

	if (make_entry(root, dir, sizeof(dir)))
		return -1;
	if (!entry_path(p, sizeof(p), dir, "provider") && !read_line(p, prov, cap) && prov[0])
		rc = 0;
	rmdir(dir);
	return rc;
}

static int write_inblob(const char *dir, const uint8_t rd[KBS_REPORTDATA_LEN])
{
	char p[700];
	int fd;
	ssize_t w;

	if (entry_path(p, sizeof(p), dir, "inblob"))
		return -1;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	w = write(fd, rd, KBS_REPORTDATA_LEN);
	/* close() is the commit point: its error matters too. */
	if (close(fd) || w != KBS_REPORTDATA_LEN)
		return -1;
	return 0;
}

static int tsm_in_entry(const char *dir, const uint8_t rd[KBS_REPORTDATA_LEN], uint8_t **quote,
                        size_t *qlen, char *prov, size_t provcap, char *cause, size_t causelen)
{
	char p[700], gen[32];

	if (entry_path(p, sizeof(p), dir, "provider") || read_line(p, prov, provcap)) {
		snprintf(cause, causelen, "tsm: cannot read provider: %s", strerror(errno));
		return -1;
	}
	if (write_inblob(dir, rd)) {
		snprintf(cause, causelen, "tsm: cannot write inblob: %s", strerror(errno));
		return -1;
	}
	if (entry_path(p, sizeof(p), dir, "outblob") || read_all(p, quote, qlen, TSM_QUOTE_MAX)) {
		snprintf(cause, causelen, "tsm: cannot read outblob: %s", strerror(errno));
		return -1;
	}
	if (*qlen == 0) {
		snprintf(cause, causelen, "tsm: empty outblob");
		goto bad;
	}
	if (entry_path(p, sizeof(p), dir, "generation") || read_line(p, gen, sizeof(gen)) ||
	    strcmp(gen, "1")) {
		snprintf(cause, causelen, "tsm: generation is not 1 (entry written concurrently)");
		goto bad;
	}
	return 0;
bad:
	free(*quote);
	*quote = NULL;
	return -1;
}

int kbs_tsm_quote(const char *root, const uint8_t rd[KBS_REPORTDATA_LEN], uint8_t **quote,
                  size_t *qlen, char *prov, size_t provcap, char *cause, size_t causelen)
{
	char dir[600];
	int rc;

	*quote = NULL;
	*qlen = 0;
	if (make_entry(root, dir, sizeof(dir))) {
		snprintf(cause, causelen, "tsm: cannot create report entry under %s: %s", root,
		         errno == ENXIO ? "no TSM provider registered" : strerror(errno));
		return -1;
	}
	rc = tsm_in_entry(dir, rd, quote, qlen, prov, provcap, cause, causelen);
	/* Best effort: a leftover entry does not affect the quote we hold. */
	(void)rmdir(dir);
	return rc;
}
