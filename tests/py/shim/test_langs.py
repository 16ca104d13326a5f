"""Rust std and Node consumers (toolchains are optional: SKIP when absent)."""
import os
import shutil
import subprocess

import pytest
from shimlib import assert_same

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "consumers")


def rustc():
    for c in (shutil.which("rustc"), "/root/.cargo/bin/rustc",
              os.path.expanduser("~/.cargo/bin/rustc")):
        if c and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="module")
def rust_bin(shim):
    rc = rustc()
    if not rc:
        pytest.skip("SKIP: rustc not found")
    out = os.path.join(shim.tmp, "rust_std")
    r = subprocess.run([rc, "-O", "--edition", "2021", "-o", out,
                        os.path.join(SRC, "rust_std.rs")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def test_rust_std(shim, rust_bin):
    def argv(root):
        tag = "plain" if root == shim.plain else "shim"
        return [rust_bin, root, os.path.join(shim.tmp, f"rust-copy-{tag}")]
    ref, got = shim.run_both(argv)
    for d in (shim.plain, shim.mount if shim.selfcheck else None):
        if d and os.path.exists(os.path.join(d, "new.bin")):
            os.unlink(os.path.join(d, "new.bin"))  # made by the plaintext reference run
    # the plaintext reference may create new.bin; compare everything before that
    ref.out = ref.out.rsplit(b"create", 1)[0]
    got_create = got.out.rsplit(b"create", 1)[-1]
    got.out = got.out.rsplit(b"create", 1)[0]
    assert_same(ref, got, "rust_std")
    if not shim.selfcheck:
        assert got_create.strip() == b"err true"
        assert open(os.path.join(shim.tmp, "rust-copy-shim"), "rb").read() == \
            open(os.path.join(shim.plain, "mid.bin"), "rb").read()


def test_node(shim):
    node = shutil.which("node")
    if not node:
        pytest.skip("SKIP: node not found")
    ref, got = shim.run_both(lambda root: [node, os.path.join(SRC, "node_fs.js"), root],
                             timeout=300)
    assert ref.rc == 0, ref.err
    assert_same(ref, got, "node_fs.js")
