/* stdio consumer: fopen/fseek/ftell/fread/fgets/freopen on a file.
 * glibc opens, reads and seeks inside libc here (not via the PLT), so only
 * a real fd holding plaintext can satisfy it.
 * usage: stdio_read BINFILE TEXTFILE */
#include "consumer.h"

static void bin(const char *path)
{
	FILE *f = fopen(path, "rb");
	char buf[7919];
	uint64_t h = FNV0;
	size_t n, total = 0;

	if (!f)
		DIE("fopen %s", path);
	if (fseek(f, 0, SEEK_END))
		DIE("fseek");
	long size = ftell(f);
	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		h = fnv(h, buf, n);
		total += n;
	}
	/* a backwards seek then a short read: buffered stdio must refill */
	if (size > 10 && fseek(f, size / 3, SEEK_SET) == 0) {
		n = fread(buf, 1, 10, f);
		printf("mid %zu %016llx\n", n, (unsigned long long)fnv(FNV0, buf, n));
	}
	printf("bin size=%ld read=%zu fnv=%016llx eof=%d err=%d\n", size, total,
	       (unsigned long long)h, feof(f), ferror(f));
	fclose(f);
}

static void text(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	uint64_t h = FNV0;
	unsigned lines = 0;

	if (!f)
		DIE("fopen %s", path);
	while (fgets(line, sizeof(line), f)) {
		h = fnv(h, line, strlen(line));
		lines++;
	}
	printf("text lines=%u fnv=%016llx\n", lines, (unsigned long long)h);
	/* freopen onto the same stream: glibc opens + dup3s internally */
	f = freopen(path, "r", f);
	if (!f)
		DIE("freopen");
	if (fgets(line, sizeof(line), f))
		printf("freopen first=%s", line);
	fclose(f);
	/* a missing sibling must say ENOENT */
	char miss[4096];
	snprintf(miss, sizeof(miss), "%s.does-not-exist", path);
	errno = 0;
	f = fopen(miss, "r");
	printf("missing=%s\n", f ? "opened" : ename(errno));
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	bin(argv[1]);
	text(argv[2]);
	return 0;
}
