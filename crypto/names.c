/* File names (spec §5): PKCS#7 + EME + b64url, long names, PlaintextNames,
 * deterministic names, metadata detection, and symlink targets (§6). */
#include <string.h>

#include <openssl/evp.h>

#include "crypto/internal.h"

#define NAME_PAD_MAX (GCFS_NAME_MAX + 16 + 1) /* 255 -> 256 padded */
#define LONGNAME_HASH_LEN 43

static int plain_name_ok(const char *name, size_t len)
{
	if (len == 0)
		return GCFS_EINVAL;
	if (len > GCFS_NAME_MAX)
		return GCFS_ENAMETOOLONG;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return GCFS_EINVAL;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return GCFS_EINVAL;
	return GCFS_OK;
}

static const uint8_t *tweak_of(const gcfs_keys *k, const uint8_t *diriv)
{
	static const uint8_t zero[GCFS_DIRIV_LEN]; /* const: deterministic names */

	return (k->flags & GCFS_F_DIRIV) && diriv ? diriv : zero;
}

static int longname(const char *cname, size_t clen, char out[GCFS_CNAME_MAX])
{
	uint8_t h[32];
	size_t pl = sizeof(GCFS_LONGNAME_PREFIX) - 1;

	if (EVP_Digest(cname, clen, h, NULL, EVP_sha256(), NULL) != 1)
		return GCFS_ECRYPTO;
	memcpy(out, GCFS_LONGNAME_PREFIX, pl);
	if (gcfs_b64url_enc(h, sizeof(h), out + pl, GCFS_CNAME_MAX - pl) != LONGNAME_HASH_LEN)
		return GCFS_ECRYPTO;
	return GCFS_OK;
}

/* name -> b64url(EME(pad16(name))) into cname (GCFS_CNAME_MAX). */
static int encrypt_full(const gcfs_keys *k, const uint8_t *diriv, const char *name, size_t len,
                        char *cname)
{
	uint8_t buf[NAME_PAD_MAX];
	size_t pad = 16 - len % 16;
	gcfs_tctx *t;
	int rc;

	memcpy(buf, name, len);
	memset(buf + len, (int)pad, pad);
	t = gcfs_tctx_get(k);
	if (!t)
		return GCFS_ENOMEM;
	rc = gcfs_eme(t, 1, tweak_of(k, diriv), buf, buf, len + pad);
	gcfs_tctx_put(k, t);
	if (!rc && !gcfs_b64url_enc(buf, len + pad, cname, GCFS_CNAME_MAX))
		rc = GCFS_ENAMETOOLONG;
	gcfs_wipe(buf, sizeof(buf));
	return rc;
}

GCFS_API int gcfs_name_encrypt(const gcfs_keys *k, const uint8_t diriv[GCFS_DIRIV_LEN],
                               const char *name, char out[GCFS_CNAME_MAX], char *full, int *is_long)
{
	char cname[GCFS_CNAME_MAX];
	size_t len, clen;
	int rc;

	if (!k || !name || !out)
		return GCFS_EINVAL;
	if (is_long)
		*is_long = 0;
	len = strnlen(name, GCFS_NAME_MAX + 1);
	rc = plain_name_ok(name, len);
	if (rc)
		return rc;
	if (k->flags & GCFS_F_PLAINTEXTNAMES) {
		memcpy(out, name, len + 1);
		return GCFS_OK;
	}
	rc = encrypt_full(k, diriv, name, len, cname);
	if (rc)
		return rc;
	clen = strlen(cname);
	if (clen <= (size_t)k->longname_max) {
		memcpy(out, cname, clen + 1);
		return GCFS_OK;
	}
	/* The threshold is on the encrypted length (spec §11.3). */
	if (!(k->flags & GCFS_F_LONGNAMES))
		return GCFS_ENAMETOOLONG;
	rc = longname(cname, clen, out);
	if (rc)
		return rc;
	if (full)
		memcpy(full, cname, clen + 1);
	if (is_long)
		*is_long = 1;
	return GCFS_OK;
}

