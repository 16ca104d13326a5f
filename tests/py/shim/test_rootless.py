"""Rootless: the matrix core as uid 65534 inside an unprivileged user
namespace (unshare -Urm), with /dev/fuse made inaccessible, the cipher dir
and passfile in a 0700 dir owned by nobody, and a copy of libunseal.so."""
import difflib
import os
import re
import shutil
import subprocess
import tempfile

import pytest

SCRIPT = r"""
set -u
R="$1"; LLAMA="$2"
echo "== sha256sum"; cd "$R" && find . -type f | LC_ALL=C sort | tr '\n' '\0' | xargs -0 sha256sum
cd /
echo "== cat"; cat "$R/mid.bin" "$R/link_deep" | sha256sum
echo "== find"; find "$R" | LC_ALL=C sort
echo "== find -type l"; find "$R" -type l | LC_ALL=C sort
echo "== ls -lR"; LC_ALL=C ls -lR --time-style=long-iso "$R"
echo "== python"
/usr/bin/python3 -c '
import os, sys, hashlib
R = sys.argv[1]
for d, ds, fs in os.walk(R):
    ds.sort()
    for f in sorted(fs):
        p = os.path.join(d, f)
        if os.path.isfile(p):
            print(os.path.relpath(p, R), hashlib.sha256(open(p, "rb").read()).hexdigest())
        else:
            print(os.path.relpath(p, R), "->", os.readlink(p))
' "$R"
echo "== llama_mmap"; "$LLAMA" "$R/model.safetensors"; "$LLAMA" "$R/big40.bin"
"""

LS = re.compile(r"^([-dlcbps])\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\d{4}-\S+\s+\S+\s+(.*)$")


def normalise(text, root):
    """Root prefix out; ls -l lines reduced to type, size (not for dirs), name."""
    out = []
    for line in text.replace(root, "<ROOT>").splitlines():
        m = LS.match(line)
        if m:
            t, size, name = m.groups()
            out.append(f"{t} {size if t != 'd' else '-'} {name}")
        elif not line.startswith("total "):
            out.append(line)
    return out


@pytest.fixture(scope="module")
def jail(shim, consumer):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    for tool in ("setpriv", "unshare"):
        if not shutil.which(tool):
            pytest.skip(f"SKIP: {tool} not installed")
    if os.getuid() != 0:
        pytest.skip("SKIP: needs root to drop to uid 65534 with setpriv")
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                            "unshare", "-Urm", "true"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"SKIP: unshare -U not permitted for uid 65534: {probe.stderr.strip()}")
    t = tempfile.mkdtemp(prefix="unseal-rootless-")
    os.chmod(t, 0o755)
    if not os.path.exists(shim.lib):
        pytest.fail(f"libunseal.so not built at {shim.lib}")
    lib = os.path.join(t, "libunseal.so")
    shutil.copy(shim.lib, lib)
    llama = os.path.join(t, "llama_mmap")
    shutil.copy(consumer("llama_mmap"), llama)
    for p in (lib, llama):
        os.chmod(p, 0o755)
    nofuse = os.path.join(t, "nofuse")
    open(nofuse, "w").close()
    os.chmod(nofuse, 0)
    secret = os.path.join(t, "secret")
    os.mkdir(secret)
    shutil.copytree(shim.cipher, os.path.join(secret, "cipher"), symlinks=True)
    shutil.copy(shim.pwfile, os.path.join(secret, "pw"))
    for d, ds, fs in os.walk(secret):
        for n in [d] + [os.path.join(d, x) for x in ds + fs]:
            os.lchown(n, 65534, 65534)
    os.chmod(secret, 0o700)
    yield dict(t=t, lib=lib, llama=llama, nofuse=nofuse, secret=secret)
    shutil.rmtree(t, ignore_errors=True)


def test_rootless_matrix_core(shim, jail):
    ref = subprocess.run(["sh", "-c", SCRIPT, "sh", shim.plain, jail["llama"]],
                         env=shim.plain_env(), capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    env = {
        "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": jail["secret"],
        "LD_PRELOAD": jail["lib"], "UNSEAL_MOUNT": shim.mount,
        "UNSEAL_CIPHER_DIR": os.path.join(jail["secret"], "cipher"),
        "UNSEAL_PASSFILE": os.path.join(jail["secret"], "pw"),
    }
    inner = ('mount --bind "$NOFUSE" /dev/fuse || exit 90; '
             'cat /proc/self/uid_map >&2; '
             'if (exec 3</dev/fuse) 2>/dev/null; then echo "fuse usable" >&2; exit 91; fi; '
             'exec sh -c "$0" sh "$@"')
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
            "unshare", "-Urm", "--", "sh", "-c", inner, SCRIPT, shim.mount, jail["llama"]]
    env["NOFUSE"] = jail["nofuse"]
    got = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, f"rc={got.returncode}\n{got.stderr[-3000:]}"
    assert re.search(r"^\s*0\s+65534\s+1\s*$", got.stderr, re.M), got.stderr[:500]
    a, b = normalise(ref.stdout, shim.plain), normalise(got.stdout, shim.mount)
    assert a == b, "\n".join(list(difflib.unified_diff(a, b, "plain", "rootless",
                                                       lineterm=""))[:60])


def test_rootless_files_really_private(shim, jail):
    """Sanity of the setup itself: root-owned original cipher dir is not what
    the jailed run used, and nobody cannot read the build tree's secrets."""
    st = os.stat(jail["secret"])
    assert st.st_uid == 65534 and st.st_mode & 0o777 == 0o700
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                        "cat", shim.pwfile], capture_output=True, text=True)
    assert r.returncode != 0  # the session's passfile is 0600 root
