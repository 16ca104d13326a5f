/* KBS resource URIs, endpoint URL joining and the Set-Cookie jar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "attest/kbs_int.h"

static void good(const char *s, const char *host, const char *path)
{
	kbs_uri u;
	char cause[128];

	assert_int_equal(kbs_uri_parse(s, &u, cause, sizeof(cause)), 0);
	assert_string_equal(u.host, host);
	assert_string_equal(u.path, path);
}

static void bad(const char *s)
{
	kbs_uri u;
	char cause[128] = "";

	assert_int_equal(kbs_uri_parse(s, &u, cause, sizeof(cause)), -1);
	assert_true(cause[0] != 0);
}

static void test_uri_good(void **s)
{
	(void)s;
	good("kbs:///default/aliyun/my-key", "", "default/aliyun/my-key");
	good("kbs://kbs.example:8080/repo/type/tag", "kbs.example:8080", "repo/type/tag");
	good("kbs:///a_b/C-d/e.f.g", "", "a_b/C-d/e.f.g");
	good("kbs:///_x/-y/z..", "", "_x/-y/z..");
}

static void test_uri_bad(void **s)
{
	(void)s;
	bad(NULL);
	bad("");
	bad("http:///a/b/c");
	bad("kbs:/a/b/c");
	bad("kbs://");
	bad("kbs:///a/b");
	bad("kbs:///a/b/c/d");
	bad("kbs:///a/b/c/");
	bad("kbs:///a//c");
	bad("kbs:///a/./c");
	bad("kbs:///a/../c");
	bad("kbs:///a/b/..");
	bad("kbs:///a/b/.hidden"); /* first char must not be '.' */
	bad("kbs:///a/b/c?x=1");
	bad("kbs:///a/b/c#f");
	bad("kbs:///a/b/c d");
	bad("kbs:///a/b/%2e%2e");
	bad("kbs:///a/b/\xc3\xa9");
	bad("kbs://user@host/a/b/c");
}

static void join(const char *base, const char *ep, const char *want)
{
	char out[256];

	assert_int_equal(kbs_url_join(base, ep, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_url_join(void **s)
{
	char small[16];

	(void)s;
	join("http://h:8080", "auth", "http://h:8080/kbs/v0/auth");
	join("http://h:8080/", "auth", "http://h:8080/kbs/v0/auth");
	join("http://h/trustee", "attest", "http://h/trustee/kbs/v0/attest");
	join("http://h/trustee///", "resource/a/b/c", "http://h/trustee/kbs/v0/resource/a/b/c");
	assert_int_equal(kbs_url_join("///", "auth", small, sizeof(small)), -1);
	assert_int_equal(kbs_url_join("http://a-very-long-host", "auth", small, sizeof(small)), -1);
}

static int feed(kbs_jar *j, const char *line)
{
	return kbs_jar_feed(j, line, strlen(line));
}

static void test_cookies(void **s)
{
	kbs_jar j;
	char h[512];

	(void)s;
	memset(&j, 0, sizeof(j));
	assert_int_equal(kbs_jar_header(&j, h, sizeof(h)), 0);
	assert_string_equal(h, "");
	/* Expires in the past must not matter: the guest clock may be off. */
	assert_int_equal(feed(&j, "Set-Cookie: kbs-session-id=0123abcd; Expires=Thu, 01 Jan 1970 "
	                          "00:00:00 GMT\r\n"),
	                 1);
	assert_int_equal(feed(&j, "set-cookie:aliyungf_tc=xyz; Path=/; HttpOnly\r\n"), 1);
	assert_int_equal(feed(&j, "Content-Type: application/json\r\n"), 0);
	assert_int_equal(feed(&j, "Set-Cookie: novalue\r\n"), 0);
	assert_int_equal(feed(&j, "HTTP/1.1 200 OK\r\n"), 0);
	assert_int_equal(kbs_jar_header(&j, h, sizeof(h)), 0);
	assert_string_equal(h, "Cookie: kbs-session-id=0123abcd; aliyungf_tc=xyz");
	/* A new session replaces the old value, keeping the affinity cookie. */
	assert_int_equal(feed(&j, "Set-Cookie: kbs-session-id=ffff\r\n"), 1);
	assert_string_equal(kbs_jar_get(&j, "kbs-session-id"), "ffff");
	assert_int_equal(j.n, 2);
	assert_int_equal(kbs_jar_header(&j, h, sizeof(h)), 0);
	assert_string_equal(h, "Cookie: kbs-session-id=ffff; aliyungf_tc=xyz");
	assert_int_equal(kbs_jar_header(&j, h, 10), -1);
	assert_null(kbs_jar_get(&j, "other"));
}

static void test_proto_names(void **s)
{
	(void)s;
	assert_string_equal(kbs_proto_str(KBS_PROTO_040), "0.4.0");
	assert_int_equal(kbs_proto_parse("0.1.1"), KBS_PROTO_011);
	assert_int_equal((int)kbs_proto_parse("0.3.0"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri_good),    cmocka_unit_test(test_uri_bad),
	    cmocka_unit_test(test_url_join),    cmocka_unit_test(test_cookies),
	    cmocka_unit_test(test_proto_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
