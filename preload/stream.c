/* Streaming mode (placeholder until implemented): never selected. */
#include <errno.h>

#include "preload/shim.h"

int shim_stream_want(uint64_t plain_size)
{
	(void)plain_size;
	return 0;
}

int shim_stream_open(const struct shim_res *r, int flags, int *handled)
{
	(void)r;
	(void)flags;
	*handled = 0;
	return -1;
}

ssize_t shim_stream_pread(int fd, void *buf, size_t n, int64_t off, int use_off, int *handled)
{
	(void)fd, (void)buf, (void)n, (void)off, (void)use_off;
	*handled = 0;
	return -1;
}

off_t shim_stream_lseek(int fd, off_t off, int whence, int *handled)
{
	(void)fd, (void)off, (void)whence;
	*handled = 0;
	return -1;
}

int shim_stream_fill(int fd)
{
	(void)fd;
	return 0;
}

void shim_stream_free(struct shim_stream *s)
{
	(void)s;
}
