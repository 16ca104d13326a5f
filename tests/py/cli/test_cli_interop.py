"""Interop with the real gocryptfs in both directions.  unseal encrypt ->
gocryptfs -ro mount + -fsck; gocryptfs -init + writes through the mount ->
unseal decrypt/verify.  Needs FUSE (need_fuse skips with the reason)."""
import os
import shutil

import pytest

import clilib as L


def mount_and_compare(cipher, plain, args):
    m = L.Mount(cipher, ["-ro", *args])
    try:
        return L.diff_trees(plain, m.mnt), L.listing(m.mnt)
    finally:
        m.close()


def fsck(cipher, pwfile):
    r = L.run(["gocryptfs", "-fsck", "-passfile", pwfile, cipher])
    return r.returncode, r.stdout + r.stderr


def check_mtimes(plain, other):
    """Regular files and dirs keep their mtimes (second resolution is enough)."""
    for d, dirs, files in os.walk(plain):
        for n in dirs + files:
            a = os.path.join(d, n)
            b = os.path.join(other, os.path.relpath(a, plain))
            sa, sb = os.lstat(a), os.lstat(b)
            if not os.path.islink(a):
                assert int(sa.st_mtime) == int(sb.st_mtime), a


@pytest.mark.parametrize("plaintextnames", [False, True])
def test_unseal_encrypt_gocryptfs_reads(tmp_path, need_fuse, plaintextnames):
    plain = L.random_tree(str(tmp_path / "plain"))
    before = L.tree_hash(plain)
    pw = L.write_pw(tmp_path)
    cipher = str(tmp_path / "cipher")
    extra = ["--plaintextnames"] if plaintextnames else []
    r = L.unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", pw, *extra, plain, cipher)
    assert r.returncode == 0, r.stderr
    assert L.tree_hash(plain) == before
    assert L.leftovers(str(tmp_path)) == []
    st = os.stat(os.path.join(cipher, "gocryptfs.conf"))
    assert st.st_mode & 0o777 == 0o400
    if not plaintextnames:
        for d, _, files in os.walk(cipher):
            assert "gocryptfs.diriv" in files, d
            assert os.stat(os.path.join(d, "gocryptfs.diriv")).st_mode & 0o777 == 0o444
            for n in files:
                if n.endswith(".name"):
                    assert os.stat(os.path.join(d, n)).st_mode & 0o777 == 0o444
        assert any(n.startswith("gocryptfs.longname.") for n in os.listdir(cipher))
    diff, _ = mount_and_compare(cipher, plain, ["-passfile", pw])
    assert diff == ""
    rc, out = fsck(cipher, pw)
    assert rc == 0 and "no problems found" in out, out
    info = L.run(["gocryptfs", "-info", cipher])
    assert info.returncode == 0
    want = "HKDF GCMIV128 PlaintextNames" if plaintextnames else \
        "HKDF GCMIV128 DirIV EMENames LongNames Raw64"
    assert f"FeatureFlags:      {want}\n" in info.stdout
    assert "N=1024 " in info.stdout
    # Round trip through unseal too, with modes and mtimes.
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--quiet", "--passfile", pw, cipher, out)
    assert r.returncode == 0, r.stderr
    assert L.diff_trees(plain, out) == ""
    check_mtimes(plain, out)
    check_mtimes(plain, cipher) if plaintextnames else None


def test_unseal_encrypt_with_masterkey(tmp_path, need_fuse):
    plain = L.random_tree(str(tmp_path / "plain"), seed=7)
    pw = L.write_pw(tmp_path)
    key = "0123456789abcdef" * 4
    mk = tmp_path / "mk"
    mk.write_text("-".join(key[i:i + 8] for i in range(0, 64, 8)) + "\n")
    cipher = str(tmp_path / "cipher")
    r = L.unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", pw,
                 "--masterkey-file", str(mk), plain, cipher)
    assert r.returncode == 0, r.stderr
    diff, _ = mount_and_compare(cipher, plain, ["-masterkey", key])
    assert diff == ""
    # The password wraps the same key.
    diff, _ = mount_and_compare(cipher, plain, ["-passfile", pw])
    assert diff == ""
    rc, out = fsck(cipher, pw)
    assert rc == 0 and "no problems found" in out, out


def test_unseal_encrypt_sparse_stays_sparse(tmp_path, need_fuse):
    plain = str(tmp_path / "plain")
    os.makedirs(plain)
    with open(os.path.join(plain, "big_sparse"), "wb") as f:
        f.truncate(64 * 1024 * 1024)
        f.seek(32 * 1024 * 1024)
        f.write(b"middle")
    pw = L.write_pw(tmp_path)
    cipher = str(tmp_path / "cipher")
    r = L.unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", pw, plain, cipher)
    assert r.returncode == 0, r.stderr
    (cfile,) = [n for n in os.listdir(cipher) if not n.startswith("gocryptfs.")]
    st = os.stat(os.path.join(cipher, cfile))
    assert st.st_size == 18 + 16384 * 4128
    assert st.st_blocks * 512 < 1024 * 1024  # holes stayed holes
    diff, _ = mount_and_compare(cipher, plain, ["-passfile", pw])
    assert diff == ""


