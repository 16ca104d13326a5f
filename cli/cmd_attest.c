/* `unseal attest`: run the KBS handshake once and report what came back.
 *
 * The secret itself goes to stdout only with --reveal (raw bytes, nothing
 * else on stdout then); otherwise we print its length and SHA-256 so a user
 * can check it against what was stored without exposing it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "attest/kbs.h"
#include "cli/cli.h"
#include "cli/common.h"

static const char usage_text[] =
    "Usage: unseal attest --kbs-url URL --key-uri URI [options]\n"
    "Fetch a resource from a Trustee KBS after remote attestation.\n\n"
    "  --kbs-url URL      KBS base URL, e.g. http://host/trustee ($UNSEAL_KBS_URL;\n"
    "                     default: http://host:port from a kbs://host:port/ URI)\n"
    "  --key-uri URI      kbs:///repo/type/tag ($UNSEAL_KEY_URI)\n"
    "  --tee T            auto|sample|tdx|snp|tsm ($UNSEAL_TEE, default auto;\n"
    "                     configfs-tsm root $UNSEAL_TSM_ROOT)\n"
    "  --protocol V       auto|0.1.0|0.1.1|0.2.0|0.4.0 (default auto: negotiate;\n"
    "                     a version is a strict pin, only it is offered)\n"
    "  --timeout S        total deadline in seconds ($UNSEAL_KBS_TIMEOUT, default 60)\n"
    "  --cacert F         CA file for https ($UNSEAL_KBS_CAFILE)\n"
    "  --key-type T       rsa|ec: ephemeral key offered to 0.2.0+ servers\n"
    "                     ($UNSEAL_KBS_KEY, default rsa; 0.1.x always uses rsa)\n"
    "  --json             one JSON object on stdout\n"
    "  --reveal           write the secret (raw bytes) to stdout; summary to stderr\n"
    "  -h, --help         this text\n\n"
    "Exit codes: 0 ok, 1 --reveal could not write, 2 usage/configuration,\n"
    "3 network/deadline, 4 protocol, 5 attestation refused, 6 resource missing,\n"
    "7 decryption failed, 8 evidence/TEE unavailable.\n";

typedef struct attest_opts {
	kbs_config cfg;
	int json, reveal;
} attest_opts;

static int parse_proto(const char *s, kbs_proto *p)
{
	static const char *const names[] = {"auto", "0.1.0", "0.1.1", "0.2.0", "0.4.0"};

	for (int i = 0; i < 5; i++)
		if (!strcmp(s, names[i])) {
			*p = (kbs_proto)i;
			return 0;
		}
	return -1;
}

static int parse_args(int argc, char **argv, attest_opts *o)
{
	static const struct option lo[] = {
	    {"kbs-url", required_argument, NULL, 'u'},
	    {"key-uri", required_argument, NULL, 'k'},
	    {"tee", required_argument, NULL, 't'},
	    {"protocol", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"cacert", required_argument, NULL, 'c'},
	    {"key-type", required_argument, NULL, 'K'},
	    {"json", no_argument, NULL, 'j'},
	    {"reveal", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->cfg.url = optarg;
			break;
		case 'k':
			o->cfg.key_uri = optarg;
			break;
		case 't':
			o->cfg.tee = optarg;
			break;
		case 'c':
			o->cfg.cafile = optarg;
			break;
		case 'K':
			if (strcmp(optarg, "rsa") && strcmp(optarg, "ec"))
				return cli_usage_err("attest", "--key-type: rsa or ec, not '%s'",
				                     optarg);
			o->cfg.key_type = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'r':
			o->reveal = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'p':
			if (parse_proto(optarg, &o->cfg.proto))
				return cli_usage_err(
				    "attest",
				    "--protocol: auto, 0.1.0, 0.1.1, 0.2.0 or 0.4.0, not '%s'",
				    optarg);
			break;
		case 'T':
			o->cfg.timeout_s = strtod(optarg, &end);
			if (*end || !(o->cfg.timeout_s > 0) || o->cfg.timeout_s > 86400)
				return cli_usage_err("attest", "--timeout: seconds > 0, not '%s'",
				                     optarg);
			break;
		default:
			return cli_bad_option("attest", c, argv, lo);
		}
	}
	if (optind < argc)
		return cli_usage_err("attest", "usage: unexpected argument '%s'", argv[optind]);
	if (!o->cfg.key_uri && !getenv("UNSEAL_KEY_URI"))
		return cli_usage_err("attest", "usage: --key-uri is required");
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
	uint8_t d[32];
	unsigned int dl = 0;

	out[0] = 0;
	if (!EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL) || dl != 32)
		return;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int report(const attest_opts *o, const kbs_result *r, double secs)
{
	FILE *f = o->reveal ? stderr : stdout;
	char hex[65];

	sha256_hex(r->secret, r->secret_len, hex);
	if (o->json)
		fprintf(f,
		        "{\"protocol\":\"%s\",\"tee\":\"%s\",\"length\":%zu,\"sha256\":\"%s\","
		        "\"time_s\":%.3f,\"auth_calls\":%d,\"attest_calls\":%d}\n",
		        r->proto, r->tee, r->secret_len, hex, secs, r->auth_calls, r->attest_calls);
	else
		fprintf(f,
		        "protocol: %s\ntee: %s\nlength: %zu\nsha256: %s\ntime: %.3f s\n"
		        "handshake: %d auth, %d attest\n",
		        r->proto, r->tee, r->secret_len, hex, secs, r->auth_calls, r->attest_calls);
	if (o->reveal && cli_write_all(STDOUT_FILENO, r->secret, r->secret_len) < 0) {
		cli_err("attest", "stdout", "%s", strerror(errno));
		return 1;
	}
	return 0;
}

int cli_attest_main(int argc, char **argv)
{
	attest_opts o;
	kbs_result r;
	char err[768];
	double t0 = now_s();
	int rc;

	memset(&o, 0, sizeof(o));
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = kbs_fetch(&o.cfg, &r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err[0] ? err : "unseal: attest: fetch: failed");
		return rc;
	}
	if (err[0]) /* a warning, e.g. unsigned TDREPORT evidence */
		fprintf(stderr, "%s\n", err);
	fflush(stdout);
	rc = report(&o, &r, now_s() - t0);
	kbs_secret_free(&r);
	return rc;
}
