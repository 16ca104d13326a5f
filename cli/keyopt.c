/* Key options: --passfile, --masterkey-file, the terminal/stdin prompt, and
 * the unlock chain gocryptfs.conf -> master key -> derived keys.  Secrets
 * only ever live in buffers that are wiped before they are released. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli/common.h"

#define PASSFILE_MAX (64 * 1024)
#define MASTERKEY_FILE_MAX 4096

/* Read up to the first '\n' (not stored) from fd.  Reads byte by byte so
 * nothing after the line is consumed.  Returns the length or -1. */
static long read_line(int fd, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		uint8_t c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || c == '\n')
			break;
		if (n == cap) {
			errno = E2BIG;
			return -1;
		}
		buf[n++] = c;
	}
	return (long)n;
}

/* One prompt on the terminal with echo off. */
static long tty_prompt(const char *prompt, uint8_t *buf, size_t cap)
{
	struct termios old, quiet;
	long n;
	int have_tio = tcgetattr(STDIN_FILENO, &old) == 0;

	/* Echo off before the prompt shows, and TCSANOW: whatever is typed
	 * once the prompt is visible must not be flushed away. */
	if (have_tio) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	}
	fputs(prompt, stderr);
	fflush(stderr);
	n = read_line(STDIN_FILENO, buf, cap);
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return n;
}

long cli_read_password(const char *verb, int confirm, uint8_t *pw, size_t cap)
{
	long n;

	if (!isatty(STDIN_FILENO)) {
		n = read_line(STDIN_FILENO, pw, cap);
		if (n < 0) {
			cli_err(verb, "stdin", "cannot read password: %s", strerror(errno));
			return -1;
		}
	} else {
		uint8_t *again = malloc(cap);
		long m;

		if (!again)
			return -1;
		n = tty_prompt("Password: ", pw, cap);
		m = (n > 0 && confirm) ? tty_prompt("Repeat: ", again, cap) : n;
		if (n > 0 && confirm && (m != n || gcfs_ct_memcmp(pw, again, (size_t)n))) {
			gcfs_wipe(again, cap);
			free(again);
			gcfs_wipe(pw, cap);
			cli_err(verb, "password", "passwords do not match");
			return -1;
		}
		gcfs_wipe(again, cap);
		free(again);
		if (n < 0) {
			cli_err(verb, "terminal", "cannot read password: %s", strerror(errno));
			return -1;
		}
	}
	if (n == 0) {
		cli_err(verb, "password", "empty password");
		return -1;
	}
	return n;
}

long cli_get_password(const char *verb, const char *passfile, int confirm, uint8_t *pw, size_t cap)
{
	char *buf;
	size_t len;
	long n;

	if (!passfile)
		return cli_read_password(verb, confirm, pw, cap);
	if (cli_read_small(AT_FDCWD, passfile, PASSFILE_MAX, &buf, &len) < 0) {
		cli_err(verb, passfile, "%s", strerror(errno));
		return -1;
	}
	/* gocryptfs semantics: the first line, without its '\n'. */
	n = gcfs_passfile_first_line((const uint8_t *)buf, len);
	if (n < 0)
		cli_err(verb, passfile, "empty password");
	else if ((size_t)n > cap)
		cli_err(verb, passfile, "password longer than %zu bytes", cap);
	else
		memcpy(pw, buf, (size_t)n);
	gcfs_wipe(buf, len);
	free(buf);
	return (n < 0 || (size_t)n > cap) ? -1 : n;
}

int cli_read_masterkey(const char *verb, const char *file, uint8_t master[GCFS_KEY_LEN])
{
	char *buf;
	size_t len;
	int rc;

	if (cli_read_small(AT_FDCWD, file, MASTERKEY_FILE_MAX, &buf, &len) < 0) {
		cli_err(verb, file, "%s", strerror(errno));
		return -1;
	}
	rc = gcfs_masterkey_parse(buf, len, master);
	gcfs_wipe(buf, len);
	free(buf);
	if (rc < 0) {
		cli_err(verb, file, "not a master key (64 hex digits, dashes allowed)");
		return -1;
	}
	return 0;
}

