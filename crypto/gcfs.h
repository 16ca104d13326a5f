/* gcfs: a pure library for the gocryptfs v2 on-disk format.
 *
 * No globals, no interposition, no environment, no file system access of its
 * own: callers hand in bytes, or a pread callback for file contents.  Every
 * function that can fail returns 0 on success or a negative gcfs_err, and
 * fills an optional error buffer with a short cause (never key material).
 */
#ifndef GCFS_H
#define GCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GCFS_KEY_LEN 32
#define GCFS_HEADER_LEN 18
#define GCFS_FILEID_LEN 16
#define GCFS_DIRIV_LEN 16
#define GCFS_NONCE_LEN 16
#define GCFS_TAG_LEN 16
#define GCFS_BLOCK_PLAIN 4096
#define GCFS_BLOCK_OVERHEAD (GCFS_NONCE_LEN + GCFS_TAG_LEN)
#define GCFS_BLOCK_CIPHER (GCFS_BLOCK_PLAIN + GCFS_BLOCK_OVERHEAD)
#define GCFS_NAME_MAX 255  /* plaintext name component, bytes */
#define GCFS_CNAME_MAX 400 /* full encrypted name incl. NUL (342 + slack) */
#define GCFS_LONGNAME_PREFIX "gocryptfs.longname."
#define GCFS_DIRIV_NAME "gocryptfs.diriv"
#define GCFS_CONF_NAME "gocryptfs.conf"
#define GCFS_ERRBUF 256

typedef enum {
	GCFS_OK = 0,
	GCFS_EINVAL = -1,  /* bad argument or malformed input */
	GCFS_EFORMAT = -2, /* structurally corrupt data (header, name, conf) */
	GCFS_EAUTH = -3,   /* authentication failed (tag, wrong key) */
	GCFS_EUNSUPP = -4, /* valid gocryptfs, but a variant we refuse */
	GCFS_ENOMEM = -5,
	GCFS_EIO = -6, /* the pread callback failed or was short */
	GCFS_ENAMETOOLONG = -7,
	GCFS_ECRYPTO = -8, /* the crypto library itself failed */
} gcfs_err;

const char *gcfs_strerror(int err);

/* ---- feature flags (gocryptfs.conf "FeatureFlags") ---- */
enum {
	GCFS_F_HKDF = 1u << 0,
	GCFS_F_GCMIV128 = 1u << 1,
	GCFS_F_DIRIV = 1u << 2,
	GCFS_F_EMENAMES = 1u << 3,
	GCFS_F_LONGNAMES = 1u << 4,
	GCFS_F_RAW64 = 1u << 5,
	GCFS_F_PLAINTEXTNAMES = 1u << 6,
	GCFS_F_AESSIV = 1u << 7,
	GCFS_F_LONGNAMEMAX = 1u << 8,
};
#define GCFS_FLAGS_DEFAULT                                                                         \
	(GCFS_F_HKDF | GCFS_F_GCMIV128 | GCFS_F_DIRIV | GCFS_F_EMENAMES | GCFS_F_LONGNAMES |       \
	 GCFS_F_RAW64)

/* ---- AES-GCM engine selection ---- */
typedef enum {
	GCFS_ENGINE_AUTO = 0,    /* ipsec-mb when the CPU has AES-NI, else OpenSSL */
	GCFS_ENGINE_OPENSSL = 1, /* the reference */
	GCFS_ENGINE_IPSECMB = 2, /* Intel ipsec-mb (fails with GCFS_EUNSUPP if unusable) */
} gcfs_engine;

/* "openssl" | "ipsec-mb" | "auto" | NULL (= auto).  Returns -1 on junk. */
int gcfs_engine_parse(const char *s, gcfs_engine *out);
const char *gcfs_engine_name(gcfs_engine e);

/* ---- gocryptfs.conf ---- */
typedef struct gcfs_conf {
	char creator[64];
	int version;
	unsigned flags; /* GCFS_F_* */
	uint8_t salt[64];
	size_t salt_len;
	uint64_t scrypt_n;
	uint32_t scrypt_r, scrypt_p, scrypt_keylen;
	uint8_t encrypted_key[64];
	size_t encrypted_key_len;
	int longname_max; /* 255 unless LongNameMax */
} gcfs_conf;

/* Parse and validate.  Unknown flags, Version != 2, XChaCha20, FIDO2, legacy
 * (no HKDF) and invalid combinations are refused; err names the flag/field. */
int gcfs_conf_parse(const char *json, size_t len, gcfs_conf *out, char *err, size_t errlen);

/* scrypt -> HKDF -> AES-256-GCM unwrap.  GCFS_EAUTH means "wrong password or
 * corrupt gocryptfs.conf". */
