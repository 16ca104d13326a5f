/* kbs_int: internal interfaces shared by the attest/ sources and their unit
 * tests.  Nothing here is exported from libunseal-kbs.so (see kbs.map). */
#ifndef KBS_INT_H
#define KBS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "attest/kbs.h"

#define KBS_BODY_MAX (1024u * 1024u) /* larger answers are a protocol error */
#define KBS_URL_MAX 2048
#define KBS_COOKIE_MAX 8
#define KBS_COOKIE_NAME_MAX 128
#define KBS_COOKIE_VAL_MAX 1024
#define KBS_DIGEST_MAX 64
#define KBS_REPORTDATA_LEN 64
#define KBS_SEG_MAX 256
#define KBS_DETAIL_MAX 400      /* buffer for a server's error detail */
#define KBS_TEXT_DETAIL_MAX 200 /* characters kept of a non-JSON error body */

/* ---- errors ---- */
/* "unseal: attest: <step>: <cause>" into err (may be NULL); returns code. */
int kbs_fail(char *err, size_t errlen, int code, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- time ---- */
double kbs_now(void); /* CLOCK_MONOTONIC seconds */

/* ---- retries (fetch.c, http.c) ---- */
#define KBS_BACKOFF_START_S 0.1  /* first pause after a transient fault */
#define KBS_BACKOFF_MAX_S 2.0    /* pauses double up to this */
#define KBS_ATTEMPT_FLOOR_S 0.05 /* less than this left: no new attempt */
#define KBS_ATTEMPT_MIN_S 10.0   /* one attempt's timeout, when the deadline allows */
#define KBS_ATTEMPT_MAX_S 30.0
double kbs_backoff_next(double cur); /* doubled, capped at KBS_BACKOFF_MAX_S */
/* Timeout of one attempt with `left` seconds to the deadline: half of it
 * within [MIN, MAX] so a hung request leaves room for a retry; all of it
 * when little is left. */
double kbs_attempt_timeout(double left);

/* ---- versions ---- */
const char *kbs_proto_str(kbs_proto p);
kbs_proto kbs_proto_parse(const char *s); /* -1 cast on junk */

/* ---- uri.c ---- */
typedef struct kbs_uri {
	char host[256];                 /* authority, "" for kbs:/// */
	char path[3 * KBS_SEG_MAX + 4]; /* "repo/type/tag" */
} kbs_uri;
int kbs_uri_parse(const char *s, kbs_uri *out, char *cause, size_t causelen);
/* base (trailing slashes stripped) + "/kbs/v0/" + endpoint. */
int kbs_url_join(const char *base, const char *endpoint, char *out, size_t cap);

/* ---- cookies (http.c) ---- */
typedef struct kbs_jar {
	int n;
	char name[KBS_COOKIE_MAX][KBS_COOKIE_NAME_MAX];
	char value[KBS_COOKIE_MAX][KBS_COOKIE_VAL_MAX];
} kbs_jar;
/* Feed one raw response header line; stores Set-Cookie name=value
 * (attributes such as Expires/Path ignored).  Returns 1 if stored. */
int kbs_jar_feed(kbs_jar *j, const char *line, size_t len);
/* "Cookie: a=1; b=2" (without CRLF); "" when empty.  -1 if it does not fit. */
int kbs_jar_header(const kbs_jar *j, char *out, size_t cap);
const char *kbs_jar_get(const kbs_jar *j, const char *name);

/* ---- http.c ---- */
typedef struct kbs_http kbs_http;
typedef struct kbs_resp {
	long status;
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
} kbs_resp;
enum {
	KBS_T_OK = 0,        /* got a complete HTTP answer (any status) */
	KBS_T_TRANSIENT = 1, /* connect/reset/timeout/empty reply: retry may help */
	KBS_T_FATAL = 2,     /* bad URL, TLS verification...: a network error, no retry */
	KBS_T_TOOBIG = 3,    /* answer over KBS_BODY_MAX: a protocol error */
};
kbs_http *kbs_http_new(const char *cafile, double deadline);
void kbs_http_free(kbs_http *h);
kbs_jar *kbs_http_jar(kbs_http *h);
void kbs_http_set_bearer(kbs_http *h, const char *token); /* NULL clears */
/* One request bounded by the deadline; body NULL means GET. */
int kbs_http_do(kbs_http *h, const char *url, const char *body, kbs_resp *r, char *cause,
                size_t causelen);
void kbs_resp_free(kbs_resp *r);

/* ---- keys.c ---- */
EVP_PKEY *kbs_key_new(void);    /* RSA-2048, fresh per handshake */
EVP_PKEY *kbs_key_new_ec(void); /* P-256 */
/* The key type we use for version p: EC only if asked and p >= 0.2.0. */
int kbs_key_use_ec(kbs_proto p, int want_ec);
/* JWK with exactly the members the server's struct knows:
 * RSA {kty,alg,n,e}, EC {kty,crv,alg,x,y}. */
cJSON *kbs_jwk(const EVP_PKEY *pk, const char *alg);
cJSON *kbs_jwk_rsa(const EVP_PKEY *pk, const char *alg);
/* RSA1_5 for 0.1.x, else RSA-OAEP-256; ECDH-ES+A256KW for EC keys. */
const char *kbs_key_alg(kbs_proto p);
const char *kbs_pkey_alg(kbs_proto p, const EVP_PKEY *pk);

/* ---- binding.c ---- */
/* Compact JSON, keys sorted at every level, cJSON's minimal escaping. */
char *kbs_canon_json(const cJSON *v);
/* Runtime material per spec 3.3 (P4 adds "additional-evidence"). */
cJSON *kbs_binding_material(kbs_proto p, const char *nonce, const cJSON *jwk,
                            const char *additional);
/* The hash a challenge's selected-hash-algorithm names (spec 2):
 * "sha256", "sha384", "sha512" or "sm3" for those names in any case,
 * "sha384" for NULL or anything else. */
const char *kbs_hash_pick(const char *selected);
/* hash name (sha256|sha384|sha512|sm3, any case) or NULL for sha384;
 * -1 for any other name. */
int kbs_binding_digest(kbs_proto p, const char *nonce, const cJSON *jwk, const char *additional,
                       const char *hash, uint8_t out[KBS_DIGEST_MAX], size_t *outlen);
/* Standard base64 with padding; returns malloc'd string. */
char *kbs_b64std(const uint8_t *in, size_t n);

/* ---- jwe.c ---- */
/* Decode a KBS resource JWE (legacy or RFC 7516 flattened) with our key.
 * On success *out is mlocked (kbs_secure_alloc) and must go through
 * kbs_secure_free.  The header alg must be want_alg (the one we advertised).
 * Not a JSON object with the five string members: KBS_E_PROTOCOL;
 * anything else wrong: KBS_E_DECRYPT (one generic cause). */
int kbs_jwe_decrypt(EVP_PKEY *pk, const char *want_alg, const char *json, size_t len, uint8_t **out,
                    size_t *outlen, char *cause, size_t causelen);

/* ---- secure.c ---- */
uint8_t *kbs_secure_alloc(size_t n);        /* mlock + MADV_DONTDUMP, zeroed */
void kbs_secure_free(uint8_t *p, size_t n); /* wipes */

/* ---- evidence*.c ---- */
typedef enum {
	KBS_TEE_AUTO = 0,
	KBS_TEE_SAMPLE,
	KBS_TEE_TDX,
	KBS_TEE_SNP,
	KBS_TEE_TSM,
} kbs_tee_kind;
int kbs_tee_parse(const char *s, kbs_tee_kind *out);
typedef struct kbs_tee {
	kbs_tee_kind kind; /* resolved: never AUTO */
	const char *name;  /* the /auth "tee" value: sample|tdx|snp */
	char tsm_root[512];
	int tsm_snp;         /* tsm provider is sev_guest */
	int unsigned_report; /* tdx via /dev/tdx_guest: a TDREPORT, not a quote */
} kbs_tee;
/* The /dev/tdx_guest path (a variable so unit tests can point it elsewhere). */
extern const char *kbs_tdx_guest_dev;
/* Why evidence from t may not convince a KBS (the TDREPORT fallback), for
 * a warning and for the refusal error; NULL when there is nothing to say. */
const char *kbs_tee_caveat(const kbs_tee *t);
/* Resolve auto/tsm to a concrete TEE (probing the tsm root / tdx device):
 * configfs-tsm first; the TDREPORT fallback only for an explicit "tdx". */
int kbs_tee_resolve(const char *want, const char *tsm_root, kbs_tee *t, char *cause,
                    size_t causelen);
/* Evidence object for the digest (sample: report_data = b64std(digest)). */
int kbs_evidence(const kbs_tee *t, const uint8_t *digest, size_t dlen, cJSON **out, char *cause,
                 size_t causelen);
cJSON *kbs_evidence_sample(const uint8_t *digest, size_t dlen);
/* configfs-tsm: quote for reportdata; *prov gets "tdx_guest"/"sev_guest". */
int kbs_tsm_quote(const char *root, const uint8_t rd[KBS_REPORTDATA_LEN], uint8_t **quote,
                  size_t *qlen, char *prov, size_t provcap, char *cause, size_t causelen);
int kbs_tsm_provider(const char *root, char *prov, size_t cap); /* probe: 0 if present */
int kbs_tdx_report(const uint8_t rd[KBS_REPORTDATA_LEN], uint8_t **rep, size_t *rlen, char *cause,
                   size_t causelen);

/* ---- rcar.c ---- */
/* State of one kbs_fetch call. */
typedef struct kbs_ctx {
	kbs_http *h;
	kbs_tee tee;
	kbs_proto start; /* first version to offer */
	int pinned;      /* start was configured: offer nothing else */
	kbs_proto proto; /* negotiated; AUTO until the first /auth 200 */
	char base[KBS_URL_MAX];
	double deadline, timeout_s;
	EVP_PKEY *pk; /* key of the current session */
	int want_ec;  /* key_type "ec": P-256 from 0.2.0 */
	int auth_calls, attest_calls;
	char *err;
	size_t errlen;
} kbs_ctx;
/* Send with retries for transient failures (transport, 5xx), backoff
 * 100 ms doubling to 2 s, until an answer or the deadline; on KBS_OK r
 * holds a non-5xx answer. */
int kbs_send(kbs_ctx *c, const char *step, const char *endpoint, const char *body, kbs_resp *r);
/* The server's error detail for an error line, into out: the JSON "detail"
 * member, or the quoted, sanitised first line of a non-JSON body (util.c). */
void kbs_detail(const kbs_resp *r, char *out, size_t cap);
/* /auth (+ negotiation on the first call) and /attest; fresh key. */
int kbs_handshake(kbs_ctx *c);
/* Request bodies per version (exposed for tests). */
cJSON *kbs_auth_body(kbs_proto p, const char *tee);
cJSON *kbs_attest_body(kbs_proto p, const char *nonce, const cJSON *jwk, cJSON *evidence);
/* The requirement a mismatch detail names ("<=0.1.0", "=0.4.0") into out;
 * "" if none. */
void kbs_mismatch_want(const char *detail, char *out, size_t cap);
/* Wanted version from a mismatch detail; AUTO if none or not one we speak. */
kbs_proto kbs_mismatch_version(const char *detail);

#endif
