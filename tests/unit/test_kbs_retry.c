/* KBS client pieces that need no server: the backoff schedule, the
 * per-attempt timeout, and the error detail taken from a server's answer
 * (JSON "detail", or the sanitised first line of a plain-text body). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "attest/kbs_int.h"

static void test_backoff_schedule(void **s)
{
	static const double want[] = {0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0};
	double b = KBS_BACKOFF_START_S;

	(void)s;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(b > want[i] - 1e-9 && b < want[i] + 1e-9);
		b = kbs_backoff_next(b);
	}
}

static void test_attempt_timeout(void **s)
{
	(void)s;
	/* Little left: all of it.  More: half, within [10, 30] s. */
	assert_true(kbs_attempt_timeout(5.0) == 5.0);
	assert_true(kbs_attempt_timeout(20.0) == 20.0);
	assert_true(kbs_attempt_timeout(24.0) == 12.0);
	assert_true(kbs_attempt_timeout(60.0) == 30.0);
	assert_true(kbs_attempt_timeout(300.0) == 30.0);
}

static const char *detail_of(int status, const char *body, size_t len)
{
	static char out[KBS_DETAIL_MAX];
	char *copy = malloc(len + 1);
	kbs_resp r = {status, copy, len};

	memcpy(copy, body, len);
	copy[len] = 0;
	kbs_detail(&r, out, sizeof(out));
	free(copy);
	return out;
}

#define DETAIL(st, lit) detail_of(st, lit, sizeof(lit) - 1)

static void test_detail_json(void **s)
{
	(void)s;
	assert_string_equal(DETAIL(401, "{\"type\":\"x\",\"detail\":\"The cookie is expired\"}"),
	                    "The cookie is expired");
	/* One line whatever the server sent. */
	assert_string_equal(DETAIL(401, "{\"detail\":\"a\\nb\\tc\"}"), "a b c");
	/* JSON object without a detail: nothing to add. */
	assert_string_equal(DETAIL(500, "{\"error\":\"x\"}"), "");
	assert_string_equal(DETAIL(404, ""), "");
}

static void test_detail_text(void **s)
{
	char big[1000];
	const char *d;

	(void)s;
	/* openanolis 0.1.0 plain-text 400/413: the first line, quoted. */
	assert_string_equal(DETAIL(400, "Content type error"), "\"Content type error\"");
	assert_string_equal(DETAIL(413, "JSON payload (3000 bytes) is larger than allowed "
	                                "(limit: 2048 bytes)."),
	                    "\"JSON payload (3000 bytes) is larger than allowed (limit: 2048 "
	                    "bytes).\"");
	assert_string_equal(DETAIL(400, "\r\n  first line  \r\nsecond line\n"), "\"first line\"");
	/* Printable ASCII only: control bytes, UTF-8 and NUL become '?'. */
	assert_string_equal(DETAIL(400, "bad\x01\x7f \xc3\xa9\ttab\0nul"), "\"bad?? ?? tab?nul\"");
	/* JSON that is not an object is shown as text too. */
	assert_string_equal(DETAIL(400, "[1,2]"), "\"[1,2]\"");
	/* Blank body: its size. */
	assert_string_equal(DETAIL(502, " \r\n \n"), "non-JSON body (5 bytes)");
	/* Bounded: 200 characters, then "...". */
	memset(big, 'x', sizeof(big));
	d = detail_of(400, big, sizeof(big));
	assert_int_equal(strlen(d), KBS_TEXT_DETAIL_MAX + 5);
	assert_int_equal(d[0], '"');
	assert_string_equal(d + 1 + KBS_TEXT_DETAIL_MAX, "...\"");
	/* Exactly 200: no "...". */
	d = detail_of(400, big, KBS_TEXT_DETAIL_MAX);
	assert_int_equal(strlen(d), KBS_TEXT_DETAIL_MAX + 2);
}

static void test_detail_small_buffer(void **s)
{
	char out[12];
	kbs_resp r = {400, (char *)"a long plain text line", 22};

	(void)s;
	kbs_detail(&r, out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	assert_int_equal(out[0], '"');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff_schedule),    cmocka_unit_test(test_attempt_timeout),
	    cmocka_unit_test(test_detail_json),         cmocka_unit_test(test_detail_text),
	    cmocka_unit_test(test_detail_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
