"""Fixtures for the shim consumer matrix.

One session fixture builds a plaintext tree with random contents and encrypts
it with the REAL gocryptfs (FUSE mount + cp -a).  Every test runs a consumer
once on the plaintext tree without the shim (the reference) and once on the
virtual mount path with LD_PRELOAD=libunseal.so, then compares the outputs
with the root prefix normalised.  Expected output never comes from unseal.
"""
import os
import random
import shutil
import subprocess
import tempfile

import pytest
from shimlib import Result
# The locations every suite uses (testlib, not tests/py/conftest: conftest
# modules cannot be imported by name).
from testlib import BUILD, GOLDEN, LIBUNSEAL, REPO, SYS_PYTHON, UNSEAL


def fuse_usable():
    """(ok, reason) for mounting gocryptfs here."""
    if not shutil.which("gocryptfs"):
        return False, "gocryptfs binary not installed"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return False, "/dev/fuse is missing or not accessible"
    if not shutil.which("fusermount3"):
        return False, "fusermount3 not installed"
    return True, ""

# UNSEAL_SHIMTESTS_SELFCHECK=1 validates the tests themselves before the shim
# exists: the mount path is a plain copy and LD_PRELOAD is not set.
SELFCHECK = os.environ.get("UNSEAL_SHIMTESTS_SELFCHECK") == "1"
CONSUMERS_SRC = os.path.join(REPO, "tests", "consumers")
PASSWORD = "shimtests-pw-\u00e9x"
_FIXTURE_NOTE = []


def pytest_terminal_summary(terminalreporter):
    for note in _FIXTURE_NOTE:
        terminalreporter.write_line(f"shim fixture: {note}")


# ---------------------------------------------------------------- plaintext


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _safetensors_like(rng):
    """8-byte LE header length, JSON header, raw tensor bytes (safetensors layout)."""
    import json
    import struct

    data = rng.randbytes(4 * 64 + 2 * 32)
    hdr = {
        "w": {"dtype": "F32", "shape": [8, 8], "data_offsets": [0, 256]},
        "b": {"dtype": "F16", "shape": [32], "data_offsets": [256, 320]},
        "__metadata__": {"format": "pt"},
    }
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def build_plain(root):
    """The plaintext tree.  Sizes straddle the 4096-byte block edges."""
    rng = random.Random(20240611)
    files = {
        "empty.bin": 0,
        "one.bin": 1,
        "b4095.bin": 4095,
        "b4096.bin": 4096,
        "b4097.bin": 4097,
        "mid.bin": 3 * 1024 * 1024 + 123,
        "big40.bin": 40 * 1024 * 1024 + 77,
        "nested/a/b/c/deep.bin": 12345,
        "nested/a/sib.bin": 8193,
        "nested/x/y.bin": 100,
        "L" * 175: 4100,
        "M" * 176: 5000,
        "N" * 255: 300,
        "nested/a/" + "Q" * 200: 42,
        "\u00fcn\u00efc\u00f8d\u00e9-\u540d\u524d.bin": 777,
        "emoji-\U0001f642/inner \u00e9.bin": 4096 * 3,
    }
    for name, size in files.items():
        _write(os.path.join(root, name), rng.randbytes(size))
    lines = [f"line {i}: " + "".join(rng.choice("abcdef\u00e9") for _ in range(i % 97))
             for i in range(3000)]
    _write(os.path.join(root, "text.txt"), ("\n".join(lines) + "\n").encode())
    _write(os.path.join(root, "model.safetensors"), _safetensors_like(rng))
    os.makedirs(os.path.join(root, "emptydir"))
    os.symlink("nested/a/b/c/deep.bin", os.path.join(root, "link_deep"))
    os.symlink("../one.bin", os.path.join(root, "nested", "up_one"))
    os.symlink("../../../b4096.bin", os.path.join(root, "nested/a/b/up3"))
    os.symlink("nested/a", os.path.join(root, "dirlink"))
    os.symlink("missing-target", os.path.join(root, "dangling"))
    _numpy_files(root)


