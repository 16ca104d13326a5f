/* The `unseal` command: one entry point per verb, dispatched by cli/main.c. */
#ifndef CLI_H
#define CLI_H

int cli_encrypt_main(int argc, char **argv);
int cli_decrypt_main(int argc, char **argv);
int cli_verify_main(int argc, char **argv);
int cli_info_main(int argc, char **argv);
int cli_run_main(int argc, char **argv);
int cli_attest_main(int argc, char **argv); /* cli/cmd_attest.c, over attest/kbs.h */

#endif
