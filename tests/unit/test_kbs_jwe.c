/* KBS resource JWE decoding: both layouts built here with OpenSSL, and the
 * tampered variants that must all fail with the one generic error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "attest/kbs_int.h"
#include "crypto/gcfs.h"

typedef struct jopt {
	int legacy;        /* raw-JSON protected, tag appended, empty AAD */
	const char *alg;   /* header alg; also the wrapping padding */
	const char *enc;   /* header enc */
	EVP_PKEY *wrap_to; /* key the CEK is wrapped to */
	size_t cek_len, iv_len;
	int flip_ct, flip_tag, alter_prot, drop_tag_member, add_aad, std_b64_prot;
} jopt;

static EVP_PKEY *key, *other;

static int setup(void **s)
{
	(void)s;
	key = kbs_key_new();
	other = kbs_key_new();
	return key && other ? 0 : -1;
}

static int teardown(void **s)
{
	(void)s;
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return 0;
}

static char *b64u(const uint8_t *p, size_t n)
{
	char *o = malloc(n * 4 / 3 + 8);

	assert_true(n == 0 || gcfs_b64url_enc(p, n, o, n * 4 / 3 + 8) > 0);
	if (n == 0)
		o[0] = 0;
	return o;
}

static size_t wrap(const jopt *o, const uint8_t *cek, uint8_t *ek)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, o->wrap_to, NULL);
	int oaep = !strcmp(o->alg, "RSA-OAEP-256");
	size_t n = 512;

	assert_true(EVP_PKEY_encrypt_init(c) > 0);
	assert_true(
	    EVP_PKEY_CTX_set_rsa_padding(c, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) > 0);
	if (oaep) {
		assert_true(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0);
	}
	assert_true(EVP_PKEY_encrypt(c, ek, &n, cek, o->cek_len) > 0);
	EVP_PKEY_CTX_free(c);
	return n;
}

