/* Shared helpers for the KBS cmocka tests (header-only, static): building
 * resource JWEs with OpenSSL.  test_kbs_tdx calls them from its server
 * thread, so a failed step aborts (a cmocka assertion must not longjmp out
 * of another thread). */
#ifndef TEST_KBS_UTIL_H
#define TEST_KBS_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "attest/kbs_int.h"
#include "crypto/gcfs.h"

#define REQUIRE(x)                                                                                 \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #x);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* malloc'd base64url (no padding) of p; "" for n == 0. */
static inline char *b64u(const uint8_t *p, size_t n)
{
	char *o = malloc(n * 4 / 3 + 8);

	REQUIRE(o);
	REQUIRE(n == 0 || gcfs_b64url_enc(p, n, o, n * 4 / 3 + 8) > 0);
	if (n == 0)
		o[0] = 0;
	return o;
}

typedef struct jopt {
	int legacy;        /* raw-JSON protected, tag appended, empty AAD */
	const char *alg;   /* header alg; also the wrapping padding */
	const char *enc;   /* header enc */
	EVP_PKEY *wrap_to; /* key the CEK is wrapped to */
	size_t cek_len, iv_len;
	int flip_ct, flip_tag, alter_prot, drop_tag_member, add_aad, std_b64_prot;
} jopt;

/* A well-formed JWE to `to`: legacy (0.1.x, RSA1_5) or RFC 7516 (RSA-OAEP-256). */
static inline jopt jwe_opts(int legacy, EVP_PKEY *to)
{
	jopt o = {.legacy = legacy,
	          .alg = legacy ? "RSA1_5" : "RSA-OAEP-256",
	          .enc = "A256GCM",
	          .wrap_to = to,
	          .cek_len = 32,
	          .iv_len = 12};
	return o;
}

static inline size_t jwe_wrap(const jopt *o, const uint8_t *cek, uint8_t *ek)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, o->wrap_to, NULL);
	int oaep = !strcmp(o->alg, "RSA-OAEP-256");
	size_t n = 512;

	REQUIRE(EVP_PKEY_encrypt_init(c) > 0);
	REQUIRE(EVP_PKEY_CTX_set_rsa_padding(c, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) >
	        0);
	if (oaep) {
		REQUIRE(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0);
		REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0);
	}
	REQUIRE(EVP_PKEY_encrypt(c, ek, &n, cek, o->cek_len) > 0);
	EVP_PKEY_CTX_free(c);
	return n;
}

static inline size_t jwe_gcm(const uint8_t *cek, const uint8_t *iv, size_t ivl, const char *aad,
                             const uint8_t *pt, size_t n, uint8_t *ct, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, l2 = 0;

	REQUIRE(EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1);
	REQUIRE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivl, NULL) == 1);
	REQUIRE(EVP_EncryptInit_ex2(c, NULL, cek, iv, NULL) == 1);
	if (aad[0])
		REQUIRE(EVP_EncryptUpdate(c, NULL, &l, (const uint8_t *)aad, (int)strlen(aad)) ==
		        1);
	REQUIRE(EVP_EncryptUpdate(c, ct, &l, pt, (int)n) == 1);
	REQUIRE(EVP_EncryptFinal_ex(c, ct + l, &l2) == 1);
	REQUIRE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return (size_t)(l + l2);
}

/* The JWE of pt (n bytes) as o describes, as malloc'd JSON text. */
static inline char *jwe_build(const jopt *o, const uint8_t *pt, size_t n)
{
	uint8_t cek[32], iv[16], ek[512], tag[16], *ct = malloc(n + 16);
	char hdr[128], *prot, *s;
	size_t ekl, ctl;
	cJSON *j = cJSON_CreateObject();

	REQUIRE(ct && j);
	RAND_bytes(cek, sizeof(cek));
	RAND_bytes(iv, sizeof(iv));
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"enc\":\"%s\"}", o->alg, o->enc);
	prot = o->legacy ? strdup(hdr) : b64u((const uint8_t *)hdr, strlen(hdr));
	ekl = jwe_wrap(o, cek, ek);
	ctl = jwe_gcm(cek, iv, o->iv_len, o->legacy ? "" : prot, pt, n, ct, tag);
	if (o->flip_ct && ctl)
		ct[ctl / 2] ^= 0x01;
	if (o->flip_tag)
		tag[3] ^= 0x80;
	if (o->legacy) {
		memcpy(ct + ctl, tag, 16);
		ctl += 16;
	}
	if (o->alter_prot) {
		/* Same header semantics, different bytes: AAD no longer matches. */
		free(prot);
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\", \"enc\":\"%s\"}", o->alg, o->enc);
		prot = o->legacy ? strdup(hdr) : b64u((const uint8_t *)hdr, strlen(hdr));
	}
	if (o->std_b64_prot)
		strcat(prot, "=");
	cJSON_AddStringToObject(j, "protected", prot);
	cJSON_AddItemToObject(j, "encrypted_key", cJSON_CreateString(s = b64u(ek, ekl)));
	free(s);
	cJSON_AddItemToObject(j, "iv", cJSON_CreateString(s = b64u(iv, o->iv_len)));
	free(s);
	cJSON_AddItemToObject(j, "ciphertext", cJSON_CreateString(s = b64u(ct, ctl)));
	free(s);
	if (!o->drop_tag_member) {
		cJSON_AddItemToObject(j, "tag",
		                      cJSON_CreateString(s = b64u(tag, o->legacy ? 0 : 16)));
		free(s);
	}
	if (o->add_aad)
		cJSON_AddStringToObject(j, "aad", "eA");
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	free(prot);
	free(ct);
	return s;
}

#endif
