/* KBS runtime-data binding (spec 3.3 vectors), the challenge's hash choice,
 * canonical JSON, request bodies per protocol version and mismatch parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "attest/kbs_int.h"
#include "crypto/gcfs.h"

/* RFC 7517 appendix A.1 public keys. */
static const char rsa_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
    "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char ec_x[] = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
static const char ec_y[] = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
/* base64("example-nonce-32-bytes-long-xxxx") */
static const char nonce[] = "ZXhhbXBsZS1ub25jZS0zMi1ieXRlcy1sb25nLXh4eHg=";

/* Members deliberately in non-sorted order: canonicalisation must sort. */
static cJSON *jwk_rsa(const char *alg)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "kty", "RSA");
	cJSON_AddStringToObject(j, "n", rsa_n);
	cJSON_AddStringToObject(j, "e", "AQAB");
	cJSON_AddStringToObject(j, "alg", alg);
	return j;
}

static cJSON *jwk_ec(void)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "y", ec_y);
	cJSON_AddStringToObject(j, "kty", "EC");
	cJSON_AddStringToObject(j, "x", ec_x);
	cJSON_AddStringToObject(j, "crv", "P-256");
	cJSON_AddStringToObject(j, "alg", "ECDH-ES+A256KW");
	return j;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_vector(kbs_proto p, cJSON *jwk, const char *want_hex, const char *want_rd)
{
	uint8_t dg[KBS_DIGEST_MAX];
	size_t dl = 0;
	char h[2 * KBS_DIGEST_MAX + 1];
	cJSON *ev, *rd;

	assert_int_equal(kbs_binding_digest(p, nonce, jwk, "", NULL, dg, &dl), 0);
	assert_int_equal(dl, 48);
	hex(dg, dl, h);
	assert_string_equal(h, want_hex);
	ev = kbs_evidence_sample(dg, dl);
	rd = cJSON_GetObjectItemCaseSensitive(ev, "report_data");
	assert_string_equal(rd->valuestring, want_rd);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "svn")->valuestring, "1");
	cJSON_Delete(ev);
	cJSON_Delete(jwk);
}

static void test_vector_p0_rsa15(void **s)
{
	(void)s;
	check_vector(
	    KBS_PROTO_010, jwk_rsa("RSA1_5"),
	    "b716afd97a68eccea9277ddaefd9273c02cd1b6320bcf5b7f2319fa650ccca12da946e25e74f3c"
	    "00f195c07221b5cfb5",
	    "txav2Xpo7M6pJ33a79knPALNG2MgvPW38jGfplDMyhLalG4l5088APGVwHIhtc+1");
	/* P1 binds the same material. */
	check_vector(
	    KBS_PROTO_011, jwk_rsa("RSA1_5"),
	    "b716afd97a68eccea9277ddaefd9273c02cd1b6320bcf5b7f2319fa650ccca12da946e25e74f3c"
	    "00f195c07221b5cfb5",
	    "txav2Xpo7M6pJ33a79knPALNG2MgvPW38jGfplDMyhLalG4l5088APGVwHIhtc+1");
}

static void test_vector_p2_oaep(void **s)
{
	(void)s;
	check_vector(
	    KBS_PROTO_020, jwk_rsa("RSA-OAEP-256"),
	    "f06b1d57920884a8888ebf2c723c8b2a2a4d1e839092d174a32ae0eec865247c3129af21d00b46"
	    "6c4206e16c4a507653",
	    "8GsdV5IIhKiIjr8scjyLKipNHoOQktF0oyrg7shlJHwxKa8h0AtGbEIG4WxKUHZT");
}

static void test_vector_p4_oaep(void **s)
{
	(void)s;
	check_vector(
	    KBS_PROTO_040, jwk_rsa("RSA-OAEP-256"),
	    "8ba3e23cb643b53d2046f1d967eeb94f6a21a8c2389a7d8d306884faff3bfae0df9cfe6060a18e"
	    "7d98d39f55073d3d7f",
	    "i6PiPLZDtT0gRvHZZ+65T2ohqMI4mn2NMGiE+v87+uDfnP5gYKGOfZjTn1UHPT1/");
}