int gcfs_conf_unwrap(const gcfs_conf *c, const uint8_t *pw, size_t pwlen,
                     uint8_t master[GCFS_KEY_LEN], char *err, size_t errlen);

/* gocryptfs passfile semantics: the password is the first line without '\n'
 * ('\r' kept).  Returns the length, or GCFS_EINVAL for an empty first line. */
long gcfs_passfile_first_line(const uint8_t *buf, size_t len);

/* Hex master key as gocryptfs prints it: 64 hex digits, dashes and
 * surrounding whitespace allowed. */
int gcfs_masterkey_parse(const char *s, size_t len, uint8_t master[GCFS_KEY_LEN]);

/* Writer: new conf for `flags` (GCFS_FLAGS_DEFAULT or PlaintextNames set)
 * with random salt and master key, scrypt N = 2^scryptn_log2.  If
 * `master_in` is non-NULL it is wrapped instead of a fresh random key.
 * *json_out is malloc'd JSON in gocryptfs' field order (cJSON's layout),
 * with a trailing '\n'. */
int gcfs_conf_create(const uint8_t *pw, size_t pwlen, int scryptn_log2, unsigned flags,
                     const uint8_t *master_in, uint8_t master_out[GCFS_KEY_LEN], char **json_out,
                     char *err, size_t errlen);

/* ---- derived keys and AEAD contexts ---- */
typedef struct gcfs_keys gcfs_keys; /* opaque; holds K_name, content AEAD */

/* Derive subkeys from the master key per flags.  The master key is not kept. */
int gcfs_keys_new(const uint8_t master[GCFS_KEY_LEN], unsigned flags, int longname_max,
                  gcfs_engine engine, gcfs_keys **out, char *err, size_t errlen);
void gcfs_keys_free(gcfs_keys *k); /* zeroes everything */
unsigned gcfs_keys_flags(const gcfs_keys *k);
gcfs_engine gcfs_keys_engine(const gcfs_keys *k); /* the engine actually in use */
/* fork() safety of the cipher-context pool: prepare takes its lock (call it
 * after every lock that may be held while decrypting), parent releases it,
 * child re-initialises it (the child has one thread).  NULL is ignored. */
void gcfs_keys_fork_prepare(gcfs_keys *k);
void gcfs_keys_fork_parent(gcfs_keys *k);
void gcfs_keys_fork_child(gcfs_keys *k);

/* ---- sizes ---- */
uint64_t gcfs_plain_size(uint64_t cipher_size);
uint64_t gcfs_cipher_size(uint64_t plain_size);

/* ---- content ---- */
typedef struct gcfs_io {
	void *ctx;
	/* Like pread(2): bytes read, 0 at EOF, -1 with errno on error. */
	ssize_t (*pread)(void *ctx, void *buf, size_t len, uint64_t off);
} gcfs_io;

typedef struct gcfs_file {
	uint8_t file_id[GCFS_FILEID_LEN];
	uint64_t cipher_size;
	uint64_t plain_size;
	int empty; /* 0 or 18 bytes: no blocks */
} gcfs_file;

/* Read and check the 18-byte header (unless the file is empty). */
int gcfs_file_open(const gcfs_io *io, uint64_t cipher_size, gcfs_file *f, char *err, size_t errlen);

/* Decrypt plaintext [off, off+len) into dst (clamped to the plain size;
 * *done gets the byte count).  Uses up to `nthreads` threads (0 = 1) for
 * large ranges; each thread allocates one bounded scratch buffer, never one
 * per block.  On failure *bad_block (if non-NULL) gets the index of the
 * first block that failed, and every byte already written to dst is zeroed:
 * no plaintext of an unauthenticated range is ever left behind. */
int gcfs_file_read(const gcfs_keys *k, const gcfs_io *io, const gcfs_file *f, void *dst, size_t len,
                   uint64_t off, int nthreads, size_t *done, uint64_t *bad_block, char *err,
                   size_t errlen);

/* Options for gcfs_file_read_ex (zero-initialise, then set what you need). */
typedef struct gcfs_read_opts {
	int nthreads; /* 0 = 1; threads are only started for ranges worth it */
	/* The whole cipher file in memory (f->cipher_size bytes, e.g. a
	 * mapping): blocks are decrypted straight from it, no pread, no copy.
	 * NULL: read through io. */
	const uint8_t *cipher;
	/* Instead of dst (which must then be NULL): each authenticated run of
	 * plaintext [off, off+len) (whole blocks but for the request's ends,
	 * at most 256 KiB) is handed over here, from any worker, in no
	 * particular order; the buffer is reused and wiped afterwards, and a
	 * run with a bad block is never handed over.  Nonzero stops the read
	 * (GCFS_ENOMEM).  On failure the caller must discard what it received.
	 * May be NULL. */
	int (*sink)(void *ctx, uint64_t off, const void *buf, size_t len);
	void *sink_ctx;
} gcfs_read_opts;

