/* gocryptfs.conf: parse + validate (cJSON), unwrap the master key
 * (scrypt -> HKDF -> AES-256-GCM), and the writer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "crypto/internal.h"

#define SCRYPT_LOG2_MIN 10
#define SCRYPT_LOG2_MAX 28 /* what gocryptfs -scryptn accepts; memory is capped below */
#define GCFS_SCRYPT_MAXMEM (4ull << 30)

/* Flag names in the order gocryptfs writes them. */
const struct gcfs_flag_name gcfs_flag_names[] = {
    {"HKDF", GCFS_F_HKDF},
    {"GCMIV128", GCFS_F_GCMIV128},
    {"PlaintextNames", GCFS_F_PLAINTEXTNAMES},
    {"DirIV", GCFS_F_DIRIV},
    {"LongNameMax", GCFS_F_LONGNAMEMAX},
    {"EMENames", GCFS_F_EMENAMES},
    {"LongNames", GCFS_F_LONGNAMES},
    {"Raw64", GCFS_F_RAW64},
    {"AESSIV", GCFS_F_AESSIV},
};
const size_t gcfs_nflag_names = sizeof(gcfs_flag_names) / sizeof(gcfs_flag_names[0]);

/* An integral JSON number in [lo, hi]. */
static int get_int(const cJSON *o, const char *key, double lo, double hi, uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItem(o, key); /* case-insensitive like Go */
	double v;

	if (!cJSON_IsNumber(it))
		return -1;
	v = it->valuedouble;
	if (v < lo || v > hi || v != (double)(uint64_t)v)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int parse_flag(const char *s, unsigned *flags, char *err, size_t errlen)
{
	for (size_t i = 0; i < gcfs_nflag_names; i++) {
		if (!strcmp(s, gcfs_flag_names[i].name)) {
			*flags |= gcfs_flag_names[i].bit;
			return GCFS_OK;
		}
	}
	if (!strcmp(s, "XChaCha20Poly1305") || !strcmp(s, "FIDO2"))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "feature flag %s is not supported",
		                   s);
	return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "unknown feature flag \"%.64s\"", s);
}

static int parse_flags(const cJSON *root, gcfs_conf *c, char *err, size_t errlen)
{
	const cJSON *arr = cJSON_GetObjectItem(root, "FeatureFlags"), *it;
	int rc;

	if (!cJSON_IsArray(arr))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT,
		                   "FeatureFlags missing or not an array");
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it))
			return gcfs_seterr(err, errlen, GCFS_EFORMAT,
			                   "FeatureFlags: non-string entry");
		rc = parse_flag(it->valuestring, &c->flags, err, errlen);
		if (rc)
			return rc;
	}
	return GCFS_OK;
}

/* The combinations gocryptfs itself refuses, plus the legacy layouts we do
 * not implement. */
int gcfs_conf_check_flags(unsigned f, char *err, size_t errlen)
{
	const unsigned name_flags =
	    GCFS_F_EMENAMES | GCFS_F_DIRIV | GCFS_F_LONGNAMES | GCFS_F_RAW64 | GCFS_F_LONGNAMEMAX;

	if (!(f & GCFS_F_HKDF))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP,
		                   "feature flag HKDF missing: legacy (pre-v1.3) filesystem");
	if (!(f & GCFS_F_GCMIV128))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "feature flag GCMIV128 missing");
	if ((f & GCFS_F_PLAINTEXTNAMES) && (f & name_flags))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT,
		                   "PlaintextNames combined with name encryption flags");
	if (f & GCFS_F_PLAINTEXTNAMES)
		return GCFS_OK;
	if (!(f & GCFS_F_EMENAMES))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "feature flag EMENames missing");
	if (!(f & GCFS_F_RAW64))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP,
		                   "feature flag Raw64 missing: padded base64 names");
	return GCFS_OK;
}

static int parse_b64(const cJSON *o, const char *key, uint8_t *out, size_t cap, size_t *len,
                     char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItem(o, key);
	long n;

	if (!cJSON_IsString(it))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "%s missing or not a string", key);
	n = gcfs_b64std_dec(it->valuestring, strlen(it->valuestring), out, cap);
	if (n < 0)
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "%s: invalid base64", key);
	*len = (size_t)n;
	return GCFS_OK;
}

