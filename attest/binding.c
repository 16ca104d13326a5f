/* binding: the runtime-data digest the evidence carries (spec 3.3).
 *
 * The server hashes canonical JSON rebuilt from its own parsed values:
 * compact, keys sorted at every level, minimal string escaping.  For the
 * ASCII strings we hash this equals RFC 8785; cJSON's printer already does
 * the compact form and minimal escaping, so we only sort. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"

static int key_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	/* Byte order of UTF-8 = code point order; equal to JCS's UTF-16
	 * order for every key below U+E000, i.e. all keys KBS uses. */
	return strcmp(x->string, y->string);
}

/* Re-link the children of obj in sorted key order, recursively. */
static int sort_tree(cJSON *v)
{
	cJSON **arr, *c;
	size_t n = 0, i;

	for (c = v->child; c; c = c->next)
		if (sort_tree(c))
			return -1;
	if (!cJSON_IsObject(v) || !v->child)
		return 0;
	for (c = v->child; c; c = c->next)
		n++;
	arr = malloc(n * sizeof(*arr));
	if (!arr)
		return -1;
	for (i = 0, c = v->child; c; c = c->next)
		arr[i++] = c;
	qsort(arr, n, sizeof(*arr), key_cmp);
	for (i = 0; i < n; i++) {
		arr[i]->prev = i ? arr[i - 1] : arr[n - 1]; /* cJSON: head->prev = tail */
		arr[i]->next = i + 1 < n ? arr[i + 1] : NULL;
	}
	v->child = arr[0];
	free(arr);
	return 0;
}

char *kbs_canon_json(const cJSON *v)
{
	cJSON *dup = cJSON_Duplicate(v, 1);
	char *s = NULL;

	if (dup && !sort_tree(dup))
		s = cJSON_PrintUnformatted(dup);
	cJSON_Delete(dup);
	return s;
}

cJSON *kbs_binding_material(kbs_proto p, const char *nonce, const cJSON *jwk,
                            const char *additional)
{
	cJSON *m = cJSON_CreateObject(), *k = cJSON_Duplicate(jwk, 1);

	if (!m || !k || !cJSON_AddStringToObject(m, "nonce", nonce))
		goto fail;
	cJSON_AddItemToObject(m, "tee-pubkey", k);
	k = NULL;
	/* P4 binds the additional evidence string exactly as sent. */
	if (p == KBS_PROTO_040 &&
	    !cJSON_AddStringToObject(m, "additional-evidence", additional ? additional : ""))
		goto fail;
	return m;
fail:
	cJSON_Delete(k);
	cJSON_Delete(m);
	return NULL;
}

static const EVP_MD *md_sm3(void)
{
	return EVP_get_digestbyname("SM3"); /* NULL where this OpenSSL lacks it */
}

/* The binding hashes spec 2 names, and their digests. */
static const struct {
	const char *name;
	const EVP_MD *(*md)(void);
} hashes[] = {
    {"sha256", EVP_sha256},
    {"sha384", EVP_sha384},
    {"sha512", EVP_sha512},
    {"sm3", md_sm3},
};

/* Index in hashes[] of name (any case), or -1. */
static int hash_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (!strcasecmp(name, hashes[i].name))
			return (int)i;
	return -1;
}

const char *kbs_hash_pick(const char *selected)
{
	int i = hash_find(selected);

	return i < 0 ? "sha384" : hashes[i].name; /* absent, "" or unknown: the default */
}

static const EVP_MD *hash_md(const char *hash)
{
	int i = hash_find(hash && *hash ? hash : "sha384");

	return i < 0 ? NULL : hashes[i].md();
}

int kbs_binding_digest(kbs_proto p, const char *nonce, const cJSON *jwk, const char *additional,
                       const char *hash, uint8_t out[KBS_DIGEST_MAX], size_t *outlen)
{
	const EVP_MD *md = hash_md(hash);
	cJSON *m;
	char *s;
	unsigned int n = 0;
	int ok;

	if (!md)
		return -1;
	m = kbs_binding_material(p, nonce, jwk, additional);
	s = m ? kbs_canon_json(m) : NULL;
	cJSON_Delete(m);
	if (!s)
		return -1;
	ok = EVP_Digest(s, strlen(s), out, &n, md, NULL);
	free(s);
	if (!ok || n > KBS_DIGEST_MAX)
		return -1;
	*outlen = n;
	return 0;
}

char *kbs_b64std(const uint8_t *in, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, in, (int)n);
	return s;
}
