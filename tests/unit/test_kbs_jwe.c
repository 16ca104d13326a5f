/* KBS resource JWE decoding: both layouts built with OpenSSL (test_kbs_util.h), and the
 * tampered variants that must all fail with the one generic error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tests/unit/test_kbs_util.h"

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

static jopt base(int legacy)
{
	return jwe_opts(legacy, key);
}

static int try(const jopt *o, const char *want_alg, const uint8_t *pt, size_t n, uint8_t **out,
               size_t *outlen)
{
	char *j = jwe_build(o, pt, n), cause[128];
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
