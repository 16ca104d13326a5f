"""coreutils/findutils consumers, plaintext vs shim, outputs normalised."""
import difflib
import os
import re
import subprocess

import pytest
from shimlib import assert_same
from test_python import tree_equal


def sh(shim, script, **kw):
    """Run a shell snippet with $R = root; the shell itself is under the shim."""
    ref, got = shim.run_both(lambda root: ["/bin/sh", "-c", script, "sh", root], **kw)
    assert ref.rc == 0, f"reference failed: {ref.err}"
    assert_same(ref, got, script)
    return ref, got


@pytest.mark.parametrize("name", ["mid.bin", "text.txt", "empty.bin", "b4097.bin", "link_deep",
                                  "dirlink/b/c/deep.bin", "emoji-\U0001f642/inner \u00e9.bin"])
def test_cat(shim, name):
    ref, got = shim.run_both(lambda root: ["cat", os.path.join(root, name)])
    assert ref.raw == open(os.path.join(shim.plain, name), "rb").read()
    assert got.rc == 0 and got.raw == ref.raw, got.err[-2000:]


def test_cat_big(shim):
    ref, got = shim.run_both(lambda root: ["cat", os.path.join(root, "big40.bin")])
    assert got.rc == 0, got.err[-2000:]
    assert len(got.raw) == len(ref.raw) and got.raw == ref.raw


def test_sha256sum_all(shim):
    # find prints paths; sha256sum reads each file through the shim
    sh(shim, 'cd "$1" && find . -type f | LC_ALL=C sort | tr "\\n" "\\0" | xargs -0 sha256sum')
    sh(shim, 'find "$1" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum')


def test_cp_r(shim):
    outs = {}

    def argv(root):
        dst = os.path.join(shim.tmp, "cpr-" + ("plain" if root == shim.plain else "shim"))
        subprocess.run(["rm", "-rf", dst])
        outs[root] = dst
        return ["cp", "-r", root, dst]

    ref, got = shim.run_both(argv)
    assert_same(ref, got, "cp -r")
    tree_equal(shim.plain, outs[shim.mount])


def test_ls_lR(shim):
    """Compare type, size and name columns (not owner, mode, times, links)."""
    def cols(res):
        out = []
        for line in res.text.splitlines():
            m = re.match(r"^([-dlcbps])\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\d{4}-\S+\s+\S+\s+(.*)$",
                         line)
            if m:
                t, size, name = m.groups()
                out.append(f"{t} {size if t != 'd' else '-'} {name}")
            elif line.startswith("total "):
                continue
            else:
                out.append(line)
        return out

    ref, got = shim.run_both(lambda root: ["ls", "-lR", "--time-style=long-iso", root],
                             extra_env={"LC_ALL": "C"})
    assert got.rc == ref.rc == 0, got.err[-2000:]
    a, b = cols(ref), cols(got)
    assert a == b, "\n".join(difflib.unified_diff(a, b, "plain", "shim", lineterm=""))
    assert any(" -> nested/a/b/c/deep.bin" in x for x in a)


@pytest.mark.parametrize("args", [["-type", "f"], ["-type", "l"], ["-type", "d"],
                                  ["-name", "*.bin"], ["-name", "deep*"],
                                  ["-L", "-type", "f", "-name", "*.bin"], ["-size", "+1M"],
                                  ["-empty"]])
def test_find(shim, args):
    def argv(root):
        if args[0] == "-L":
            return ["find", "-L", root] + args[1:]
        return ["find", root] + args

    ref, got = shim.run_both(argv)
    sref = sorted(ref.text.splitlines())
    sgot = sorted(got.text.splitlines())
    assert ref.rc == got.rc and sref == sgot, (set(sref) ^ set(sgot), got.err[-2000:])


def test_du_ab(shim):
    """du -ab: apparent sizes of files and symlinks (directory sizes differ by fs)."""
    def norm(res):
        out = []
        for line in res.text.splitlines():
            size, path = line.split("\t", 1)
            full = os.path.join(shim.plain, os.path.relpath(path.replace("<ROOT>", shim.plain),
                                                            shim.plain))
            if os.path.isdir(full) and not os.path.islink(full):
                continue
            out.append(f"{size}\t{path}")
        return sorted(out)

    ref, got = shim.run_both(lambda root: ["du", "-ab", root])
    assert ref.rc == got.rc == 0, got.err[-2000:]
    assert norm(ref) == norm(got)


def test_stat_head_readlink_realpath(shim):
    sh(shim, 'cd "$1" && for f in one.bin b4096.bin big40.bin link_deep dirlink dangling nested '
             'emptydir; do stat -c "%n %F" "$f"; done; '
             'for f in one.bin b4095.bin big40.bin text.txt; do stat -c "%n %s" "$f"; done; '
             'stat -L -c "%n %s %F" link_deep dirlink')
    sh(shim, 'head -c 5000 "$1/mid.bin" | od -An -tx1 | tail -3; head -c 17 "$1/text.txt"; '
             'tail -c 100 "$1/big40.bin" | od -An -tx1 | head -2')
    sh(shim, 'readlink "$1/link_deep" "$1/nested/a/b/up3" "$1/dirlink"; '
             'readlink -f "$1/dirlink/b/up3"; realpath "$1/link_deep" "$1/dirlink/../nested"; '
             'realpath -e "$1/dangling" || echo dangling-missing')


def test_unseal_run_cat_sha256(shim):
    """A few runs through `unseal run` instead of setting the env by hand."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    if not os.access(shim.unseal, os.X_OK):
        pytest.fail(f"unseal CLI not built at {shim.unseal}")
    plain = subprocess.run(["sha256sum", os.path.join(shim.plain, "mid.bin"),
                            os.path.join(shim.plain, "nested/a/b/c/deep.bin")],
                           capture_output=True, text=True).stdout.replace(shim.plain, "<R>")
    env = shim.plain_env()
    env["UNSEAL_LIB"] = shim.lib
    r = subprocess.run([shim.unseal, "run", "--cipher", shim.cipher, "--mount", shim.mount,
                        "--passfile", shim.pwfile, "--", "sha256sum",
                        os.path.join(shim.mount, "mid.bin"),
                        os.path.join(shim.mount, "nested/a/b/c/deep.bin")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(shim.mount, "<R>") == plain
    r = subprocess.run([shim.unseal, "run", "--cipher", shim.cipher, "--mount", shim.mount,
                        "--passfile", shim.pwfile, "--", "/usr/bin/python3", "-c",
                        "import os,sys;print(sorted(os.listdir(sys.argv[1])))", shim.mount],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == str(sorted(os.listdir(shim.plain))) + "\n"