def _numpy_files(root):
    try:
        import numpy as np
    except ImportError:
        # the matrix uses /usr/bin/python3, which has Debian's numpy
        code = ("import numpy as np,sys;r=np.random.default_rng(5);"
                "np.save(sys.argv[1]+'/arr.npy',r.standard_normal((300,70)));"
                "np.savez(sys.argv[1]+'/arrs.npz',a=np.arange(5000),b=r.integers(0,9,(40,40)));"
                "r.standard_normal(100000).astype('float32').tofile(sys.argv[1]+'/raw.f32')")
        r = subprocess.run([SYS_PYTHON, "-c", code, root], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return
    r = np.random.default_rng(5)
    np.save(os.path.join(root, "arr.npy"), r.standard_normal((300, 70)))
    np.savez(os.path.join(root, "arrs.npz"), a=np.arange(5000), b=r.integers(0, 9, (40, 40)))
    r.standard_normal(100000).astype("float32").tofile(os.path.join(root, "raw.f32"))


# --------------------------------------------------------------- encryption


def _sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def _encrypt_gocryptfs(plain, cipher, pwfile, base):
    ok, why = fuse_usable()
    if not ok:
        return False, why
    os.makedirs(cipher)
    r = _sh(["gocryptfs", "-init", "-q", "-scryptn", "10", "-passfile", pwfile, cipher])
    if r.returncode:
        return False, f"gocryptfs -init failed: {r.stderr.strip()}"
    mnt = os.path.join(base, "fuse-mnt")
    os.makedirs(mnt)
    r = _sh(["gocryptfs", "-q", "-passfile", pwfile, cipher, mnt])
    if r.returncode:
        return False, f"gocryptfs mount failed: {r.stderr.strip()}"
    try:
        r = _sh(["cp", "-a", plain + "/.", mnt + "/"])
        if r.returncode:
            return False, f"cp -a into the mount failed: {r.stderr.strip()}"
    finally:
        _sh(["fusermount3", "-u", mnt])
    os.rmdir(mnt)
    return True, "encrypted with the real gocryptfs (FUSE mount + cp -a)"


def _encrypt_unseal(plain, cipher, pwfile):
    if not os.access(UNSEAL, os.X_OK):
        return False, "no unseal binary for the fallback"
    r = _sh([UNSEAL, "encrypt", "--scryptn", "10", "--passfile", pwfile, plain, cipher])
    if r.returncode:
        return False, f"unseal encrypt failed: {r.stderr.strip()}"
    return True, "FUSE unusable: encrypted with `unseal encrypt --scryptn 10` (weaker oracle)"


class ShimEnv:
    """Everything a test needs: the trees, the library and env builders."""

    def __init__(self, base, plain, cipher, pwfile, mount, note):
        self.base, self.plain, self.cipher = base, plain, cipher
        self.pwfile, self.mount, self.note = pwfile, mount, note
        self.lib = os.path.abspath(os.environ.get("UNSEAL_LIB", LIBUNSEAL))
        self.unseal = UNSEAL
        self.selfcheck = SELFCHECK
        self.tmp = os.path.join(base, "work")
        os.makedirs(self.tmp, exist_ok=True)

    def shim_env(self, extra=None, **kw):
        """Environment for a run through the shim on self.mount."""
        if SELFCHECK:
            return self.plain_env()
        if not os.path.exists(self.lib):
            pytest.fail(f"libunseal.so not built at {self.lib} (make B=... libunseal.so)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNSEAL_")}
        env.pop("LD_PRELOAD", None)
        env.update(UNSEAL_CIPHER_DIR=self.cipher, UNSEAL_MOUNT=self.mount,
                   UNSEAL_PASSFILE=self.pwfile, LD_PRELOAD=self.lib)
        env.update(kw)
        if extra:
            env.update(extra)
        return env

    def plain_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNSEAL_")}
        env.pop("LD_PRELOAD", None)
        return env

    def run_both(self, argv_fn, stdin=None, text=False, timeout=300, extra_env=None,
                 cwd_fn=None):
        """Run argv_fn(root) on plain (reference) and on the mount via the shim."""
        out = []
        for root, env in ((self.plain, self.plain_env()), (self.mount, self.shim_env(extra_env))):
            r = subprocess.run(argv_fn(root), env=env, capture_output=True, timeout=timeout,
                               input=stdin, cwd=cwd_fn(root) if cwd_fn else None)
            out.append(Result(r, root))
        return out[0], out[1]