void cli_say_engine(const char *verb, const gcfs_keys *k)
{
	const char *asked = getenv("UNSEAL_CRYPTO");

	fprintf(stderr, "unseal: %s: content cipher: %s by %s (UNSEAL_CRYPTO=%s)\n", verb,
	        (gcfs_keys_flags(k) & GCFS_F_AESSIV) ? "AES-SIV-512" : "AES-GCM-256",
	        gcfs_engine_name(gcfs_keys_engine(k)), asked && *asked ? asked : "auto");
}

int cli_engine_from_env(const char *verb, gcfs_engine *e)
{
	const char *s = getenv("UNSEAL_CRYPTO");

	if (s && !*s)
		s = NULL;
	if (gcfs_engine_parse(s, e) < 0) {
		cli_err(verb, "UNSEAL_CRYPTO", "unknown engine '%s' (openssl, ipsec-mb, auto)", s);
		return -1;
	}
	return 0;
}

int cli_conf_load(const char *verb, const char *cipherdir, gcfs_conf *conf)
{
	char err[GCFS_ERRBUF] = "";
	char *path, *json;
	size_t len;
	int rc;

	if (asprintf(&path, "%s/%s", cipherdir, GCFS_CONF_NAME) < 0)
		return -1;
	if (cli_read_small(AT_FDCWD, path, 64 * 1024, &json, &len) < 0) {
		cli_err(verb, path, "%s", strerror(errno));
		free(path);
		return -1;
	}
	rc = gcfs_conf_parse(json, len, conf, err, sizeof(err));
	free(json);
	if (rc < 0)
		cli_err(verb, path, "%s", *err ? err : gcfs_strerror(rc));
	free(path);
	return rc < 0 ? -1 : 0;
}

/* Master key from the key options: a master key file, or a password that
 * unwraps the conf's EncryptedKey. */
static int get_master(const char *verb, const char *cipherdir, const cli_keyopt *ko,
                      const gcfs_conf *conf, uint8_t master[GCFS_KEY_LEN])
{
	char err[GCFS_ERRBUF] = "";
	uint8_t pw[CLI_PW_MAX];
	long n;
	int rc;

	if (ko->masterkey_file)
		return cli_read_masterkey(verb, ko->masterkey_file, master);
	n = cli_get_password(verb, ko->passfile, 0, pw, sizeof(pw));
	if (n < 0)
		return -1;
	rc = gcfs_conf_unwrap(conf, pw, (size_t)n, master, err, sizeof(err));
	gcfs_wipe(pw, sizeof(pw));
	if (rc < 0) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", cipherdir, GCFS_CONF_NAME);
		if (rc == GCFS_EAUTH)
			cli_err(verb, path, "wrong password or corrupt gocryptfs.conf");
		else
			cli_err(verb, path, "%s", *err ? err : gcfs_strerror(rc));
		return -1;
	}
	return 0;
}

int cli_unlock(const char *verb, const char *cipherdir, const cli_keyopt *ko, gcfs_conf *conf,
               gcfs_keys **out)
{
	char err[GCFS_ERRBUF] = "";
	uint8_t master[GCFS_KEY_LEN];
	gcfs_engine eng;
	int rc;

	if (cli_engine_from_env(verb, &eng) < 0)
		return CLI_EXIT_USAGE;
	if (cli_conf_load(verb, cipherdir, conf) < 0)
		return CLI_EXIT_FAIL;
	if (get_master(verb, cipherdir, ko, conf, master) < 0)
		return CLI_EXIT_FAIL;
	rc = gcfs_keys_new(master, conf->flags, conf->longname_max, eng, out, err, sizeof(err));
	gcfs_wipe(master, sizeof(master));
	if (rc < 0) {
		cli_err(verb, "keys", "%s", *err ? err : gcfs_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_common_opt(const char *verb, int c, const char *arg, cli_common *co)
{
	switch (c) {
	case 'p':
		co->ko.passfile = arg;
		return 1;
	case 'm':
		co->ko.masterkey_file = arg;
		return 1;
	case 't':
		if (cli_parse_int(arg, 1, 1024, &co->nthreads) < 0)
			return -cli_usage_err(verb, "--threads: not a number in 1..1024: %s", arg);
		return 1;
	case 'q':
		co->quiet = 1;
		return 1;
	case 'v':
		co->verbose = 1;
		return 1;
	default:
		return 0;
	}
}

int cli_keyopt_check(const char *verb, const cli_keyopt *ko)
{
	if (ko->passfile && ko->masterkey_file)
		return cli_usage_err(verb, "--passfile: cannot be combined with --masterkey-file");
	return 0;
}
