"""Helpers for the `unseal` CLI tests: corpus copies, tree listings, a random
tree generator and gocryptfs mount handling.  The oracles are the real
gocryptfs, the golden plain/ tree and its manifests, never unseal itself."""
import hashlib
import os
import random
import shutil
import stat
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.path.abspath(os.environ.get("UNSEAL_BUILD", os.path.join(REPO, "build")))
SHARED = os.path.abspath(os.environ.get("UNSEAL_SHARED", os.path.join(REPO, "..", "shared")))
GOLDEN = os.path.join(SHARED, "testdata", "gocryptfs-golden")
EXAMPLES = os.path.join(SHARED, "testdata", "gocryptfs-examples")
UNSEAL = os.path.join(BUILD, "unseal")
B64URL = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

# variant -> (cipher dir, masterkey file, namemap, info file)
VARIANTS = {
    "default": ("cipher", "masterkey.txt", "namemap.tsv", "info.txt"),
    "plaintextnames": ("cipher-plaintextnames", "masterkey-plaintextnames.txt",
                       "namemap-plaintextnames.tsv", "info-plaintextnames.txt"),
    "aessiv": ("cipher-aessiv", "masterkey-aessiv.txt", "namemap-aessiv.tsv",
               "info-aessiv.txt"),
}


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)


def unseal(*args, **kw):
    return run([UNSEAL, *args], **kw)


def write_pw(tmp_path, pw="correct horse battery staple"):
    """A passfile tmp_path/pw holding pw plus a newline; returns its path."""
    p = tmp_path / "pw"
    p.write_text(pw + "\n")
    return str(p)


# What `unseal` prints when UNSEAL_CRYPTO=ipsec-mb cannot be served here
# (crypto/keys.c): "unseal: <verb>: keys: engine ipsec-mb: CPU lacks ...".
IPSEC_UNUSABLE = "keys: engine ipsec-mb: CPU lacks AES-NI/PCLMULQDQ"


def skip_if_engine_missing(r, engine):
    """SKIP (with unseal's own reason) a run that failed only because the
    ipsec-mb engine cannot be used on this machine; any other failure is
    left to the test's assertions."""
    if r.returncode == 0 or engine != "ipsec-mb":
        return
    lines = r.stderr.strip().splitlines()
    if len(lines) == 1 and lines[0].startswith("unseal: ") and lines[0].endswith(IPSEC_UNUSABLE):
        pytest.skip(f"SKIP: ipsec-mb engine unusable here: {lines[0]}")


def need_golden():
    if not os.path.isdir(GOLDEN):
        pytest.skip(f"SKIP: golden corpus not found at {GOLDEN}")


def manifest_tree():
    """{path: (type, size, target)} from MANIFEST.tree."""
    out = {}
    with open(os.path.join(GOLDEN, "MANIFEST.tree"), encoding="utf-8") as f:
        for line in f:
            t, size, path, target = line.rstrip("\n").split("\t")
            out[path] = (t, int(size), target)
    return out


def namemap(variant):
    out = {}
    with open(os.path.join(GOLDEN, VARIANTS[variant][2]), encoding="utf-8") as f:
        for line in f:
            p, c = line.rstrip("\n").split("\t")
            out[p] = c
    return out


def _make_writable(root):
    for d, dirs, _ in os.walk(root):
        os.chmod(d, 0o755)


def _to_symlink(path, target):
    os.unlink(path)
    os.symlink(target, path)


def golden_plain(dst):
    """Copy plain/ to dst, restoring the symlinks that the shared copy
    flattened into regular files (MANIFEST.tree says what they were)."""
    need_golden()
    shutil.copytree(os.path.join(GOLDEN, "plain"), dst, symlinks=True)
    _make_writable(dst)
    for p, (t, _, target) in manifest_tree().items():
        full = os.path.join(dst, p)
        if t == "l" and not os.path.islink(full):
            _to_symlink(full, target)
    return dst


def golden_cipher(variant, dst):
    """Copy a golden cipher dir to dst with its symlinks restored: the shared
    copy holds each cipher symlink as a regular file containing the target
    string; namemap + MANIFEST.tree say which entries those are."""
    need_golden()
    shutil.copytree(os.path.join(GOLDEN, VARIANTS[variant][0]), dst, symlinks=True)
    _make_writable(dst)
    nm = namemap(variant)
    for p, (t, _, _) in manifest_tree().items():
        full = os.path.join(dst, nm[p])
        if t == "l" and not os.path.islink(full):
            with open(full, "rb") as f:
                target = f.read().decode()
            _to_symlink(full, target)
    return dst


