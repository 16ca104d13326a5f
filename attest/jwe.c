/* jwe: decrypt the resource the KBS wrapped to our key (spec 4.2-4.4).
 *
 * Two layouts exist: legacy (0.1.x: raw-JSON "protected", tag appended to
 * the ciphertext, empty AAD) and RFC 7516 flattened (0.2.0+: base64url
 * "protected" that is also the AAD, separate tag).  An answer that is not a
 * JSON object with the five string members is malformed (KBS_E_PROTOCOL);
 * every failure after that is reported as the same generic KBS_E_DECRYPT so
 * the server side learns nothing (no padding oracle), and no plaintext
 * escapes unless the GCM tag verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include "attest/kbs_int.h"
#include "crypto/gcfs.h"

#define CEK_LEN 32
#define IV_LEN 12
#define TAG_LEN 16

typedef struct jwe_parts {
	const char *prot; /* as received: AAD for RFC 7516 */
	uint8_t *ek, *iv, *ct, *tag;
	size_t ek_len, iv_len, ct_len, tag_len;
	char alg[32];
	char epk_x[64], epk_y[64]; /* ECDH-ES: ephemeral P-256 public key */
} jwe_parts;

static void parts_free(jwe_parts *p)
{
	free(p->ek);
	free(p->iv);
	free(p->ct);
	free(p->tag);
}

/* Strict b64url into a fresh buffer; "" decodes to zero bytes. */
static int b64_field(const char *s, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s);
	long r;

	*out = malloc(n / 4 * 3 + 4);
	if (!*out)
		return -1;
	if (n == 0) {
		*outlen = 0;
		return 0;
	}
	r = gcfs_b64url_dec(s, n, *out, n / 4 * 3 + 4);
	if (r < 0)
		return -1;
	*outlen = (size_t)r;
	return 0;
}

/* epk of an ECDH-ES header: P-256 only; absent is fine for RSA algs. */
static int parse_epk(const cJSON *epk, jwe_parts *p)
{
	const cJSON *crv, *kty, *x, *y;

	if (!epk)
		return 0;
	crv = cJSON_GetObjectItemCaseSensitive(epk, "crv");
	kty = cJSON_GetObjectItemCaseSensitive(epk, "kty");
	x = cJSON_GetObjectItemCaseSensitive(epk, "x");
	y = cJSON_GetObjectItemCaseSensitive(epk, "y");
	if (!cJSON_IsString(crv) || strcmp(crv->valuestring, "P-256") || !cJSON_IsString(kty) ||
	    strcmp(kty->valuestring, "EC") || !cJSON_IsString(x) || !cJSON_IsString(y) ||
	    strlen(x->valuestring) >= sizeof(p->epk_x) ||
	    strlen(y->valuestring) >= sizeof(p->epk_y))
		return -1;
	snprintf(p->epk_x, sizeof(p->epk_x), "%s", x->valuestring);
	snprintf(p->epk_y, sizeof(p->epk_y), "%s", y->valuestring);
	return 0;
}

/* Header: raw JSON (legacy, starts with '{') or base64url JSON. */
static int parse_header(jwe_parts *p)
{
	cJSON *h, *alg, *enc;
	uint8_t *raw = NULL;
	size_t rl;
	int rc = -1;

	if (p->prot[0] == '{') {
		h = cJSON_Parse(p->prot);
	} else {
		if (b64_field(p->prot, &raw, &rl)) {
			free(raw);
			return -1;
		}
		h = cJSON_ParseWithLength((const char *)raw, rl);
		free(raw);
	}
	alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	enc = cJSON_GetObjectItemCaseSensitive(h, "enc");
	if (cJSON_IsString(alg) && cJSON_IsString(enc) && !strcmp(enc->valuestring, "A256GCM") &&
	    strlen(alg->valuestring) < sizeof(p->alg)) {
		snprintf(p->alg, sizeof(p->alg), "%s", alg->valuestring);
		rc = parse_epk(cJSON_GetObjectItemCaseSensitive(h, "epk"), p);
	}
	cJSON_Delete(h);
	return rc;
}

static const char *const members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};

/* Spec 4.4 step 1: an object with five string members, else a malformed
 * answer (no crypto involved, so naming the member leaks nothing). */