@pytest.fixture(scope="session")
def shim():
    base = tempfile.mkdtemp(prefix="unseal-shimtests-")
    os.chmod(base, 0o755)
    plain = os.path.join(base, "plain")
    cipher = os.path.join(base, "cipher")
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(pwfile, 0o600)
    build_plain(plain)
    ok, note = _encrypt_gocryptfs(plain, cipher, pwfile, base)
    if not ok:
        why = note
        shutil.rmtree(cipher, ignore_errors=True)
        ok, note = _encrypt_unseal(plain, cipher, pwfile)
        if not ok:
            # last resort: the checked-in golden corpus
            if not os.path.isdir(GOLDEN):
                pytest.skip(f"SKIP: no way to build a cipher tree ({why}; {note})")
            shutil.rmtree(plain)
            shutil.copytree(os.path.join(GOLDEN, "plain"), plain, symlinks=True)
            shutil.copytree(os.path.join(GOLDEN, "cipher"), cipher, symlinks=True)
            shutil.copyfile(os.path.join(GOLDEN, "password.txt"), pwfile)
            note = f"FUSE unusable ({why}): using a copy of gocryptfs-golden"
    _FIXTURE_NOTE.append(note)
    print(f"\nshim fixture: {note}")
    # the virtual root and its parent must not exist (fail closed)
    mount = os.path.join(base + "-virt", "model")
    assert not os.path.exists(os.path.dirname(mount))
    if SELFCHECK:
        # test-of-the-tests: "mount" is a plain copy and no shim is loaded
        shutil.copytree(plain, mount, symlinks=True)
        _FIXTURE_NOTE.append("SELFCHECK: no shim loaded, mount is a plaintext copy")
    env = ShimEnv(base, plain, cipher, pwfile, mount, note)
    yield env
    if not os.environ.get("UNSEAL_KEEP_TMP"):
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(base + "-virt", ignore_errors=True)


# ---------------------------------------------------------------- consumers

CFLAGS = ["-std=gnu11", "-D_GNU_SOURCE", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]


def compile_c(src, out, extra=()):
    """Compile one consumer like the Makefile does (plus extra flags)."""
    cxx = src.endswith(".cc")
    cmd = (["c++", "-std=gnu++17", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]
           if cxx else ["cc"] + CFLAGS) + list(extra) + ["-o", out, src] + ([] if cxx else ["-ldl"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"compile {src} failed:\n{r.stderr}"
    return out


@pytest.fixture(scope="session")
def consumer(shim):
    """consumer(name, *flags) -> path of a built consumer binary.

    Uses $BUILD/consumers/<name> when it is newer than its source (built by
    make); otherwise (or with extra flags) compiles into the session tmp dir.
    """
    cache = {}

    def get(name, *extra):
        key = (name,) + extra
        if key in cache:
            return cache[key]
        src = os.path.join(CONSUMERS_SRC, name + ".c")
        if not os.path.exists(src):
            src = os.path.join(CONSUMERS_SRC, name + ".cc")
        built = os.path.join(BUILD, "consumers", name)
        header = os.path.join(CONSUMERS_SRC, "consumer.h")
        if (not extra and os.path.exists(built)
                and os.path.getmtime(built) >= max(os.path.getmtime(src),
                                                   os.path.getmtime(header))):
            cache[key] = built
        else:
            tag = "".join(c if c.isalnum() else "_" for c in "".join(extra))
            out = os.path.join(shim.tmp, f"{name}{tag}")
            cache[key] = compile_c(src, out, extra)
        return cache[key]

    return get
