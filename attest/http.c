/* http: one libcurl easy handle per handshake, an explicit cookie jar and a
 * hard deadline.  We do not use curl's cookie engine: it honours Expires
 * against the local clock, and a guest clock running ahead would silently
 * drop the KBS session (spec section 1). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"

struct kbs_http {
	CURL *curl;
	kbs_jar jar;
	char *cafile;
	char *bearer;
	double deadline; /* kbs_now() value after which nothing is sent */
	/* per-request receive buffer */
	char *buf;
	size_t len;
	int too_large;
};

/* ---- cookie jar ---- */

static size_t trim_len(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

const char *kbs_jar_get(const kbs_jar *j, const char *name)
{
	for (int i = 0; i < j->n; i++)
		if (!strcmp(j->name[i], name))
			return j->value[i];
	return NULL;
}

static int jar_put(kbs_jar *j, const char *name, size_t nl, const char *val, size_t vl)
{
	int i;

	if (nl == 0 || nl >= KBS_COOKIE_NAME_MAX || vl >= KBS_COOKIE_VAL_MAX)
		return 0;
	for (i = 0; i < j->n; i++)
		if (strlen(j->name[i]) == nl && !memcmp(j->name[i], name, nl))
			break;
	if (i == j->n) {
		if (j->n == KBS_COOKIE_MAX)
			return 0;
		j->n++;
	}
	memcpy(j->name[i], name, nl);
	j->name[i][nl] = 0;
	memcpy(j->value[i], val, vl);
	j->value[i][vl] = 0;
	return 1;
}

int kbs_jar_feed(kbs_jar *j, const char *line, size_t len)
{
	static const char hdr[] = "set-cookie:";
	const size_t hl = sizeof(hdr) - 1;
	const char *p, *end, *eq, *semi;

	if (len < hl || strncasecmp(line, hdr, hl))
		return 0;
	p = line + hl;
	end = line + trim_len(line, len);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	/* name=value up to the first ';'; Expires/Path/etc. are ignored. */
	semi = memchr(p, ';', (size_t)(end - p));
	if (semi)
		end = semi;
	eq = memchr(p, '=', (size_t)(end - p));
	if (!eq)
		return 0;
	{
		size_t nl = trim_len(p, (size_t)(eq - p));
		const char *v = eq + 1;

		while (v < end && *v == ' ')
			v++;
		return jar_put(j, p, nl, v, trim_len(v, (size_t)(end - v)));
	}
}

int kbs_jar_header(const kbs_jar *j, char *out, size_t cap)
{
	size_t off = 0;

	if (cap == 0)
		return -1;
	out[0] = 0;
	for (int i = 0; i < j->n; i++) {
		int n = snprintf(out + off, cap - off, "%s%s=%s", i ? "; " : "Cookie: ", j->name[i],
		                 j->value[i]);

		if (n < 0 || (size_t)n >= cap - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* ---- curl callbacks ---- */

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	kbs_http *h = ud;
	size_t n = size * nmemb;

	kbs_jar_feed(&h->jar, data, n);
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	kbs_http *h = ud;
	size_t n = size * nmemb;
	char *nb;

	if (h->len + n > KBS_BODY_MAX) {
		h->too_large = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	nb = realloc(h->buf, h->len + n + 1);
	if (!nb)
		return 0;
	h->buf = nb;
	memcpy(h->buf + h->len, data, n);
	h->len += n;
	h->buf[h->len] = 0;
	return n;
}

/* ---- handle ---- */

kbs_http *kbs_http_new(const char *cafile, double deadline)
{
	kbs_http *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->curl = curl_easy_init();
	h->deadline = deadline;
	if (cafile)
		h->cafile = strdup(cafile);
	if (!h->curl || (cafile && !h->cafile)) {
		kbs_http_free(h);
		return NULL;
	}
	return h;
}

void kbs_http_free(kbs_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->cafile);
	if (h->bearer) {
		OPENSSL_cleanse(h->bearer, strlen(h->bearer));
		free(h->bearer);
	}
	free(h->buf);
	OPENSSL_cleanse(&h->jar, sizeof(h->jar));
	free(h);
}

kbs_jar *kbs_http_jar(kbs_http *h)
{
	return &h->jar;
}

void kbs_http_set_bearer(kbs_http *h, const char *token)
{
	if (h->bearer) {
		OPENSSL_cleanse(h->bearer, strlen(h->bearer));
		free(h->bearer);
	}
	h->bearer = token ? strdup(token) : NULL;
}

void kbs_resp_free(kbs_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

double kbs_attempt_timeout(double left)
{
	double t = left / 2;

	if (left <= 2 * KBS_ATTEMPT_MIN_S)
		return left;
	return t < KBS_ATTEMPT_MIN_S   ? KBS_ATTEMPT_MIN_S
	       : t > KBS_ATTEMPT_MAX_S ? KBS_ATTEMPT_MAX_S
	                               : t;
}

/* Errors worth another attempt: the server or path was momentarily away. */
static int transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static struct curl_slist *build_headers(kbs_http *h, int post, int *ok)
{
	struct curl_slist *l = NULL, *t;
	char line[KBS_COOKIE_MAX * (KBS_COOKIE_NAME_MAX + KBS_COOKIE_VAL_MAX + 3) + 16];

	*ok = 0;
	if (post && !(l = curl_slist_append(l, "Content-Type: application/json")))
		return NULL;
	if (!(t = curl_slist_append(l, "Accept: application/json")))
		goto fail;
	l = t;
	if (kbs_jar_header(&h->jar, line, sizeof(line)))
		goto fail;
	if (line[0]) {
		if (!(t = curl_slist_append(l, line)))
			goto fail;
		l = t;
	}
	if (!post && h->bearer) {
		/* Passport fallback: a KBS trusting its own tokens accepts it
		 * when the cookie session lives on another replica. */
		snprintf(line, sizeof(line), "Authorization: Bearer %s", h->bearer);
		t = curl_slist_append(l, line);
		OPENSSL_cleanse(line, sizeof(line));
		if (!t)
			goto fail;
		l = t;
	}
	*ok = 1;
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

static void setup(kbs_http *h, const char *url, const char *body, struct curl_slist *hd,
                  long timeout_ms)
{
	CURL *c = h->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* we may run in a host process */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KBS_BODY_MAX);
	if (h->cafile)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cafile);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
}

int kbs_http_do(kbs_http *h, const char *url, const char *body, kbs_resp *r, char *cause,
                size_t causelen)
{
	double left = h->deadline - kbs_now();
	struct curl_slist *hd;
	CURLcode rc;
	int ok;

	memset(r, 0, sizeof(*r));
	if (left <= 0.001) {
		snprintf(cause, causelen, "deadline reached");
		return KBS_T_TRANSIENT; /* the caller's loop sees the deadline */
	}
	hd = build_headers(h, body != NULL, &ok);
	if (!ok) {
		snprintf(cause, causelen, "out of memory");
		return KBS_T_FATAL;
	}
	free(h->buf);
	h->buf = NULL;
	h->len = 0;
	h->too_large = 0;
	setup(h, url, body, hd, (long)(kbs_attempt_timeout(left) * 1000.0) + 1);
	rc = curl_easy_perform(h->curl);
	curl_slist_free_all(hd);
	if (h->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(cause, causelen, "response too large (over %u bytes)", KBS_BODY_MAX);
		return KBS_T_TOOBIG;
	}
	if (rc != CURLE_OK) {
		snprintf(cause, causelen, "%s", curl_easy_strerror(rc));
		return transient(rc) ? KBS_T_TRANSIENT : KBS_T_FATAL;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = h->buf ? h->buf : calloc(1, 1);
	r->len = h->len;
	h->buf = NULL;
	h->len = 0;
	if (!r->body) {
		snprintf(cause, causelen, "out of memory");
		return KBS_T_FATAL;
	}
	return KBS_T_OK;
}
