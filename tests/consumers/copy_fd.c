/* sendfile and copy_file_range from a virtual file into real output files
 * (CPython shutil.copyfile and Rust fs::copy do this).
 * usage: copy_fd FILE OUT1 OUT2 */
#include "consumer.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static long long copy_all(int in, int out, int use_cfr)
{
	long long total = 0;
	for (;;) {
		ssize_t n = use_cfr ? copy_file_range(in, NULL, out, NULL, 1 << 20, 0)
				    : sendfile(out, in, NULL, 1 << 20);
		if (n < 0)
			DIE(use_cfr ? "copy_file_range" : "sendfile");
		if (n == 0)
			return total;
		total += n;
	}
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	for (int i = 0; i < 2; i++) {
		int in = open(argv[1], O_RDONLY);
		int out = open(argv[2 + i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0)
			DIE("open");
		long long n = copy_all(in, out, i);
		struct stat st;
		fstat(out, &st);
		printf("%s copied=%lld out_size=%lld\n", i ? "copy_file_range" : "sendfile", n,
		       (long long)st.st_size);
		close(in);
		close(out);
	}
	return 0;
}
