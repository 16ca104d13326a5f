"""Fail-closed behaviour of the shim's file objects and streaming mode.

Every expectation comes from the plaintext tree, the kernel or the brief's
rules -- never from unseal's own output.  Each test failed before its fix:
  zeros behind a streaming fd, plaintext left in a failed read's buffer,
  fork deadlocks, sparse files costing their full size, dumpable plaintext
  mappings, file names in memfd names, a file swapped between stat and open,
  and stream lseek edge cases.
"""
import errno
import os
import shutil
import subprocess

import pytest
from shimlib import gocryptfs_mounted
from testlib import cipher_name, private_cipher

STREAM = {"UNSEAL_STREAM": "1"}
MODES = [pytest.param({}, id="default"), pytest.param(STREAM, id="stream")]


@pytest.fixture
def tampered(shim):
    """Cipher dir copy with one byte flipped in block 2 of mid.bin."""
    cdir = private_cipher(shim, "fc-tampered")
    path = os.path.join(cdir, cipher_name(shim, shim.cipher, "mid.bin"))
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        off = 18 + 2 * 4128 + 16 + 100
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 1]))
    return cdir


def plain(shim, name):
    with open(os.path.join(shim.plain, name), "rb") as f:
        return f.read()


def parse_kv(line):
    return dict(kv.split("=", 1) for kv in line.split())


# ------------------------------------------------------ 1. placeholder fd