/* Strict PKCS#7: pad 1..16, all pad bytes equal, something left. */
static long unpad(const uint8_t *buf, size_t n)
{
	uint8_t p = buf[n - 1];
	uint8_t bad = 0;

	if (p == 0 || p > 16 || p >= n)
		return GCFS_EFORMAT;
	for (size_t i = n - p; i < n; i++)
		bad |= buf[i] ^ p;
	return bad ? GCFS_EFORMAT : (long)(n - p);
}

static int decrypt_eme(const gcfs_keys *k, const uint8_t *diriv, const char *cname, size_t clen,
                       char out[GCFS_NAME_MAX + 1])
{
	uint8_t buf[NAME_PAD_MAX];
	gcfs_tctx *t;
	long n, pl;
	int rc;

	n = gcfs_b64url_dec(cname, clen, buf, sizeof(buf));
	if (n < 0)
		return n == GCFS_EINVAL ? GCFS_ENAMETOOLONG : GCFS_EFORMAT;
	if (n == 0 || n % 16)
		return GCFS_EFORMAT;
	t = gcfs_tctx_get(k);
	if (!t)
		return GCFS_ENOMEM;
	rc = gcfs_eme(t, 0, tweak_of(k, diriv), buf, buf, (size_t)n);
	gcfs_tctx_put(k, t);
	pl = rc ? rc : unpad(buf, (size_t)n);
	/* A decrypted name with '/', NUL, "." or ".." is corrupt data. */
	if (pl >= 0)
		rc = plain_name_ok((const char *)buf, (size_t)pl) ? GCFS_EFORMAT : GCFS_OK;
	else
		rc = (int)pl;
	if (!rc) {
		memcpy(out, buf, (size_t)pl);
		out[pl] = '\0';
	}
	gcfs_wipe(buf, sizeof(buf));
	return rc;
}

GCFS_API int gcfs_name_decrypt(const gcfs_keys *k, const uint8_t diriv[GCFS_DIRIV_LEN],
                               const char *cname, char out[GCFS_NAME_MAX + 1])
{
	size_t clen;
	int rc;

	if (!k || !cname || !out)
		return GCFS_EINVAL;
	clen = strnlen(cname, GCFS_CNAME_MAX);
	if (k->flags & GCFS_F_PLAINTEXTNAMES) {
		rc = plain_name_ok(cname, clen);
		if (!rc)
			memcpy(out, cname, clen + 1);
		return rc;
	}
	if (clen >= GCFS_CNAME_MAX)
		return GCFS_ENAMETOOLONG;
	return decrypt_eme(k, diriv, cname, clen, out);
}

GCFS_API int gcfs_name_is_longname(const char *cname)
{
	size_t pl = sizeof(GCFS_LONGNAME_PREFIX) - 1;
	uint8_t h[33];

	if (!cname || strncmp(cname, GCFS_LONGNAME_PREFIX, pl))
		return 0;
	if (strlen(cname + pl) != LONGNAME_HASH_LEN)
		return 0;
	return gcfs_b64url_dec(cname + pl, LONGNAME_HASH_LEN, h, sizeof(h)) == 32;
}

GCFS_API int gcfs_name_is_meta(const gcfs_keys *k, const char *cname, int in_root)
{
	size_t pl = sizeof(GCFS_LONGNAME_PREFIX) - 1, n;

	if (!cname)
		return 0;
	if (in_root && !strcmp(cname, GCFS_CONF_NAME))
		return 1;
	/* With PlaintextNames these are ordinary user names. */
	if (k && (k->flags & GCFS_F_PLAINTEXTNAMES))
		return 0;
	if (!strcmp(cname, GCFS_DIRIV_NAME))
		return 1;
	n = strlen(cname);
	return n > pl + 5 && !strncmp(cname, GCFS_LONGNAME_PREFIX, pl) &&
	       !strcmp(cname + n - 5, ".name");
}

