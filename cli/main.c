/* `unseal`: dispatch to one verb.  Exit codes for every verb: 0 ok,
 * 1 failure (or verification errors), 2 usage error. */
#include <stdio.h>
#include <sys/prctl.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/common.h"

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct verb verbs[] = {
    {"encrypt", cli_encrypt_main, "encrypt a plaintext tree into a new gocryptfs v2 dir"},
    {"decrypt", cli_decrypt_main, "decrypt a gocryptfs v2 cipher dir into a tree"},
    {"verify", cli_verify_main, "authenticate every name, block and symlink"},
    {"info", cli_info_main, "print gocryptfs.conf like 'gocryptfs -info'"},
    {"run", cli_run_main, "run a command with the cipher dir visible via LD_PRELOAD"},
    {"attest", cli_attest_main, "fetch a key from a KBS after attestation"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: unseal VERB [options] ARGS...\n"
	           "Read and write gocryptfs v2 cipher directories without FUSE.\n\nVerbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\n'unseal VERB --help' describes each verb.  Also: --help, --version.\n"
	           "Exit: 0 ok, 1 failure, 2 usage.\n");
}

int main(int argc, char **argv)
{
	/* Passwords and keys live in this process: no core dumps, no ptrace
	 * by other processes of the same user.  exec (unseal run) resets it. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	const char *v = argc > 1 ? argv[1] : NULL;

	if (!v) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(v, "--help") || !strcmp(v, "-h") || !strcmp(v, "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(v, "--version") || !strcmp(v, "-V")) {
		printf("unseal %s (gocryptfs v2 format)\n", CLI_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(v, verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "unseal: %s: unknown verb (see 'unseal --help')\n", v);
	return CLI_EXIT_USAGE;
}
