"""Tamper matrix on a copy of the golden default cipher dir: every change
must be caught by `unseal verify` (exit 1, the bad file named with its first
bad block) and by `unseal decrypt` (non-zero, nothing under the final name,
no plaintext of the bad block anywhere)."""
import os
import re

import pytest

import clilib as L

PW = os.path.join(L.GOLDEN, "password.txt")
HDR, BLK = 18, 4128
BAD_RE = re.compile(r"^BAD (.+) \((.*)\): (.+?): (.+)$")


def cpath(cipher, plain_rel):
    return os.path.join(cipher, L.namemap("default")[plain_rel])


def flip(path, off, mask=0x01):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ mask]))


def read_at(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def write_at(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def plain_block(rel, bno):
    with open(os.path.join(L.GOLDEN, "plain", rel), "rb") as f:
        f.seek(bno * 4096)
        return f.read(4096)


def bad_lines(stdout):
    out = []
    for line in stdout.splitlines():
        m = BAD_RE.match(line)
        if m:
            out.append(m.groups())
    return out


def assert_decrypt_fails(tmp_path, cipher, secret=None, args=("--passfile", PW)):
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--quiet", *args, cipher, out)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith("unseal: decrypt: "), r.stderr
    assert not os.path.exists(out)
    assert L.leftovers(str(tmp_path)) == []
    if secret:
        # No plaintext of the bad block in any file we could have written.
        for d, _, files in os.walk(str(tmp_path)):
            if d == cipher or d.startswith(cipher + "/"):
                continue
            for n in files:
                p = os.path.join(d, n)
                if os.path.islink(p):
                    continue
                with open(p, "rb") as f:
                    assert secret not in f.read(), p
        assert secret.decode("latin-1") not in r.stdout + r.stderr
    return r


def verify(cipher):
    return L.unseal("verify", "--passfile", PW, cipher)


@pytest.fixture
def cipher(tmp_path):
    return L.golden_cipher("default", str(tmp_path / "cipher"))


# (plain file, how to tamper, expected first bad block or "header")
BLOCK_CASES = {
    "header-version": ("size_4097.bin", lambda p: flip(p, 1), "header"),
    "header-zero": ("size_4097.bin", lambda p: write_at(p, 0, bytes(18)), "header"),
    # A changed file ID still parses; block 0's AAD no longer matches.
    "file-id": ("size_4097.bin", lambda p: flip(p, 5), "block 0"),
    "nonce": ("size_12289.bin", lambda p: flip(p, HDR + BLK + 3), "block 1"),
    "ciphertext": ("size_12289.bin", lambda p: flip(p, HDR + 2 * BLK + 100), "block 2"),
    "tag": ("size_12289.bin", lambda p: flip(p, HDR + BLK - 1), "block 0"),
    "last-block-tag": ("size_4097.bin", lambda p: flip(p, os.path.getsize(p) - 1), "block 1"),
    "swap-within": ("size_12289.bin", None, "block 0"),
    "truncate-mid-block": ("size_12289.bin",
                           lambda p: os.truncate(p, HDR + BLK + 2000), "block 1"),
}


@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_block_tamper(tmp_path, cipher, case):
    rel, fn, where = BLOCK_CASES[case]
    p = cpath(cipher, rel)
    if case == "swap-within":
        b0, b1 = read_at(p, HDR, BLK), read_at(p, HDR + BLK, BLK)
        write_at(p, HDR, b1)
        write_at(p, HDR + BLK, b0)
    else:
        fn(p)
    r = verify(cipher)
    assert r.returncode == 1, r.stdout
    bad = bad_lines(r.stdout)
    assert len(bad) == 1, r.stdout
    assert bad[0][0] == p and bad[0][1] == rel and bad[0][2] == where, bad
    assert not bad[0][3].startswith("block"), bad
    assert r.stdout.rstrip().endswith(": 1 errors")
    bno = int(where.split()[1]) if where.startswith("block") else 0
    secret = plain_block(rel, bno)
    if len(secret) < 16:  # too short to search for; the file's first block then
        secret = plain_block(rel, 0)
    r = assert_decrypt_fails(tmp_path, cipher, secret)
    assert p in r.stderr and where in r.stderr


def test_swap_block_between_files(tmp_path, cipher):
    a, b = "size_8192.bin", "size_1048583.bin"
    pa, pb = cpath(cipher, a), cpath(cipher, b)
    ba, bb = read_at(pa, HDR, BLK), read_at(pb, HDR, BLK)
    write_at(pa, HDR, bb)
    write_at(pb, HDR, ba)
    r = verify(cipher)
    assert r.returncode == 1
    bad = {(x[0], x[2]) for x in bad_lines(r.stdout)}
    assert bad == {(pa, "block 0"), (pb, "block 0")}, r.stdout
    assert_decrypt_fails(tmp_path, cipher, plain_block(b, 0))


def test_name_tamper(tmp_path, cipher):
    p = cpath(cipher, "hello.txt")
    name = os.path.basename(p)
    # Change one b64 character in the middle of the encrypted name.
    i = len(name) // 2
    new = name[:i] + ("A" if name[i] != "A" else "B") + name[i + 1:]
    os.rename(p, os.path.join(cipher, new))
    r = verify(cipher)
    assert r.returncode == 1
    bad = bad_lines(r.stdout)
    assert [(b[0], b[2]) for b in bad] == [(os.path.join(cipher, new), "name")], r.stdout
    assert_decrypt_fails(tmp_path, cipher)


def test_longname_file_tamper(tmp_path, cipher):
    rel = "longname_176_".ljust(176, "x")
    p = cpath(cipher, rel)
    with open(p + ".name", "r+b") as f:
        f.truncate(100)
    r = verify(cipher)
    assert r.returncode == 1
    assert [(b[0], b[2]) for b in bad_lines(r.stdout)] == [(p, "name")], r.stdout
    r = assert_decrypt_fails(tmp_path, cipher)
    assert p in r.stderr


def test_orphan_name_file(tmp_path, cipher):
    """A .name file whose long-name entry is missing is reported, once, by
    verify; decrypt (which has nothing to decrypt there) is not stopped."""
    rel = "longname_176_".ljust(176, "x")
    p = cpath(cipher, rel)
    orphan = os.path.join(cipher, "gocryptfs.longname." + "A" * 43 + ".name")
    with open(p + ".name", "rb") as f, open(orphan, "wb") as g:
        g.write(f.read())
    r = verify(cipher)
    assert r.returncode == 1
    assert bad_lines(r.stdout) == [(orphan, "?", "name", "orphan long-name file")], r.stdout
    assert r.stdout.rstrip().endswith(": 1 errors")
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--quiet", "--passfile", PW, cipher, out)
    assert r.returncode == 0, r.stderr
    assert L.diff_trees(L.golden_plain(str(tmp_path / "plain")), out) == ""


def test_orphan_after_entry_removed(tmp_path, cipher):
    rel = "longname_255_".ljust(255, "x")
    p = cpath(cipher, rel)
    os.unlink(p)
    r = verify(cipher)
    assert r.returncode == 1
    assert bad_lines(r.stdout) == [(p + ".name", "?", "name", "orphan long-name file")], \
        r.stdout


def test_diriv_tamper(tmp_path, cipher):
    sub = os.path.join(cipher, os.path.dirname(L.namemap("default")["sub/hello.txt"]))
    flip(os.path.join(sub, "gocryptfs.diriv"), 0)
    r = verify(cipher)
    assert r.returncode == 1
    bad = bad_lines(r.stdout)
    assert bad and all(b[0].startswith(sub + "/") and b[2] == "name" for b in bad), r.stdout
    assert_decrypt_fails(tmp_path, cipher)


def test_diriv_truncated(tmp_path, cipher):
    os.truncate(os.path.join(cipher, "gocryptfs.diriv"), 15)
    r = verify(cipher)
    assert r.returncode == 1
    assert [(b[0], b[2]) for b in bad_lines(r.stdout)] == [
        (os.path.join(cipher, "gocryptfs.diriv"), "diriv")], r.stdout
    assert_decrypt_fails(tmp_path, cipher)


def test_symlink_tamper(tmp_path, cipher):
    p = cpath(cipher, "link_to_config.json")
    t = os.readlink(p)
    os.unlink(p)
    os.symlink(t[:20] + ("A" if t[20] != "A" else "B") + t[21:], p)
    r = verify(cipher)
    assert r.returncode == 1
    assert [(b[0], b[2]) for b in bad_lines(r.stdout)] == [(p, "symlink")], r.stdout
    assert_decrypt_fails(tmp_path, cipher)


def _edit_conf(cipher, fn):
    p = os.path.join(cipher, "gocryptfs.conf")
    os.chmod(p, 0o600)
    with open(p) as f:
        s = f.read()
    with open(p, "w") as f:
        f.write(fn(s))


def test_conf_encrypted_key_flip(tmp_path, cipher):
    import base64
    import json

    def fn(s):
        c = json.loads(s)
        k = bytearray(base64.b64decode(c["EncryptedKey"]))
        k[40] ^= 1
        c["EncryptedKey"] = base64.b64encode(bytes(k)).decode()
        return json.dumps(c, indent="\t")
    _edit_conf(cipher, fn)
    msg = (f"unseal: verify: {cipher}/gocryptfs.conf: "
           "wrong password or corrupt gocryptfs.conf")
    r = verify(cipher)
    assert r.returncode == 1 and r.stderr.strip() == msg, r.stderr
    r = assert_decrypt_fails(tmp_path, cipher)
    assert r.stderr.strip() == msg.replace("verify", "decrypt")


def test_conf_flag_flip(tmp_path, cipher):
    _edit_conf(cipher, lambda s: s.replace('"Raw64"', '"Raw6t"'))
    r = verify(cipher)
    assert r.returncode == 1
    assert r.stderr.startswith(f"unseal: verify: {cipher}/gocryptfs.conf: ")
    assert "Raw6t" in r.stderr
    r = assert_decrypt_fails(tmp_path, cipher)
    assert "Raw6t" in r.stderr


def test_wrong_password(tmp_path, cipher):
    pw = tmp_path / "wrong"
    pw.write_text("not-the-password\n")
    r = L.unseal("verify", "--passfile", str(pw), cipher)
    assert r.returncode == 1
    assert "wrong password or corrupt gocryptfs.conf" in r.stderr
    assert_decrypt_fails(tmp_path, cipher, args=("--passfile", str(pw)))


def test_wrong_masterkey(tmp_path, cipher):
    mk = tmp_path / "mk"
    mk.write_text("00" * 31 + "01\n")
    r = L.unseal("verify", "--masterkey-file", str(mk), cipher)
    # A wrong master key cannot be detected from the conf: every name and
    # block must fail instead.
    assert r.returncode == 1
    assert len(bad_lines(r.stdout)) >= 10
    assert_decrypt_fails(tmp_path, cipher, args=("--masterkey-file", str(mk)))
