/* fetch: kbs_fetch() — configuration, retries with backoff inside the
 * deadline, the resource GET with at most one re-attestation, and the
 * locked secret. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"

#define DEFAULT_TIMEOUT_S 60.0

#define KBS_API __attribute__((visibility("default")))

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init(void)
{
	/* Never cleaned up: we may live inside a host process that uses curl. */
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

double kbs_backoff_next(double cur)
{
	return cur * 2 > KBS_BACKOFF_MAX_S ? KBS_BACKOFF_MAX_S : cur * 2;
}

static int give_up(kbs_ctx *c, const char *step, int tries, const char *cause)
{
	return kbs_fail(c->err, c->errlen, KBS_E_NETWORK, step,
	                "no answer within the %g s deadline after %d attempt%s (last: %s)",
	                c->timeout_s, tries, tries == 1 ? "" : "s", cause);
}

/* Transient faults (transport errors, 5xx) are retried with capped
 * exponential backoff until the total deadline: no attempt count, so a long
 * deadline really waits out a restarting KBS, and a short one is never
 * overrun (the last pause is cut so that a last attempt still fits). */
int kbs_send(kbs_ctx *c, const char *step, const char *endpoint, const char *body, kbs_resp *r)
{
	char url[KBS_URL_MAX],
	    cause[KBS_DETAIL_MAX + 32] = "the deadline passed before the request was sent";
	char detail[KBS_DETAIL_MAX];
	double backoff = KBS_BACKOFF_START_S, left;
	int tries = 0;

	if (kbs_url_join(c->base, endpoint, url, sizeof(url)))
		return kbs_fail(c->err, c->errlen, KBS_E_USAGE, step, "KBS URL too long");
	for (;;) {
		int t;

		/* Keep KBS_ATTEMPT_FLOOR_S for the attempt; a retry's pause
		 * is cut to what is left above it. */
		left = c->deadline - kbs_now() - KBS_ATTEMPT_FLOOR_S;
		if (left < 0)
			return give_up(c, step, tries, cause);
		if (tries) {
			sleep_s(backoff < left ? backoff : left);
			backoff = kbs_backoff_next(backoff);
		}
		tries++;
		t = kbs_http_do(c->h, url, body, r, cause, sizeof(cause));
		if (t == KBS_T_TOOBIG)
			return kbs_fail(c->err, c->errlen, KBS_E_PROTOCOL, step, "%s", cause);
		if (t == KBS_T_FATAL) /* e.g. TLS verification: retrying cannot help */
			return kbs_fail(c->err, c->errlen, KBS_E_NETWORK, step, "%s", cause);
		if (t == KBS_T_OK && r->status < 500)
			return KBS_OK;
		if (t == KBS_T_OK) { /* 5xx: ingress or server trouble, retry */
			kbs_detail(r, detail, sizeof(detail));
			snprintf(cause, sizeof(cause), "HTTP %ld%s%s", r->status,
			         detail[0] ? ": " : "", detail);
			kbs_resp_free(r);
		}
	}
}

/* Missing resource: openanolis 404 ReadSecretFailed, upstream 401
 * PluginInternalError (re-attesting cannot help either). */
static int is_missing(const kbs_resp *r)
{
	if (r->status == 404)
		return 1;
	return r->status == 401 && r->body &&
	       (strstr(r->body, "PluginInternalError") || strstr(r->body, "ReadSecretFailed"));
}

static int get_resource(kbs_ctx *c, const char *path, kbs_result *res)
{
	char ep[KBS_URL_MAX], detail[KBS_DETAIL_MAX], cause[200];
	int reattested = 0;

	snprintf(ep, sizeof(ep), "resource/%s", path);
	for (;;) {
		kbs_resp r;
		int rc = kbs_send(c, "resource", ep, NULL, &r);

		if (rc)
			return rc;
		if (r.status == 200) {
			rc = kbs_jwe_decrypt(c->pk, kbs_pkey_alg(c->proto, c->pk), r.body, r.len,
			                     &res->secret, &res->secret_len, cause, sizeof(cause));
			kbs_resp_free(&r);
			if (rc) /* a non-JSON answer is the resource step's fault */
				return kbs_fail(c->err, c->errlen, rc,
				                rc == KBS_E_DECRYPT ? "decrypt" : "resource", "%s",
				                cause);
			return KBS_OK;
		}
		kbs_detail(&r, detail, sizeof(detail));
		if (r.status == 401 && !reattested && !is_missing(&r)) {
			/* Session expired or landed on another replica: one
			 * fresh handshake, never a loop. */
			kbs_resp_free(&r);
			reattested = 1;
			if ((rc = kbs_handshake(c)))
				return rc;
			continue;
		}
		rc = is_missing(&r)                       ? KBS_E_MISSING
		     : r.status == 401 || r.status == 403 ? KBS_E_REFUSED
		                                          : KBS_E_PROTOCOL;
		kbs_fail(c->err, c->errlen, rc, "resource", "%s %s: HTTP %ld%s%s",
		         rc == KBS_E_MISSING   ? "resource missing"
		         : rc == KBS_E_REFUSED ? "refused"
		                               : "unexpected answer for",
		         path, r.status, detail[0] ? ": " : "", detail);
		kbs_resp_free(&r);
		return rc;
	}
}