static int check_shape(const cJSON *j, char *cause, size_t causelen)
{
	if (!cJSON_IsObject(j)) {
		snprintf(cause, causelen, "resource answer is not a JSON object");
		return -1;
	}
	for (int i = 0; i < 5; i++)
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, members[i]))) {
			snprintf(cause, causelen, "resource answer is not a JWE: no string '%s'",
			         members[i]);
			return -1;
		}
	return 0;
}

static int parse_parts(const cJSON *j, jwe_parts *p)
{
	const char *v[5];

	/* RFC 7516 would fold "aad" into the AAD; KBS never sends one. */
	if (cJSON_GetObjectItemCaseSensitive(j, "aad"))
		return -1;
	for (int i = 0; i < 5; i++)
		v[i] = cJSON_GetObjectItemCaseSensitive(j, members[i])->valuestring;
	p->prot = v[0];
	if (!p->prot[0] || parse_header(p))
		return -1;
	if (b64_field(v[1], &p->ek, &p->ek_len) || b64_field(v[2], &p->iv, &p->iv_len) ||
	    b64_field(v[3], &p->ct, &p->ct_len) || b64_field(v[4], &p->tag, &p->tag_len))
		return -1;
	return 0;
}

/* The server's ephemeral public key; fromdata rejects points off the curve. */
static EVP_PKEY *epk_key(const jwe_parts *p)
{
	uint8_t pt[65] = {0x04};
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k = NULL;
	OSSL_PARAM prm[3];

	if (gcfs_b64url_dec(p->epk_x, strlen(p->epk_x), pt + 1, 32) != 32 ||
	    gcfs_b64url_dec(p->epk_y, strlen(p->epk_y), pt + 33, 32) != 32)
		return NULL;
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
	prm[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, prm) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* RFC 7518 4.6: Z = ECDH, KEK = Concat KDF (OpenSSL's SSKDF, SHA-256) with
 * OtherInfo = len||"ECDH-ES+A256KW" || apu(0) || apv(0) || keydatalen 256. */
static int ecdh_kek(EVP_PKEY *pk, const jwe_parts *p, uint8_t kek[32])
{
	static const uint8_t info[] = {0,   0,   0,   14,  'E', 'C', 'D', 'H', '-', 'E',
	                               'S', '+', 'A', '2', '5', '6', 'K', 'W', 0,   0,
	                               0,   0,   0,   0,   0,   0,   0,   0,   1,   0};
	EVP_PKEY *peer = epk_key(p);
	EVP_PKEY_CTX *dc = peer ? EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL) : NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	uint8_t z[66];
	size_t zl = sizeof(z);
	OSSL_PARAM prm[4];
	int ok = 0;

	if (!dc || EVP_PKEY_derive_init(dc) <= 0 || EVP_PKEY_derive_set_peer(dc, peer) <= 0 ||
	    EVP_PKEY_derive(dc, z, &zl) <= 0)
		goto out;
	kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, zl);
	prm[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, sizeof(info));
	prm[3] = OSSL_PARAM_construct_end();
	ok = kc && EVP_KDF_derive(kc, kek, 32, prm) > 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(peer);
	return ok ? 0 : -1;
}

/* RFC 3394 AES key unwrap of the 40-byte encrypted_key with the KEK. */
static int unwrap_ecdh(EVP_PKEY *pk, const jwe_parts *p, uint8_t cek[CEK_LEN])
{
	uint8_t kek[32], out[CEK_LEN + 16];
	EVP_CIPHER_CTX *c = NULL;
	int l1 = 0, l2 = 0, ok = 0;

	if (p->ek_len != CEK_LEN + 8 || !p->epk_x[0] || ecdh_kek(pk, p, kek))
		goto out;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		goto out;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex2(c, EVP_aes_256_wrap(), kek, NULL, NULL) != 1 ||
	    EVP_DecryptUpdate(c, out, &l1, p->ek, (int)p->ek_len) != 1 ||
	    EVP_DecryptFinal_ex(c, out + l1, &l2) != 1 || l1 + l2 != CEK_LEN)
		goto out;
	memcpy(cek, out, CEK_LEN);
	ok = 1;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(out, sizeof(out));
	return ok ? 0 : -1;
}

