/* rcar: the Request-Challenge-Attestation-Response handshake (spec 2, 3,
 * 10): version negotiation on /auth, evidence and key on /attest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"

#define MISMATCH "Protocol Version Mismatch"

cJSON *kbs_auth_body(kbs_proto p, const char *tee)
{
	cJSON *b = cJSON_CreateObject();

	/* extra-params "" on every version: P0 servers only accept a string. */
	if (!b || !cJSON_AddStringToObject(b, "version", kbs_proto_str(p)) ||
	    !cJSON_AddStringToObject(b, "tee", tee) ||
	    !cJSON_AddStringToObject(b, "extra-params", "")) {
		cJSON_Delete(b);
		return NULL;
	}
	return b;
}

static cJSON *attest_p4(const char *nonce, const cJSON *jwk, cJSON *evidence)
{
	cJSON *b = cJSON_CreateObject(), *rt = cJSON_CreateObject(), *te = cJSON_CreateObject();

	if (!b || !rt || !te)
		goto fail;
	/* Outer names kebab-case, the tee-evidence members snake_case. */
	cJSON_AddItemToObject(b, "init-data", cJSON_CreateNull());
	if (!cJSON_AddStringToObject(rt, "nonce", nonce))
		goto fail;
	cJSON_AddItemToObject(rt, "tee-pubkey", cJSON_Duplicate(jwk, 1));
	cJSON_AddItemToObject(b, "runtime-data", rt);
	rt = NULL;
	cJSON_AddItemToObject(te, "primary_evidence", evidence);
	evidence = NULL;
	if (!cJSON_AddStringToObject(te, "additional_evidence", ""))
		goto fail;
	cJSON_AddItemToObject(b, "tee-evidence", te);
	return b;
fail:
	cJSON_Delete(evidence);
	cJSON_Delete(te);
	cJSON_Delete(rt);
	cJSON_Delete(b);
	return NULL;
}

cJSON *kbs_attest_body(kbs_proto p, const char *nonce, const cJSON *jwk, cJSON *evidence)
{
	cJSON *b;
	char *s;

	if (!evidence)
		return NULL;
	if (p == KBS_PROTO_040)
		return attest_p4(nonce, jwk, evidence);
	b = cJSON_CreateObject();
	if (!b)
		goto fail;
	cJSON_AddItemToObject(b, "tee-pubkey", cJSON_Duplicate(jwk, 1));
	if (p == KBS_PROTO_010) {
		/* P0: the evidence travels as a JSON *string*. */
		s = cJSON_PrintUnformatted(evidence);
		cJSON_Delete(evidence);
		if (!s || !cJSON_AddStringToObject(b, "tee-evidence", s)) {
			free(s);
			cJSON_Delete(b);
			return NULL;
		}
		free(s);
		return b;
	}
	cJSON_AddItemToObject(b, "tee-evidence", evidence);
	return b;
fail:
	cJSON_Delete(evidence);
	return NULL;
}

void kbs_mismatch_want(const char *detail, char *out, size_t cap)
{
	const char *m = detail ? strstr(detail, MISMATCH) : NULL;
	size_t n = 0;

	if (cap)
		out[0] = 0;
	/* "expected version: <=0.1.0, ..." or "expect =0.4.0 while ..." */
	m = m ? strpbrk(m, "<>=~^") : NULL;
	if (!m || cap == 0)
		return;
	for (; *m && n + 1 < cap; m++) {
		if (strchr("<>=~^0123456789.", *m))
			out[n++] = *m;
		else if (*m != ' ' || (n && out[n - 1] >= '0' && out[n - 1] <= '9'))
			break; /* spaces only between the operator and the version */
	}
	out[n] = 0;
}

kbs_proto kbs_mismatch_version(const char *detail)
{
	char want[32];
	const char *v = want;
	kbs_proto p;

	kbs_mismatch_want(detail, want, sizeof(want));
	v += strspn(want, "<>=~^");
	p = kbs_proto_parse(v);
	return (int)p < 0 ? KBS_PROTO_AUTO : p;
}

