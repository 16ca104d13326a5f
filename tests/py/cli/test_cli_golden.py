"""unseal decrypt/verify/info against the real-gocryptfs golden corpus and
the upstream example filesystems (oracles: plain/, the manifests, content/,
the recorded `gocryptfs -info` output)."""
import hashlib
import os

import pytest

import clilib as L

ENGINES = ["openssl", "ipsec-mb"]


def engine_env(engine):
    env = dict(os.environ)
    env["UNSEAL_CRYPTO"] = engine
    return env


skip_if_engine_missing = L.skip_if_engine_missing


def key_args(variant, key):
    if key == "password":
        return ["--passfile", os.path.join(L.GOLDEN, "password.txt")]
    return ["--masterkey-file", os.path.join(L.GOLDEN, L.VARIANTS[variant][1])]


def check_manifests(out):
    """Compare with MANIFEST.sha256 and MANIFEST.tree, independently of plain/."""
    with open(os.path.join(L.GOLDEN, "MANIFEST.sha256"), encoding="utf-8") as f:
        for line in f:
            digest, path = line.rstrip("\n").split("  ", 1)
            with open(os.path.join(out, path), "rb") as g:
                assert hashlib.sha256(g.read()).hexdigest() == digest, path
    tree = L.manifest_tree()
    got = L.listing(out)
    assert set(got) == set(tree), set(got) ^ set(tree)
    for p, (t, size, target) in tree.items():
        assert got[p][0] == t, p
        if t == "l":
            assert got[p][1] == target, p
        elif t == "f":
            assert got[p][1] == size, p


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("key", ["password", "masterkey"])
@pytest.mark.parametrize("variant", list(L.VARIANTS))
def test_decrypt_golden(tmp_path, variant, key, engine):
    cipher = L.golden_cipher(variant, str(tmp_path / "cipher"))
    plain = L.golden_plain(str(tmp_path / "plain"))
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--quiet", *key_args(variant, key), cipher, out,
                 env=engine_env(engine))
    skip_if_engine_missing(r, engine)
    assert r.returncode == 0, r.stderr
    assert L.diff_trees(plain, out) == ""
    check_manifests(out)
    assert L.leftovers(str(tmp_path)) == []
    # sparse.bin: 20000 bytes, data only at 10000..10019.
    with open(os.path.join(out, "sparse.bin"), "rb") as f:
        data = f.read()
    assert data == b"\0" * 10000 + b"SPARSE-DATA-AT-10000" + b"\0" * 9980


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("variant", list(L.VARIANTS))
def test_verify_golden(tmp_path, variant, engine):
    cipher = L.golden_cipher(variant, str(tmp_path / "cipher"))
    r = L.unseal("verify", *key_args(variant, "password"), cipher, env=engine_env(engine))
    skip_if_engine_missing(r, engine)
    assert r.returncode == 0, r.stdout + r.stderr
    tree = L.manifest_tree()
    nfiles = sum(1 for t, _, _ in tree.values() if t == "f")
    ndirs = 1 + sum(1 for t, _, _ in tree.values() if t == "d")
    nlinks = sum(1 for t, _, _ in tree.values() if t == "l")
    nbytes = sum(s for t, s, _ in tree.values() if t == "f")
    assert r.stdout.strip().endswith(
        f"verified {nfiles} files, {ndirs} dirs, {nlinks} symlinks, 0 special, {nbytes} bytes: "
        "0 errors")
    assert "BAD" not in r.stdout


@pytest.mark.parametrize("variant", list(L.VARIANTS))
def test_info_matches_gocryptfs(variant):
    L.need_golden()
    cdir, _, _, info = L.VARIANTS[variant]
    r = L.unseal("info", os.path.join(L.GOLDEN, cdir))
    assert r.returncode == 0, r.stderr
    with open(os.path.join(L.GOLDEN, info), encoding="utf-8") as f:
        assert r.stdout == f.read()


@pytest.mark.parametrize("name", ["v1.3", "v2.2-deterministic-names"])
def test_info_examples_live_gocryptfs(name):
    import shutil
    if not shutil.which("gocryptfs"):
        pytest.skip("SKIP: gocryptfs binary not installed")
    src = os.path.join(L.EXAMPLES, name)
    if not os.path.isdir(src):
        pytest.skip(f"SKIP: upstream examples not found at {L.EXAMPLES}")
    want = L.run(["gocryptfs", "-info", src])
    assert want.returncode == 0, want.stderr
    got = L.unseal("info", src)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["v1.3", "v2.2-deterministic-names"])
def test_examples(tmp_path, name, engine):
    cipher = L.example_cipher(name, str(tmp_path / "cipher"))
    pw = tmp_path / "pw"
    pw.write_text("test\n")
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--quiet", "--passfile", str(pw), cipher, out,
                 env=engine_env(engine))
    skip_if_engine_missing(r, engine)
    assert r.returncode == 0, r.stderr
    content = os.path.join(L.EXAMPLES, "content")
    # content/ holds the symlinks flattened: their bytes are the targets.
    want = {}
    for n in os.listdir(content):
        with open(os.path.join(content, n), "rb") as f:
            want[n] = f.read()
    got = L.listing(out)
    assert set(got) == set(want)
    for n in ("rel", "abs"):
        assert got[n][0] == "l" and got[n][1].encode() == want[n]
    for n, data in want.items():
        if n in ("rel", "abs"):
            continue
        with open(os.path.join(out, n), "rb") as f:
            assert f.read() == data, n
    assert os.readlink(os.path.join(out, "rel")) == "status.txt"
    assert os.readlink(os.path.join(out, "abs")) == "/a/b/c/d"
    r = L.unseal("verify", "--passfile", str(pw), cipher, env=engine_env(engine))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified 2 files, 1 dirs, 2 symlinks, 0 special, 20 bytes: 0 errors" in r.stdout


def test_examples_masterkey(tmp_path):
    """The master keys from the upstream test, with dashes as gocryptfs prints them."""
    keys = {"v1.3": "fd890dab-86bf61cf-ec5ad460-ad3ed01f-9c52d546-2a31783d-a56b088d-3d05232e",
            "v2.2-deterministic-names":
            "722733f5-b0f399f5-5465ad7a-f0bed125-e82de7b4-045e7608-a5e5c78e-04a1a61e"}
    for name, key in keys.items():
        cipher = L.example_cipher(name, str(tmp_path / ("c-" + name)))
        mk = tmp_path / ("mk-" + name)
        mk.write_text(key + "\n")
        r = L.unseal("verify", "--masterkey-file", str(mk), cipher)
        assert r.returncode == 0, r.stdout + r.stderr


def test_password_from_stdin(tmp_path):
    cipher = L.golden_cipher("default", str(tmp_path / "cipher"))
    with open(os.path.join(L.GOLDEN, "password.txt")) as f:
        pw = f.read()
    r = L.unseal("verify", cipher, input=pw + "\nsecond line ignored\n")
    assert r.returncode == 0, r.stdout + r.stderr


def test_threads_option(tmp_path):
    cipher = L.golden_cipher("default", str(tmp_path / "cipher"))
    plain = L.golden_plain(str(tmp_path / "plain"))
    for n in ("1", "3"):
        out = str(tmp_path / ("out" + n))
        r = L.unseal("decrypt", "--threads", n, "--passfile",
                     os.path.join(L.GOLDEN, "password.txt"), cipher, out)
        assert r.returncode == 0, r.stderr
        assert L.diff_trees(plain, out) == ""
