/* Subkey derivation (HKDF), engine selection, locked key memory and the
 * per-thread context pool of a gcfs_keys. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/internal.h"

/* The backend's expanded key follows the fixed secrets, 64-byte aligned. */
#define SEC_EXTRA_OFF ((sizeof(struct gcfs_secrets) + 63) & ~(size_t)63)

GCFS_API int gcfs_engine_parse(const char *s, gcfs_engine *out)
{
	if (!s || !strcmp(s, "auto"))
		*out = GCFS_ENGINE_AUTO;
	else if (!strcmp(s, "openssl"))
		*out = GCFS_ENGINE_OPENSSL;
	else if (!strcmp(s, "ipsec-mb"))
		*out = GCFS_ENGINE_IPSECMB;
	else
		return -1;
	return 0;
}

GCFS_API const char *gcfs_engine_name(gcfs_engine e)
{
	switch (e) {
	case GCFS_ENGINE_OPENSSL:
		return "openssl";
	case GCFS_ENGINE_IPSECMB:
		return "ipsec-mb";
	default:
		return "auto";
	}
}

static void tctx_free(gcfs_tctx *t)
{
	if (!t)
		return;
	gcfs_aead_ctx_free(t->aead);
	EVP_CIPHER_CTX_free(t->ecb_enc);
	EVP_CIPHER_CTX_free(t->ecb_dec);
	free(t);
}

