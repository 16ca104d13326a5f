/* gcfs_conf_create: write a gocryptfs.conf that gocryptfs itself accepts,
 * built with cJSON in gocryptfs' field order (Creator, EncryptedKey,
 * ScryptObject{Salt, N, R, P, KeyLen}, Version, FeatureFlags).  The layout is
 * cJSON_Print's (tab-indented, "key":<tab>value, flags on one line) rather
 * than Go's MarshalIndent: no reader depends on whitespace (spec section 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "crypto/internal.h"

#define CREATOR "unseal 0.1"
#define SALT_LEN 32
#define SCRYPT_R 8
#define SCRYPT_P 1

static cJSON *conf_object(const char *ekb, const char *saltb, uint64_t n, unsigned flags)
{
	cJSON *root = cJSON_CreateObject(), *so, *ff;

	if (!root || !cJSON_AddStringToObject(root, "Creator", CREATOR) ||
	    !cJSON_AddStringToObject(root, "EncryptedKey", ekb) ||
	    !(so = cJSON_AddObjectToObject(root, "ScryptObject")) ||
	    !cJSON_AddStringToObject(so, "Salt", saltb) ||
	    !cJSON_AddNumberToObject(so, "N", (double)n) ||
	    !cJSON_AddNumberToObject(so, "R", SCRYPT_R) ||
	    !cJSON_AddNumberToObject(so, "P", SCRYPT_P) ||
	    !cJSON_AddNumberToObject(so, "KeyLen", GCFS_KEY_LEN) ||
	    !cJSON_AddNumberToObject(root, "Version", 2) ||
	    !(ff = cJSON_AddArrayToObject(root, "FeatureFlags")))
		goto fail;
	/* gcfs_flag_names is in the order gocryptfs writes the flags. */
	for (size_t i = 0; i < gcfs_nflag_names; i++) {
		cJSON *f;

		if (!(flags & gcfs_flag_names[i].bit))
			continue;
		f = cJSON_CreateString(gcfs_flag_names[i].name);
		if (!f || !cJSON_AddItemToArray(ff, f)) {
			cJSON_Delete(f);
			goto fail;
		}
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

static int render(const uint8_t ek[64], const uint8_t salt[SALT_LEN], uint64_t n, unsigned flags,
                  char **json_out)
{
	char ekb[89], saltb[45];
	cJSON *root;
	char *txt, *out = NULL;
	size_t len;

	if (!gcfs_b64std_enc(ek, 64, ekb, sizeof(ekb)) ||
	    !gcfs_b64std_enc(salt, SALT_LEN, saltb, sizeof(saltb)))
		return GCFS_EINVAL;
	root = conf_object(ekb, saltb, n, flags);
	txt = root ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	if (txt) {
		/* Our own malloc'd copy (cJSON may use other hooks), with the
		 * trailing newline gocryptfs writes. */
		len = strlen(txt);
		out = malloc(len + 2);
		if (out) {
			memcpy(out, txt, len);
			memcpy(out + len, "\n", 2);
		}
		cJSON_free(txt);
	}
	if (!out)
		return GCFS_ENOMEM;
	*json_out = out;
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
