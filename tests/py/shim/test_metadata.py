"""Metadata against the real gocryptfs: stat/lstat of every entry through
the shim equals what a read-only gocryptfs FUSE mount of the same cipher
dir reports (mode, link count, owner, mtime, ctime, plaintext size), so
modes, times and link counts demonstrably come from the cipher entries and
sizes are plaintext sizes.  Also os.scandir's cached d_type/stat."""
import subprocess

import pytest
from conftest import fuse_usable
from shimlib import gocryptfs_mounted

CODE = r"""
import os, sys
root = sys.argv[1]
def fields(st, isdir):
    return (oct(st.st_mode), st.st_nlink, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns,
            -1 if isdir else st.st_size, st.st_blocks if not isdir else -1)
out = []
for d, ds, fs in os.walk(root):
    for n in sorted(ds + fs) + ([] if d != root else ["."]):
        p = os.path.normpath(os.path.join(d, n))
        rel = os.path.relpath(p, root)
        l = os.lstat(p)
        out.append(("lstat", rel) + fields(l, os.path.stat.S_ISDIR(l.st_mode)))
        try:
            s = os.stat(p)
            out.append(("stat", rel) + fields(s, os.path.stat.S_ISDIR(s.st_mode)))
        except OSError as e:
            out.append(("stat", rel, e.errno))
    with os.scandir(d) as it:
        for e in sorted(it, key=lambda e: e.name):
            st = e.stat(follow_symlinks=False)
            out.append(("scandir", os.path.relpath(e.path, root), e.is_dir(), e.is_file(),
                        e.is_symlink(), e.inode() == st.st_ino, fields(st, e.is_dir())))
for o in sorted(out, key=repr):
    print(*o)
"""


@pytest.fixture(scope="module")
def fuse_view(shim):
    ok, why = fuse_usable()
    if not ok:
        pytest.skip(f"SKIP: no gocryptfs FUSE oracle: {why}")
    with gocryptfs_mounted(shim, shim.cipher, "meta", "-ro") as mnt:
        ref = subprocess.run(["/usr/bin/python3", "-c", CODE, mnt], env=shim.plain_env(),
                             capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    return ref.stdout


def test_stat_equals_gocryptfs(shim, fuse_view):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    got = subprocess.run(["/usr/bin/python3", "-c", CODE, shim.mount], env=shim.shim_env(),
                         capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    assert len(fuse_view.splitlines()) > 60
    assert got.stdout == fuse_view


def test_stat_differs_from_plaintext_copy(shim, fuse_view):
    """The oracle is not trivially the plaintext tree: the cipher entries'
    ctimes are their own (so a shim reporting plaintext metadata fails)."""
    plain = subprocess.run(["/usr/bin/python3", "-c", CODE, shim.plain], env=shim.plain_env(),
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0
    assert plain.stdout != fuse_view
