/* evidence_tdx: /dev/tdx_guest TDX_CMD_GET_REPORT0 fallback.
 *
 * This yields a TDREPORT (MAC'd for the local platform), not a signed quote:
 * a KBS can only verify it if something (a quoting enclave) converts it.  It
 * exists for kernels without configfs-tsm, only with an explicit "tdx" (the
 * caller warns, see kbs_tee_caveat); the vendor-specific GET_QUOTE ioctls
 * differ between kernel trees and are deliberately not used. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "attest/kbs_int.h"

#define TDX_REPORT_LEN 1024

const char *kbs_tdx_guest_dev = "/dev/tdx_guest";

struct tdx_report_req {
	uint8_t reportdata[KBS_REPORTDATA_LEN];
	uint8_t tdreport[TDX_REPORT_LEN];
};

/* _IOWR('T', 1, struct tdx_report_req), from <linux/tdx-guest.h>. */
#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)

int kbs_tdx_report(const uint8_t rd[KBS_REPORTDATA_LEN], uint8_t **rep, size_t *rlen, char *cause,
                   size_t causelen)
{
	struct tdx_report_req req;
	int fd = open(kbs_tdx_guest_dev, O_RDWR | O_CLOEXEC);

	*rep = NULL;
	if (fd < 0) {
		snprintf(cause, causelen, "tdx: cannot open %s: %s", kbs_tdx_guest_dev,
		         strerror(errno));
		return -1;
	}
	memset(&req, 0, sizeof(req));
	memcpy(req.reportdata, rd, KBS_REPORTDATA_LEN);
	if (ioctl(fd, TDX_CMD_GET_REPORT0, &req)) {
		snprintf(cause, causelen, "tdx: TDX_CMD_GET_REPORT0 failed: %s", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	*rep = malloc(TDX_REPORT_LEN);
	if (!*rep) {
		snprintf(cause, causelen, "tdx: out of memory");
		return -1;
	}
	memcpy(*rep, req.tdreport, TDX_REPORT_LEN);
	*rlen = TDX_REPORT_LEN;
	return 0;
}
