/* gcfs_conf_create: write a gocryptfs.conf that gocryptfs itself accepts,
 * laid out byte for byte like gocryptfs' json.MarshalIndent output (tab
 * indent, fixed field order, trailing newline).  cJSON's printer uses a
 * different layout ("key":\tvalue), so the few fixed fields are formatted
 * here; every value is base64 or an integer, so nothing needs escaping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "crypto/internal.h"

#define CREATOR "unseal 0.1"
#define SALT_LEN 32
#define SCRYPT_R 8
#define SCRYPT_P 1

static int flags_json(unsigned flags, char *out, size_t cap)
{
	size_t o = 0;
	int first = 1;

	for (size_t i = 0; i < gcfs_nflag_names; i++) {
		int n;

		if (!(flags & gcfs_flag_names[i].bit))
			continue;
		n = snprintf(out + o, cap - o, "%s\n\t\t\"%s\"", first ? "" : ",",
		             gcfs_flag_names[i].name);
		if (n < 0 || (size_t)n >= cap - o)
			return GCFS_EINVAL;
		o += (size_t)n;
		first = 0;
	}
	return GCFS_OK;
}

static int render(const uint8_t ek[64], const uint8_t salt[SALT_LEN], uint64_t n, unsigned flags,
                  char **json_out)
{
	char ekb[89], saltb[45], fl[512];
	char *json;
	size_t cap = 1024;
	int w;

	if (!gcfs_b64std_enc(ek, 64, ekb, sizeof(ekb)) ||
	    !gcfs_b64std_enc(salt, SALT_LEN, saltb, sizeof(saltb)) ||
	    flags_json(flags, fl, sizeof(fl)))
		return GCFS_EINVAL;
	json = malloc(cap);
	if (!json)
		return GCFS_ENOMEM;
	w = snprintf(json, cap,
	             "{\n\t\"Creator\": \"%s\",\n\t\"EncryptedKey\": \"%s\",\n"
	             "\t\"ScryptObject\": {\n\t\t\"Salt\": \"%s\",\n\t\t\"N\": %llu,\n"
	             "\t\t\"R\": %d,\n\t\t\"P\": %d,\n\t\t\"KeyLen\": %d\n\t},\n"
	             "\t\"Version\": 2,\n\t\"FeatureFlags\": [%s\n\t]\n}\n",
	             CREATOR, ekb, saltb, (unsigned long long)n, SCRYPT_R, SCRYPT_P, GCFS_KEY_LEN,
	             fl);
	if (w < 0 || (size_t)w >= cap) {
		free(json);
		return GCFS_EINVAL;
	}
	*json_out = json;
	return GCFS_OK;
}

/* master -> EncryptedKey = nonce(16) | GCM(W, master, AAD 00x8) | tag(16) */
static int wrap(const uint8_t *pw, size_t pwlen, const uint8_t salt[SALT_LEN], uint64_t n,
                const uint8_t master[GCFS_KEY_LEN], uint8_t ek[64])
{
	static const uint8_t aad[8];
	uint8_t w[GCFS_KEY_LEN];
	int rc;

	if (RAND_bytes(ek, GCFS_NONCE_LEN) != 1)
		return GCFS_ECRYPTO;
	rc = gcfs_conf_wrap_key(pw, pwlen, salt, SALT_LEN, n, SCRYPT_R, SCRYPT_P, GCFS_KEY_LEN, w);
	if (!rc)
		rc = gcfs_gcm_oneshot(1, w, ek, aad, sizeof(aad), master, GCFS_KEY_LEN, ek + 16,
		                      ek + 48);
	gcfs_wipe(w, sizeof(w));
	return rc;
}

GCFS_API int gcfs_conf_create(const uint8_t *pw, size_t pwlen, int scryptn_log2, unsigned flags,
                              const uint8_t *master_in, uint8_t master_out[GCFS_KEY_LEN],
                              char **json_out, char *err, size_t errlen)
{
	uint8_t master[GCFS_KEY_LEN], salt[SALT_LEN], ek[64];
	int rc;

	if (!pw || !pwlen || !json_out)
		return gcfs_seterr(err, errlen, GCFS_EINVAL, "empty password");
	*json_out = NULL;
	if (scryptn_log2 < 10 || scryptn_log2 > 22)
		return gcfs_seterr(err, errlen, GCFS_EINVAL,
		                   "scryptn %d outside 10..22 (2^22 needs 4 GiB)", scryptn_log2);
	/* LongNameMax needs a value this API does not take. */
	if (flags & GCFS_F_LONGNAMEMAX)
		return gcfs_seterr(err, errlen, GCFS_EUNSUPP, "cannot create LongNameMax");
	rc = gcfs_conf_check_flags(flags, err, errlen);
	if (rc)
		return rc;
	if (master_in)
		memcpy(master, master_in, GCFS_KEY_LEN);
	else if (RAND_priv_bytes(master, GCFS_KEY_LEN) != 1)
		return gcfs_seterr(err, errlen, GCFS_ECRYPTO, "no randomness");
	if (RAND_bytes(salt, SALT_LEN) != 1)
		rc = GCFS_ECRYPTO;
	if (!rc)
		rc = wrap(pw, pwlen, salt, 1ull << scryptn_log2, master, ek);
	if (!rc)
		rc = render(ek, salt, 1ull << scryptn_log2, flags, json_out);
	if (!rc && master_out)
		memcpy(master_out, master, GCFS_KEY_LEN);
	gcfs_wipe(master, sizeof(master));
	if (rc)
		return gcfs_seterr(err, errlen, rc, "cannot create gocryptfs.conf");
	return GCFS_OK;
}
