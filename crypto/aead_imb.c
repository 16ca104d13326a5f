/* Intel ipsec-mb 1.3 backend for AES-256-GCM with a 16-byte IV.
 *
 * One IMB_MGR per gcfs_keys (alloc_mb_mgr + init_mb_mgr_auto) and one
 * expanded key (IMB_AES256_GCM_PRE) in the keys' locked page.  The direct GCM
 * API is stateless apart from the gcm_context_data, which lives on the stack
 * of each call, so the manager and the key are shared read-only by all
 * threads and a per-thread context carries no state at all. */
#include <stdlib.h>
#include <string.h>

#include <intel-ipsec-mb.h>

#include "crypto/internal.h"

typedef struct {
	gcfs_aead base;
	IMB_MGR *mgr;
	const struct gcm_key_data *kd; /* in the locked secrets page */
} imb_aead;

size_t gcfs_aead_imb_secret_len(void)
{
	return sizeof(struct gcm_key_data);
}

static int imb_ctx_new(const gcfs_aead *a, gcfs_aead_ctx **out)
{
	gcfs_aead_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return GCFS_ENOMEM;
	c->aead = a;
	*out = c;
	return GCFS_OK;
}

static void imb_ctx_free(gcfs_aead_ctx *c)
{
	free(c);
}

static int imb_open(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                    const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out)
{
	const imb_aead *a = (const imb_aead *)c->aead;
	struct gcm_context_data gctx;
	uint8_t calc[GCFS_TAG_LEN];
	int rc;

	IMB_AES256_GCM_INIT_VAR_IV(a->mgr, a->kd, &gctx, nonce, GCFS_NONCE_LEN, aad, aadlen);
	IMB_AES256_GCM_DEC_UPDATE(a->mgr, a->kd, &gctx, out, ct, len);
	IMB_AES256_GCM_DEC_FINALIZE(a->mgr, a->kd, &gctx, calc, GCFS_TAG_LEN);
	/* The library only computes the tag; the compare is ours and must not
	 * leak how many bytes matched. */
	rc = gcfs_ct_memcmp(calc, tag, GCFS_TAG_LEN) ? GCFS_EAUTH : GCFS_OK;
	gcfs_wipe(&gctx, sizeof(gctx));
	return rc;
}

static int imb_seal(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                    const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag)
{
	const imb_aead *a = (const imb_aead *)c->aead;
	struct gcm_context_data gctx;

	IMB_AES256_GCM_INIT_VAR_IV(a->mgr, a->kd, &gctx, nonce, GCFS_NONCE_LEN, aad, aadlen);
	IMB_AES256_GCM_ENC_UPDATE(a->mgr, a->kd, &gctx, out, pt, len);
	IMB_AES256_GCM_ENC_FINALIZE(a->mgr, a->kd, &gctx, tag, GCFS_TAG_LEN);
	gcfs_wipe(&gctx, sizeof(gctx));
	return GCFS_OK;
}

static void imb_free(gcfs_aead *base)
{
	imb_aead *a = (imb_aead *)base;

	free_mb_mgr(a->mgr);
	free(a);
}

static const struct gcfs_aead_ops imb_ops = {
    .ctx_new = imb_ctx_new,
    .ctx_free = imb_ctx_free,
    .open = imb_open,
    .seal = imb_seal,
    .free = imb_free,
};

/* secret: 64-byte aligned, gcfs_aead_imb_secret_len() bytes, locked. */
int gcfs_aead_imb_new(const uint8_t *key, void *secret, gcfs_aead **out)
{
	imb_aead *a = calloc(1, sizeof(*a));
	IMB_ARCH arch = IMB_ARCH_NONE;

	if (!a)
		return GCFS_ENOMEM;
	a->mgr = alloc_mb_mgr(0);
	if (!a->mgr)
		goto unsupp;
	init_mb_mgr_auto(a->mgr, &arch);
	/* Without AES-NI + PCLMULQDQ the library would fall back to its slow
	 * emulation; then OpenSSL is the better (and reference) choice. */
	if (imb_get_errno(a->mgr) || arch < IMB_ARCH_SSE ||
	    !(a->mgr->features & IMB_FEATURE_AESNI) || !(a->mgr->features & IMB_FEATURE_PCLMULQDQ))
		goto unsupp;
	IMB_AES256_GCM_PRE(a->mgr, key, secret);
	if (imb_get_errno(a->mgr))
		goto unsupp;
	a->kd = secret;
	a->base.ops = &imb_ops;
	a->base.engine = GCFS_ENGINE_IPSECMB;
	*out = &a->base;
	return GCFS_OK;
unsupp:
	if (a->mgr)
		free_mb_mgr(a->mgr);
	free(a);
	return GCFS_EUNSUPP;
}
