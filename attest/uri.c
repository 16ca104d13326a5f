/* uri: kbs:// resource URIs and KBS endpoint URLs. */
#include <stdio.h>
#include <string.h>
#include "attest/kbs_int.h"

/* [A-Za-z0-9_-][A-Za-z0-9_.-]*, the upstream resource path rule; it
 * already excludes "." and "..", checked explicitly for clarity. */
static int seg_ok(const char *s, size_t n)
{
	if (n == 0 || n >= KBS_SEG_MAX)
		return 0;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '_' || c == '-';

		if (!alnum && !(i > 0 && c == '.'))
			return 0;
	}
	return 1;
}

static int uri_err(char *cause, size_t causelen, const char *why)
{
	if (cause && causelen)
		snprintf(cause, causelen, "%s", why);
	return -1;
}

int kbs_uri_parse(const char *s, kbs_uri *out, char *cause, size_t causelen)
{
	static const char scheme[] = "kbs://";
	const char *p, *slash;
	size_t hl, nseg = 0;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return uri_err(cause, causelen, "empty key URI");
	if (strncmp(s, scheme, sizeof(scheme) - 1))
		return uri_err(cause, causelen, "key URI must start with kbs://");
	p = s + sizeof(scheme) - 1;
	slash = strchr(p, '/');
	if (!slash)
		return uri_err(cause, causelen, "key URI has no /repo/type/tag path");
	hl = (size_t)(slash - p);
	if (hl >= sizeof(out->host))
		return uri_err(cause, causelen, "key URI host too long");
	for (size_t i = 0; i < hl; i++)
		if (p[i] == '@' || p[i] == '?' || p[i] == '#' || p[i] == ' ')
			return uri_err(cause, causelen, "key URI host is malformed");
	memcpy(out->host, p, hl);
	p = slash + 1;
	if (strpbrk(p, "?#"))
		return uri_err(cause, causelen, "key URI must not carry a query or fragment");
	while (1) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (!seg_ok(p, n))
			return uri_err(cause, causelen,
			               "key URI segment is empty, '.'/'..' or has bad characters");
		if (++nseg > 3)
			break;
		if (!e)
			break;
		p = e + 1;
	}
	if (nseg != 3)
		return uri_err(cause, causelen, "key URI needs exactly repo/type/tag");
	snprintf(out->path, sizeof(out->path), "%s", slash + 1);
	return 0;
}

int kbs_url_join(const char *base, const char *endpoint, char *out, size_t cap)
{
	size_t bl;
	int n;

	if (!base || !endpoint)
		return -1;
	/* guest-components concatenates, so "http://h/" would give //kbs. */
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if (bl == 0)
		return -1;
	n = snprintf(out, cap, "%.*s/kbs/v0/%s", (int)bl, base, endpoint);
	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}
