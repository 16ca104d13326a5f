/* EME (ECB-Mix-ECB, Halevi-Rogaway) as used by gocryptfs for names
 * (spec §5.4), built on AES-256-ECB contexts keyed once per thread context.
 * Batches each ECB layer into one EVP call over all m blocks. */
#include <string.h>

#include "crypto/internal.h"

#define EME_MAX_BLOCKS 128

/* Multiply by x in GF(2^128), little-endian byte order (gocryptfs/eme). */
static void mult2(uint8_t b[16])
{
	uint8_t carry = 0;

	for (int i = 0; i < 16; i++) {
		uint8_t top = b[i] >> 7;

		b[i] = (uint8_t)(b[i] << 1) | carry;
		carry = top;
	}
	if (carry)
		b[0] ^= 0x87;
}

static void xor16(uint8_t *d, const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < 16; i++)
		d[i] = a[i] ^ b[i];
}

static int ecb(EVP_CIPHER_CTX *c, int enc, const uint8_t *in, uint8_t *out, size_t len)
{
	int n = 0;
	int ok = enc ? EVP_EncryptUpdate(c, out, &n, in, (int)len)
	             : EVP_DecryptUpdate(c, out, &n, in, (int)len);

	return ok == 1 && (size_t)n == len ? GCFS_OK : GCFS_ECRYPTO;
}

int gcfs_eme(gcfs_tctx *t, int enc, const uint8_t tweak[16], const uint8_t *in, uint8_t *out,
             size_t len)
{
	uint8_t L[EME_MAX_BLOCKS][16], X[EME_MAX_BLOCKS * 16];
	uint8_t mp[16], mc[16], m16[16];
	EVP_CIPHER_CTX *F = enc ? t->ecb_enc : t->ecb_dec;
	size_t m = len / 16;
	int rc;

	if (len == 0 || len % 16 || m > EME_MAX_BLOCKS)
		return GCFS_EINVAL;
	/* L_1 = 2*E_K(0), always with AES encryption. */
	memset(L[0], 0, 16);
	rc = ecb(t->ecb_enc, 1, L[0], L[0], 16);
	if (rc)
		return rc;
	mult2(L[0]);
	for (size_t j = 1; j < m; j++) {
		memcpy(L[j], L[j - 1], 16);
		mult2(L[j]);
	}
	for (size_t j = 0; j < m; j++)
		xor16(X + 16 * j, in + 16 * j, L[j]);
	rc = ecb(F, enc, X, X, len); /* X_j = F(P_j ^ L_j) */
	if (rc)
		goto out;
	memcpy(mp, tweak, 16);
	for (size_t j = 0; j < m; j++)
		xor16(mp, mp, X + 16 * j);
	rc = ecb(F, enc, mp, mc, 16); /* MC = F(MP) */
	if (rc)
		goto out;
	xor16(m16, mp, mc);
	for (size_t j = 1; j < m; j++) { /* Y_j = X_j ^ 2^(j-1)*M */
		mult2(m16);
		xor16(X + 16 * j, X + 16 * j, m16);
	}
	xor16(X, mc, tweak); /* Y_1 = MC ^ T ^ Y_2 ^ ... ^ Y_m */
	for (size_t j = 1; j < m; j++)
		xor16(X, X, X + 16 * j);
	rc = ecb(F, enc, X, X, len); /* C_j = F(Y_j) ^ L_j */
	if (rc)
		goto out;
	for (size_t j = 0; j < m; j++)
		xor16(out + 16 * j, X + 16 * j, L[j]);
out:
	gcfs_wipe(X, len);
	gcfs_wipe(L, m * 16);
	gcfs_wipe(mp, 16);
	gcfs_wipe(mc, 16);
	gcfs_wipe(m16, 16);
	return rc;
}
