"""decrypt must not turn unauthenticated metadata into privileges: gocryptfs
does not authenticate modes or file types, so a writer of the cipher dir could
plant setuid bits or device nodes for a root `unseal decrypt`."""
import os
import stat

import pytest

from clilib import unseal


def _encrypt(tmp_path, plaintextnames=False):
    plain = tmp_path / "plain"
    plain.mkdir()
    exe = plain / "tool"
    exe.write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(exe, 0o4755)
    (plain / "data.txt").write_text("data\n")
    pw = tmp_path / "pw"
    pw.write_text("pw\n")
    cipher = tmp_path / "cipher"
    args = ["encrypt", "--quiet", "--scryptn", "10", "--passfile", str(pw)]
    if plaintextnames:
        args.append("--plaintextnames")
    r = unseal(*args, str(plain), str(cipher))
    assert r.returncode == 0, r.stderr
    return pw, cipher


def test_decrypt_drops_setuid_bits(tmp_path):
    pw, cipher = _encrypt(tmp_path)
    out = tmp_path / "out"
    r = unseal("decrypt", "--quiet", "--passfile", str(pw), str(cipher), str(out))
    assert r.returncode == 0, r.stderr
    mode = os.stat(out / "tool").st_mode
    assert stat.S_IMODE(mode) == 0o755, oct(mode)
    assert (out / "data.txt").read_text() == "data\n"


def test_verify_counts_special_files(tmp_path):
    """FIFOs (and, as root, device nodes) are 'special', not 'files'."""
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "data.txt").write_text("data\n")
    os.mkfifo(plain / "fifo")
    nspecial = 1
    if os.geteuid() == 0:
        os.mknod(plain / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        nspecial = 2
    pw = tmp_path / "pw"
    pw.write_text("pw\n")
    for extra in ([], ["--plaintextnames"]):
        cipher = tmp_path / ("cipher" + "".join(extra))
        r = unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", str(pw), *extra,
                   str(plain), str(cipher))
        assert r.returncode == 0, r.stderr
        r = unseal("verify", "--passfile", str(pw), str(cipher))
        assert r.returncode == 0, r.stdout
        assert r.stdout == f"verified 1 files, 1 dirs, 0 symlinks, {nspecial} special, " \
                           "5 bytes: 0 errors\n"


def test_plaintextnames_name_files_are_files(tmp_path):
    """With -plaintextnames a 'gocryptfs.longname.X.name' is a user file, not
    an orphan."""
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ("gocryptfs.longname." + "A" * 43 + ".name")).write_text("mine\n")
    pw = tmp_path / "pw"
    pw.write_text("pw\n")
    cipher = tmp_path / "cipher"
    r = unseal("encrypt", "--quiet", "--scryptn", "10", "--passfile", str(pw),
               "--plaintextnames", str(plain), str(cipher))
    assert r.returncode == 0, r.stderr
    r = unseal("verify", "--passfile", str(pw), str(cipher))
    assert r.returncode == 0, r.stdout
    assert r.stdout == "verified 1 files, 1 dirs, 0 symlinks, 0 special, 5 bytes: 0 errors\n"


def test_decrypt_skips_device_nodes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("SKIP: creating a device node in the cipher dir needs root")
    pw, cipher = _encrypt(tmp_path, plaintextnames=True)
    os.mknod(cipher / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mkfifo(cipher / "fifo")
    out = tmp_path / "out"
    r = unseal("decrypt", "--quiet", "--passfile", str(pw), str(cipher), str(out))
    assert r.returncode == 0, r.stderr
    assert "null: skipping device node" in r.stderr
    assert not os.path.lexists(out / "null")
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)
