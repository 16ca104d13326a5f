/* File contents: header, size arithmetic (spec §4.5), and single blocks
 * (hole rule, zero-nonce rule, AAD binding). */
#include <string.h>

#include <openssl/rand.h>

#include "crypto/internal.h"

GCFS_API uint64_t gcfs_plain_size(uint64_t c)
{
	uint64_t b, full, rem;

	if (c <= GCFS_HEADER_LEN)
		return 0;
	b = c - GCFS_HEADER_LEN;
	full = b / GCFS_BLOCK_CIPHER;
	rem = b % GCFS_BLOCK_CIPHER;
	if (rem == 0)
		return full * GCFS_BLOCK_PLAIN;
	/* A 1..32-byte tail holds no data: corrupt.  Like gocryptfs, count it
	 * as one byte so reading it fails instead of silently vanishing. */
	if (rem <= GCFS_BLOCK_OVERHEAD)
		return full * GCFS_BLOCK_PLAIN + 1;
	return full * GCFS_BLOCK_PLAIN + rem - GCFS_BLOCK_OVERHEAD;
}

GCFS_API uint64_t gcfs_cipher_size(uint64_t p)
{
	uint64_t rem = p % GCFS_BLOCK_PLAIN;

	if (p == 0)
		return 0;
	return GCFS_HEADER_LEN + p / GCFS_BLOCK_PLAIN * GCFS_BLOCK_CIPHER +
	       (rem ? rem + GCFS_BLOCK_OVERHEAD : 0);
}

static int header_check(const uint8_t hdr[GCFS_HEADER_LEN])
{
	if (hdr[0] != 0 || hdr[1] != 2)
		return GCFS_EFORMAT;
	if (gcfs_all_zero(hdr + 2, GCFS_FILEID_LEN))
		return GCFS_EFORMAT;
	return GCFS_OK;
}

/* pread until len bytes or EOF; GCFS_EIO on error or a short file. */
int gcfs_pread_full(const gcfs_io *io, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = io->pread(io->ctx, (uint8_t *)buf + got, len - got, off + got);

		if (n <= 0)
			return GCFS_EIO;
		got += (size_t)n;
	}
	return GCFS_OK;
}

/* The checks both opens share, in one order: empty, too short, header.  The
 * header comes from mem when the caller has the file in memory, else from io,
 * read only once the size says there is one. */
static int file_init(const gcfs_io *io, const uint8_t *mem, uint64_t cipher_size, gcfs_file *f,
                     char *err, size_t errlen)
{
	uint8_t buf[GCFS_HEADER_LEN];
	const uint8_t *hdr = mem;

	memset(f, 0, sizeof(*f));
	f->cipher_size = cipher_size;
	if (cipher_size == 0) {
		f->empty = 1;
		return GCFS_OK;
	}
	if (cipher_size < GCFS_HEADER_LEN)
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "file shorter than its header");
	if (!hdr) {
		if (gcfs_pread_full(io, buf, sizeof(buf), 0))
			return gcfs_seterr(err, errlen, GCFS_EIO, "cannot read the file header");
		hdr = buf;
	}
	if (header_check(hdr))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "bad file header");
	memcpy(f->file_id, hdr + 2, GCFS_FILEID_LEN);
	f->plain_size = gcfs_plain_size(cipher_size);
	f->empty = cipher_size == GCFS_HEADER_LEN;
	return GCFS_OK;
}

GCFS_API int gcfs_file_open(const gcfs_io *io, uint64_t cipher_size, gcfs_file *f, char *err,
                            size_t errlen)
{
	if (!io || !io->pread || !f)
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	return file_init(io, NULL, cipher_size, f, err, errlen);
}

/* Same checks as gcfs_file_open, over the whole file in memory. */
GCFS_API int gcfs_file_open_buf(const uint8_t *cipher, uint64_t cipher_size, gcfs_file *f,
                                char *err, size_t errlen)
{
	if (!f || (!cipher && cipher_size))
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	return file_init(NULL, cipher, cipher_size, f, err, errlen);
}

GCFS_API int gcfs_header_new(uint8_t hdr[GCFS_HEADER_LEN], uint8_t file_id[GCFS_FILEID_LEN])
{
	hdr[0] = 0;
	hdr[1] = 2;
	do {
		if (RAND_bytes(hdr + 2, GCFS_FILEID_LEN) != 1)
			return GCFS_ECRYPTO;
	} while (gcfs_all_zero(hdr + 2, GCFS_FILEID_LEN));
	if (file_id)
		memcpy(file_id, hdr + 2, GCFS_FILEID_LEN);
	return GCFS_OK;
}

