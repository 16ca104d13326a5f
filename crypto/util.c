/* Small shared helpers: error strings, constant-time compare, wiping,
 * strict base64 (URL-safe raw for names, standard for gocryptfs.conf), and
 * HKDF.  The base64 work is done by OpenSSL's EVP_EncodeBlock /
 * EVP_DecodeBlock; this file only maps the URL alphabet and enforces the
 * strictness rules gocryptfs relies on (no padding, no stray bits). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "crypto/internal.h"

GCFS_API const char *gcfs_strerror(int err)
{
	switch (err) {
	case GCFS_OK:
		return "success";
	case GCFS_EINVAL:
		return "invalid argument";
	case GCFS_EFORMAT:
		return "corrupt data";
	case GCFS_EAUTH:
		return "authentication failed";
	case GCFS_EUNSUPP:
		return "unsupported gocryptfs variant";
	case GCFS_ENOMEM:
		return "out of memory";
	case GCFS_EIO:
		return "I/O error";
	case GCFS_ENAMETOOLONG:
		return "name too long";
	case GCFS_ECRYPTO:
		return "crypto library failure";
	default:
		return "unknown error";
	}
}

int gcfs_seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

GCFS_API int gcfs_ct_memcmp(const void *a, const void *b, size_t n)
{
	/* CRYPTO_memcmp runs in time independent of the contents. */
	return CRYPTO_memcmp(a, b, n) ? 1 : 0;
}

GCFS_API void gcfs_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

/* Only used on public bytes (ciphertext, nonces, file IDs, dir IVs), so an
 * early exit is fine; memcmp against itself shifted by one is fast. */
GCFS_API int gcfs_all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

/* ---- base64url, raw (no padding) ---- */

static const char b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_val(char c)
{
	const char *p = c ? strchr(b64url_alpha, c) : NULL;

	return p ? (int)(p - b64url_alpha) : -1;
}

/* std <-> url alphabet for the two characters that differ. */
static void to_url(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
}

GCFS_API size_t gcfs_b64url_enc(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = (n * 4 + 2) / 3, o = 0;
	unsigned char tmp[65];

	if (!out || cap < need + 1)
		return 0;
	/* 48-byte chunks encode to exactly 64 chars without padding. */
	for (size_t i = 0; i < n; i += 48) {
		size_t c = n - i < 48 ? n - i : 48;
		int w = EVP_EncodeBlock(tmp, in + i, (int)c);
		size_t raw = (c * 4 + 2) / 3;

		if (w < 0)
			return 0;
		to_url((char *)tmp, raw);
		memcpy(out + o, tmp, raw);
		o += raw;
	}
	out[o] = '\0';
	return o;
}

/* Decode one group of up to 64 URL chars (already validated). */
static long dec_group(const char *in, size_t n, uint8_t *out)
{
	unsigned char tmp[68];
	uint8_t bytes[51];
	size_t pad = (4 - n % 4) % 4, total = n + pad;
	int w;

	for (size_t i = 0; i < n; i++)
		tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	memset(tmp + n, '=', pad);
	w = EVP_DecodeBlock(bytes, tmp, (int)total);
	if (w < 0 || (size_t)w != total / 4 * 3)
		return GCFS_EFORMAT;
	memcpy(out, bytes, (size_t)w - pad);
	return (long)((size_t)w - pad);
}

GCFS_API long gcfs_b64url_dec(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0, rem = n % 4;
	int last;

	if (!in || !out)
		return GCFS_EINVAL;
	if (rem == 1)
		return GCFS_EFORMAT;
	for (size_t i = 0; i < n; i++) {
		/* Rejects '=', CR/LF, whitespace, NUL and the std alphabet. */
		if (b64url_val(in[i]) < 0)
			return GCFS_EFORMAT;
	}
	/* Non-zero bits past the last whole byte make the encoding
	 * non-canonical; gocryptfs (Go's Strict RawURLEncoding) rejects it. */
	if (rem) {
		last = b64url_val(in[n - 1]);
		if ((rem == 2 && (last & 0x0f)) || (rem == 3 && (last & 0x03)))
			return GCFS_EFORMAT;
	}
	if (n / 4 * 3 + (rem ? rem - 1 : 0) > cap)
		return GCFS_EINVAL;
	for (size_t i = 0; i < n; i += 64) {
		size_t c = n - i < 64 ? n - i : 64;
		long w = dec_group(in + i, c, out + o);

		if (w < 0)
			return w;
		o += (size_t)w;
	}
	return (long)o;
}

/* ---- base64 standard with padding (gocryptfs.conf) ---- */

long gcfs_b64std_dec(const char *in, size_t n, uint8_t *out, size_t cap)
{
	unsigned char tmp[256 / 4 * 3];
	size_t pad = 0;
	int w;

	if (n == 0 || n % 4 || n > 256)
		return GCFS_EFORMAT;
	while (pad < 2 && in[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++) {
		char c = in[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return GCFS_EFORMAT;
	}
	w = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
	if (w < 0 || (size_t)w < pad || (size_t)w - pad > cap) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return w < 0 ? GCFS_EFORMAT : GCFS_EINVAL;
	}
	memcpy(out, tmp, (size_t)w - pad);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return (long)((size_t)w - pad);
}

size_t gcfs_b64std_enc(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t need = (n + 2) / 3 * 4;

	if (cap < need + 1)
		return 0;
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* ---- HKDF-SHA256 with an empty salt (RFC 5869: equals HashLen zeros) ---- */

int gcfs_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[4];
	int rc = GCFS_ECRYPTO;

	if (!kctx)
		goto out;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	p[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, p) == 1)
		rc = GCFS_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* Page-aligned anonymous memory for secrets and plaintext, excluded from
 * core dumps and, with lock, mlock()ed so it never hits swap.  mlock may
 * fail under RLIMIT_MEMLOCK; the memory still works, it is just not
 * pinned. */
void *gcfs_private_alloc(size_t len, int lock)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (lock)
		(void)mlock(p, len);
	(void)madvise(p, len, MADV_DONTDUMP);
	return p;
}

void gcfs_private_free(void *p, size_t len, int lock)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	if (lock)
		(void)munlock(p, len);
	munmap(p, len);
}
