/* `unseal run`: start a command under the LD_PRELOAD shim.  Only paths and
 * URLs go into the environment, never key material: the shim reads the
 * pass/master-key file or asks the KBS itself. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/common.h"

static const char *const VERB = "run";

struct runopt {
	const char *cipher, *mount, *passfile, *mkfile;
	const char *kbs_url, *key_uri, *tee, *key_format, *protocol;
	const char *log, *log_file;
	int eager, stream;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: unseal run --cipher DIR --mount PATH KEY [options] -- CMD [ARGS...]\n"
	        "Run CMD with libunseal.so preloaded, so PATH shows CIPHER_DIR decrypted.\n\n"
	        "  --cipher DIR          gocryptfs cipher directory\n"
	        "  --mount PATH          absolute virtual mount path (missing or an empty dir)\n"
	        "KEY, exactly one of:\n"
	        "  --passfile F          password = first line of F\n"
	        "  --masterkey-file F    hex master key file\n"
	        "  --kbs-url URL --key-uri URI [--tee T] [--key-format password|masterkey]\n"
	        "      [--protocol auto|0.1.0|0.1.1|0.2.0|0.4.0]\n"
	        "                        fetch the key from a KBS after attestation\n"
	        "Options:\n"
	        "  --log LEVEL           error|warn|info|debug (UNSEAL_LOG)\n"
	        "  --log-file F          log to F instead of stderr (UNSEAL_LOG_FILE)\n"
	        "  --eager               unlock at start-up, not on first access (UNSEAL_EAGER=1)\n"
	        "  --stream              streaming reads for large files (UNSEAL_STREAM=1)\n"
	        "  -h, --help            this help\n"
	        "The shim is dirname(unseal)/libunseal.so, or env UNSEAL_LIB.\n"
	        "Exit: CMD's status; 1 failure, 2 usage, 126/127 CMD not runnable/not found.\n");
}

/* Absolute form of an existing path; message printed on failure. */
static char *must_abs(const char *what, const char *path)
{
	char *p = realpath(path, NULL);

	if (!p)
		cli_err(VERB, path, "%s (%s)", strerror(errno), what);
	return p;
}

/* The shim next to our own binary, unless UNSEAL_LIB says otherwise. */
static char *find_lib(void)
{
	const char *env = getenv("UNSEAL_LIB");
	char self[PATH_MAX], *p;
	ssize_t n;

	if (env && *env)
		return must_abs("UNSEAL_LIB", env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		cli_err(VERB, "/proc/self/exe", "%s", strerror(errno));
		return NULL;
	}
	self[n] = '\0';
	if (asprintf(&p, "%s/libunseal.so", dirname(self)) < 0)
		return NULL;
	if (access(p, R_OK) < 0) {
		cli_err(VERB, p, "%s (set UNSEAL_LIB)", strerror(errno));
		free(p);
		return NULL;
	}
	return p;
}