/* AAD = u64_be(block_no) || file_id (24 B); without a file ID (symlinks,
 * xattrs, the key wrap) it is just the 8-byte block number. */
size_t gcfs_make_aad(uint8_t aad[24], uint64_t block_no, const uint8_t *file_id)
{
	for (int i = 7; i >= 0; i--) {
		aad[i] = (uint8_t)block_no;
		block_no >>= 8;
	}
	if (!file_id)
		return 8;
	memcpy(aad + 8, file_id, GCFS_FILEID_LEN);
	return 24;
}

int gcfs_block_open_aad(const gcfs_keys *k, gcfs_tctx *t, const uint8_t *aad, size_t aadlen,
                        const uint8_t *cb, size_t clen, uint8_t *out)
{
	size_t n;

	if (clen <= GCFS_BLOCK_OVERHEAD)
		return GCFS_EFORMAT; /* truncated: no ciphertext byte at all */
	n = clen - GCFS_BLOCK_OVERHEAD;
	/* An all-zero nonce is never written; seeing one means zeroed or
	 * truncated data (a full all-zero block is handled as a hole). */
	if (gcfs_all_zero(cb, GCFS_NONCE_LEN))
		return GCFS_EFORMAT;
	if (k->flags & GCFS_F_AESSIV) /* nonce | SIV | ct */
		return gcfs_aead_open(t->aead, cb, aad, aadlen, cb + 32, n, cb + 16, out);
	return gcfs_aead_open(t->aead, cb, aad, aadlen, cb + 16, n, cb + 16 + n, out);
}

int gcfs_block_seal_aad(const gcfs_keys *k, gcfs_tctx *t, const uint8_t *aad, size_t aadlen,
                        const uint8_t *plain, size_t plen, uint8_t *out)
{
	uint8_t *nonce = out;

	if (plen == 0)
		return GCFS_EINVAL;
	do {
		if (RAND_bytes(nonce, GCFS_NONCE_LEN) != 1)
			return GCFS_ECRYPTO;
	} while (gcfs_all_zero(nonce, GCFS_NONCE_LEN));
	if (k->flags & GCFS_F_AESSIV)
		return gcfs_aead_seal(t->aead, nonce, aad, aadlen, plain, plen, out + 32, out + 16);
	return gcfs_aead_seal(t->aead, nonce, aad, aadlen, plain, plen, out + 16, out + 16 + plen);
}

/* Decrypt one on-disk block with a context the caller already holds. */
int gcfs_block_decrypt_t(const gcfs_keys *k, gcfs_tctx *t, uint64_t block_no,
                         const uint8_t *file_id, const uint8_t *cb, size_t clen, uint8_t *out)
{
	uint8_t aad[24];
	size_t alen;

	if (clen > GCFS_BLOCK_CIPHER)
		return GCFS_EINVAL;
	/* Hole rule: only a full all-zero block decodes (to zeros). */
	if (clen == GCFS_BLOCK_CIPHER && gcfs_all_zero(cb, clen)) {
		memset(out, 0, GCFS_BLOCK_PLAIN);
		return GCFS_OK;
	}
	alen = gcfs_make_aad(aad, block_no, file_id);
	return gcfs_block_open_aad(k, t, aad, alen, cb, clen, out);
}

GCFS_API int gcfs_block_decrypt(const gcfs_keys *k, uint64_t block_no,
                                const uint8_t file_id[GCFS_FILEID_LEN], const uint8_t *cblock,
                                size_t clen, uint8_t *out)
{
	gcfs_tctx *t;
	int rc;

	if (!k || !file_id || !cblock || !out)
		return GCFS_EINVAL;
	t = gcfs_tctx_get(k);
	if (!t)
		return GCFS_ENOMEM;
	rc = gcfs_block_decrypt_t(k, t, block_no, file_id, cblock, clen, out);
	gcfs_tctx_put(k, t);
	return rc;
}

GCFS_API int gcfs_block_encrypt(const gcfs_keys *k, uint64_t block_no,
                                const uint8_t file_id[GCFS_FILEID_LEN], const uint8_t *plain,
                                size_t plen, uint8_t *out)
{
	uint8_t aad[24];
	size_t alen;
	gcfs_tctx *t;
	int rc;

	if (!k || !file_id || !plain || !out || plen == 0 || plen > GCFS_BLOCK_PLAIN)
		return GCFS_EINVAL;
	t = gcfs_tctx_get(k);
	if (!t)
		return GCFS_ENOMEM;
	alen = gcfs_make_aad(aad, block_no, file_id);
	rc = gcfs_block_seal_aad(k, t, aad, alen, plain, plen, out);
	gcfs_tctx_put(k, t);
	return rc;
}