def example_cipher(name, dst):
    """Copy an upstream example fs, restoring flattened symlinks: encrypted
    file contents start with the 0x0002 header, while a flattened symlink
    holds only b64url characters, so the two never mix up."""
    src = os.path.join(EXAMPLES, name)
    if not os.path.isdir(src):
        pytest.skip(f"SKIP: upstream examples not found at {EXAMPLES}")
    shutil.copytree(src, dst, symlinks=True)
    _make_writable(dst)
    for e in os.listdir(dst):
        full = os.path.join(dst, e)
        if e.startswith("gocryptfs.") or os.path.islink(full) or not os.path.isfile(full):
            continue
        with open(full, "rb") as f:
            data = f.read()
        if data and set(data) <= B64URL:
            _to_symlink(full, data.decode())
    return dst


def listing(root):
    """{relpath: (type, size-or-target, mode)} of a tree, symlinks not followed."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            full = os.path.join(d, n)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(full), None)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", None, stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("f", st.st_size, stat.S_IMODE(st.st_mode))
    return out


def tree_hash(root):
    """Hash of names, types, modes, mtimes, contents and link targets."""
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for n in sorted(dirs + files):
            full = os.path.join(d, n)
            st = os.lstat(full)
            h.update(os.path.relpath(full, root).encode("utf-8", "surrogateescape"))
            h.update(f"{st.st_mode}:{st.st_mtime_ns}:{st.st_size}".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode("utf-8", "surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def diff_trees(a, b):
    """diff -r --no-dereference plus a mode check; returns '' when equal."""
    r = run(["diff", "-r", "--no-dereference", a, b])
    if r.returncode != 0:
        return r.stdout + r.stderr
    la, lb = listing(a), listing(b)
    if la != lb:
        bad = sorted(k for k in set(la) | set(lb) if la.get(k) != lb.get(k))
        return "listing differs: " + repr([(k, la.get(k), lb.get(k)) for k in bad[:5]])
    return ""


def leftovers(parent):
    return [n for n in os.listdir(parent) if ".unseal-tmp-" in n]


def random_tree(root, seed=1234):
    """A tree with the awkward cases: sizes around block boundaries, a large
    file, nested dirs, 175/176/255-byte names, unicode, symlinks (relative,
    absolute, dangling), a sparse file, various modes."""
    rnd = random.Random(seed)
    os.makedirs(root)
    sizes = [0, 1, 15, 16, 4095, 4096, 4097, 8191, 8192, 12289, 65536 + 3,
             3 * 1024 * 1024 + 11]
    for s in sizes:
        with open(os.path.join(root, f"size_{s}.bin"), "wb") as f:
            f.write(rnd.randbytes(s))
    deep = os.path.join(root, "a", "b", "c")
    os.makedirs(deep)
    with open(os.path.join(deep, "deep.txt"), "w") as f:
        f.write("deep\n")
    for n in (175, 176, 255):
        with open(os.path.join(root, f"n{n}_".ljust(n, "x")), "w") as f:
            f.write(f"name length {n}\n")
    os.makedirs(os.path.join(root, "d200_".ljust(200, "y"), "inner"))
    with open(os.path.join(root, "d200_".ljust(200, "y"), "inner", "f"), "w") as f:
        f.write("in a long dir\n")
    with open(os.path.join(root, "ünïcødé ✓ – 名前.txt"), "w", encoding="utf-8") as f:
        f.write("unicode\n")
    os.symlink("size_1.bin", os.path.join(root, "rel_link"))
    os.symlink("../../../size_15.bin", os.path.join(deep, "up_link"))
    os.symlink("/etc/hostname", os.path.join(root, "abs_link"))
    os.symlink("does/not/exist", os.path.join(root, "dangling"))
    os.symlink("x" * 1000, os.path.join(root, "long_target"))
    with open(os.path.join(root, "sparse.bin"), "wb") as f:
        f.truncate(5 * 4096 + 100)
        f.seek(2 * 4096 + 7)
        f.write(b"SPARSE")
    os.chmod(os.path.join(root, "size_1.bin"), 0o600)
    os.chmod(os.path.join(root, "size_15.bin"), 0o755)
    os.chmod(os.path.join(root, "size_16.bin"), 0o444)
    os.chmod(os.path.join(root, "a", "b"), 0o700)
    os.makedirs(os.path.join(root, "empty_dir"))
    return root


class Mount:
    """gocryptfs mount on a fresh dir; always unmounted in close()."""

    def __init__(self, cipher, args):
        self.mnt = tempfile.mkdtemp(prefix="unseal-cli-mnt-")
        r = run(["gocryptfs", "-q", *args, cipher, self.mnt])
        if r.returncode != 0:
            os.rmdir(self.mnt)
            raise AssertionError(f"gocryptfs mount failed: {r.stderr}")

    def close(self):
        fm = shutil.which("fusermount3") or "fusermount"
        run([fm, "-u", self.mnt])
        try:
            os.rmdir(self.mnt)
        except OSError:
            run([fm, "-uz", self.mnt])
