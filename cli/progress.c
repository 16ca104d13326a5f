/* A one-line progress bar on stderr: bytes done/total, rate, ETA.  Only
 * drawn when stderr is a terminal, so logs and pipes stay clean. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "cli/common.h"

struct cli_progress {
	const char *verb;
	uint64_t total, done;
	double start, last;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Human-readable bytes, binary units. */
static void human(char *out, size_t cap, double b)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, unit[i]);
}

cli_progress *cli_progress_new(const char *verb, const char *tree, int cipher, int quiet)
{
	cli_progress *p;

	/* Decide before sizing the tree: that walk is wasted without a TTY. */
	if (quiet || !isatty(STDERR_FILENO))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->verb = verb;
	p->total = cli_tree_bytes(tree, cipher);
	p->start = p->last = now_s();
	return p;
}

static void draw(cli_progress *p, double t)
{
	char d[32], tot[32], rate[32];
	double el = t - p->start;
	double bps = el > 0 ? (double)p->done / el : 0;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100.0;
	long eta = bps > 0 && p->total > p->done ? (long)((double)(p->total - p->done) / bps) : 0;

	if (pct > 100)
		pct = 100;
	human(d, sizeof(d), (double)p->done);
	human(tot, sizeof(tot), (double)p->total);
	human(rate, sizeof(rate), bps);
	fprintf(stderr, "\r\033[K%s: %5.1f%% %s / %s  %s/s  ETA %ld:%02ld", p->verb, pct, d, tot,
	        rate, eta / 60, eta % 60);
	fflush(stderr);
}

void cli_progress_add(cli_progress *p, uint64_t bytes)
{
	double t;

	if (!p)
		return;
	p->done += bytes;
	t = now_s();
	/* Redraw at most 5 times a second. */
	if (t - p->last >= 0.2) {
		p->last = t;
		draw(p, t);
	}
}

void cli_progress_end(cli_progress *p)
{
	if (!p)
		return;
	draw(p, now_s());
	fputc('\n', stderr);
	free(p);
}