static gcfs_tctx *tctx_new(const gcfs_keys *k)
{
	gcfs_tctx *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ecb_enc = EVP_CIPHER_CTX_new();
	t->ecb_dec = EVP_CIPHER_CTX_new();
	if (!t->ecb_enc || !t->ecb_dec || gcfs_aead_ctx_new(k->aead, &t->aead))
		goto fail;
	/* EME works on whole 16-byte blocks: no padding in ECB. */
	if (EVP_EncryptInit_ex2(t->ecb_enc, k->ecb, k->sec->k_name, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(t->ecb_dec, k->ecb, k->sec->k_name, NULL, NULL) != 1)
		goto fail;
	EVP_CIPHER_CTX_set_padding(t->ecb_enc, 0);
	EVP_CIPHER_CTX_set_padding(t->ecb_dec, 0);
	return t;
fail:
	tctx_free(t);
	return NULL;
}

gcfs_tctx *gcfs_tctx_get(const gcfs_keys *ck)
{
	gcfs_keys *k = (gcfs_keys *)ck; /* the pool is the mutable part */
	gcfs_tctx *t;

	pthread_mutex_lock(&k->lock);
	t = k->pool;
	if (t)
		k->pool = t->next;
	pthread_mutex_unlock(&k->lock);
	return t ? t : tctx_new(k);
}

void gcfs_tctx_put(const gcfs_keys *ck, gcfs_tctx *t)
{
	gcfs_keys *k = (gcfs_keys *)ck;

	if (!t)
		return;
	pthread_mutex_lock(&k->lock);
	t->next = k->pool;
	k->pool = t;
	pthread_mutex_unlock(&k->lock);
}

static int derive(gcfs_keys *k, const uint8_t master[GCFS_KEY_LEN], char *err, size_t errlen)
{
	int siv = !!(k->flags & GCFS_F_AESSIV);

	if (gcfs_hkdf(master, GCFS_KEY_LEN, GCFS_HKDF_INFO_EME, k->sec->k_name, GCFS_KEY_LEN) ||
	    gcfs_hkdf(master, GCFS_KEY_LEN, siv ? GCFS_HKDF_INFO_SIV : GCFS_HKDF_INFO_GCM,
	              k->sec->k_content, siv ? GCFS_SIV_KEY_LEN : GCFS_KEY_LEN))
		return gcfs_seterr(err, errlen, GCFS_ECRYPTO, "HKDF failed");
	return GCFS_OK;
}

static int setup(gcfs_keys *k, const uint8_t master[GCFS_KEY_LEN], gcfs_engine engine, char *err,
                 size_t errlen)
{
	gcfs_aead_mode mode = (k->flags & GCFS_F_AESSIV) ? GCFS_AEAD_SIV : GCFS_AEAD_GCM;
	long pg = sysconf(_SC_PAGESIZE);
	int rc;

	k->sec_len = SEC_EXTRA_OFF + gcfs_aead_secret_len();
	k->sec_len = (k->sec_len + (size_t)pg - 1) & ~((size_t)pg - 1);
	k->sec = gcfs_private_alloc(k->sec_len, 1);
	if (!k->sec)
		return gcfs_seterr(err, errlen, GCFS_ENOMEM, "cannot map key memory");
	rc = derive(k, master, err, errlen);
	if (rc)
		return rc;
	k->ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	if (!k->ecb)
		return gcfs_seterr(err, errlen, GCFS_ECRYPTO, "AES-256-ECB unavailable");
	rc = gcfs_aead_new(engine, mode, k->sec->k_content, (uint8_t *)k->sec + SEC_EXTRA_OFF,
	                   &k->aead);
	if (rc == GCFS_EUNSUPP)
		return gcfs_seterr(err, errlen, rc, "engine ipsec-mb: CPU lacks AES-NI/PCLMULQDQ");
	if (rc)
		return gcfs_seterr(err, errlen, rc, "cannot set up the content cipher");
	return GCFS_OK;
}

GCFS_API int gcfs_keys_new(const uint8_t master[GCFS_KEY_LEN], unsigned flags, int longname_max,
                           gcfs_engine engine, gcfs_keys **out, char *err, size_t errlen)
{
	gcfs_keys *k;
	gcfs_tctx *t;
	int rc;

	if (!master || !out)
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return gcfs_seterr(err, errlen, GCFS_ENOMEM, "out of memory");
	k->flags = flags;
	k->longname_max = longname_max > 0 ? longname_max : GCFS_NAME_MAX;
	pthread_mutex_init(&k->lock, NULL);
	rc = setup(k, master, engine, err, errlen);
	if (rc) {
		gcfs_keys_free(k);
		return rc;
	}
	/* Warm the pool once so a key error surfaces here, not mid-read. */
	t = gcfs_tctx_get(k);
	if (!t) {
		gcfs_keys_free(k);
		return gcfs_seterr(err, errlen, GCFS_ECRYPTO, "cannot create cipher contexts");
	}
	gcfs_tctx_put(k, t);
	*out = k;
	return GCFS_OK;
}

GCFS_API void gcfs_keys_free(gcfs_keys *k)
{
	gcfs_tctx *t;

	if (!k)
		return;
	while ((t = k->pool)) {
		k->pool = t->next;
		tctx_free(t);
	}
	gcfs_aead_free(k->aead);
	EVP_CIPHER_free(k->ecb);
	gcfs_private_free(k->sec, k->sec_len, 1);
	pthread_mutex_destroy(&k->lock);
	gcfs_wipe(k, sizeof(*k));
	free(k);
}

GCFS_API void gcfs_keys_fork_prepare(gcfs_keys *k)
{
	if (k)
		pthread_mutex_lock(&k->lock);
}

GCFS_API void gcfs_keys_fork_parent(gcfs_keys *k)
{
	if (k)
		pthread_mutex_unlock(&k->lock);
}

/* The lock may belong to a thread that does not exist in the child (when
 * prepare was not called): start over.  A context borrowed by such a thread
 * is simply never returned to the pool; the list itself is consistent
 * because every change to it is a single pointer store. */
GCFS_API void gcfs_keys_fork_child(gcfs_keys *k)
{
	if (k)
		pthread_mutex_init(&k->lock, NULL);
}

GCFS_API unsigned gcfs_keys_flags(const gcfs_keys *k)
{
	return k->flags;
}

GCFS_API gcfs_engine gcfs_keys_engine(const gcfs_keys *k)
{
	return gcfs_aead_engine(k->aead);
}