static int parse_scrypt(const cJSON *root, gcfs_conf *c, char *err, size_t errlen)
{
	const cJSON *s = cJSON_GetObjectItem(root, "ScryptObject");
	uint64_t n, r, p, kl;
	int rc;

	if (!cJSON_IsObject(s))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "ScryptObject missing");
	rc = parse_b64(s, "Salt", c->salt, sizeof(c->salt), &c->salt_len, err, errlen);
	if (rc)
		return rc;
	if (c->salt_len < 32)
		return gcfs_seterr(err, errlen, GCFS_EFORMAT,
		                   "ScryptObject.Salt shorter than 32 B");
	if (get_int(s, "N", 2, 1e12, &n) || (n & (n - 1)))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "ScryptObject.N invalid");
	if (n < (1u << SCRYPT_LOG2_MIN) || n > (1u << SCRYPT_LOG2_MAX))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP,
		                   "ScryptObject.N %llu outside 2^10..2^28", (unsigned long long)n);
	if (get_int(s, "R", 8, 64, &r) || get_int(s, "P", 1, 16, &p))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "ScryptObject.R/P invalid");
	if (get_int(s, "KeyLen", 32, 64, &kl))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "ScryptObject.KeyLen invalid");
	/* The cost comes from an untrusted file and every shimmed process pays
	 * it: refuse what cannot be a sane deployment rather than let a
	 * crafted conf allocate terabytes. */
	if (128.0 * (double)r * (double)n > (double)GCFS_SCRYPT_MAXMEM)
		return gcfs_seterr(
		    err, errlen, GCFS_EUNSUPP,
		    "ScryptObject N=%llu R=%lld needs %llu MiB, over the %llu MiB limit",
		    (unsigned long long)n, (long long)r,
		    (unsigned long long)(128ull * (uint64_t)r * (uint64_t)n >> 20),
		    (unsigned long long)(GCFS_SCRYPT_MAXMEM >> 20));
	c->scrypt_n = n;
	c->scrypt_r = (uint32_t)r;
	c->scrypt_p = (uint32_t)p;
	c->scrypt_keylen = (uint32_t)kl;
	return GCFS_OK;
}

static int parse_longnamemax(const cJSON *root, gcfs_conf *c, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItem(root, "LongNameMax");
	int flag = !!(c->flags & GCFS_F_LONGNAMEMAX);
	uint64_t v;

	c->longname_max = GCFS_NAME_MAX;
	if (!!it != flag)
		return gcfs_seterr(err, errlen, GCFS_EFORMAT,
		                   "LongNameMax field and flag must be present together");
	if (!it)
		return GCFS_OK;
	if (get_int(root, "LongNameMax", 62, 255, &v))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "LongNameMax outside 62..255");
	c->longname_max = (int)v;
	return GCFS_OK;
}

static int parse_root(const cJSON *root, gcfs_conf *c, char *err, size_t errlen)
{
	const cJSON *it;
	uint64_t ver;
	int rc;

	if (!cJSON_IsObject(root))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "not a JSON object");
	it = cJSON_GetObjectItem(root, "Creator");
	if (it && !cJSON_IsString(it))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "Creator is not a string");
	if (it)
		snprintf(c->creator, sizeof(c->creator), "%s", it->valuestring);
	if (get_int(root, "Version", 0, 1e9, &ver))
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "Version missing or not an integer");
	if (ver != 2)
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "Version %llu (only 2 is supported)",
		                   (unsigned long long)ver);
	c->version = 2;
	if (cJSON_GetObjectItem(root, "FIDO2"))
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "FIDO2 is not supported");
	rc = parse_flags(root, c, err, errlen);
	if (!rc)
		rc = gcfs_conf_check_flags(c->flags, err, errlen);
	if (!rc)
		rc = parse_longnamemax(root, c, err, errlen);
	if (!rc)
		rc = parse_scrypt(root, c, err, errlen);
	if (!rc)
		rc = parse_b64(root, "EncryptedKey", c->encrypted_key, sizeof(c->encrypted_key),
		               &c->encrypted_key_len, err, errlen);
	if (!rc && c->encrypted_key_len != 64)
		rc = gcfs_seterr(err, errlen, GCFS_EFORMAT, "EncryptedKey is not 64 bytes");
	return rc;
}

GCFS_API int gcfs_conf_parse(const char *json, size_t len, gcfs_conf *out, char *err, size_t errlen)
{
	cJSON *root;
	int rc;

	if (!json || !out)
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "missing argument");
	memset(out, 0, sizeof(*out));
	root = cJSON_ParseWithLength(json, len);
	if (!root)
		return gcfs_seterr(err, errlen, GCFS_EFORMAT, "invalid JSON");
	rc = parse_root(root, out, err, errlen);
	cJSON_Delete(root);
	return rc;
}