static size_t gcm(const uint8_t *cek, const uint8_t *iv, size_t ivl, const char *aad,
                  const uint8_t *pt, size_t n, uint8_t *ct, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, l2 = 0;

	assert_int_equal(EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivl, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex2(c, NULL, cek, iv, NULL), 1);
	if (aad[0])
		assert_int_equal(
		    EVP_EncryptUpdate(c, NULL, &l, (const uint8_t *)aad, (int)strlen(aad)), 1);
	assert_int_equal(EVP_EncryptUpdate(c, ct, &l, pt, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, ct + l, &l2), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
	return (size_t)(l + l2);
}

static char *build(const jopt *o, const uint8_t *pt, size_t n)
{
	uint8_t cek[32], iv[16], ek[512], tag[16], *ct = malloc(n + 16);
	char hdr[128], *prot, *s;
	size_t ekl, ctl;
	cJSON *j = cJSON_CreateObject();

	RAND_bytes(cek, sizeof(cek));
	RAND_bytes(iv, sizeof(iv));
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"enc\":\"%s\"}", o->alg, o->enc);
	prot = o->legacy ? strdup(hdr) : b64u((const uint8_t *)hdr, strlen(hdr));
	ekl = wrap(o, cek, ek);
	ctl = gcm(cek, iv, o->iv_len, o->legacy ? "" : prot, pt, n, ct, tag);
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

static jopt base(int legacy)
{
	jopt o = {.legacy = legacy,
	          .alg = legacy ? "RSA1_5" : "RSA-OAEP-256",
	          .enc = "A256GCM",
	          .wrap_to = key,
	          .cek_len = 32,
	          .iv_len = 12};
	return o;
}

static int try(const jopt *o, const char *want_alg, const uint8_t *pt, size_t n, uint8_t **out,
               size_t *outlen)
{
	char *j = build(o, pt, n), cause[128];
	int rc = kbs_jwe_decrypt(key, want_alg, j, strlen(j), out, outlen, cause, sizeof(cause));

	free(j);
	return rc;
}

static void roundtrip(int legacy, const char *alg, const uint8_t *pt, size_t n)
{
	jopt o = base(legacy);
	uint8_t *out = NULL;
	size_t ol = 0;

	o.alg = alg;
	assert_int_equal(try(&o, alg, pt, n, &out, &ol), KBS_OK);
	assert_int_equal(ol, n);
	assert_memory_equal(out, pt, n);
	kbs_secure_free(out, ol);
}

static void test_roundtrips(void **s)
{
	static const uint8_t pw[] = "gocryptfs-password\n"; /* passfile style */
	static const uint8_t nul[] = {'a', 0, 'b'};
	uint8_t *big = malloc(100000);

	(void)s;
	RAND_bytes(big, 100000);
	roundtrip(1, "RSA1_5", pw, sizeof(pw) - 1);
	roundtrip(0, "RSA-OAEP-256", pw, sizeof(pw) - 1);
	roundtrip(0, "RSA1_5", pw, sizeof(pw) - 1); /* P2 with an RSA1_5 key */
	roundtrip(1, "RSA1_5", nul, sizeof(nul));
	roundtrip(0, "RSA-OAEP-256", (const uint8_t *)"x", 1);
	roundtrip(0, "RSA-OAEP-256", big, 100000);
	roundtrip(1, "RSA1_5", big, 100000);
	free(big);
}

static void reject(jopt o, const char *want_alg, int want_rc)
{
	uint8_t *out = (uint8_t *)"sentinel";
	size_t ol = 99;

	assert_int_equal(try(&o, want_alg, (const uint8_t *)"secret", 6, &out, &ol), want_rc);
	assert_null(out); /* never partial plaintext */
	assert_int_equal(ol, 0);
}

static void test_tampered(void **s)
{
	(void)s;
	for (int legacy = 0; legacy <= 1; legacy++) {
		const char *alg = legacy ? "RSA1_5" : "RSA-OAEP-256";
		jopt o;

		o = base(legacy), o.flip_ct = 1, reject(o, alg, KBS_E_DECRYPT);
		o = base(legacy), o.flip_tag = 1, reject(o, alg, KBS_E_DECRYPT);
		o = base(legacy), o.wrap_to = other, reject(o, alg, KBS_E_DECRYPT);
		o = base(legacy), o.iv_len = 16, reject(o, alg, KBS_E_DECRYPT);
		o = base(legacy), o.enc = "A128GCM", reject(o, alg, KBS_E_DECRYPT);
		o = base(legacy), o.cek_len = 16, reject(o, alg, KBS_E_DECRYPT);
		/* A missing member is a malformed answer, not a crypto failure. */
		o = base(legacy), o.drop_tag_member = 1, reject(o, alg, KBS_E_PROTOCOL);
		o = base(legacy), o.add_aad = 1, reject(o, alg, KBS_E_DECRYPT);
		o = base(legacy), o.alg = "RSA1_5", reject(o, "RSA-OAEP-256", KBS_E_DECRYPT);
	}
	{
		jopt o = base(0);

		o.alter_prot = 1; /* protected is the AAD in RFC 7516 */
		reject(o, "RSA-OAEP-256", KBS_E_DECRYPT);
		o = base(0);
		o.std_b64_prot = 1; /* padded base64 is not base64url */
		reject(o, "RSA-OAEP-256", KBS_E_DECRYPT);
	}
}

static void test_not_json(void **s)
{
	uint8_t *out = NULL;
	size_t ol = 0;
	char cause[128];
	static const char junk[] = "<html>502 Bad Gateway</html>";

	(void)s;
	assert_int_equal(
	    kbs_jwe_decrypt(key, "RSA1_5", junk, sizeof(junk) - 1, &out, &ol, cause, sizeof(cause)),
	    KBS_E_PROTOCOL);
	/* JSON but not a JWE object: malformed answer (protocol), naming what. */
	assert_int_equal(kbs_jwe_decrypt(key, "RSA1_5", "[1]", 3, &out, &ol, cause, sizeof(cause)),
	                 KBS_E_PROTOCOL);
	assert_string_equal(cause, "resource answer is not a JSON object");
	assert_int_equal(kbs_jwe_decrypt(key, "RSA1_5", "{}", 2, &out, &ol, cause, sizeof(cause)),
	                 KBS_E_PROTOCOL);
	assert_string_equal(cause, "resource answer is not a JWE: no string 'protected'");
	{
		static const char num[] = "{\"protected\":\"e30\",\"encrypted_key\":\"\","
		                          "\"iv\":\"\",\"ciphertext\":7,\"tag\":\"\"}";

		assert_int_equal(kbs_jwe_decrypt(key, "RSA1_5", num, sizeof(num) - 1, &out, &ol,
		                                 cause, sizeof(cause)),
		                 KBS_E_PROTOCOL);
		assert_string_equal(cause, "resource answer is not a JWE: no string 'ciphertext'");
	}
	/* Well-formed but undecryptable: the generic crypto error. */
	{
		static const char bad[] = "{\"protected\":\"e30\",\"encrypted_key\":\"\","
		                          "\"iv\":\"\",\"ciphertext\":\"\",\"tag\":\"\"}";

		assert_int_equal(kbs_jwe_decrypt(key, "RSA1_5", bad, sizeof(bad) - 1, &out, &ol,
		                                 cause, sizeof(cause)),
		                 KBS_E_DECRYPT);
		assert_string_equal(cause, "could not decrypt the resource (JWE rejected)");
	}
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrips),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_not_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
