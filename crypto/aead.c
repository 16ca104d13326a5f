/* Engine selection and dispatch for the content AEAD backends. */
#include "crypto/internal.h"

size_t gcfs_aead_secret_len(void)
{
	return gcfs_aead_imb_secret_len();
}

int gcfs_aead_new(gcfs_engine engine, gcfs_aead_mode mode, const uint8_t *key, void *secret,
                  gcfs_aead **out)
{
	int rc;

	/* AES-SIV has no ipsec-mb implementation: OpenSSL serves it for every
	 * engine, so asking for ipsec-mb on -aessiv is not an error. */
	if (mode == GCFS_AEAD_SIV || engine == GCFS_ENGINE_OPENSSL)
		return gcfs_aead_ossl_new(mode, key, out);
	rc = gcfs_aead_imb_new(key, secret, out);
	if (rc == GCFS_EUNSUPP && engine == GCFS_ENGINE_AUTO)
		return gcfs_aead_ossl_new(mode, key, out);
	return rc;
}

void gcfs_aead_free(gcfs_aead *a)
{
	if (a)
		a->ops->free(a);
}

gcfs_engine gcfs_aead_engine(const gcfs_aead *a)
{
	return a->engine;
}

int gcfs_aead_ctx_new(const gcfs_aead *a, gcfs_aead_ctx **out)
{
	return a->ops->ctx_new(a, out);
}

void gcfs_aead_ctx_free(gcfs_aead_ctx *c)
{
	if (c)
		c->aead->ops->ctx_free(c);
}

int gcfs_aead_open(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                   const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out)
{
	int rc = c->aead->ops->open(c, nonce, aad, aadlen, ct, len, tag, out);

	/* Both engines decrypt before they can check the tag: never leave
	 * unauthenticated plaintext behind in the caller's buffer. */
	if (rc != GCFS_OK)
		gcfs_wipe(out, len);
	return rc;
}

int gcfs_aead_seal(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                   const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag)
{
	return c->aead->ops->seal(c, nonce, aad, aadlen, pt, len, out, tag);
}
