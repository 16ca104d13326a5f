/* Shared between file.c, memfill.c and stream.c (and nothing else):
 * building a sealed plaintext memfd from a cipher fd, and the fork hooks of
 * streaming mode. */
#ifndef SHIM_MEMFILL_H
#define SHIM_MEMFILL_H

#include "preload/shim.h"

/* Open r's cipher file read-only and check it is still the entry that was
 * resolved (st_dev/st_ino), so a rename between stat and open cannot swap
 * in another file.  *st gets the fstat of the opened fd (use its size).
 * -1 with errno (EIO after logging "changed while opening") on failure. */
int shim_cipher_open(const struct shim_res *r, struct stat *st);

/* Plaintext size budget of a whole-file memfd: total RAM.  Larger files
 * are streamed (shim_stream_want) and a whole-file copy of them is refused
 * with EFBIG. */
uint64_t shim_mem_budget(void);

/* Decrypt the whole cipher file (cfd, header gf) into a new sealed memfd,
 * skipping blocks that lie entirely in holes of the cipher file (they are
 * zero in the memfd already).  verb names the operation in log lines.
 * Returns the memfd (an internal fd, identity in *id) or -errno; on
 * failure nothing decrypted survives. */
int shim_plain_memfd(const gcfs_keys *k, int cfd, const gcfs_file *gf, const char *vpath,
                     const char *verb, shim_ifd_id *id);

/* gcfs_io pread callback over a cipher fd; ctx points to the int fd. */
ssize_t shim_cipher_pread(void *ctx, void *buf, size_t len, uint64_t off);

/* Fork handlers of streaming mode, called from real.c's. */
void shim_stream_atfork_prepare(void);
void shim_stream_atfork_parent(void);
void shim_stream_atfork_child(void);

/* A file object owning memfd (a filled stream), outside the cache, so
 * mappings of it get the same treatment as any file object's.  NULL if out
 * of memory (then the caller keeps memfd). */
struct shim_file *shim_file_adopt(int memfd, const shim_ifd_id *id, uint64_t size);

/* Exclude a mapping of plaintext from core dumps. */
void shim_file_nodump(void *addr, size_t len);

#endif
