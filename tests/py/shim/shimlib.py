"""Helpers shared by the shim tests (a plain module, not conftest, so that
test files can import it without clashing with other conftest.py files)."""
import contextlib
import difflib
import os
import subprocess

import pytest


class Result:
    """A finished run with its root prefix replaced by <ROOT>."""

    def __init__(self, r, root):
        self.rc = r.returncode
        self.raw = r.stdout
        self.root = root
        self.out = r.stdout.replace(root.encode(), b"<ROOT>")
        self.err = r.stderr.decode(errors="replace")
        self.text = self.out.decode(errors="replace")


def assert_same(ref, got, what=""):
    """Exact equality of exit code and normalised stdout, with a readable diff."""
    msg = ""
    if ref.out != got.out:
        diff = difflib.unified_diff(ref.text.splitlines(), got.text.splitlines(),
                                    "plaintext", "shim", lineterm="", n=1)
        msg = "\n".join(list(diff)[:80])
    assert ref.rc == got.rc and ref.out == got.out, (
        f"{what}: rc plain={ref.rc} shim={got.rc}\n{msg}\n--- shim stderr (tail):\n"
        f"{got.err[-3000:]}\n--- plain stderr (tail):\n{ref.err[-1000:]}")


def snapshot(path):
    """What a mutation of a cipher entry would change (never follows links)."""
    st = os.lstat(path)
    return (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            sorted(os.listxattr(path, follow_symlinks=False)),
            sorted(os.listdir(path)) if os.path.isdir(path) and not os.path.islink(path) else None)


@contextlib.contextmanager
def gocryptfs_mounted(shim, cdir, tag, *opts):
    """cdir mounted by the real gocryptfs (FUSE, the fixture's password) for
    the body of the with, unmounted afterwards; SKIP if it cannot mount."""
    mnt = os.path.join(shim.tmp, tag + "-fuse")
    os.makedirs(mnt, exist_ok=True)
    r = subprocess.run(["gocryptfs", "-q", *opts, "-passfile", shim.pwfile, cdir, mnt],
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        pytest.skip(f"SKIP: gocryptfs mount failed: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True, timeout=120)
