"""Randomness of `unseal encrypt`, read from the files it writes (parsed here
per the format spec, not with unseal's code): two runs over the same tree
with the same password differ in salt, EncryptedKey and master key; within
a tree every dir IV, every file ID and every GCM nonce (content blocks,
symlink targets, the key wrap) is distinct."""
import base64
import json
import os

import pytest

import clilib as L

HDR, BLK = 18, 4128
SKIP_NAMES = ("gocryptfs.conf", "gocryptfs.diriv")


def encrypt(plain, cipher, pw, *extra):
    r = L.unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", pw, *extra, plain,
                 cipher)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(cipher, "gocryptfs.conf")) as f:
        return json.load(f)


def b64url_raw(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def master_key(conf, password):
    """scrypt -> HKDF-SHA256 -> AES-256-GCM open of EncryptedKey (spec §3)."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError:
        pytest.skip("SKIP: python3-cryptography not installed (needed to unwrap the key)")
    import hashlib
    so = conf["ScryptObject"]
    s = hashlib.scrypt(password, salt=base64.b64decode(so["Salt"]), n=so["N"], r=so["R"],
                       p=so["P"], dklen=so["KeyLen"], maxmem=256 << 20)
    w = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
             info=b"AES-GCM file content encryption").derive(s)
    ek = base64.b64decode(conf["EncryptedKey"])
    return AESGCM(w).decrypt(ek[:16], ek[16:], b"\0" * 8)


def scan(cipher):
    """(dir IVs, file IDs, nonces) of a default-flags cipher tree."""
    ivs, fids, nonces = [], [], []
    for d, dirs, files in os.walk(cipher):
        for n in dirs + files:
            p = os.path.join(d, n)
            if n == "gocryptfs.diriv":
                with open(p, "rb") as f:
                    ivs.append(f.read())
                continue
            if n in SKIP_NAMES or n.endswith(".name"):
                continue
            if os.path.islink(p):
                t = b64url_raw(os.readlink(p))
                if t:
                    nonces.append(t[:16])
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    data = f.read()
                if len(data) <= HDR:
                    continue
                assert data[:2] == b"\0\2", p
                fids.append(data[2:HDR])
                for off in range(HDR, len(data), BLK):
                    blk = data[off:off + BLK]
                    if len(blk) == BLK and not any(blk):
                        continue  # a hole: no nonce
                    nonces.append(blk[:16])
    return ivs, fids, nonces


def assert_distinct(what, items):
    assert len(set(items)) == len(items), f"{len(items) - len(set(items))} repeated {what}"
    assert all(any(x) for x in items), f"an all-zero {what}"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("random")
    plain = L.random_tree(str(d / "plain"), seed=4321)
    pw = d / "pw"
    pw.write_text("same password\n")
    confs = [encrypt(plain, str(d / f"c{i}"), str(pw)) for i in (1, 2)]
    return d, plain, str(pw), confs


def test_two_runs_differ(two_runs):
    d, _, _, (a, b) = two_runs
    assert a["ScryptObject"]["Salt"] != b["ScryptObject"]["Salt"]
    assert a["EncryptedKey"] != b["EncryptedKey"]
    ma, mb = master_key(a, b"same password"), master_key(b, b"same password")
    assert len(ma) == len(mb) == 32
    assert ma != mb
    # Nothing random is shared between the two trees either.
    sa, sb = scan(str(d / "c1")), scan(str(d / "c2"))
    for what, x, y in zip(("dir IVs", "file IDs", "nonces"), sa, sb):
        assert not set(x) & set(y), f"{what} shared between two runs"


@pytest.mark.parametrize("run", ["c1", "c2"])
def test_within_a_tree_all_distinct(two_runs, run):
    d, _, _, confs = two_runs
    ivs, fids, nonces = scan(str(d / run))
    conf = confs[0 if run == "c1" else 1]
    nonces.append(base64.b64decode(conf["EncryptedKey"])[:16])
    # random_tree: 6 dirs, 20 non-empty files, ~800 written blocks, 5 symlinks.
    assert len(ivs) >= 6 and len(fids) >= 15 and len(nonces) >= 800, \
        (len(ivs), len(fids), len(nonces))
    assert_distinct("dir IV", ivs)
    assert_distinct("file ID", fids)
    assert_distinct("nonce", nonces)


def test_given_master_key_still_fresh_salt_and_wrap(two_runs, tmp_path):
    _, plain, pw, _ = two_runs
    key = "00112233445566778899aabbccddeeff" * 2
    mk = tmp_path / "mk"
    mk.write_text(key + "\n")
    a = encrypt(plain, str(tmp_path / "m1"), pw, "--masterkey-file", str(mk))
    b = encrypt(plain, str(tmp_path / "m2"), pw, "--masterkey-file", str(mk))
    assert a["ScryptObject"]["Salt"] != b["ScryptObject"]["Salt"]
    assert a["EncryptedKey"] != b["EncryptedKey"]
    assert master_key(a, b"same password") == master_key(b, b"same password") == \
        bytes.fromhex(key)
    ivs, fids, nonces = (x + y for x, y in zip(scan(str(tmp_path / "m1")),
                                                 scan(str(tmp_path / "m2"))))
    # The same key in both trees: nonces and file IDs must still never repeat.
    assert_distinct("dir IV", ivs)
    assert_distinct("file ID", fids)
    assert_distinct("nonce", nonces)
