"""Fail-closed audit with strace -f -k -y.

Proves two things about a consumer run through the shim, independently of
the shim's own logging:
 (a) every syscall that names the virtual mount path failed with ENOENT:
     anything that slipped past the shim found nothing (never ciphertext);
 (b) every content-bearing syscall on a cipher file (open/read/mmap/...,
     by path or by an fd that strace resolves into the cipher dir) has
     libunseal.so on its user stack: only the shim ever touched ciphertext.
Plus the consumer's output hashes equal the plaintext's.
"""
import glob
import hashlib
import os
import re
import shutil
import stat
import subprocess

import pytest

TRACE = ("open,openat,openat2,read,pread64,readv,preadv,preadv2,mmap,getdents64,sendfile,"
         "copy_file_range,splice,newfstatat,statx,readlink,readlinkat,access,faccessat2,"
         "chdir,execve")
CONTENT = {"open", "openat", "openat2", "read", "pread64", "readv", "preadv", "preadv2", "mmap",
           "getdents64", "sendfile", "copy_file_range", "splice"}


def strace_run(shim, argv, tag, env=None):
    if not shutil.which("strace"):
        pytest.skip("SKIP: strace not installed")
    prefix = os.path.join(shim.tmp, f"strace-{tag}")
    for f in glob.glob(prefix + ".*"):
        os.unlink(f)
    r = subprocess.run(["strace", "-f", "-ff", "-k", "-y", "-qq", "-s", "1", "-e",
                        "trace=" + TRACE, "-o", prefix] + argv,
                       env=env or shim.shim_env(), capture_output=True, timeout=300)
    files = glob.glob(prefix + ".*")
    assert files, f"strace produced no output: {r.stderr[-2000:]}"
    return r, files


def parse(files):
    """Yield (syscall line, [stack frames]) from strace -ff -k files."""
    for fn in files:
        cur, stack = None, []
        with open(fn, errors="replace") as f:
            for line in f:
                if line.startswith(" > "):
                    stack.append(line)
                    continue
                if cur is not None:
                    yield cur, stack
                cur, stack = line.rstrip("\n"), []
        if cur is not None:
            yield cur, stack


def audit(shim, files):
    leaks, unowned, seen_cipher = [], [], 0
    cipher = shim.cipher + "/"
    for line, stack in parse(files):
        m = re.match(r"^(\w+)\(", line)
        if not m or " = " not in line:
            continue
        name = m.group(1)
        if name == "execve":
            continue  # argv names the mount path by design
        ret = line.rsplit(" = ", 1)[1]
        if shim.mount in line and not ret.startswith("-1 ENOENT"):
            leaks.append(line)
        if name in CONTENT and (cipher in line or f"<{shim.cipher}>" in line):
            seen_cipher += 1
            if not any("libunseal" in fr for fr in stack):
                unowned.append(line + "\n" + "".join(stack[:12]))
    return leaks, unowned, seen_cipher


def check(shim, argv, tag):
    r, files = strace_run(shim, argv, tag)
    leaks, unowned, seen = audit(shim, files)
    assert not leaks, "syscalls on the virtual path that did not fail ENOENT:\n" + \
        "\n".join(leaks[:20])
    assert not unowned, "cipher-file syscalls made outside the shim:\n" + "\n\n".join(unowned[:5])
    assert seen > 0, "the shim never opened a cipher file: audit proves nothing"
    return r


def plain_hashes(shim, names):
    return [hashlib.sha256(open(os.path.join(shim.plain, n), "rb").read()).hexdigest()
            for n in names]


