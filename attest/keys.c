/* keys: the per-handshake RSA key the KBS wraps the resource to. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"
#include "crypto/gcfs.h"

EVP_PKEY *kbs_key_new(void)
{
	/* Fresh per process/handshake: nothing to store or protect on disk. */
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

const char *kbs_key_alg(kbs_proto p)
{
	/* P0/P1 servers only build RSA1_5 JWEs; from 0.2.0 OAEP is available
	 * and avoids the PKCS#1 v1.5 padding oracle class. */
	return (p == KBS_PROTO_010 || p == KBS_PROTO_011) ? "RSA1_5" : "RSA-OAEP-256";
}

/* Big-endian unsigned bytes, no leading zero (RFC 7518 6.3.1), b64url. */
static int bn_b64url(const EVP_PKEY *pk, const char *param, char *out, size_t cap)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n, rc = -1;

	if (!EVP_PKEY_get_bn_param(pk, param, &bn))
		return -1;
	n = BN_num_bytes(bn);
	if (n > 0 && (size_t)n <= sizeof(buf) && BN_bn2bin(bn, buf) == n &&
	    gcfs_b64url_enc(buf, (size_t)n, out, cap) > 0)
		rc = 0;
	BN_free(bn);
	return rc;
}

cJSON *kbs_jwk_rsa(const EVP_PKEY *pk, const char *alg)
{
	char n[1400], e[16];
	cJSON *j;

	if (bn_b64url(pk, OSSL_PKEY_PARAM_RSA_N, n, sizeof(n)) ||
	    bn_b64url(pk, OSSL_PKEY_PARAM_RSA_E, e, sizeof(e)))
		return NULL;
	/* Exactly these four members: the server re-serialises its own
	 * struct for the binding hash and would drop anything else. */
	j = cJSON_CreateObject();
	if (!j || !cJSON_AddStringToObject(j, "kty", "RSA") ||
	    !cJSON_AddStringToObject(j, "alg", alg) || !cJSON_AddStringToObject(j, "n", n) ||
	    !cJSON_AddStringToObject(j, "e", e)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

EVP_PKEY *kbs_key_new_ec(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

int kbs_key_use_ec(kbs_proto p, int want_ec)
{
	/* 0.1.x servers only deserialise RSA keys and only build RSA1_5. */
	return want_ec && p != KBS_PROTO_010 && p != KBS_PROTO_011;
}

const char *kbs_pkey_alg(kbs_proto p, const EVP_PKEY *pk)
{
	if (EVP_PKEY_is_a(pk, "EC"))
		return "ECDH-ES+A256KW";
	return kbs_key_alg(p);
}

/* P-256 public point as fixed-length (32-byte) b64url coordinates. */
static cJSON *jwk_ec(const EVP_PKEY *pk, const char *alg)
{
	uint8_t pt[65];
	size_t n = 0;
	char x[48], y[48];
	cJSON *j;

	if (!EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) ||
	    n != sizeof(pt) || pt[0] != 0x04 || !gcfs_b64url_enc(pt + 1, 32, x, sizeof(x)) ||
	    !gcfs_b64url_enc(pt + 33, 32, y, sizeof(y)))
		return NULL;
	j = cJSON_CreateObject();
	if (!j || !cJSON_AddStringToObject(j, "kty", "EC") ||
	    !cJSON_AddStringToObject(j, "crv", "P-256") ||
	    !cJSON_AddStringToObject(j, "alg", alg) || !cJSON_AddStringToObject(j, "x", x) ||
	    !cJSON_AddStringToObject(j, "y", y)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

cJSON *kbs_jwk(const EVP_PKEY *pk, const char *alg)
{
	return EVP_PKEY_is_a(pk, "EC") ? jwk_ec(pk, alg) : kbs_jwk_rsa(pk, alg);
}
