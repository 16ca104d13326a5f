/* The /dev/tdx_guest TDREPORT fallback without TDX hardware: TEE selection
 * (auto never picks it, an explicit "tdx" does), the evidence it yields,
 * and the honest messages: a warning on success, the reason on refusal.
 *
 * The fakes: kbs_tdx_guest_dev points at a plain file, and this binary
 * interposes ioctl() (the attest objects are linked statically into it, so
 * their call binds here) to answer TDX_CMD_GET_REPORT0 with a fake TDREPORT
 * carrying the REPORTDATA at offset 128, as the hardware does.  kbs_fetch
 * runs against a minimal in-process HTTP server speaking protocol 0.1.0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include "tests/unit/test_kbs_util.h"

struct fake_report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[1024];
};
#define FAKE_GET_REPORT0 _IOWR('T', 1, struct fake_report_req)
#define RD_OFFSET 128 /* REPORTMACSTRUCT.REPORTDATA */

static char dev[64], none[80], tsm_none[80];
static uint8_t seen_rd[64];
static int ioctl_calls;

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FAKE_GET_REPORT0) {
		struct fake_report_req *r = arg;

		ioctl_calls++;
		memcpy(seen_rd, r->reportdata, 64);
		memset(r->tdreport, 0x5a, sizeof(r->tdreport));
		memcpy(r->tdreport + RD_OFFSET, r->reportdata, 64);
		return 0;
	}
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

/* ---- a tiny KBS: /auth 200, /attest per attest_status, /resource a JWE ---- */

static const char nonce[] = "bm9uY2Utb2YtdGhlLXRkeC10ZXN0LXNlcnZlci0xMjM=";
static int attest_status = 401;
static char *attest_body; /* last /attest request body */
static EVP_PKEY *tee_key; /* from the /attest tee-pubkey */
static int lfd = -1, port;
static pthread_t srv;

static EVP_PKEY *rsa_from_jwk(const cJSON *jwk)
{
	const char *n = cJSON_GetObjectItemCaseSensitive(jwk, "n")->valuestring;
	uint8_t nb[512], eb[8] = {1, 0, 1};
	long nl = gcfs_b64url_dec(n, strlen(n), nb, sizeof(nb));
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(nb, (int)nl, NULL), *be = BN_bin2bn(eb, 3, NULL);
	OSSL_PARAM *prm;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;

	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be);
	prm = OSSL_PARAM_BLD_to_param(b);
	if (EVP_PKEY_fromdata_init(c) <= 0 ||
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, prm) <= 0)
		k = NULL;
	OSSL_PARAM_free(prm);
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	EVP_PKEY_CTX_free(c);
	return k;
}

/* Legacy (0.1.x) JWE of pt to tee_key: RSA1_5, tag appended, empty AAD. */
static char *legacy_jwe(const char *pt)
{
	jopt o = jwe_opts(1, tee_key);

	return jwe_build(&o, (const uint8_t *)pt, strlen(pt));
}

static void reply(int fd, int status, const char *body)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n"
	                 "Set-Cookie: kbs-session-id=0123456789abcdef0123456789abcdef\r\n\r\n",
	                 status, strlen(body));

	if (write(fd, head, (size_t)n) != n || write(fd, body, strlen(body)) < 0)
		return;
}

static void serve_one(int fd)
{
	char buf[65536], *hend, *cl, *body;
	size_t got = 0, want;
	ssize_t r;

	while (got + 1 < sizeof(buf) && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)r;
		buf[got] = 0;
		hend = strstr(buf, "\r\n\r\n");
		if (!hend)
			continue;
		cl = strcasestr(buf, "Content-Length:");
		want =
		    (size_t)(hend + 4 - buf) + (cl && cl < hend ? strtoul(cl + 15, NULL, 10) : 0);
		if (got >= want)
			break;
	}
	body = strstr(buf, "\r\n\r\n");
	body = body ? body + 4 : buf + got;
	if (!strncmp(buf, "POST /kbs/v0/auth ", 18)) {
		char ans[128];

		snprintf(ans, sizeof(ans), "{\"nonce\":\"%s\",\"extra-params\":\"\"}", nonce);
		reply(fd, 200, ans);
	} else if (!strncmp(buf, "POST /kbs/v0/attest ", 20)) {
		cJSON *j = cJSON_Parse(body);

		free(attest_body);
		attest_body = strdup(body);
		EVP_PKEY_free(tee_key);
		tee_key = rsa_from_jwk(cJSON_GetObjectItemCaseSensitive(j, "tee-pubkey"));
		cJSON_Delete(j);
		if (attest_status == 200)
			reply(fd, 200, "{\"token\":\"\"}");
		else
			reply(fd, attest_status,
			      "{\"type\":\"https://github.com/confidential-containers/"
			      "kbs/errors/AttestationFailed\",\"detail\":\"Attestation "
			      "failed: tdx quote version 0\"}");
	} else if (!strncmp(buf, "GET /kbs/v0/resource/default/aliyun/k ", 38)) {
		char *jwe = legacy_jwe("tdx-secret");

		reply(fd, 200, jwe);
		free(jwe);
	} else {
		reply(fd, 404, "");
	}
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			return NULL;
		serve_one(fd);
		close(fd);
	}
}

static int setup(void **s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd;

	(void)s;
	snprintf(dev, sizeof(dev), "/tmp/kbs-tdx-dev-XXXXXX");
	fd = mkstemp(dev);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(none, sizeof(none), "%s-absent", dev);
	snprintf(tsm_none, sizeof(tsm_none), "%s-no-tsm", dev);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al))
		return -1;
	port = ntohs(a.sin_port);
	return pthread_create(&srv, NULL, serve, NULL);
}

