/* evidence: pick the TEE and build the evidence JSON carrying the binding
 * digest (spec 3.3 / 6).  "auto" never falls back to "sample": a missing
 * TEE must be an error, not a silently unattested key release.  Nor does it
 * pick the /dev/tdx_guest TDREPORT, which is not a signed quote: only an
 * explicit "tdx" sends that, with a warning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "attest/kbs_int.h"

#define TSM_DEFAULT_ROOT "/sys/kernel/config/tsm/report"

int kbs_tee_parse(const char *s, kbs_tee_kind *out)
{
	static const struct {
		const char *name;
		kbs_tee_kind kind;
	} map[] = {{"auto", KBS_TEE_AUTO},
	           {"sample", KBS_TEE_SAMPLE},
	           {"tdx", KBS_TEE_TDX},
	           {"snp", KBS_TEE_SNP},
	           {"tsm", KBS_TEE_TSM}};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (s && !strcmp(s, map[i].name)) {
			*out = map[i].kind;
			return 0;
		}
	return -1;
}

/* Probe configfs-tsm: 1 = tdx_guest, 2 = sev_guest, 0 = none/other. */
static int tsm_probe(const char *root)
{
	char prov[64];
	struct stat st;

	if (stat(root, &st) || !S_ISDIR(st.st_mode) || kbs_tsm_provider(root, prov, sizeof(prov)))
		return 0;
	if (!strcmp(prov, "tdx_guest"))
		return 1;
	if (!strcmp(prov, "sev_guest"))
		return 2;
	return 0;
}

static int use_tsm(kbs_tee *t, int probe)
{
	t->kind = KBS_TEE_TSM;
	t->tsm_snp = probe == 2;
	t->name = probe == 2 ? "snp" : "tdx";
	return KBS_OK;
}

const char *kbs_tee_caveat(const kbs_tee *t)
{
	if (!t || !t->unsigned_report)
		return NULL;
	return "the evidence was an unsigned TDREPORT from /dev/tdx_guest, not a signed quote, "
	       "which a KBS cannot verify; a configfs-tsm quote provider is needed";
}

static int use_tdx_report(kbs_tee *t)
{
	t->kind = KBS_TEE_TDX;
	t->name = "tdx";
	t->unsigned_report = 1;
	return KBS_OK;
}

int kbs_tee_resolve(const char *want, const char *tsm_root, kbs_tee *t, char *cause,
                    size_t causelen)
{
	kbs_tee_kind k;
	int probe, dev;

	memset(t, 0, sizeof(*t));
	if (!want || !*want)
		want = getenv("UNSEAL_TEE");
	if (!want || !*want)
		want = "auto";
	if (!tsm_root || !*tsm_root)
		tsm_root = getenv("UNSEAL_TSM_ROOT");
	if (!tsm_root || !*tsm_root)
		tsm_root = TSM_DEFAULT_ROOT;
	snprintf(t->tsm_root, sizeof(t->tsm_root), "%s", tsm_root);
	if (kbs_tee_parse(want, &k)) {
		snprintf(cause, causelen, "unknown TEE '%s' (auto|sample|tdx|snp|tsm)", want);
		return KBS_E_USAGE;
	}
	if (k == KBS_TEE_SAMPLE) {
		t->kind = KBS_TEE_SAMPLE;
		t->name = "sample";
		return KBS_OK;
	}
	probe = tsm_probe(tsm_root);
	if ((k == KBS_TEE_AUTO || k == KBS_TEE_TSM) && probe)
		return use_tsm(t, probe);
	if ((k == KBS_TEE_TDX && probe == 1) || (k == KBS_TEE_SNP && probe == 2))
		return use_tsm(t, probe);
	dev = !access(kbs_tdx_guest_dev, R_OK | W_OK);
	if (k == KBS_TEE_TDX && dev)
		return use_tdx_report(t);
	if (k == KBS_TEE_AUTO && dev)
		snprintf(cause, causelen,
		         "no TEE quote source: no configfs-tsm provider at %s, and %s gives only "
		         "an unsigned TDREPORT, which a KBS cannot verify (--tee tdx / "
		         "UNSEAL_TEE=tdx sends it anyway)",
		         tsm_root, kbs_tdx_guest_dev);
	else if (k == KBS_TEE_AUTO)
		snprintf(cause, causelen, "no TEE found; set UNSEAL_TEE=sample for development");
	else
		snprintf(cause, causelen,
		         "TEE '%s' not available (no configfs-tsm provider at %s%s%s)", want,
		         tsm_root, k == KBS_TEE_TDX ? " and no " : "",
		         k == KBS_TEE_TDX ? kbs_tdx_guest_dev : "");
	return KBS_E_EVIDENCE;
}

cJSON *kbs_evidence_sample(const uint8_t *digest, size_t dlen)
{
	/* The sample verifier compares the decoded bytes with the bare
	 * digest: no zero padding here (unlike TDX/SNP REPORTDATA). */
	char *rd = kbs_b64std(digest, dlen);
	cJSON *e = cJSON_CreateObject();

	if (!rd || !e || !cJSON_AddStringToObject(e, "svn", "1") ||
	    !cJSON_AddStringToObject(e, "report_data", rd)) {
		cJSON_Delete(e);
		e = NULL;
	}
	free(rd);
	return e;
}

/* {"quote": b64std(quote)}; cc_eventlog is omitted: optional for every
 * verifier version, and the CCEL table can exceed server body limits. */
static cJSON *tdx_evidence(const uint8_t *quote, size_t qlen)
{
	char *q = kbs_b64std(quote, qlen);
	cJSON *e = cJSON_CreateObject();

	if (!q || !e || !cJSON_AddStringToObject(e, "quote", q)) {
		cJSON_Delete(e);
		e = NULL;
	}
	free(q);
	return e;
}

int kbs_evidence(const kbs_tee *t, const uint8_t *digest, size_t dlen, cJSON **out, char *cause,
                 size_t causelen)
{
	uint8_t rd[KBS_REPORTDATA_LEN] = {0}, *q = NULL;
	char prov[64];
	size_t qlen = 0;
	int rc;

	*out = NULL;
	if (t->kind == KBS_TEE_SAMPLE) {
		*out = kbs_evidence_sample(digest, dlen);
		goto done;
	}
	/* Hardware REPORTDATA: digest then zeros up to 64 bytes. */
	memcpy(rd, digest, dlen < sizeof(rd) ? dlen : sizeof(rd));
	if (t->kind == KBS_TEE_TSM)
		rc = kbs_tsm_quote(t->tsm_root, rd, &q, &qlen, prov, sizeof(prov), cause, causelen);
	else
		rc = kbs_tdx_report(rd, &q, &qlen, cause, causelen);
	if (rc)
		return KBS_E_EVIDENCE;
	if (t->kind == KBS_TEE_TSM && strcmp(prov, t->tsm_snp ? "sev_guest" : "tdx_guest")) {
		snprintf(cause, causelen, "tsm: provider changed to '%s'", prov);
		free(q);
		return KBS_E_EVIDENCE;
	}
	if (t->tsm_snp) {
		/* The snp verifier wants the sev crate's serde rendering of
		 * the report (spec 6.3); not implemented. */
		snprintf(cause, causelen, "snp: evidence encoding not implemented");
		free(q);
		return KBS_E_EVIDENCE;
	}
	*out = tdx_evidence(q, qlen);
	free(q);
done:
	if (!*out) {
		snprintf(cause, causelen, "out of memory");
		return KBS_E_EVIDENCE;
	}
	return KBS_OK;
}