static int is_mismatch(const kbs_resp *r, const char *detail)
{
	return r->status == 401 &&
	       (strstr(detail, MISMATCH) || (r->body && strstr(r->body, "/ProtocolVersion\"")));
}

/* Next version to try under "auto" after the mismatch `detail` (whose
 * requirement, from kbs_mismatch_want, is `want`): the one the server names
 * if we speak it and have not tried it (a server naming a version we tried
 * or do not know ends the negotiation), the newest untried one if it names
 * none.  Each version at most once, so at most 4 /auth calls. */
static kbs_proto next_version(unsigned *tried, const char *want, const char *detail)
{
	static const kbs_proto order[] = {KBS_PROTO_040, KBS_PROTO_020, KBS_PROTO_011,
	                                  KBS_PROTO_010};
	kbs_proto w = kbs_mismatch_version(detail);

	if (want[0])
		return w != KBS_PROTO_AUTO && !(*tried & (1u << w)) ? w : KBS_PROTO_AUTO;
	for (size_t i = 0; i < 4; i++)
		if (!(*tried & (1u << order[i])))
			return order[i];
	return KBS_PROTO_AUTO;
}

/* Parse a 200 /auth answer: nonce (opaque, verbatim) and hash choice. */
static int auth_answer(kbs_ctx *c, const kbs_resp *r, char **nonce, char *hash, size_t hcap)
{
	cJSON *j = cJSON_ParseWithLength(r->body, r->len), *n, *x, *sel;

	n = cJSON_GetObjectItemCaseSensitive(j, "nonce");
	if (!cJSON_IsString(n) || !n->valuestring[0]) {
		cJSON_Delete(j);
		return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "auth",
		                "challenge without a nonce%s", j ? "" : " (body is not JSON)");
	}
	x = cJSON_GetObjectItemCaseSensitive(j, "extra-params");
	sel = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, "selected-hash-algorithm")
	                        : NULL;
	snprintf(hash, hcap, "%s", kbs_hash_pick(cJSON_IsString(sel) ? sel->valuestring : NULL));
	*nonce = strdup(n->valuestring);
	cJSON_Delete(j);
	if (!*nonce)
		return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "auth", "out of memory");
	return KBS_OK;
}

static int post_json(kbs_ctx *c, const char *step, const char *ep, cJSON *body, kbs_resp *r)
{
	char *s = body ? cJSON_PrintUnformatted(body) : NULL;
	int rc;

	cJSON_Delete(body);
	if (!s)
		return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, step, "out of memory");
	rc = kbs_send(c, step, ep, s, r);
	free(s);
	return rc;
}

/* A version mismatch where no other version may be offered: a pinned
 * version, or the re-handshake of a session whose version is settled. */
static int mismatch_fixed(kbs_ctx *c, kbs_proto p, const char *want, const char *detail)
{
	return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "auth",
	                "protocol %s %s, the server wants %s: %s", kbs_proto_str(p),
	                c->pinned ? "is pinned" : "was negotiated",
	                want[0] ? want : "another version", detail);
}

static int do_auth(kbs_ctx *c, char **nonce, char *hash, size_t hcap)
{
	unsigned tried = 0;
	int fixed = c->pinned || c->proto != KBS_PROTO_AUTO;
	kbs_proto p = c->proto != KBS_PROTO_AUTO ? c->proto : c->start;
	char detail[KBS_DETAIL_MAX], want[32];

	for (;;) {
		kbs_resp r;
		int rc;

		tried |= 1u << p;
		c->auth_calls++;
		rc = post_json(c, "auth", "auth", kbs_auth_body(p, c->tee.name), &r);
		if (rc)
			return rc;
		kbs_detail(&r, detail, sizeof(detail));
		if (r.status == 200) {
			rc = auth_answer(c, &r, nonce, hash, hcap);
			kbs_resp_free(&r);
			if (rc == KBS_OK)
				c->proto = p;
			return rc;
		}
		if (is_mismatch(&r, detail)) {
			kbs_resp_free(&r);
			kbs_mismatch_want(detail, want, sizeof(want));
			if (fixed)
				return mismatch_fixed(c, p, want, detail);
			p = next_version(&tried, want, detail);
			if (p != KBS_PROTO_AUTO)
				continue;
			return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "auth",
			                "no common protocol version: %s", detail);
		}
		/* Any other refusal of the challenge request is a protocol
		 * problem: no evidence has been judged yet (exit 5 is for
		 * /attest and the resource). */
		kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "auth", "HTTP %ld%s%s (version %s)",
		         r.status, detail[0] ? ": " : "", detail, kbs_proto_str(p));
		kbs_resp_free(&r);
		return KBS_E_PROTOCOL;
	}
}