static void test_vector_p4_ec(void **s)
{
	(void)s;
	check_vector(
	    KBS_PROTO_040, jwk_ec(),
	    "1c6996c4a19b87336dcf1da2136bea7d1cbc22a2aa164441a25ef582b4157245e870afc8675659"
	    "8f858fb796b6a3e5fe",
	    "HGmWxKGbhzNtzx2iE2vqfRy8IqKqFkRBol71grQVckXocK/IZ1ZZj4WPt5a2o+X+");
}

static void test_hash_selection(void **s)
{
	uint8_t dg[KBS_DIGEST_MAX];
	size_t dl = 0;
	cJSON *j = jwk_rsa("RSA1_5");

	(void)s;
	assert_int_equal(kbs_binding_digest(KBS_PROTO_010, nonce, j, "", "sha256", dg, &dl), 0);
	assert_int_equal(dl, 32);
	assert_int_equal(kbs_binding_digest(KBS_PROTO_010, nonce, j, "", "SHA512", dg, &dl), 0);
	assert_int_equal(dl, 64);
	assert_int_equal(kbs_binding_digest(KBS_PROTO_010, nonce, j, "", "md5", dg, &dl), -1);
	cJSON_Delete(j);
}

/* Spec 2: sha256|sha384|sha512|sm3 in any case are used, anything else is
 * SHA-384, never an error. */
static void test_hash_pick(void **s)
{
	(void)s;
	assert_string_equal(kbs_hash_pick("sha256"), "sha256");
	assert_string_equal(kbs_hash_pick("SHA512"), "sha512");
	assert_string_equal(kbs_hash_pick("Sha384"), "sha384");
	assert_string_equal(kbs_hash_pick("sm3"), "sm3");
	assert_string_equal(kbs_hash_pick("SM3"), "sm3");
	assert_string_equal(kbs_hash_pick("md5"), "sha384");
	assert_string_equal(kbs_hash_pick("sha3-256"), "sha384");
	assert_string_equal(kbs_hash_pick("sha2564"), "sha384");
	assert_string_equal(kbs_hash_pick(""), "sha384");
	assert_string_equal(kbs_hash_pick(NULL), "sha384");
}

/* SM3 through OpenSSL's EVP: the digest of the canonical material. */
static void test_sm3_digest(void **s)
{
	/* GB/T 32905-2016 example: SM3("abc"). */
	static const uint8_t abc[32] = {0x66, 0xc7, 0xf0, 0xf4, 0x62, 0xee, 0xed, 0xd9,
	                                0xd1, 0xf2, 0xd4, 0x6b, 0xdc, 0x10, 0xe4, 0xe2,
	                                0x41, 0x67, 0xc4, 0x87, 0x5c, 0xf2, 0xf7, 0xa2,
	                                0x29, 0x7d, 0xa0, 0x2b, 0x8f, 0x4b, 0xa8, 0xe0};
	const EVP_MD *md = EVP_get_digestbyname("SM3");
	uint8_t dg[KBS_DIGEST_MAX], want[32];
	unsigned int wl = 0;
	size_t dl = 0;
	cJSON *j = jwk_rsa("RSA1_5"), *m;
	char *canon;

	(void)s;
	assert_non_null(md);
	assert_int_equal(EVP_Digest("abc", 3, want, &wl, md, NULL), 1);
	assert_memory_equal(want, abc, 32);
	assert_int_equal(kbs_binding_digest(KBS_PROTO_010, nonce, j, "", "sm3", dg, &dl), 0);
	assert_int_equal(dl, 32);
	m = kbs_binding_material(KBS_PROTO_010, nonce, j, "");
	canon = kbs_canon_json(m);
	assert_int_equal(EVP_Digest(canon, strlen(canon), want, &wl, md, NULL), 1);
	assert_memory_equal(dg, want, 32);
	free(canon);
	cJSON_Delete(m);
	cJSON_Delete(j);
}

static void test_canon_escaping(void **s)
{
	cJSON *o = cJSON_Parse("{\"b\":\"q\\\"b\\\\s/\\u00e9\\n\\t\\u0001\",\"a\":{\"z\":[1,"
	                       "{\"y\":\"1\",\"x\":null}],\"c\":true}}");
	char *c;

	(void)s;
	assert_non_null(o);
	c = kbs_canon_json(o);
	/* Sorted keys at every level (inside arrays too), compact, '/' and
	 * non-ASCII kept, control characters escaped JCS-style. */
	assert_string_equal(c, "{\"a\":{\"c\":true,\"z\":[1,{\"x\":null,\"y\":\"1\"}]},"
	                       "\"b\":\"q\\\"b\\\\s/\xc3\xa9\\n\\t\\u0001\"}");
	free(c);
	cJSON_Delete(o);
}