/* ---- key derivation ---- */

static int scrypt(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen, uint64_t n,
                  uint32_t r, uint32_t p, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	/* OpenSSL's default cap is 32 MiB; N=2^16 needs 64 MiB, 2^20 1 GiB. */
	uint64_t maxmem = 128ull * r * (n + p + 2) + (1u << 20);
	OSSL_PARAM prm[7];
	int rc = GCFS_ECRYPTO;

	if (!kctx)
		goto out;
	prm[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, pwlen);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	prm[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	prm[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	prm[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	prm[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	prm[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, prm) == 1)
		rc = GCFS_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* password -> W (the wrap key).  S is wiped here. */
int gcfs_conf_wrap_key(const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                       uint64_t n, uint32_t r, uint32_t p, uint32_t keylen, uint8_t w[GCFS_KEY_LEN])
{
	uint8_t s[64];
	int rc = scrypt(pw, pwlen, salt, saltlen, n, r, p, s, keylen);

	if (!rc)
		rc = gcfs_hkdf(s, keylen, GCFS_HKDF_INFO_GCM, w, GCFS_KEY_LEN);
	gcfs_wipe(s, sizeof(s));
	return rc;
}

GCFS_API int gcfs_conf_unwrap(const gcfs_conf *c, const uint8_t *pw, size_t pwlen,
                              uint8_t master[GCFS_KEY_LEN], char *err, size_t errlen)
{
	static const uint8_t aad[8]; /* const: "block 0, no file ID" */
	uint8_t w[GCFS_KEY_LEN], tag[GCFS_TAG_LEN];
	const uint8_t *ek;
	int rc;

	if (!c || !pw || !master || c->encrypted_key_len != 64)
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "bad argument");
	rc = gcfs_conf_wrap_key(pw, pwlen, c->salt, c->salt_len, c->scrypt_n, c->scrypt_r,
	                        c->scrypt_p, c->scrypt_keylen, w);
	if (rc) {
		gcfs_wipe(w, sizeof(w));
		return gcfs_seterr(err, errlen, rc, "scrypt/HKDF failed");
	}
	ek = c->encrypted_key;
	memcpy(tag, ek + 48, sizeof(tag));
	rc = gcfs_gcm_oneshot(0, w, ek, aad, sizeof(aad), ek + 16, GCFS_KEY_LEN, master, tag);
	gcfs_wipe(w, sizeof(w));
	if (rc == GCFS_OK)
		return GCFS_OK;
	gcfs_wipe(master, GCFS_KEY_LEN);
	if (rc == GCFS_EAUTH)
		return gcfs_seterr(err, errlen, rc, "wrong password or corrupt gocryptfs.conf");
	return gcfs_seterr(err, errlen, rc, "AES-GCM failed");
}

/* ---- passfile / hex key ---- */

GCFS_API long gcfs_passfile_first_line(const uint8_t *buf, size_t len)
{
	const uint8_t *nl = buf ? memchr(buf, '\n', len) : NULL;
	size_t n = nl ? (size_t)(nl - buf) : len;

	if (!buf || n == 0)
		return GCFS_EINVAL;
	return (long)n;
}

GCFS_API int gcfs_masterkey_parse(const char *s, size_t len, uint8_t master[GCFS_KEY_LEN])
{
	char hex[2 * GCFS_KEY_LEN + 1];
	size_t i = 0, nd = 0, got = 0;
	int rc = GCFS_EINVAL;

	if (!s || !master)
		return GCFS_EINVAL;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	/* Dashes may stand anywhere (gocryptfs prints 8 groups of 8 digits);
	 * OpenSSL's separator is only allowed between whole bytes, so drop
	 * them here and let OpenSSL decode the digits. */
	for (; i < len; i++) {
		if (s[i] == '-')
			continue;
		if (s[i] == '\0' || nd == 2 * GCFS_KEY_LEN)
			goto out;
		hex[nd++] = s[i];
	}
	hex[nd] = '\0';
	if (nd == 2 * GCFS_KEY_LEN) {
		/* A bad digit must not leave an error on the caller's queue. */
		ERR_set_mark();
		if (OPENSSL_hexstr2buf_ex(master, GCFS_KEY_LEN, &got, hex, '\0') == 1 &&
		    got == GCFS_KEY_LEN)
			rc = GCFS_OK;
		ERR_pop_to_mark();
	}
out:
	gcfs_wipe(hex, sizeof(hex));
	if (rc)
		gcfs_wipe(master, GCFS_KEY_LEN);
	return rc;
}