/* gcfs_file_read with options; o == NULL means one thread over io.  io may
 * be NULL when o->cipher is set.  Same results and failure rules. */
int gcfs_file_read_ex(const gcfs_keys *k, const gcfs_io *io, const gcfs_file *f, void *dst,
                      size_t len, uint64_t off, const gcfs_read_opts *o, size_t *done,
                      uint64_t *bad_block, char *err, size_t errlen);

/* In-memory cipher file: gcfs_file_open and gcfs_file_read over a buffer
 * holding the whole file (cipher_size bytes). */
int gcfs_file_open_buf(const uint8_t *cipher, uint64_t cipher_size, gcfs_file *f, char *err,
                       size_t errlen);
int gcfs_file_read_buf(const gcfs_keys *k, const uint8_t *cipher, const gcfs_file *f, void *dst,
                       size_t len, uint64_t off, int nthreads, size_t *done, uint64_t *bad_block,
                       char *err, size_t errlen);

/* One block.  cblock/clen is the on-disk block (nonce|ct|tag, or the
 * AES-SIV layout); out receives clen-32 bytes.  The hole rule (a full
 * all-zero 4128-byte block) is applied here. */
int gcfs_block_decrypt(const gcfs_keys *k, uint64_t block_no,
                       const uint8_t file_id[GCFS_FILEID_LEN], const uint8_t *cblock, size_t clen,
                       uint8_t *out);
/* Writer side: random nonce, out gets plen+32 bytes. */
int gcfs_block_encrypt(const gcfs_keys *k, uint64_t block_no,
                       const uint8_t file_id[GCFS_FILEID_LEN], const uint8_t *plain, size_t plen,
                       uint8_t *out);
/* A fresh 18-byte header with a random file ID. */
int gcfs_header_new(uint8_t hdr[GCFS_HEADER_LEN], uint8_t file_id[GCFS_FILEID_LEN]);

/* ---- names ---- */
/* Encrypt one component.  `out` gets what is stored on disk: the b64url
 * name, or "gocryptfs.longname.<hash>" when it is too long, in which case
 * `full` (if non-NULL, GCFS_CNAME_MAX bytes) gets the full encrypted name
 * for the .name file and *is_long = 1.  With PlaintextNames the name is
 * copied.  diriv is ignored without DirIV (zero tweak). */
int gcfs_name_encrypt(const gcfs_keys *k, const uint8_t diriv[GCFS_DIRIV_LEN], const char *name,
                      char out[GCFS_CNAME_MAX], char *full, int *is_long);
/* Decrypt a full encrypted name (not the longname hash; read .name first). */
int gcfs_name_decrypt(const gcfs_keys *k, const uint8_t diriv[GCFS_DIRIV_LEN], const char *cname,
                      char out[GCFS_NAME_MAX + 1]);
/* 1 if `cname` is gocryptfs metadata that listings hide: gocryptfs.diriv,
 * gocryptfs.longname.*.name, and gocryptfs.conf in the root. */
int gcfs_name_is_meta(const gcfs_keys *k, const char *cname, int in_root);
/* 1 if cname is "gocryptfs.longname.<43 chars>" (without .name). */
int gcfs_name_is_longname(const char *cname);
/* Check a diriv file's bytes: exactly 16 and not all zero. */
int gcfs_diriv_check(const uint8_t *buf, size_t len);

/* ---- symlink targets ---- */
/* out must hold strlen(ctarget) bytes + 1; *outlen excludes the NUL. */
int gcfs_symlink_decrypt(const gcfs_keys *k, const char *ctarget, char *out, size_t cap,
                         size_t *outlen);
/* out must hold gcfs_symlink_cipher_len(strlen(target)) + 1 bytes. */
size_t gcfs_symlink_cipher_len(size_t plain_len);
int gcfs_symlink_encrypt(const gcfs_keys *k, const char *target, char *out, size_t cap);

/* ---- small helpers shared with the rest of unseal ---- */
/* Constant-time compare: 0 when equal. */
int gcfs_ct_memcmp(const void *a, const void *b, size_t n);
/* Zero memory in a way the compiler keeps. */
void gcfs_wipe(void *p, size_t n);
/* 1 if all n bytes are zero (n == 0 included).  Not constant-time: for
 * public bytes only (ciphertext, nonces, plaintext about to be written). */
int gcfs_all_zero(const uint8_t *p, size_t n);
/* b64url without padding; strict decoding (rejects trailing bits). */
size_t gcfs_b64url_enc(const uint8_t *in, size_t n, char *out, size_t cap);
long gcfs_b64url_dec(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