static char *print(cJSON *b)
{
	char *s = cJSON_PrintUnformatted(b);

	cJSON_Delete(b);
	return s;
}

static void test_auth_body(void **s)
{
	char *b = print(kbs_auth_body(KBS_PROTO_010, "sample"));

	(void)s;
	assert_string_equal(b, "{\"version\":\"0.1.0\",\"tee\":\"sample\",\"extra-params\":\"\"}");
	free(b);
}

static cJSON *ev(void)
{
	return cJSON_Parse("{\"svn\":\"1\",\"report_data\":\"AA==\"}");
}

static void test_attest_bodies(void **s)
{
	cJSON *jwk = jwk_rsa("RSA1_5");
	cJSON *b, *te, *rt;

	(void)s;
	/* P0: tee-evidence is a string holding the evidence JSON. */
	b = kbs_attest_body(KBS_PROTO_010, nonce, jwk, ev());
	te = cJSON_GetObjectItemCaseSensitive(b, "tee-evidence");
	assert_true(cJSON_IsString(te));
	assert_string_equal(te->valuestring, "{\"svn\":\"1\",\"report_data\":\"AA==\"}");
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "tee-pubkey")));
	assert_null(cJSON_GetObjectItemCaseSensitive(b, "runtime-data"));
	cJSON_Delete(b);
	/* P1/P2: an object. */
	b = kbs_attest_body(KBS_PROTO_011, nonce, jwk, ev());
	te = cJSON_GetObjectItemCaseSensitive(b, "tee-evidence");
	assert_true(cJSON_IsObject(te));
	cJSON_Delete(b);
	/* P4: runtime-data{nonce,tee-pubkey}, tee-evidence{primary_evidence,
	 * additional_evidence:""}, init-data null. */
	b = kbs_attest_body(KBS_PROTO_040, nonce, jwk, ev());
	rt = cJSON_GetObjectItemCaseSensitive(b, "runtime-data");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(rt, "nonce")->valuestring, nonce);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
	                        cJSON_GetObjectItemCaseSensitive(rt, "tee-pubkey"), "n")
	                        ->valuestring,
	                    rsa_n);
	te = cJSON_GetObjectItemCaseSensitive(b, "tee-evidence");
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(te, "primary_evidence")));
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(te, "additional_evidence")->valuestring, "");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "init-data")));
	assert_null(cJSON_GetObjectItemCaseSensitive(b, "tee-pubkey"));
	cJSON_Delete(b);
	cJSON_Delete(jwk);
}

static void test_mismatch_parse(void **s)
{
	(void)s;
	assert_int_equal(kbs_mismatch_version("KBS Client Protocol Version Mismatch: expected "
	                                      "version: <=0.1.0, requested version: 0.4.0"),
	                 KBS_PROTO_010);
	assert_int_equal(kbs_mismatch_version("Attestation error: RCAR handshake Auth failed: KBS "
	                                      "Client Protocol Version Mismatch: expect =0.4.0 "
	                                      "while the request is 0.1.0"),
	                 KBS_PROTO_040);
	assert_int_equal(kbs_mismatch_version("KBS Client Protocol Version Mismatch: expected "
	                                      "version: =0.1.1, requested version: 0.4.0"),
	                 KBS_PROTO_011);
	assert_int_equal(kbs_mismatch_version("Protocol Version Mismatch: expect =9.9.9"),
	                 KBS_PROTO_AUTO);
	assert_int_equal(kbs_mismatch_version("cookie not found"), KBS_PROTO_AUTO);
	assert_int_equal(kbs_mismatch_version(NULL), KBS_PROTO_AUTO);
}

