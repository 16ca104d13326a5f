/* Time the password path: gocryptfs.conf parse + scrypt + HKDF + GCM unwrap.
 * usage: unwrap_bench GOCRYPTFS_CONF PASSFILE [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "crypto/gcfs.h"

static long slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return (long)n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char conf_buf[65536], pw_buf[4096];
	char err[GCFS_ERRBUF] = "";
	gcfs_conf conf;
	uint8_t master[GCFS_KEY_LEN];
	if (argc < 3) {
		fprintf(stderr, "usage: unwrap_bench GOCRYPTFS_CONF PASSFILE [RUNS]\n");
		return 2;
	}
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	long clen = slurp(argv[1], conf_buf, sizeof(conf_buf));
	long plen = slurp(argv[2], pw_buf, sizeof(pw_buf));
	if (clen < 0 || plen < 0) {
		fprintf(stderr, "unwrap_bench: cannot read inputs\n");
		return 1;
	}
	long pwlen = gcfs_passfile_first_line((const uint8_t *)pw_buf, (size_t)plen);
	if (pwlen < 0 || gcfs_conf_parse(conf_buf, (size_t)clen, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "unwrap_bench: %s\n", err);
		return 1;
	}
	double best = 1e9;
	for (int i = 0; i < runs; i++) {
		double t0 = now_s();
		int rc = gcfs_conf_unwrap(&conf, (const uint8_t *)pw_buf, (size_t)pwlen, master, err,
					  sizeof(err));
		double dt = now_s() - t0;
		gcfs_wipe(master, sizeof(master));
		if (rc != 0) {
			fprintf(stderr, "unwrap_bench: %s\n", err);
			return 1;
		}
		if (dt < best)
			best = dt;
	}
	printf("scrypt unwrap (N=%llu r=%u p=%u): best of %d = %.1f ms\n",
	       (unsigned long long)conf.scrypt_n, conf.scrypt_r, conf.scrypt_p, runs, best * 1e3);
	gcfs_wipe(pw_buf, sizeof(pw_buf));
	return 0;
}
