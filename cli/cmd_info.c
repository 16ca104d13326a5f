/* `unseal info`: print gocryptfs.conf like `gocryptfs -info`, no key needed. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/common.h"

static const char *const VERB = "info";

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: unseal info CIPHER_DIR\n"
	        "Print the gocryptfs.conf of CIPHER_DIR like 'gocryptfs -info' (no key needed).\n\n"
	        "  -h, --help  this help\n"
	        "Exit: 0 ok, 1 unreadable or invalid conf, 2 usage.\n");
}

/* FeatureFlags in the order the file lists them, as gocryptfs prints them. */
static void print_flags(const char *json)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *ff = cJSON_GetObjectItemCaseSensitive(root, "FeatureFlags");
	const cJSON *it;
	int first = 1;

	printf("FeatureFlags:      ");
	cJSON_ArrayForEach(it, ff)
	{
		if (cJSON_IsString(it)) {
			printf("%s%s", first ? "" : " ", it->valuestring);
			first = 0;
		}
	}
	printf("\n");
	cJSON_Delete(root);
}

static int run(const char *cdir)
{
	gcfs_conf c;
	char *path, *json;
	size_t len;

	if (cli_need_dir(VERB, cdir) < 0)
		return CLI_EXIT_FAIL;
	/* cli_conf_load validates (unknown flags, version) and prints why. */
	if (cli_conf_load(VERB, cdir, &c) < 0)
		return CLI_EXIT_FAIL;
	if (asprintf(&path, "%s/%s", cdir, GCFS_CONF_NAME) < 0)
		return CLI_EXIT_FAIL;
	if (cli_read_small(AT_FDCWD, path, 64 * 1024, &json, &len) < 0) {
		cli_err(VERB, path, "%s", strerror(errno));
		free(path);
		return CLI_EXIT_FAIL;
	}
	free(path);
	printf("Creator:           %s\n", c.creator);
	print_flags(json);
	free(json);
	printf("EncryptedKey:      %zuB\n", c.encrypted_key_len);
	printf("ScryptObject:      Salt=%zuB N=%llu R=%u P=%u KeyLen=%u\n", c.salt_len,
	       (unsigned long long)c.scrypt_n, c.scrypt_r, c.scrypt_p, c.scrypt_keylen);
	printf("contentEncryption: %s\n",
	       (c.flags & GCFS_F_AESSIV) ? "AES-SIV-512" : "AES-GCM-256");
	return CLI_EXIT_OK;
}

int cli_info_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c != 'h')
			return cli_bad_option(VERB, c, argv, opts);
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc - optind != 1)
		return cli_usage_err(VERB, "usage: need exactly one CIPHER_DIR (got %d arguments)",
		                     argc - optind);
	return run(argv[optind]);
}