def test_audit_cat(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    names = ["mid.bin", "b4097.bin", "link_deep", "nested/a/sib.bin"]
    r = check(shim, ["cat"] + [os.path.join(shim.mount, n) for n in names], "cat")
    assert r.returncode == 0, r.stderr[-2000:]
    want = b"".join(open(os.path.join(shim.plain, n), "rb").read() for n in names)
    assert r.stdout == want


def test_audit_python_read_all(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    code = ("import os,sys,hashlib,mmap\n"
            "for d,ds,fs in os.walk(sys.argv[1]):\n"
            " ds.sort()\n"
            " for f in sorted(fs):\n"
            "  p=os.path.join(d,f)\n"
            "  if os.path.isfile(p):\n"
            "   b=open(p,'rb').read()\n"
            "   print(os.path.relpath(p,sys.argv[1]),hashlib.sha256(b).hexdigest())\n"
            "with open(os.path.join(sys.argv[1],'mid.bin'),'rb') as f:\n"
            " m=mmap.mmap(f.fileno(),0,access=mmap.ACCESS_READ)\n"
            " print('mmap',hashlib.sha256(m[:]).hexdigest())\n")
    r = check(shim, ["/usr/bin/python3", "-c", code, shim.mount], "py")
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.decode().splitlines()
    # names may contain spaces; the hash (last field) never does
    got = dict(x.rsplit(" ", 1) for x in lines[:-1])
    want = {}
    for d, ds, fs in os.walk(shim.plain):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p):
                want[os.path.relpath(p, shim.plain)] = hashlib.sha256(
                    open(p, "rb").read()).hexdigest()
    assert got == want
    assert lines[-1] == "mmap " + plain_hashes(shim, ["mid.bin"])[0]


def test_audit_llama_mmap(shim, consumer):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    binary = consumer("llama_mmap")
    r = check(shim, [binary, os.path.join(shim.mount, "model.safetensors")], "llama")
    ref = subprocess.run([binary, os.path.join(shim.plain, "model.safetensors")],
                         capture_output=True)
    assert r.returncode == 0 and r.stdout == ref.stdout, r.stderr[-2000:]


def test_audit_detects_a_leak(shim):
    """The audit must be able to fail: a cipher file read by code that is not
    the shim (here: cat without LD_PRELOAD) is reported, and so is a
    successful syscall on a path that names the mount.

    The victim is a non-empty regular cipher file: cipher names are random
    per fixture, and a dangling-symlink or directory victim would produce no
    content syscall to flag.  Note the limit of criterion (b): a consumer
    that names a cipher path itself goes through a shim pass-through wrapper,
    whose frame is on the stack; that is the consumer's choice, not a leak
    of the virtual path, and (a) covers the virtual path."""
    victims = []
    for f in os.listdir(shim.cipher):
        st = os.lstat(os.path.join(shim.cipher, f))
        if not f.startswith("gocryptfs.") and stat.S_ISREG(st.st_mode) and st.st_size > 0:
            victims.append((st.st_size, f))
    assert victims, "fixture has no regular cipher file"
    victim = os.path.join(shim.cipher, min(victims)[1])
    env = shim.plain_env()
    _, files = strace_run(shim, ["cat", victim], "leak", env=env)
    _, unowned, seen = audit(shim, files)
    assert seen > 0 and unowned, "audit failed to flag a direct ciphertext read"
    assert any(u.startswith("read(") for u in unowned), unowned
    # synthetic strace -k output: the parser and both criteria
    fake = os.path.join(shim.tmp, "fake-files")
    with open(fake + ".1", "w") as f:
        f.write(f'openat(AT_FDCWD, "{shim.mount}/x", O_RDONLY) = 3\n')
        f.write(f'openat(AT_FDCWD, "{shim.mount}/y", O_RDONLY) = -1 ENOENT (No such file)\n')
        f.write(f'read(3<{victim}>, "x"..., 10) = 10\n')
        f.write(" > /usr/lib/x86_64-linux-gnu/libc.so.6(read+0xd) [0xf82ad]\n")
        f.write(f'read(4<{victim}>, "x"..., 10) = 10\n')
        f.write(" > /usr/lib/x86_64-linux-gnu/libc.so.6(read+0xd) [0xf82ad]\n")
        f.write(" > /x/libunseal.so(cio_pread+0x1) [0x1]\n")
    leaks, unowned, seen = audit(shim, [fake + ".1"])
    assert len(leaks) == 1 and "/x\"" in leaks[0], leaks
    assert seen == 2 and len(unowned) == 1 and unowned[0].startswith("read(3"), unowned


def test_audit_fts_and_walkers(shim, consumer):
    """fts/nftw/glob/scandir walks: every cipher-dir access is the shim's,
    and nothing on the virtual path succeeded outside it."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    for name in ("fts_walk", "walk"):
        binary = consumer(name)
        r = check(shim, [binary, shim.mount], name)
        ref = subprocess.run([binary, shim.plain], env=shim.plain_env(), capture_output=True)
        assert r.returncode == 0 and r.stdout.replace(shim.mount.encode(), b"<R>") == \
            ref.stdout.replace(shim.plain.encode(), b"<R>"), r.stderr[-2000:]