static int unwrap_cek(EVP_PKEY *pk, const jwe_parts *p, uint8_t cek[CEK_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	uint8_t buf[1024];
	size_t n = sizeof(buf);
	int ok = 0, oaep = !strcmp(p->alg, "RSA-OAEP-256");

	if (!strcmp(p->alg, "ECDH-ES+A256KW")) {
		EVP_PKEY_CTX_free(ctx);
		return EVP_PKEY_is_a(pk, "EC") ? unwrap_ecdh(pk, p, cek) : -1;
	}
	if (!EVP_PKEY_is_a(pk, "RSA"))
		goto out;
	if (!ctx || EVP_PKEY_decrypt_init(ctx) <= 0)
		goto out;
	if (EVP_PKEY_CTX_set_rsa_padding(ctx, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) <=
	    0)
		goto out;
	if (oaep && (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0 ||
	             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0))
		goto out;
	if (EVP_PKEY_decrypt(ctx, buf, &n, p->ek, p->ek_len) <= 0 || n != CEK_LEN)
		goto out;
	memcpy(cek, buf, CEK_LEN);
	ok = 1;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* AES-256-GCM into locked memory; freed and wiped unless the tag verifies. */
static int gcm_open(const uint8_t cek[CEK_LEN], const jwe_parts *p, uint8_t **out, size_t *outlen)
{
	const uint8_t *ct = p->ct, *tag = p->tag;
	const char *aad = p->prot;
	size_t ctl = p->ct_len, aadl = strlen(p->prot);
	EVP_CIPHER_CTX *c;
	uint8_t *pt;
	int l1 = 0, l2 = 0, ok = 0;

	if (p->tag_len == 0) { /* legacy: tag appended, AAD empty */
		if (ctl < TAG_LEN)
			return -1;
		ctl -= TAG_LEN;
		tag = p->ct + ctl;
		aadl = 0;
	} else if (p->tag_len != TAG_LEN) {
		return -1;
	}
	if (p->iv_len != IV_LEN || ctl > INT32_MAX)
		return -1;
	pt = kbs_secure_alloc(ctl);
	c = EVP_CIPHER_CTX_new();
	if (!pt || !c)
		goto out;
	if (EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex2(c, NULL, cek, p->iv, NULL) != 1)
		goto out;
	if (aadl && EVP_DecryptUpdate(c, NULL, &l1, (const uint8_t *)aad, (int)aadl) != 1)
		goto out;
	if (ctl && EVP_DecryptUpdate(c, pt, &l1, ct, (int)ctl) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)tag) != 1 ||
	    EVP_DecryptFinal_ex(c, pt + l1, &l2) != 1)
		goto out;
	ok = (size_t)(l1 + l2) == ctl;
out:
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		kbs_secure_free(pt, ctl);
		return -1;
	}
	*out = pt;
	*outlen = ctl;
	return 0;
}

int kbs_jwe_decrypt(EVP_PKEY *pk, const char *want_alg, const char *json, size_t len, uint8_t **out,
                    size_t *outlen, char *cause, size_t causelen)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	jwe_parts p;
	uint8_t cek[CEK_LEN];
	int rc = KBS_E_DECRYPT;

	memset(&p, 0, sizeof(p));
	*out = NULL;
	*outlen = 0;
	if (!j) {
		snprintf(cause, causelen, "resource answer is not JSON");
		return KBS_E_PROTOCOL;
	}
	if (check_shape(j, cause, causelen)) {
		cJSON_Delete(j);
		return KBS_E_PROTOCOL;
	}
	/* Only the alg we advertised: a downgrade to RSA1_5 is refused. */
	if (!parse_parts(j, &p) && !strcmp(p.alg, want_alg) && !unwrap_cek(pk, &p, cek)) {
		if (!gcm_open(cek, &p, out, outlen))
			rc = KBS_OK;
		OPENSSL_cleanse(cek, sizeof(cek));
	}
	if (rc)
		snprintf(cause, causelen, "could not decrypt the resource (JWE rejected)");
	parts_free(&p);
	cJSON_Delete(j);
	return rc;
}
