/* OpenSSL EVP backend: AES-256-GCM with a 16-byte IV (the reference engine)
 * and AES-256-SIV (RFC 5297, used by -aessiv for every engine).
 *
 * GCM: each per-thread context is keyed once; per block only the IV changes
 * (EVP_CipherInit_ex2 with a NULL key keeps the key schedule).
 * SIV: OpenSSL's SIV keeps S2V state across operations, so every block
 * re-keys the context in place (EVP_CipherInit_ex2 with the key; no
 * allocation).  gocryptfs passes the nonce as the last S2V AD element. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>

#include "crypto/internal.h"

typedef struct {
	gcfs_aead base;
	gcfs_aead_mode mode;
	EVP_CIPHER *cipher;
	const uint8_t *key; /* in the locked secrets page, not owned */
} ossl_aead;

typedef struct {
	gcfs_aead_ctx base;
	EVP_CIPHER_CTX *dec;
	EVP_CIPHER_CTX *enc;
} ossl_ctx;

static void ossl_ctx_free(gcfs_aead_ctx *c)
{
	ossl_ctx *o = (ossl_ctx *)c;

	if (!o)
		return;
	EVP_CIPHER_CTX_free(o->dec); /* cleanses the key schedule */
	EVP_CIPHER_CTX_free(o->enc);
	free(o);
}

static int key_ctx(const ossl_aead *a, EVP_CIPHER_CTX *c, int enc)
{
	OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
	size_t ivlen = GCFS_NONCE_LEN;

	if (a->mode == GCFS_AEAD_GCM)
		p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
	/* The IV length must be set before the key/IV for GCM. */
	if (EVP_CipherInit_ex2(c, a->cipher, NULL, NULL, enc, p) != 1)
		return GCFS_ECRYPTO;
	if (EVP_CipherInit_ex2(c, NULL, a->key, NULL, enc, NULL) != 1)
		return GCFS_ECRYPTO;
	return GCFS_OK;
}

static int ossl_ctx_new(const gcfs_aead *base, gcfs_aead_ctx **out)
{
	const ossl_aead *a = (const ossl_aead *)base;
	ossl_ctx *o = calloc(1, sizeof(*o));

	if (!o)
		return GCFS_ENOMEM;
	o->base.aead = base;
	o->dec = EVP_CIPHER_CTX_new();
	o->enc = EVP_CIPHER_CTX_new();
	if (!o->dec || !o->enc || key_ctx(a, o->dec, 0) || key_ctx(a, o->enc, 1)) {
		ossl_ctx_free(&o->base);
		return GCFS_ECRYPTO;
	}
	*out = &o->base;
	return GCFS_OK;
}

static int gcm_open(EVP_CIPHER_CTX *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                    const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out)
{
	int n;

	if (EVP_DecryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    (len && EVP_DecryptUpdate(c, out, &n, ct, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, GCFS_TAG_LEN, (void *)tag) != 1)
		return GCFS_ECRYPTO;
	return EVP_DecryptFinal_ex(c, out + len, &n) == 1 ? GCFS_OK : GCFS_EAUTH;
}

static int gcm_seal(EVP_CIPHER_CTX *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                    const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag)
{
	int n;

	if (EVP_EncryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    (len && EVP_EncryptUpdate(c, out, &n, pt, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(c, out + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, GCFS_TAG_LEN, tag) != 1)
		return GCFS_ECRYPTO;
	return GCFS_OK;
}

/* SIV: AD vector [aad, nonce], each fed as its own AAD update. */
static int siv_open(const ossl_aead *a, EVP_CIPHER_CTX *c, const uint8_t *nonce, const uint8_t *aad,
                    size_t aadlen, const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out)
{
	int n;

	if (EVP_DecryptInit_ex2(c, NULL, a->key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, GCFS_TAG_LEN, (void *)tag) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, nonce, GCFS_NONCE_LEN) != 1)
		return GCFS_ECRYPTO;
	/* SIV verifies inside the single data update; a failure there is a
	 * tag mismatch, not a library fault. */
	if (EVP_DecryptUpdate(c, out, &n, ct, (int)len) != 1)
		return GCFS_EAUTH;
	return EVP_DecryptFinal_ex(c, out + len, &n) == 1 ? GCFS_OK : GCFS_EAUTH;
}

static int siv_seal(const ossl_aead *a, EVP_CIPHER_CTX *c, const uint8_t *nonce, const uint8_t *aad,
                    size_t aadlen, const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag)
{
	int n;

	if (EVP_EncryptInit_ex2(c, NULL, a->key, NULL, NULL) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, nonce, GCFS_NONCE_LEN) != 1 ||
	    EVP_EncryptUpdate(c, out, &n, pt, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, out + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, GCFS_TAG_LEN, tag) != 1)
		return GCFS_ECRYPTO;
	return GCFS_OK;
}

static int ossl_open(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                     const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out)
{
	ossl_ctx *o = (ossl_ctx *)c;
	const ossl_aead *a = (const ossl_aead *)c->aead;

	if (a->mode == GCFS_AEAD_SIV)
		return siv_open(a, o->dec, nonce, aad, aadlen, ct, len, tag, out);
	return gcm_open(o->dec, nonce, aad, aadlen, ct, len, tag, out);
}

static int ossl_seal(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                     const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag)
{
	ossl_ctx *o = (ossl_ctx *)c;
	const ossl_aead *a = (const ossl_aead *)c->aead;

	if (a->mode == GCFS_AEAD_SIV)
		return siv_seal(a, o->enc, nonce, aad, aadlen, pt, len, out, tag);
	return gcm_seal(o->enc, nonce, aad, aadlen, pt, len, out, tag);
}

static void ossl_free(gcfs_aead *base)
{
	ossl_aead *a = (ossl_aead *)base;

	EVP_CIPHER_free(a->cipher);
	free(a);
}

static const struct gcfs_aead_ops ossl_ops = {
    .ctx_new = ossl_ctx_new,
    .ctx_free = ossl_ctx_free,
    .open = ossl_open,
    .seal = ossl_seal,
    .free = ossl_free,
};

int gcfs_aead_ossl_new(gcfs_aead_mode mode, const uint8_t *key, gcfs_aead **out)
{
	ossl_aead *a = calloc(1, sizeof(*a));

	if (!a)
		return GCFS_ENOMEM;
	a->base.ops = &ossl_ops;
	a->base.engine = GCFS_ENGINE_OPENSSL;
	a->mode = mode;
	a->key = key;
	/* Fetch once: passing a legacy EVP_CIPHER to every init would re-fetch. */
	a->cipher =
	    EVP_CIPHER_fetch(NULL, mode == GCFS_AEAD_SIV ? "AES-256-SIV" : "AES-256-GCM", NULL);
	if (!a->cipher) {
		free(a);
		return GCFS_ECRYPTO;
	}
	*out = &a->base;
	return GCFS_OK;
}

int gcfs_gcm_oneshot(int enc, const uint8_t key[32], const uint8_t nonce[16], const uint8_t *aad,
                     size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
	ossl_aead a = {.mode = GCFS_AEAD_GCM, .key = key};
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int rc = GCFS_ECRYPTO;

	a.cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (!c || !a.cipher || key_ctx(&a, c, enc))
		goto out;
	if (enc)
		rc = gcm_seal(c, nonce, aad, aadlen, in, len, out, tag);
	else
		rc = gcm_open(c, nonce, aad, aadlen, in, len, tag, out);
out:
	EVP_CIPHER_CTX_free(c);
	EVP_CIPHER_free(a.cipher);
	return rc;
}