static int teardown(void **s)
{
	(void)s;
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(srv, NULL);
	unlink(dev);
	free(attest_body);
	EVP_PKEY_free(tee_key);
	return 0;
}

static void test_selection(void **s)
{
	kbs_tee t;
	char cause[400];

	(void)s;
	/* auto with only the TDREPORT device: refused, saying why and how. */
	kbs_tdx_guest_dev = dev;
	assert_int_equal(kbs_tee_resolve("auto", tsm_none, &t, cause, sizeof(cause)),
	                 KBS_E_EVIDENCE);
	assert_non_null(strstr(cause, "no TEE quote source"));
	assert_non_null(strstr(cause, "unsigned TDREPORT"));
	assert_non_null(strstr(cause, "--tee tdx"));
	/* An explicit tdx: the fallback, flagged. */
	assert_int_equal(kbs_tee_resolve("tdx", tsm_none, &t, cause, sizeof(cause)), KBS_OK);
	assert_int_equal(t.kind, KBS_TEE_TDX);
	assert_string_equal(t.name, "tdx");
	assert_true(t.unsigned_report);
	assert_non_null(kbs_tee_caveat(&t));
	assert_non_null(strstr(kbs_tee_caveat(&t), "unsigned TDREPORT"));
	assert_non_null(strstr(kbs_tee_caveat(&t), "not a signed quote"));
	/* No device at all. */
	kbs_tdx_guest_dev = none;
	assert_int_equal(kbs_tee_resolve("auto", tsm_none, &t, cause, sizeof(cause)),
	                 KBS_E_EVIDENCE);
	assert_non_null(strstr(cause, "no TEE found"));
	assert_int_equal(kbs_tee_resolve("tdx", tsm_none, &t, cause, sizeof(cause)),
	                 KBS_E_EVIDENCE);
	assert_non_null(strstr(cause, none));
	/* Other TEEs carry no caveat. */
	assert_int_equal(kbs_tee_resolve("sample", tsm_none, &t, cause, sizeof(cause)), KBS_OK);
	assert_null(kbs_tee_caveat(&t));
	assert_null(kbs_tee_caveat(NULL));
}

static void test_report_evidence(void **s)
{
	uint8_t dg[48], want[64] = {0}, rep[1100];
	kbs_tee t;
	cJSON *ev = NULL;
	const cJSON *q;
	char cause[200];
	long n;

	(void)s;
	kbs_tdx_guest_dev = dev;
	memset(dg, 0xc3, sizeof(dg));
	memcpy(want, dg, 48);
	assert_int_equal(kbs_tee_resolve("tdx", tsm_none, &t, cause, sizeof(cause)), KBS_OK);
	ioctl_calls = 0;
	assert_int_equal(kbs_evidence(&t, dg, 48, &ev, cause, sizeof(cause)), KBS_OK);
	assert_int_equal(ioctl_calls, 1);
	assert_memory_equal(seen_rd, want, 64); /* digest || zeros */
	q = cJSON_GetObjectItemCaseSensitive(ev, "quote");
	assert_true(cJSON_IsString(q));
	{
		EVP_ENCODE_CTX *c = EVP_ENCODE_CTX_new();
		int l1 = 0, l2 = 0;

		EVP_DecodeInit(c);
		assert_true(EVP_DecodeUpdate(c, rep, &l1, (const uint8_t *)q->valuestring,
		                             (int)strlen(q->valuestring)) >= 0);
		assert_int_equal(EVP_DecodeFinal(c, rep + l1, &l2), 1);
		n = l1 + l2;
		EVP_ENCODE_CTX_free(c);
	}
	assert_int_equal(n, 1024);
	assert_memory_equal(rep + RD_OFFSET, want, 64);
	cJSON_Delete(ev);
}

static int fetch(char *err, size_t errlen, kbs_result *res)
{
	char url[64];
	kbs_config cfg = {.key_uri = "kbs:///default/aliyun/k",
	                  .tee = "tdx",
	                  .tsm_root = tsm_none,
	                  .proto = KBS_PROTO_010,
	                  .timeout_s = 20};

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	cfg.url = url;
	kbs_tdx_guest_dev = dev;
	return kbs_fetch(&cfg, res, err, errlen);
}

static void test_refusal_names_the_tdreport(void **s)
{
	kbs_result res;
	char err[768];

	(void)s;
	attest_status = 401;
	assert_int_equal(fetch(err, sizeof(err), &res), KBS_E_REFUSED);
	assert_non_null(strstr(err, "unseal: attest: attest: attestation refused: HTTP 401: "
	                            "Attestation failed: tdx quote version 0 (the evidence was an "
	                            "unsigned TDREPORT from /dev/tdx_guest, not a signed quote"));
	assert_null(strchr(err, '\n'));
	assert_null(res.secret);
	/* The fallback evidence really went out, under "quote" (P0: as a string). */
	assert_non_null(attest_body);
	assert_non_null(strstr(attest_body, "\"tee-evidence\":\"{\\\"quote\\\":\\\""));
}

static void test_success_warns(void **s)
{
	kbs_result res;
	char err[768];

	(void)s;
	attest_status = 200;
	assert_int_equal(fetch(err, sizeof(err), &res), KBS_OK);
	assert_int_equal(res.secret_len, 10);
	assert_memory_equal(res.secret, "tdx-secret", 10);
	assert_string_equal(res.tee, "tdx");
	kbs_secret_free(&res);
	/* Success, and one warning line for the caller to log. */
	assert_non_null(strstr(err, "unseal: attest: evidence: warning: the evidence was an "
	                            "unsigned TDREPORT"));
	assert_null(strchr(err, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selection),
	    cmocka_unit_test(test_report_evidence),
	    cmocka_unit_test(test_refusal_names_the_tdreport),
	    cmocka_unit_test(test_success_warns),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