INIT_VARIANTS = {
    "default": [],
    "plaintextnames": ["-plaintextnames"],
    "aessiv": ["-aessiv"],
    "deterministic-names": ["-deterministic-names"],
}


@pytest.mark.parametrize("variant", list(INIT_VARIANTS))
def test_gocryptfs_writes_unseal_reads(tmp_path, need_fuse, variant):
    plain = L.random_tree(str(tmp_path / "plain"), seed=99)
    pw = L.write_pw(tmp_path)
    cipher = str(tmp_path / "cipher")
    os.makedirs(cipher)
    r = L.run(["gocryptfs", "-init", "-q", "-scryptn", "10", "-passfile", pw,
               *INIT_VARIANTS[variant], cipher])
    assert r.returncode == 0, r.stderr
    m = L.Mount(cipher, ["-passfile", pw])
    try:
        r = L.run(["cp", "-a", "--", *[os.path.join(plain, n) for n in os.listdir(plain)],
                   m.mnt])
        assert r.returncode == 0, r.stderr
        assert L.diff_trees(plain, m.mnt) == ""
    finally:
        m.close()
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--quiet", "--passfile", pw, cipher, out)
    assert r.returncode == 0, r.stderr
    assert L.diff_trees(plain, out) == ""
    r = L.unseal("verify", "--passfile", pw, cipher)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith(": 0 errors")


def test_gocryptfs_fsck_catches_nothing_unseal_misses(tmp_path, need_fuse):
    """Sanity: a block flip in an unseal-made tree is caught by both tools."""
    plain = L.random_tree(str(tmp_path / "plain"), seed=5)
    pw = L.write_pw(tmp_path)
    cipher = str(tmp_path / "cipher")
    r = L.unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", pw, plain, cipher)
    assert r.returncode == 0, r.stderr
    big = max((os.path.join(cipher, n) for n in os.listdir(cipher)
               if os.path.isfile(os.path.join(cipher, n)) and not n.startswith("gocryptfs.")),
              key=os.path.getsize)
    with open(big, "r+b") as f:
        f.seek(18 + 3 * 4128 + 50)
        b = f.read(1)
        f.seek(18 + 3 * 4128 + 50)
        f.write(bytes([b[0] ^ 0x80]))
    rc, out = fsck(cipher, pw)
    assert rc != 0, out
    r = L.unseal("verify", "--passfile", pw, cipher)
    assert r.returncode == 1
    assert f"BAD {big} (" in r.stdout and "): block 3: " in r.stdout, r.stdout
    shutil.rmtree(plain)


def _conf(cipher):
    import json
    with open(os.path.join(cipher, "gocryptfs.conf")) as f:
        text = f.read()
    return text, json.loads(text)


def _shape(conf):
    """Everything but the random values and the Creator."""
    import base64
    so = conf["ScryptObject"]
    return {"keys": list(conf), "scrypt_keys": list(so),
            "N": so["N"], "R": so["R"], "P": so["P"], "KeyLen": so["KeyLen"],
            "salt_len": len(base64.b64decode(so["Salt"])),
            "ek_len": len(base64.b64decode(conf["EncryptedKey"])),
            "Version": conf["Version"], "FeatureFlags": conf["FeatureFlags"]}


@pytest.mark.parametrize("plaintextnames", [False, True])
def test_default_conf_like_gocryptfs_init(tmp_path, plaintextnames):
    """No --scryptn: N=65536 (scryptn 16), and the whole conf has the shape
    that `gocryptfs -init` writes by default (no FUSE needed for -init)."""
    if not shutil.which("gocryptfs"):
        pytest.skip("SKIP: gocryptfs binary not installed")
    pw = L.write_pw(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "f").write_text("f\n")
    ours = str(tmp_path / "ours")
    extra = ["--plaintextnames"] if plaintextnames else []
    r = L.unseal("encrypt", "--quiet", "--passfile", pw, *extra, str(plain), ours)
    assert r.returncode == 0, r.stderr
    theirs = str(tmp_path / "theirs")
    os.makedirs(theirs)
    r = L.run(["gocryptfs", "-init", "-q", "-passfile", pw,
               *(["-plaintextnames"] if plaintextnames else []), theirs])
    assert r.returncode == 0, r.stderr
    (text, ours_c), (gtext, theirs_c) = _conf(ours), _conf(theirs)
    assert ours_c["ScryptObject"]["N"] == 65536
    assert _shape(ours_c) == _shape(theirs_c)
    assert text.endswith("}\n") and gtext.endswith("}\n")
    # gocryptfs itself reads ours, and `unseal info` prints what it prints.
    for d in (ours, theirs):
        g = L.run(["gocryptfs", "-info", d])
        assert g.returncode == 0, g.stderr
        u = L.unseal("info", d)
        assert u.returncode == 0 and u.stdout == g.stdout, (u.stdout, g.stdout)
    assert "N=65536 " in L.unseal("info", ours).stdout
    # And the password opens it for both tools.
    r = L.unseal("verify", "--passfile", pw, theirs)
    assert r.returncode == 0, r.stdout + r.stderr
    r = L.run(["gocryptfs", "-fsck", "-q", "-passfile", pw, ours])
    assert r.returncode == 0, r.stdout + r.stderr
