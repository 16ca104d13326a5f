/* Internal declarations shared by the crypto/ translation units. */
#ifndef GCFS_INTERNAL_H
#define GCFS_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "crypto/aead.h"
#include "crypto/gcfs.h"

#define GCFS_API __attribute__((visibility("default")))

#define GCFS_SIV_KEY_LEN 64
#define GCFS_HKDF_INFO_EME "EME filename encryption"
#define GCFS_HKDF_INFO_GCM "AES-GCM file content encryption"
#define GCFS_HKDF_INFO_SIV "AES-SIV file content encryption"

/* Private pages (not dumped; lock: mlock()ed); freed wiped. */
void *gcfs_private_alloc(size_t len, int lock);
void gcfs_private_free(void *p, size_t len, int lock);

/* Everything secret lives in one mlock()ed, MADV_DONTDUMP page range. */
struct gcfs_secrets {
	uint8_t k_name[GCFS_KEY_LEN];
	uint8_t k_content[GCFS_SIV_KEY_LEN]; /* 32 B used for GCM, 64 B for SIV */
	/* followed by the AEAD backend's expanded key (64-byte aligned) */
};

/* Per-thread working set: one AEAD context plus the two EME ECB contexts,
 * keyed once.  Kept on a free list in gcfs_keys and reused, so a thread that
 * decrypts blocks or names never allocates after warm-up. */
typedef struct gcfs_tctx {
	struct gcfs_tctx *next;
	gcfs_aead_ctx *aead;
	EVP_CIPHER_CTX *ecb_enc;
	EVP_CIPHER_CTX *ecb_dec;
} gcfs_tctx;

struct gcfs_keys {
	unsigned flags;
	int longname_max;
	struct gcfs_secrets *sec;
	size_t sec_len;
	gcfs_aead *aead;
	EVP_CIPHER *ecb;
	/* The pool is the only mutable part; public APIs take a const keys
	 * pointer, so the lock and the list are reached through a cast. */
	pthread_mutex_t lock;
	gcfs_tctx *pool;
};

/* err helpers: printf into an optional buffer. */
int gcfs_seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* HKDF-SHA256, empty salt. */
int gcfs_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out, size_t outlen);

/* Borrow/return a per-thread context (NULL on ENOMEM). */
gcfs_tctx *gcfs_tctx_get(const gcfs_keys *k);
void gcfs_tctx_put(const gcfs_keys *k, gcfs_tctx *t);

/* EME over AES-256-ECB (m 16-byte blocks, 1..128), in place allowed. */
int gcfs_eme(gcfs_tctx *t, int enc, const uint8_t tweak[16], const uint8_t *in, uint8_t *out,
             size_t len);

/* Content/symlink block open/seal with an explicit AAD. */
int gcfs_block_open_aad(const gcfs_keys *k, gcfs_tctx *t, const uint8_t *aad, size_t aadlen,
                        const uint8_t *cblock, size_t clen, uint8_t *out);
int gcfs_block_seal_aad(const gcfs_keys *k, gcfs_tctx *t, const uint8_t *aad, size_t aadlen,
                        const uint8_t *plain, size_t plen, uint8_t *out);

/* b64 standard (with padding) strict decoding for gocryptfs.conf. */
long gcfs_b64std_dec(const char *in, size_t n, uint8_t *out, size_t cap);
size_t gcfs_b64std_enc(const uint8_t *in, size_t n, char *out, size_t cap);

/* conf.c, shared with the writer */
struct gcfs_flag_name {
	const char *name;
	unsigned bit;
};
extern const struct gcfs_flag_name gcfs_flag_names[]; /* in gocryptfs' order */
extern const size_t gcfs_nflag_names;
int gcfs_conf_check_flags(unsigned f, char *err, size_t errlen);
int gcfs_conf_wrap_key(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                       uint64_t n, uint32_t r, uint32_t p, uint32_t keylen,
                       uint8_t w[GCFS_KEY_LEN]);

/* content.c */
int gcfs_pread_full(const gcfs_io *io, void *buf, size_t len, uint64_t off);
size_t gcfs_make_aad(uint8_t aad[24], uint64_t block_no, const uint8_t *file_id);
int gcfs_block_decrypt_t(const gcfs_keys *k, gcfs_tctx *t, uint64_t block_no,
                         const uint8_t *file_id, const uint8_t *cb, size_t clen, uint8_t *out);

#endif
