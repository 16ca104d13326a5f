"""Failure modes: tampered blocks give EIO, a wrong password gives EACCES,
and without LD_PRELOAD the mount path does not exist (ENOENT)."""
import os
import shutil
import subprocess

import pytest


def plain_to_cipher_name(shim, name):
    """Find the cipher file of a top-level plaintext file by size arithmetic
    (unique sizes in the fixture) -- independent of unseal's name code."""
    size = os.path.getsize(os.path.join(shim.plain, name))
    blocks = -(-size // 4096)
    want = 18 + size + 32 * blocks if size else 0
    hits = [f for f in os.listdir(shim.cipher)
            if not f.startswith("gocryptfs.") and os.path.isfile(os.path.join(shim.cipher, f))
            and os.path.getsize(os.path.join(shim.cipher, f)) == want]
    assert len(hits) == 1, f"cannot identify the cipher file of {name}: {hits}"
    return hits[0]


@pytest.fixture
def tampered(shim):
    """A private copy of the cipher dir with one byte flipped in block 2 of mid.bin."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    cdir = os.path.join(shim.tmp, "cipher-tampered")
    shutil.rmtree(cdir, ignore_errors=True)
    shutil.copytree(shim.cipher, cdir, symlinks=True)
    cname = plain_to_cipher_name(shim, "mid.bin")
    path = os.path.join(cdir, cname)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        off = 18 + 2 * 4128 + 16 + 100  # inside block 2's ciphertext
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 1]))
    return cdir


def test_tampered_block_gives_eio(shim, tampered):
    env = shim.shim_env(UNSEAL_CIPHER_DIR=tampered)
    r = subprocess.run(["cat", os.path.join(shim.mount, "mid.bin")], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode != 0
    assert b"Input/output error" in r.stderr, r.stderr[-2000:]
    # the log names the plaintext path and the bad block
    log = [ln for ln in r.stderr.decode(errors="replace").splitlines() if ln.startswith("unseal:")]
    want = f"unseal: open: {shim.mount}/mid.bin: block 2: "
    assert any(ln.startswith(want) for ln in log), log
    plain = open(os.path.join(shim.plain, "mid.bin"), "rb").read()
    block2 = plain[2 * 4096:3 * 4096]
    assert block2 not in r.stdout
    assert plain[2 * 4096 + 1000:2 * 4096 + 1064] not in r.stdout
    # at most the blocks before the bad one may have been delivered
    assert len(r.stdout) <= 2 * 4096 and plain.startswith(r.stdout)
    # other files in the same tree are still fine
    r = subprocess.run(["cat", os.path.join(shim.mount, "b4097.bin")], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 0
    assert r.stdout == open(os.path.join(shim.plain, "b4097.bin"), "rb").read()


def test_tampered_block_python_mmap_and_pread(shim, tampered):
    env = shim.shim_env(UNSEAL_CIPHER_DIR=tampered)
    code = ("import os,sys,errno\n"
            "p=os.path.join(sys.argv[1],'mid.bin')\n"
            "try:\n"
            " fd=os.open(p,os.O_RDONLY); b=os.pread(fd,4096,2*4096); print('read',len(b))\n"
            "except OSError as e: print('err',errno.errorcode[e.errno])\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, shim.mount], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "err EIO", r.stdout + r.stderr[-2000:]


def test_wrong_password_eacces_and_process_goes_on(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    bad = os.path.join(shim.tmp, "badpw")
    with open(bad, "w") as f:
        f.write("not the password\n")
    os.chmod(bad, 0o600)
    real = os.path.join(shim.tmp, "real-after.txt")
    with open(real, "w") as f:
        f.write("still here\n")
    code = ("import os,sys\n"
            "for name in ('mid.bin','one.bin','nested/x/y.bin'):\n"
            " try:\n"
            "  open(os.path.join(sys.argv[1],name),'rb').read(); print('opened')\n"
            " except PermissionError as e: print('PermissionError', e.errno)\n"
            " except OSError as e: print('OSError', e.errno)\n"
            "print(open(sys.argv[2]).read().strip())\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, shim.mount, real],
                       env=shim.shim_env(UNSEAL_PASSFILE=bad), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ["PermissionError 13"] * 3 + ["still here"], (
        r.stdout + r.stderr)
    assert "not the password" not in r.stderr  # no secrets in messages
    # one log line for the whole process, however many opens failed
    log = [ln for ln in r.stderr.splitlines() if ln.startswith("unseal:")]
    assert len(log) == 1 and log[0].startswith(f"unseal: key: {shim.mount}: "), log
    assert "wrong password" in log[0], log


def test_without_preload_enoent(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode (the mount is a real copy)")
    env = shim.plain_env()
    for argv in (["cat", os.path.join(shim.mount, "mid.bin")], ["ls", shim.mount],
                 ["stat", os.path.join(shim.mount, "nested")]):
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        assert r.returncode != 0 and "No such file or directory" in r.stderr, (argv, r.stderr)
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import sys;open(sys.argv[1]+'/mid.bin','rb')", shim.mount],
                       env=env, capture_output=True, text=True)
    assert "FileNotFoundError" in r.stderr
