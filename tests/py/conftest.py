"""Shared pytest fixtures: where the build, the shared material and tools are."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from testlib import (BUILD, EXAMPLES, GOLDEN, LIBUNSEAL, REPO, SHARED, SYS_PYTHON, UNSEAL,  # noqa: E402,F401
                     fuse_usable, run)


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


@pytest.fixture
def need_fuse():
    ok, why = fuse_usable()
    if not ok:
        pytest.skip(f"SKIP: {why}")