/* The requirement as the server wrote it, for the pinned-version error. */
static void test_mismatch_want(void **s)
{
	char w[32];

	(void)s;
	kbs_mismatch_want("KBS Client Protocol Version Mismatch: expected version: <=0.1.0, "
	                  "requested version: 0.4.0",
	                  w, sizeof(w));
	assert_string_equal(w, "<=0.1.0");
	kbs_mismatch_want("Attestation error: RCAR handshake Auth failed: KBS Client Protocol "
	                  "Version Mismatch: expect =0.4.0 while the request is 0.1.0",
	                  w, sizeof(w));
	assert_string_equal(w, "=0.4.0");
	kbs_mismatch_want("Protocol Version Mismatch: expect >= 0.3.0 or so", w, sizeof(w));
	assert_string_equal(w, ">=0.3.0");
	kbs_mismatch_want("KBS Client Protocol Version Mismatch", w, sizeof(w));
	assert_string_equal(w, "");
	kbs_mismatch_want("expect =0.4.0 (no mismatch text)", w, sizeof(w));
	assert_string_equal(w, "");
	kbs_mismatch_want(NULL, w, sizeof(w));
	assert_string_equal(w, "");
	kbs_mismatch_want("Protocol Version Mismatch: expect =0.4.0", w, 4); /* bounded */
	assert_string_equal(w, "=0.");
}

static void test_key_jwk(void **s)
{
	EVP_PKEY *pk = kbs_key_new();
	cJSON *j;
	const char *n;
	uint8_t raw[300];
	long len;

	(void)s;
	assert_non_null(pk);
	j = kbs_jwk_rsa(pk, kbs_key_alg(KBS_PROTO_040));
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), 4); /* kty, alg, n, e only */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "alg")->valuestring,
	                    "RSA-OAEP-256");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "e")->valuestring, "AQAB");
	n = cJSON_GetObjectItemCaseSensitive(j, "n")->valuestring;
	len = gcfs_b64url_dec(n, strlen(n), raw, sizeof(raw));
	assert_int_equal(len, 256); /* 2048 bits, no leading zero byte */
	assert_true(raw[0] & 0x80);
	assert_string_equal(kbs_key_alg(KBS_PROTO_010), "RSA1_5");
	assert_string_equal(kbs_key_alg(KBS_PROTO_011), "RSA1_5");
	assert_string_equal(kbs_key_alg(KBS_PROTO_020), "RSA-OAEP-256");
	cJSON_Delete(j);
	EVP_PKEY_free(pk);
}

static void test_key_jwk_ec(void **s)
{
	EVP_PKEY *pk = kbs_key_new_ec();
	cJSON *j;
	uint8_t raw[40];

	(void)s;
	assert_non_null(pk);
	assert_string_equal(kbs_pkey_alg(KBS_PROTO_040, pk), "ECDH-ES+A256KW");
	j = kbs_jwk(pk, kbs_pkey_alg(KBS_PROTO_040, pk));
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), 5); /* kty, crv, alg, x, y only */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "kty")->valuestring, "EC");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "crv")->valuestring, "P-256");
	/* Fixed-length coordinates: 32 bytes even with leading zeros. */
	for (int i = 0; i < 2; i++) {
		const char *v = cJSON_GetObjectItemCaseSensitive(j, i ? "y" : "x")->valuestring;

		assert_int_equal(strlen(v), 43);
		assert_int_equal(gcfs_b64url_dec(v, strlen(v), raw, sizeof(raw)), 32);
	}
	/* 0.1.x servers cannot take EC keys: RSA there whatever was asked. */
	assert_false(kbs_key_use_ec(KBS_PROTO_010, 1));
	assert_false(kbs_key_use_ec(KBS_PROTO_011, 1));
	assert_true(kbs_key_use_ec(KBS_PROTO_020, 1));
	assert_false(kbs_key_use_ec(KBS_PROTO_040, 0));
	cJSON_Delete(j);
	EVP_PKEY_free(pk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector_p0_rsa15), cmocka_unit_test(test_vector_p2_oaep),
	    cmocka_unit_test(test_vector_p4_oaep),  cmocka_unit_test(test_vector_p4_ec),
	    cmocka_unit_test(test_hash_selection),  cmocka_unit_test(test_hash_pick),
	    cmocka_unit_test(test_sm3_digest),      cmocka_unit_test(test_mismatch_want),
	    cmocka_unit_test(test_canon_escaping),  cmocka_unit_test(test_auth_body),
	    cmocka_unit_test(test_attest_bodies),   cmocka_unit_test(test_mismatch_parse),
	    cmocka_unit_test(test_key_jwk),         cmocka_unit_test(test_key_jwk_ec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
