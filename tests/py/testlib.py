"""Paths and helpers shared by every pytest suite (import it as `testlib`;
conftest modules cannot be imported by name when several exist)."""
import os
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("UNSEAL_BUILD", os.path.join(REPO, "build")))
SHARED = os.path.abspath(os.environ.get("UNSEAL_SHARED", os.path.join(REPO, "..", "shared")))
GOLDEN = os.path.join(SHARED, "testdata", "gocryptfs-golden")
EXAMPLES = os.path.join(SHARED, "testdata", "gocryptfs-examples")
UNSEAL = os.path.join(BUILD, "unseal")
LIBUNSEAL = os.path.join(BUILD, "libunseal.so")
SYS_PYTHON = "/usr/bin/python3"


def fuse_usable():
    """(ok, reason) for mounting gocryptfs here."""
    if not shutil.which("gocryptfs"):
        return False, "gocryptfs binary not installed"
    if not os.path.exists("/dev/fuse"):
        return False, "/dev/fuse is missing"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return False, "/dev/fuse is not accessible to this user"
    if not shutil.which("fusermount3") and not shutil.which("fusermount"):
        return False, "fusermount3 not installed"
    return True, ""


def run(cmd, **kw):
    """subprocess.run with text output captured; never raises on exit code."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)


# ---- shim suites: private cipher copies (the `shim` fixture of tests/py/shim)

def private_cipher(shim, tag):
    """A fresh copy of the fixture's cipher dir that a test may damage."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    cdir = os.path.join(shim.tmp, "cipher-" + tag)
    shutil.rmtree(cdir, ignore_errors=True)
    shutil.copytree(shim.cipher, cdir, symlinks=True)
    return cdir


def cipher_name(shim, cdir, name):
    """Cipher file name in cdir of a top-level plaintext file, by size arithmetic
    (unique sizes in the fixture) -- independent of unseal's name code."""
    size = os.path.getsize(os.path.join(shim.plain, name))
    want = 18 + size + 32 * -(-size // 4096) if size else 0
    hits = [f for f in os.listdir(cdir)
            if not f.startswith("gocryptfs.") and os.path.isfile(os.path.join(cdir, f))
            and os.path.getsize(os.path.join(cdir, f)) == want]
    assert len(hits) == 1, f"cannot identify the cipher file of {name}: {hits}"
    return hits[0]