/* The mount path is virtual, but it must not hide real files. */
static int check_mount(const char *m)
{
	struct stat st;

	if (m[0] != '/') {
		cli_err(VERB, m, "mount path must be absolute");
		return CLI_EXIT_USAGE;
	}
	if (lstat(m, &st) < 0)
		return errno == ENOENT ? 0 : (cli_err(VERB, m, "%s", strerror(errno)), 1);
	if (!S_ISDIR(st.st_mode)) {
		cli_err(VERB, m, "exists and is not a directory");
		return CLI_EXIT_FAIL;
	}
	if (cli_dir_is_empty(m) != 1) {
		cli_err(VERB, m, "directory is not empty");
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int check_opts(const struct runopt *o)
{
	int nkeys = !!o->passfile + !!o->mkfile + !!(o->kbs_url || o->key_uri);
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	int ok = 0;

	if (!o->cipher || !o->mount)
		return cli_usage_err(VERB, "usage: --cipher and --mount are required");
	if (nkeys != 1)
		return cli_usage_err(VERB,
		                     "usage: give exactly one of --passfile, --masterkey-file, "
		                     "--kbs-url/--key-uri");
	if ((o->kbs_url || o->key_uri) && !(o->kbs_url && o->key_uri))
		return cli_usage_err(VERB, "usage: --kbs-url and --key-uri go together");
	if ((o->tee || o->key_format || o->protocol) && !o->kbs_url)
		return cli_usage_err(VERB,
		                     "usage: --tee, --key-format and --protocol need --kbs-url");
	if (o->key_format && strcmp(o->key_format, "password") &&
	    strcmp(o->key_format, "masterkey"))
		return cli_usage_err(VERB, "--key-format: password or masterkey, not '%s'",
		                     o->key_format);
	if (o->protocol && strcmp(o->protocol, "auto") && strcmp(o->protocol, "0.1.0") &&
	    strcmp(o->protocol, "0.1.1") && strcmp(o->protocol, "0.2.0") &&
	    strcmp(o->protocol, "0.4.0"))
		return cli_usage_err(
		    VERB, "--protocol: auto, 0.1.0, 0.1.1, 0.2.0 or 0.4.0, not '%s'", o->protocol);
	for (size_t i = 0; o->log && i < sizeof(levels) / sizeof(levels[0]); i++)
		ok |= !strcmp(o->log, levels[i]);
	if (o->log && !ok)
		return cli_usage_err(VERB, "--log: error, warn, info or debug, not '%s'", o->log);
	return 0;
}

/* Set or, for a NULL value, remove one variable. */
static int put(const char *name, const char *val)
{
	return val ? setenv(name, val, 1) : unsetenv(name);
}

/* Key sources are exclusive: drop any inherited one we did not choose. */
static int set_env(const struct runopt *o, const char *cipher, const char *pf, const char *mk,
                   const char *lib, const char *logf)
{
	const char *old = getenv("LD_PRELOAD");
	char *pre;
	int rc = 0;

	if (old && *old) {
		if (asprintf(&pre, "%s:%s", lib, old) < 0)
			return -1;
	} else if (!(pre = strdup(lib))) {
		return -1;
	}
	rc |= put("UNSEAL_CIPHER_DIR", cipher);
	rc |= put("UNSEAL_MOUNT", o->mount);
	rc |= put("UNSEAL_PASSFILE", pf);
	rc |= put("UNSEAL_MASTERKEY_FILE", mk);
	rc |= put("UNSEAL_KBS_URL", o->kbs_url);
	rc |= put("UNSEAL_KEY_URI", o->key_uri);
	rc |= put("UNSEAL_TEE", o->tee);
	rc |= put("UNSEAL_KEY_FORMAT", o->key_format);
	rc |= put("UNSEAL_KBS_PROTOCOL", o->protocol);
	if (o->log)
		rc |= put("UNSEAL_LOG", o->log);
	if (logf)
		rc |= put("UNSEAL_LOG_FILE", logf);
	if (o->eager)
		rc |= put("UNSEAL_EAGER", "1");
	if (o->stream)
		rc |= put("UNSEAL_STREAM", "1");
	rc |= put("LD_PRELOAD", pre);
	free(pre);
	return rc ? -1 : 0;
}

/* A log file may not exist yet: make its directory part absolute. */
static char *abs_logfile(const char *f)
{
	char *p = cli_abspath(f);

	if (!p)
		cli_err(VERB, f, "--log-file: %s", strerror(errno));
	return p;
}

static int launch(const struct runopt *o, char **cmd)
{
	char *cipher = NULL, *pf = NULL, *mk = NULL, *lib = NULL, *logf = NULL;
	int rc = CLI_EXIT_FAIL;
	struct stat st;

	if ((rc = check_mount(o->mount)))
		return rc;
	rc = CLI_EXIT_FAIL;
	if (!(cipher = must_abs("--cipher", o->cipher)))
		goto out;
	if (stat(cipher, &st) < 0 || !S_ISDIR(st.st_mode)) {
		cli_err(VERB, o->cipher, "%s", strerror(ENOTDIR));
		goto out;
	}
	if (o->passfile && !(pf = must_abs("--passfile", o->passfile)))
		goto out;
	if (o->mkfile && !(mk = must_abs("--masterkey-file", o->mkfile)))
		goto out;
	if (o->log_file && !(logf = abs_logfile(o->log_file)))
		goto out;
	if (!(lib = find_lib()))
		goto out;
	if (set_env(o, cipher, pf, mk, lib, logf) < 0) {
		cli_err(VERB, "environment", "%s", strerror(errno));
		goto out;
	}
	execvp(cmd[0], cmd);
	cli_err(VERB, cmd[0], "%s", strerror(errno));
	rc = errno == ENOENT ? 127 : 126;
out:
	free(cipher);
	free(pf);
	free(mk);
	free(lib);
	free(logf);
	return rc;
}

int cli_run_main(int argc, char **argv)
{
	enum {
		OPT_CIPHER = 256,
		OPT_MOUNT,
		OPT_PASS,
		OPT_MK,
		OPT_KBS,
		OPT_URI,
		OPT_TEE,
		OPT_FMT,
		OPT_PROTO,
		OPT_LOG,
		OPT_LOGF,
		OPT_EAGER,
		OPT_STREAM
	};
	static const struct option opts[] = {
	    {"cipher", required_argument, NULL, OPT_CIPHER},
	    {"mount", required_argument, NULL, OPT_MOUNT},
	    {"passfile", required_argument, NULL, OPT_PASS},
	    {"masterkey-file", required_argument, NULL, OPT_MK},
	    {"kbs-url", required_argument, NULL, OPT_KBS},
	    {"key-uri", required_argument, NULL, OPT_URI},
	    {"tee", required_argument, NULL, OPT_TEE},
	    {"key-format", required_argument, NULL, OPT_FMT},
	    {"protocol", required_argument, NULL, OPT_PROTO},
	    {"log", required_argument, NULL, OPT_LOG},
	    {"log-file", required_argument, NULL, OPT_LOGF},
	    {"eager", no_argument, NULL, OPT_EAGER},
	    {"stream", no_argument, NULL, OPT_STREAM},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct runopt o = {0};
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CIPHER:
			o.cipher = optarg;
			break;
		case OPT_MOUNT:
			o.mount = optarg;
			break;
		case OPT_PASS:
			o.passfile = optarg;
			break;
		case OPT_MK:
			o.mkfile = optarg;
			break;
		case OPT_KBS:
			o.kbs_url = optarg;
			break;
		case OPT_URI:
			o.key_uri = optarg;
			break;
		case OPT_TEE:
			o.tee = optarg;
			break;
		case OPT_FMT:
			o.key_format = optarg;
			break;
		case OPT_PROTO:
			o.protocol = optarg;
			break;
		case OPT_LOG:
			o.log = optarg;
			break;
		case OPT_LOGF:
			o.log_file = optarg;
			break;
		case OPT_EAGER:
			o.eager = 1;
			break;
		case OPT_STREAM:
			o.stream = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_bad_option(VERB, c, argv, opts);
		}
	}
	if ((rc = check_opts(&o)))
		return rc;
	if (optind >= argc)
		return cli_usage_err(VERB, "usage: no command given (put it after --)");
	return launch(&o, argv + optind);
}