static int config_timeout(const kbs_config *cfg, double *out, char *err, size_t errlen)
{
	const char *e = getenv("UNSEAL_KBS_TIMEOUT");
	char *end;

	*out = DEFAULT_TIMEOUT_S;
	if (cfg->timeout_s > 0) {
		*out = cfg->timeout_s;
	} else if (e && *e) {
		double v = strtod(e, &end);

		if (*end || !(v > 0) || v > 86400)
			return kbs_fail(err, errlen, KBS_E_USAGE, "config",
			                "UNSEAL_KBS_TIMEOUT must be seconds > 0");
		*out = v;
	}
	return KBS_OK;
}

static int config_base(kbs_ctx *c, const kbs_config *cfg, const kbs_uri *u)
{
	const char *b = cfg->url && *cfg->url ? cfg->url : getenv("UNSEAL_KBS_URL");
	int n;

	if (b && *b)
		n = snprintf(c->base, sizeof(c->base), "%s", b);
	else if (u->host[0])
		n = snprintf(c->base, sizeof(c->base), "http://%s", u->host);
	else
		return kbs_fail(c->err, c->errlen, KBS_E_USAGE, "config",
		                "no KBS URL: pass --kbs-url, set UNSEAL_KBS_URL or use "
		                "kbs://host:port/...");
	if (n < 0 || (size_t)n >= sizeof(c->base) ||
	    (strncmp(c->base, "http://", 7) && strncmp(c->base, "https://", 8)) ||
	    strlen(c->base) <= 8)
		return kbs_fail(c->err, c->errlen, KBS_E_USAGE, "config",
		                "KBS URL must be http:// or https://host[/path]");
	return KBS_OK;
}

static int setup(kbs_ctx *c, const kbs_config *cfg, kbs_uri *u)
{
	const char *ca = cfg->cafile && *cfg->cafile ? cfg->cafile : getenv("UNSEAL_KBS_CAFILE");
	const char *uri = cfg->key_uri && *cfg->key_uri ? cfg->key_uri : getenv("UNSEAL_KEY_URI");
	const char *kt;
	char cause[200];
	int rc;

	if (kbs_uri_parse(uri, u, cause, sizeof(cause)))
		return kbs_fail(c->err, c->errlen, KBS_E_USAGE, "uri", "%s", cause);
	if ((rc = config_base(c, cfg, u)) ||
	    (rc = config_timeout(cfg, &c->timeout_s, c->err, c->errlen)))
		return rc;
	if ((unsigned)cfg->proto > KBS_PROTO_040)
		return kbs_fail(c->err, c->errlen, KBS_E_USAGE, "config", "bad protocol version");
	/* A configured version is a strict pin: it alone is offered. */
	c->start = cfg->proto == KBS_PROTO_AUTO ? KBS_PROTO_040 : cfg->proto;
	c->pinned = cfg->proto != KBS_PROTO_AUTO;
	kt = cfg->key_type && *cfg->key_type ? cfg->key_type : getenv("UNSEAL_KBS_KEY");
	if (kt && *kt && strcmp(kt, "rsa") && strcmp(kt, "ec"))
		return kbs_fail(c->err, c->errlen, KBS_E_USAGE, "config",
		                "key type must be rsa or ec, got '%s'", kt);
	c->want_ec = kt && !strcmp(kt, "ec");
	c->deadline = kbs_now() + c->timeout_s;
	rc = kbs_tee_resolve(cfg->tee, cfg->tsm_root, &c->tee, cause, sizeof(cause));
	if (rc)
		return kbs_fail(c->err, c->errlen, rc, "evidence", "%s", cause);
	pthread_once(&curl_once, curl_init);
	c->h = curl_ok ? kbs_http_new(ca && *ca ? ca : NULL, c->deadline) : NULL;
	if (!c->h)
		return kbs_fail(c->err, c->errlen, KBS_E_NETWORK, "config",
		                "cannot initialise libcurl");
	return KBS_OK;
}

KBS_API int kbs_fetch(const kbs_config *cfg, kbs_result *res, char *err, size_t errlen)
{
	kbs_ctx c;
	kbs_uri u;
	int rc;

	if (err && errlen)
		err[0] = 0;
	if (!cfg || !res)
		return kbs_fail(err, errlen, KBS_E_USAGE, "config", "no configuration");
	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errlen = errlen;
	rc = setup(&c, cfg, &u);
	if (rc == KBS_OK)
		rc = kbs_handshake(&c);
	if (rc == KBS_OK)
		rc = get_resource(&c, u.path, res);
	if (rc == KBS_OK && kbs_tee_caveat(&c.tee)) /* success, with a warning line */
		kbs_fail(err, errlen, KBS_OK, "evidence", "warning: %s", kbs_tee_caveat(&c.tee));
	snprintf(res->proto, sizeof(res->proto), "%s", kbs_proto_str(c.proto));
	snprintf(res->tee, sizeof(res->tee), "%s", c.tee.name ? c.tee.name : "");
	res->auth_calls = c.auth_calls;
	res->attest_calls = c.attest_calls;
	if (rc != KBS_OK && res->secret)
		kbs_secret_free(res);
	EVP_PKEY_free(c.pk);
	kbs_http_free(c.h);
	return rc;
}

KBS_API void kbs_secret_free(kbs_result *res)
{
	if (!res)
		return;
	kbs_secure_free(res->secret, res->secret_len);
	res->secret = NULL;
	res->secret_len = 0;
}