static int attest_answer(kbs_ctx *c, const kbs_resp *r)
{
	cJSON *j = cJSON_ParseWithLength(r->body, r->len), *t;

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "attest",
		                "answer is not a JSON object");
	}
	/* The token is optional for us: the cookie session authorises the
	 * GET; a token is only replayed as a Bearer fallback. */
	t = cJSON_GetObjectItemCaseSensitive(j, "token");
	kbs_http_set_bearer(c->h, cJSON_IsString(t) && t->valuestring[0] ? t->valuestring : NULL);
	if (t && t->valuestring)
		OPENSSL_cleanse(t->valuestring, strlen(t->valuestring));
	cJSON_Delete(j);
	return KBS_OK;
}

static int do_attest(kbs_ctx *c, const char *nonce, const char *hash)
{
	uint8_t dg[KBS_DIGEST_MAX];
	size_t dl = 0;
	cJSON *jwk, *ev = NULL;
	char cause[300], detail[KBS_DETAIL_MAX];
	kbs_resp r;
	int rc;

	EVP_PKEY_free(c->pk);
	c->pk = kbs_key_use_ec(c->proto, c->want_ec) ? kbs_key_new_ec() : kbs_key_new();
	jwk = c->pk ? kbs_jwk(c->pk, kbs_pkey_alg(c->proto, c->pk)) : NULL;
	if (!jwk)
		return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "attest",
		                "cannot create the session key");
	if (kbs_binding_digest(c->proto, nonce, jwk, "", hash, dg, &dl)) {
		cJSON_Delete(jwk);
		return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, "attest",
		                "cannot compute the %s binding digest the server selected "
		                "(not available in this OpenSSL)",
		                hash);
	}
	rc = kbs_evidence(&c->tee, dg, dl, &ev, cause, sizeof(cause));
	if (rc) {
		cJSON_Delete(jwk);
		return kbs_fail(c->err, c->errlen, rc, "evidence", "%s", cause);
	}
	c->attest_calls++;
	rc = post_json(c, "attest", "attest", kbs_attest_body(c->proto, nonce, jwk, ev), &r);
	cJSON_Delete(jwk);
	if (rc)
		return rc;
	if (r.status == 200) {
		rc = attest_answer(c, &r);
	} else {
		const char *caveat;
		char why[256] = "";

		kbs_detail(&r, detail, sizeof(detail));
		rc = r.status == 401 || r.status == 403 ? KBS_E_REFUSED : KBS_E_PROTOCOL;
		/* A refused TDREPORT is the expected outcome: say why. */
		caveat = rc == KBS_E_REFUSED ? kbs_tee_caveat(&c->tee) : NULL;
		if (caveat)
			snprintf(why, sizeof(why), " (%s)", caveat);
		kbs_fail(c->err, c->errlen, rc, "attest", "%s: HTTP %ld%s%s%s",
		         rc == KBS_E_REFUSED ? "attestation refused" : "unexpected answer",
		         r.status, detail[0] ? ": " : "", detail, why);
	}
	kbs_resp_free(&r);
	return rc;
}

int kbs_handshake(kbs_ctx *c)
{
	char *nonce = NULL, hash[32];
	int rc = do_auth(c, &nonce, hash, sizeof(hash));

	if (rc == KBS_OK)
		rc = do_attest(c, nonce, hash);
	free(nonce);
	return rc;
}
