"""Ctrl-C, SIGTERM or SIGHUP during encrypt or decrypt: the temporary output
is removed, nothing appears under the final name, the exit code is 1 and one
line says so: 'unseal: <verb>: <output>: interrupted by SIGx; temporary
output removed'.

The input is a 64 GiB sparse file (and its cipher twin, all holes), so the
run is still busy when the signal comes; each run is bounded in time."""
import os
import signal
import subprocess
import time

import pytest

import clilib as L

BIG = 64 << 30
BLOCKS = BIG // 4096
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
PW = "signal test"


def interrupt(args, parent, sig):
    """Start unseal, wait until its temporary dir has content, send sig."""
    p = subprocess.Popen([L.UNSEAL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            tmp = L.leftovers(parent)
            if tmp and os.listdir(os.path.join(parent, tmp[0])):
                break
            time.sleep(0.02)
        assert p.poll() is None, p.communicate()
        time.sleep(0.3)  # well inside the big file by now
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out, err


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_encrypt_interrupted(tmp_path, sig):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a\n")
    with open(plain / "big", "wb") as f:
        f.truncate(BIG)
    (plain / "z.txt").write_text("z\n")
    cipher = str(tmp_path / "cipher")
    pw = L.write_pw(tmp_path, PW)
    rc, out, err = interrupt(["encrypt", "--quiet", "--scryptn", "10", "--passfile",
                              pw, str(plain), cipher], str(tmp_path), sig)
    assert rc == 1, err
    assert err == f"unseal: encrypt: {cipher}: interrupted by {sig.name}; " \
                  "temporary output removed\n"
    assert not os.path.lexists(cipher)
    assert L.leftovers(str(tmp_path)) == []


@pytest.fixture(scope="module")
def hole_cipher(tmp_path_factory):
    """A cipher dir whose file 'big' is 64 GiB of holes (valid per spec §4.4)."""
    d = tmp_path_factory.mktemp("holes")
    plain = d / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a\n")
    (plain / "big").write_bytes(b"x")
    pw = L.write_pw(d, PW)
    cipher = str(d / "cipher")
    r = L.unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", pw, str(plain), cipher)
    assert r.returncode == 0, r.stderr
    sizes = {n: os.path.getsize(os.path.join(cipher, n)) for n in os.listdir(cipher)}
    (big,) = [n for n, s in sizes.items() if s == 18 + 1 + 32]
    path = os.path.join(cipher, big)
    with open(path, "r+b") as f:
        f.truncate(18)  # keep the header (version + file ID)
        f.truncate(18 + BLOCKS * 4128)
    return cipher, pw


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_decrypt_interrupted(tmp_path, hole_cipher, sig):
    cipher, pw = hole_cipher
    out = str(tmp_path / "out")
    rc, _, err = interrupt(["decrypt", "--quiet", "--threads", "1", "--passfile", pw, cipher,
                            out], str(tmp_path), sig)
    assert rc == 1, err
    assert err == f"unseal: decrypt: {out}: interrupted by {sig.name}; " \
                  "temporary output removed\n"
    assert not os.path.lexists(out)
    assert L.leftovers(str(tmp_path)) == []


def test_decrypt_force_interrupted_keeps_old(tmp_path, hole_cipher):
    cipher, pw = hole_cipher
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old contents")
    before = L.tree_hash(str(out))
    rc, _, err = interrupt(["decrypt", "--quiet", "--force", "--passfile", pw, cipher,
                            str(out)], str(tmp_path), signal.SIGTERM)
    assert rc == 1, err
    assert L.tree_hash(str(out)) == before
    assert L.leftovers(str(tmp_path)) == []
