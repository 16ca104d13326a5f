"""Shared pytest fixtures: where the build, the shared material and tools are."""
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


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def unseal_bin():
    assert os.access(UNSEAL, os.X_OK), "build/unseal missing: run make"
    return UNSEAL


@pytest.fixture(scope="session")
def libunseal():
    assert os.path.exists(LIBUNSEAL), "build/libunseal.so missing: run make"
    return LIBUNSEAL


@pytest.fixture(scope="session")
def golden():
    if not os.path.isdir(GOLDEN):
        pytest.skip(f"shared corpus not found at {GOLDEN}")
    return GOLDEN


@pytest.fixture(scope="session")
def examples():
    if not os.path.isdir(EXAMPLES):
        pytest.skip(f"upstream examples not found at {EXAMPLES}")
    return EXAMPLES


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


@pytest.fixture
def need_fuse():
    ok, why = fuse_usable()
    if not ok:
        pytest.skip(f"SKIP: {why}")


def run(cmd, **kw):
    """subprocess.run with text output captured; never raises on exit code."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)