@pytest.mark.parametrize("name", ["mid.bin", "b4097.bin"])
def test_stream_fd_reopen_raw_gives_no_data(shim, consumer, name):
    b = consumer("fc_reopen")
    r = subprocess.run([b, os.path.join(shim.mount, name)], env=shim.shim_env(STREAM),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    kv = parse_kv(r.stdout.strip().splitlines()[-1])
    # an error, or an empty file: never zeros (or anything) of the file's size
    assert int(kv["raw_open"]) < 0 or int(kv["raw_read"]) <= 0, r.stdout


def test_stream_fd_seen_from_another_process(shim, consumer):
    b = consumer("fc_reopen")
    p = subprocess.Popen([b, os.path.join(shim.mount, "mid.bin"), "wait"],
                         env=shim.shim_env(STREAM), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid, fd = p.stdout.readline().split()
        data = b""
        try:
            with open(f"/proc/{pid}/fd/{fd}", "rb") as f:  # no shim in this process
                data = f.read(1 << 20)
        except OSError:
            pass
        assert data == b"", f"{len(data)} bytes readable behind the streaming fd"
    finally:
        p.communicate("go\n", timeout=60)


def test_stream_failed_fill_leaves_no_plaintext(shim, consumer, tampered):
    b = consumer("fc_reopen")
    env = shim.shim_env(STREAM, UNSEAL_CIPHER_DIR=tampered)
    r = subprocess.run([b, os.path.join(shim.mount, "mid.bin"), "mmapfirst"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "mmap=fail", r.stdout
    kv = parse_kv(lines[-1])
    assert int(kv["raw_open"]) < 0 or int(kv["raw_read"]) <= 0, r.stdout


# ------------------------------------------------ 2. failed read's buffer


@pytest.mark.parametrize("length,off", [(1 << 20, 0), (100000, 0), (3 * 4096, 4096),
                                        (2 * 4096 + 10, 0)])
def test_stream_failed_read_wipes_buffer(shim, consumer, tampered, length, off):
    b = consumer("fc_rdfail")
    env = shim.shim_env(STREAM, UNSEAL_CIPHER_DIR=tampered)
    r = subprocess.run([b, os.path.join(shim.mount, "mid.bin"), str(length), str(off)], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert b"r=-1 errno=EIO" in r.stderr, r.stderr[-2000:]
    assert len(r.stdout) == length
    # nothing but the fill pattern or wiped zeros: no plaintext byte at all
    assert set(r.stdout) <= {0x00, 0xEE}, "plaintext left in the caller's buffer"


# ----------------------------------------------------------- 3. fork


@pytest.mark.parametrize("env", MODES)
def test_fork_during_read_does_not_deadlock(shim, consumer, env):
    b = consumer("fc_fork")
    r = subprocess.run([b, os.path.join(shim.mount, "big40.bin")], env=shim.shim_env(env),
                       capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "hung=0 bad=0", r.stdout + r.stderr[-2000:]
    assert r.returncode == 0


# ------------------------------------------------------ 4. sparse files

SPARSE_SIZE = 256 << 20
HUGE_SIZE = 1 << 40
MID_OFF = (100 << 20) + 123


@pytest.fixture(scope="module")
def sparse(shim):
    """A gocryptfs dir made by the real gocryptfs: small data, huge holes."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    if not shutil.which("gocryptfs") or not shutil.which("fusermount3") \
            or not os.access("/dev/fuse", os.R_OK | os.W_OK):
        pytest.skip("SKIP: gocryptfs/FUSE unavailable to build a sparse cipher file")
    base = os.path.join(shim.tmp, "sparse")
    shutil.rmtree(base, ignore_errors=True)
    cdir = os.path.join(base, "c")
    os.makedirs(cdir)
    r = subprocess.run(["gocryptfs", "-init", "-q", "-scryptn", "10", "-passfile", shim.pwfile,
                        cdir], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    head, mid = os.urandom(300000), os.urandom(1000)
    with gocryptfs_mounted(shim, cdir, "sparse") as mnt:
        with open(os.path.join(mnt, "sparse.bin"), "wb") as f:
            f.write(head)
            f.seek(MID_OFF)
            f.write(mid)
            f.truncate(SPARSE_SIZE)
        with open(os.path.join(mnt, "huge.bin"), "wb") as f:
            f.write(head[:100])
            f.truncate(HUGE_SIZE)
    env = shim.shim_env(UNSEAL_CIPHER_DIR=cdir, UNSEAL_MOUNT=shim.mount + "-sparse")
    return env, shim.mount + "-sparse", head, mid


def test_sparse_default_mode_costs_only_data(sparse):
    env, mnt, head, mid = sparse
    code = ("import os,sys,hashlib\n"
            "fd=os.open(sys.argv[1],os.O_RDONLY)\n"
            "print(os.fstat(fd).st_size)\n"
            "for off,n in ((0,300000),(%d,1000),(%d,4096),(300000,8192)):\n"
            " print(hashlib.sha256(os.pread(fd,n,off)).hexdigest())\n"
            "print(os.getpid(),fd,flush=True)\nsys.stdin.readline()\n") % (MID_OFF, SPARSE_SIZE - 4096)
    p = subprocess.Popen(["/usr/bin/python3", "-c", code, os.path.join(mnt, "sparse.bin")],
                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        import hashlib
        h = lambda b: hashlib.sha256(b).hexdigest()
        lines = [p.stdout.readline().strip() for _ in range(6)]
        assert lines[0] == str(SPARSE_SIZE), lines + [p.stderr.read()[-2000:]]
        assert lines[1:5] == [h(head), h(mid), h(bytes(4096)), h(bytes(8192))]
        pid, fd = lines[5].split()
        st = os.stat(f"/proc/{pid}/fd/{fd}")  # the memfd itself, seen without the shim
        assert st.st_size == SPARSE_SIZE
        assert st.st_blocks * 512 < 32 << 20, f"{st.st_blocks * 512} bytes allocated"
    finally:
        p.communicate("\n", timeout=60)


def test_sparse_beyond_ram_is_streamed_and_mmap_refused(sparse):
    env, mnt, head, _ = sparse
    code = ("import os,sys,mmap\n"
            "fd=os.open(sys.argv[1],os.O_RDONLY)\n"
            "print(os.lseek(fd,0,os.SEEK_END))\n"
            "print(os.pread(fd,100,0).hex())\n"
            "print(os.pread(fd,64,%d-64).hex())\n"
            "try:\n m=mmap.mmap(fd,0,access=mmap.ACCESS_READ); print('mapped')\n"
            "except OSError as e: print('mmap failed', e.errno)\n") % HUGE_SIZE
    r = subprocess.run(["/usr/bin/python3", "-c", code, os.path.join(mnt, "huge.bin")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.splitlines()
    assert out[:3] == [str(HUGE_SIZE), head[:100].hex(), bytes(64).hex()], r.stdout
    # a whole-file copy beyond RAM is refused cleanly (no SIGBUS, no OOM)
    assert out[3] == f"mmap failed {errno.EFBIG}", r.stdout
    assert "exceed the memory budget" in r.stderr


# ----------------------------------------- 5./6. core dumps, memfd names


@pytest.mark.parametrize("env", MODES)
def test_mapping_not_dumpable_and_memfd_anonymous(shim, consumer, env):
    b = consumer("fc_mapdump")
    name = "\u00fcn\u00efc\u00f8d\u00e9-\u540d\u524d.bin"
    p = subprocess.Popen([b, os.path.join(shim.mount, name)], env=shim.shim_env(env),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pid, addr, first = p.stdout.readline().split()
        assert int(first) == plain(shim, name)[0]
        addr = int(addr, 16)
        smaps = open(f"/proc/{int(pid)}/smaps", "rb").read().decode("utf-8", "replace")
        links = [os.readlink(f"/proc/{int(pid)}/fd/{fd}")
                 for fd in os.listdir(f"/proc/{int(pid)}/fd")]
    finally:
        p.communicate(b"\n", timeout=60)
    block, cur = None, None
    for line in smaps.splitlines():
        head = line.split()[0] if line else ""
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            cur = line if lo <= addr < hi else None
            if cur:
                block = [line]
        elif cur and line.startswith("VmFlags:"):
            block.append(line)
            cur = None
    assert block and len(block) == 2, "mapping not found in smaps"
    assert " dd" in block[1] + " ", block
    assert "unseal" in block[0], block  # it is our memfd
    for text in [smaps] + links:
        assert "\u540d\u524d" not in text and "d\u00e9-" not in text, text[:500]


# ---------------------------------------------- 7. swapped while opening

SWAP_SRC = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
/* Preloaded after libunseal.so: its REAL(open) lands here.  The first open
 * of the named cipher file renames another file over it first. */
int open(const char *p, int fl, ...)
{
	static int done;
	static int (*real)(const char *, int, ...);
	const char *t = getenv("FC_SWAP_NAME"), *src = getenv("FC_SWAP_SRC");
	int m = 0;

	if (fl & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, fl);
		m = va_arg(ap, int);
		va_end(ap);
	}
	if (!real)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	if (!done && t && src && strstr(p, t)) {
		done = 1;
		rename(src, p);
	}
	return real(p, fl, m);
}
"""


@pytest.mark.parametrize("env", MODES)
def test_cipher_file_swapped_while_opening_is_eio(shim, env):
    cdir = private_cipher(shim, "fc-swap")
    cname = cipher_name(shim, shim.cipher, "mid.bin")
    src = os.path.join(cdir, "swap-in")
    shutil.copyfile(os.path.join(cdir, cname), src)  # same bytes, another inode
    lib = os.path.join(shim.tmp, "fc_swap.so")
    if not os.path.exists(lib):
        csrc = os.path.join(shim.tmp, "fc_swap.c")
        with open(csrc, "w") as f:
            f.write(SWAP_SRC)
        r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", lib, csrc,
                            "-ldl"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    e = shim.shim_env(env, UNSEAL_CIPHER_DIR=cdir, LD_PRELOAD=f"{shim.lib} {lib}",
                      FC_SWAP_NAME=cname, FC_SWAP_SRC=src)
    r = subprocess.run(["cat", os.path.join(shim.mount, "mid.bin")], env=e,
                       capture_output=True, timeout=120)
    assert not os.path.exists(src), "the swap hook did not run"
    assert r.returncode != 0 and r.stdout == b"", r.stderr[-2000:]
    assert b"Input/output error" in r.stderr, r.stderr[-2000:]
    assert b"changed while opening" in r.stderr, r.stderr[-2000:]


# ------------------------------------------------- 8. stream lseek edges


def test_stream_lseek_edges(shim):
    code = ("import os,sys,errno\n"
            "fd=os.open(sys.argv[1],os.O_RDONLY)\n"
            "def t(off,wh):\n"
            " try: return str(os.lseek(fd,off,wh))\n"
            " except OSError as e: return errno.errorcode[e.errno]\n"
            "M=2**63-1\n"
            "print(t(-1,os.SEEK_DATA),t(-1,os.SEEK_HOLE),t(5,os.SEEK_DATA),t(5,os.SEEK_HOLE))\n"
            "print(t(M,os.SEEK_END))\n"
            "os.lseek(fd,10,0);print(t(M,os.SEEK_CUR),t(-11,os.SEEK_CUR),t(M,os.SEEK_SET))\n"
            "print(os.lseek(fd,0,os.SEEK_CUR))\n")
    size = len(plain(shim, "mid.bin"))
    r = subprocess.run(["/usr/bin/python3", "-c", code, os.path.join(shim.mount, "mid.bin")],
                       env=shim.shim_env(STREAM), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == [
        f"ENXIO ENXIO 5 {size}",
        "EOVERFLOW",
        f"EOVERFLOW EINVAL {2**63 - 1}",
        str(2**63 - 1),
    ], r.stdout
