/* rv_handoff parent FILE drop|keep|fake  (run with UNSEAL_KEY_HANDOFF=1)
 * The parent reads FILE (the shim loads the key and publishes the hand-off
 * fd), removes UNSEAL_PASSFILE so the child can only use the hand-off, and
 * re-executes itself as "child FILE":
 *   drop: without UNSEAL_KEY_HANDOFF (the child must read the key, then
 *         close the fd and unset UNSEAL_KEY_FD so its children do not
 *         inherit it);
 *   keep: with UNSEAL_KEY_HANDOFF=1 (fd and variable stay);
 *   fake: UNSEAL_KEY_FD names a sealed memfd of the right key plus 32 more
 *         bytes (must be refused: EACCES).
 * The child prints "open=<errno name> byte=<first byte> env=<0|1> fd=<0|1>"
 * (fd: the hand-off memfd is still open). */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "consumer.h"

static int fake_fd(int fd)
{
	unsigned char k[64] = {0};
	int m = memfd_create("rv-fake", MFD_ALLOW_SEALING);

	if (m < 0 || pread(fd, k, 32, 0) != 32 || write(m, k, sizeof(k)) != (ssize_t)sizeof(k) ||
	    fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		return -1;
	return m;
}

static int parent(char **argv)
{
	const char *n;
	char num[16];
	unsigned char b;
	int fd = open(argv[2], O_RDONLY);

	if (fd < 0 || read(fd, &b, 1) != 1) {
		perror("parent open");
		return 1;
	}
	close(fd);
	n = getenv("UNSEAL_KEY_FD");
	if (!n) {
		fprintf(stderr, "no hand-off fd published\n");
		return 1;
	}
	unsetenv("UNSEAL_PASSFILE");
	if (strcmp(argv[3], "keep"))
		unsetenv("UNSEAL_KEY_HANDOFF");
	if (!strcmp(argv[3], "fake")) {
		int m = fake_fd(atoi(n));

		if (m < 0)
			return 1;
		snprintf(num, sizeof(num), "%d", m);
		setenv("UNSEAL_KEY_FD", num, 1);
	}
	execl("/proc/self/exe", argv[0], "child", argv[2], (char *)NULL);
	perror("exec");
	return 1;
}

/* fd (if still open) is the shim's hand-off memfd: the number itself may
 * have been reused by our own open after the shim closed it. */
static int is_key_memfd(int fd)
{
	char p[64], t[256];
	ssize_t n;

	if (fd < 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		return 0;
	t[n] = 0;
	return strstr(t, "memfd:unseal-key") != NULL;
}

static int child(char **argv)
{
	const char *n = getenv("UNSEAL_KEY_FD");
	int hfd = n ? atoi(n) : -1, fd, e = 0;
	unsigned char b = 0;

	fd = open(argv[2], O_RDONLY);
	if (fd < 0 || read(fd, &b, 1) != 1)
		e = errno ? errno : EIO;
	printf("open=%s byte=%u env=%d fd=%d\n", ename(e), b, getenv("UNSEAL_KEY_FD") != NULL,
	       is_key_memfd(hfd));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "parent"))
		return parent(argv);
	if (argc >= 3 && !strcmp(argv[1], "child"))
		return child(argv);
	return 2;
}
