/* kbs: fetch a resource from a Trustee KBS after remote attestation (RCAR).
 *
 * Used by the `unseal attest` CLI (linked statically) and by the shim, which
 * dlopen()s build/libunseal-kbs.so only when a KBS key source is configured,
 * so that processes which never use KBS do not load libcurl.
 */
#ifndef KBS_H
#define KBS_H

#include <stddef.h>
#include <stdint.h>

/* Distinct exit codes of `unseal attest` (and kbs_fetch return values,
 * negated): documented in README. */
enum {
	KBS_OK = 0,
	KBS_E_USAGE = 2,    /* bad configuration: malformed URI/URL, unknown TEE */
	KBS_E_NETWORK = 3,  /* connect/reset/timeout/5xx after retries, deadline hit */
	KBS_E_PROTOCOL = 4, /* unexpected answer: non-JSON, missing fields (also of the
	                       JWE), no common/pinned version, /auth rejected */
	KBS_E_REFUSED = 5,  /* attestation refused (401/403 on /attest or on the
	                       resource after one re-attestation: policy deny) */
	KBS_E_MISSING = 6,  /* resource missing (404 / PluginInternalError) */
	KBS_E_DECRYPT = 7,  /* JWE crypto: unwrap, alg/enc/iv/tag, GCM tag */
	KBS_E_EVIDENCE = 8, /* evidence provider failed (no TEE, tsm error) */
};

typedef enum {
	KBS_PROTO_AUTO = 0,
	KBS_PROTO_010, /* "0.1.0" legacy P0 */
	KBS_PROTO_011, /* "0.1.1" P1 */
	KBS_PROTO_020, /* "0.2.0" P2 */
	KBS_PROTO_040, /* "0.4.0" P4 */
} kbs_proto;

typedef struct kbs_config {
	const char *url;      /* base URL, e.g. http://host/trustee; NULL: from URI host */
	const char *key_uri;  /* kbs:///repo/type/tag or kbs://host:port/repo/type/tag */
	const char *tee;      /* auto|sample|tdx|snp|tsm; NULL = $UNSEAL_TEE or auto */
	const char *tsm_root; /* NULL = $UNSEAL_TSM_ROOT or /sys/kernel/config/tsm/report */
	const char *cafile;   /* NULL = system default (https only) */
	kbs_proto proto;      /* KBS_PROTO_AUTO negotiates; anything else pins */
	double timeout_s;     /* total deadline; <= 0: $UNSEAL_KBS_TIMEOUT or 60 */
	const char *key_type; /* "rsa" | "ec"; NULL = $UNSEAL_KBS_KEY or "rsa".  "ec" =
	                         P-256 ECDH-ES+A256KW from 0.2.0 (much faster keygen);
	                         0.1.x always uses RSA1_5 */
} kbs_config;

typedef struct kbs_result {
	uint8_t *secret; /* mlocked, caller frees with kbs_secret_free */
	size_t secret_len;
	char proto[8];                /* negotiated version string, e.g. "0.4.0" */
	char tee[16];                 /* TEE used */
	int auth_calls, attest_calls; /* handshake statistics */
} kbs_result;

/* Run the handshake and fetch.  Returns 0 or a positive KBS_E_* code; err
 * gets one line "unseal: attest: <step>: <cause>" naming the step (auth,
 * attest, resource, decrypt, evidence) and the server's detail if any.
 * On success err is empty or holds one warning line
 * ("unseal: attest: evidence: warning: ...", e.g. unsigned TDREPORT
 * evidence) for the caller to log.  Never loops: transient faults are
 * retried with backoff inside the deadline. */
int kbs_fetch(const kbs_config *cfg, kbs_result *res, char *err, size_t errlen);
void kbs_secret_free(kbs_result *res);

/* dlopen entry point used by the shim (same semantics as kbs_fetch). */
typedef int (*kbs_fetch_fn)(const kbs_config *, kbs_result *, char *, size_t);
typedef void (*kbs_free_fn)(kbs_result *);
#define KBS_FETCH_SYM "kbs_fetch"
#define KBS_FREE_SYM "kbs_secret_free"

#endif
