/* Placeholder until the KBS client lands: `unseal attest` is not built yet. */
#include <stdio.h>
#include "cli/cli.h"

int cli_attest_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "unseal: attest: not implemented yet\n");
	return 2;
}