GCFS_API int gcfs_diriv_check(const uint8_t *buf, size_t len)
{
	if (!buf || len != GCFS_DIRIV_LEN || gcfs_all_zero(buf, len))
		return GCFS_EFORMAT;
	return GCFS_OK;
}

/* ---- symlink targets: one block, block 0, no file ID ---- */

/* Linux caps a symlink target at 4095 bytes, so the plaintext of any target
 * gocryptfs can store is well below one content block. */
#define SYMLINK_PLAIN_MAX GCFS_BLOCK_PLAIN

static const uint8_t symlink_aad[8]; /* u64_be(0), no file ID */

GCFS_API size_t gcfs_symlink_cipher_len(size_t plain_len)
{
	size_t n = plain_len + GCFS_BLOCK_OVERHEAD;

	return plain_len ? (n * 4 + 2) / 3 : 0;
}

GCFS_API int gcfs_symlink_decrypt(const gcfs_keys *k, const char *ctarget, char *out, size_t cap,
                                  size_t *outlen)
{
	uint8_t buf[SYMLINK_PLAIN_MAX + GCFS_BLOCK_OVERHEAD];
	size_t clen, pl;
	gcfs_tctx *t;
	long n;
	int rc;

	if (!k || !ctarget || !out)
		return GCFS_EINVAL;
	clen = strlen(ctarget);
	if (cap < clen + 1)
		return GCFS_EINVAL;
	if ((k->flags & GCFS_F_PLAINTEXTNAMES) || clen == 0) {
		memcpy(out, ctarget, clen + 1);
		if (outlen)
			*outlen = clen;
		return GCFS_OK;
	}
	n = gcfs_b64url_dec(ctarget, clen, buf, sizeof(buf));
	if (n < 0)
		return n == GCFS_EINVAL ? GCFS_ENAMETOOLONG : GCFS_EFORMAT;
	t = gcfs_tctx_get(k);
	if (!t)
		return GCFS_ENOMEM;
	/* Decrypts into out: it holds clen+1 bytes, more than the plaintext. */
	rc = gcfs_block_open_aad(k, t, symlink_aad, sizeof(symlink_aad), buf, (size_t)n,
	                         (uint8_t *)out);
	gcfs_tctx_put(k, t);
	if (rc) {
		gcfs_wipe(out, cap);
		return rc;
	}
	pl = (size_t)n - GCFS_BLOCK_OVERHEAD;
	out[pl] = '\0';
	if (outlen)
		*outlen = pl;
	return GCFS_OK;
}

GCFS_API int gcfs_symlink_encrypt(const gcfs_keys *k, const char *target, char *out, size_t cap)
{
	uint8_t block[SYMLINK_PLAIN_MAX + GCFS_BLOCK_OVERHEAD];
	gcfs_tctx *t;
	size_t len;
	int rc;

	if (!k || !target || !out)
		return GCFS_EINVAL;
	len = strlen(target);
	if ((k->flags & GCFS_F_PLAINTEXTNAMES) || len == 0) {
		if (cap < len + 1)
			return GCFS_EINVAL;
		memcpy(out, target, len + 1);
		return GCFS_OK;
	}
	if (len > SYMLINK_PLAIN_MAX)
		return GCFS_ENAMETOOLONG;
	if (cap < gcfs_symlink_cipher_len(len) + 1)
		return GCFS_EINVAL;
	t = gcfs_tctx_get(k);
	if (!t)
		return GCFS_ENOMEM;
	rc = gcfs_block_seal_aad(k, t, symlink_aad, sizeof(symlink_aad), (const uint8_t *)target,
	                         len, block);
	gcfs_tctx_put(k, t);
	if (!rc && !gcfs_b64url_enc(block, len + GCFS_BLOCK_OVERHEAD, out, cap))
		rc = GCFS_EINVAL;
	return rc;
}
