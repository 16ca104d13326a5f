/* Internal AEAD backend interface for content blocks (AES-256-GCM with a
 * 16-byte IV, or AES-SIV-512).  A `gcfs_aead` is created once per gcfs_keys
 * and is read-only afterwards; every thread works through its own
 * `gcfs_aead_ctx`, so the hot path never allocates or re-keys. */
#ifndef GCFS_AEAD_H
#define GCFS_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/gcfs.h"

typedef enum { GCFS_AEAD_GCM = 0, GCFS_AEAD_SIV = 1 } gcfs_aead_mode;

typedef struct gcfs_aead gcfs_aead;
typedef struct gcfs_aead_ctx gcfs_aead_ctx;

/* `key` (32 B for GCM, 64 B for SIV) must stay valid and unchanged while the
 * backend lives: it points into the keys' locked secret page.  `secret` is a
 * locked scratch area of at least gcfs_aead_secret_len() bytes (ipsec-mb
 * expanded key).  GCFS_ENGINE_AUTO picks ipsec-mb when usable. */
size_t gcfs_aead_secret_len(void);
int gcfs_aead_new(gcfs_engine engine, gcfs_aead_mode mode, const uint8_t *key, void *secret,
                  gcfs_aead **out);
void gcfs_aead_free(gcfs_aead *a);
gcfs_engine gcfs_aead_engine(const gcfs_aead *a);

int gcfs_aead_ctx_new(const gcfs_aead *a, gcfs_aead_ctx **out);
void gcfs_aead_ctx_free(gcfs_aead_ctx *c);

/* Decrypt and verify: nonce 16 B, ct/len -> out/len, tag 16 B.
 * GCFS_EAUTH on a tag mismatch (out must then be ignored). */
int gcfs_aead_open(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                   const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out);
int gcfs_aead_seal(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
                   const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag);

/* One-off OpenSSL AES-256-GCM (16-byte nonce) for the master-key wrap. */
int gcfs_gcm_oneshot(int enc, const uint8_t key[32], const uint8_t nonce[16], const uint8_t *aad,
                     size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16]);

/* Engine-private constructors used by gcfs_aead_new. */
int gcfs_aead_ossl_new(gcfs_aead_mode mode, const uint8_t *key, gcfs_aead **out);
int gcfs_aead_imb_new(const uint8_t *key, void *secret, gcfs_aead **out);
size_t gcfs_aead_imb_secret_len(void);

/* The vtable every backend fills in. */
struct gcfs_aead_ops {
	int (*ctx_new)(const gcfs_aead *a, gcfs_aead_ctx **out);
	void (*ctx_free)(gcfs_aead_ctx *c);
	int (*open)(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
	            const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *out);
	int (*seal)(gcfs_aead_ctx *c, const uint8_t *nonce, const uint8_t *aad, size_t aadlen,
	            const uint8_t *pt, size_t len, uint8_t *out, uint8_t *tag);
	void (*free)(gcfs_aead *a);
};

/* Common head of every backend object. */
struct gcfs_aead {
	const struct gcfs_aead_ops *ops;
	gcfs_engine engine;
};
struct gcfs_aead_ctx {
	const gcfs_aead *aead;
};

#endif
