/* util: error lines, server error details, clock, version names and locked secret memory. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"

int kbs_fail(char *err, size_t errlen, int code, const char *step, const char *fmt, ...)
{
	char cause[512];
	va_list ap;

	if (!err || !errlen)
		return code;
	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	/* One line only: a server detail must not smuggle in line breaks. */
	for (char *c = cause; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	snprintf(err, errlen, "unseal: attest: %s: %s", step, cause);
	return code;
}

/* First non-blank line of a non-JSON body (openanolis 0.1.0 sends plain-text
 * 400/413 errors), quoted: printable ASCII only, at most KBS_TEXT_DETAIL_MAX
 * characters, so a hostile or binary body cannot garble the error line. */
static void text_detail(const char *b, size_t len, char *out, size_t cap)
{
	size_t i = 0, n = 0, o = 0;

	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	while (i + n < len && b[i + n] != '\n' && b[i + n] != '\r')
		n++;
	while (n > 0 && (b[i + n - 1] == ' ' || b[i + n - 1] == '\t'))
		n--;
	if (n == 0 || cap < 8) {
		snprintf(out, cap, "non-JSON body (%zu bytes)", len);
		return;
	}
	out[o++] = '"';
	for (size_t k = 0; k < n && k < KBS_TEXT_DETAIL_MAX && o + 5 < cap; k++) {
		unsigned char ch = (unsigned char)b[i + k];

		out[o++] = ch == '\t' ? ' ' : ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (o - 1 < n) { /* cut: say so */
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = 0;
}

void kbs_detail(const kbs_resp *r, char *out, size_t cap)
{
	cJSON *j = r->body && r->len ? cJSON_ParseWithLength(r->body, r->len) : NULL;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "detail");

	if (cap == 0)
		return;
	out[0] = 0;
	if (cJSON_IsString(d))
		snprintf(out, cap, "%s", d->valuestring);
	else if (!cJSON_IsObject(j) && r->len)
		text_detail(r->body, r->len, out, cap);
	/* Keep it one printable line whatever the server sent. */
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	cJSON_Delete(j);
}

double kbs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const proto_names[] = {
    [KBS_PROTO_AUTO] = "auto", [KBS_PROTO_010] = "0.1.0", [KBS_PROTO_011] = "0.1.1",
    [KBS_PROTO_020] = "0.2.0", [KBS_PROTO_040] = "0.4.0",
};

const char *kbs_proto_str(kbs_proto p)
{
	if ((unsigned)p > KBS_PROTO_040)
		return "?";
	return proto_names[p];
}

kbs_proto kbs_proto_parse(const char *s)
{
	if (!s)
		return (kbs_proto)-1;
	for (unsigned i = 0; i <= KBS_PROTO_040; i++)
		if (!strcmp(s, proto_names[i]))
			return (kbs_proto)i;
	return (kbs_proto)-1;
}

/* Whole pages so mlock/madvise apply to nothing but the secret. */
static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

uint8_t *kbs_secure_alloc(size_t n)
{
	size_t sz = page_round(n ? n : 1);
	void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Keep the secret out of core dumps and swap.  mlock may fail under a
	 * tight RLIMIT_MEMLOCK; the secret is still wiped, so carry on. */
	(void)madvise(p, sz, MADV_DONTDUMP);
	(void)mlock(p, sz);
	return p;
}

void kbs_secure_free(uint8_t *p, size_t n)
{
	size_t sz = page_round(n ? n : 1);

	if (!p)
		return;
	OPENSSL_cleanse(p, sz);
	munlock(p, sz);
	munmap(p, sz);
}
