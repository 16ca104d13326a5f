"""Terminal behaviour through a pseudo-terminal: the progress bar of
encrypt, decrypt and verify appears only on a TTY and not with --quiet; the
password prompt has no echo and asks twice for encrypt."""
import os
import pty
import select
import subprocess

import clilib as L

PW = os.path.join(L.GOLDEN, "password.txt")


def run_pty(args, answers=(), stdin_tty=False):
    """Run with stderr (and optionally stdin) on a pty; feed `answers` after
    each prompt.  Returns (exit code, terminal output, stdout)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([L.UNSEAL, *args], stdin=slave if stdin_tty else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen, pending = b"", list(answers)
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            p.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.rstrip().endswith(b":"):
            os.write(master, pending.pop(0) + b"\n")
    out = p.stdout.read()
    rc = p.wait(60)
    os.close(master)
    return rc, seen.decode(errors="replace"), out.decode()


def test_progress_on_tty(tmp_path):
    cipher = L.golden_cipher("default", str(tmp_path / "cipher"))
    rc, term, _ = run_pty(["decrypt", "--passfile", PW, cipher, str(tmp_path / "out")])
    assert rc == 0, term
    bar_ok(term, "decrypt")


def bar_ok(term, verb):
    """The bar of `verb` reached 100% of a non-empty total (rate, ETA)."""
    assert f"{verb}: " in term and "100.0%" in term and "ETA" in term and "/s" in term, term
    assert "0 B / 0 B" not in term, term


def test_progress_on_tty_encrypt(tmp_path):
    plain = L.golden_plain(str(tmp_path / "plain"))
    cipher = str(tmp_path / "cipher")
    rc, term, _ = run_pty(["encrypt", "--scryptn", "10", "--passfile", PW, plain, cipher])
    assert rc == 0, term
    bar_ok(term, "encrypt")
    assert os.path.isfile(os.path.join(cipher, "gocryptfs.conf"))


def test_progress_on_tty_verify(tmp_path):
    cipher = L.golden_cipher("default", str(tmp_path / "cipher"))
    rc, term, out = run_pty(["verify", "--passfile", PW, cipher])
    assert rc == 0, term
    bar_ok(term, "verify")
    assert "0 errors" in out and "\033" not in out  # the bar stays off stdout


def test_no_progress_with_quiet(tmp_path):
    cipher = L.golden_cipher("default", str(tmp_path / "cipher"))
    rc, term, out = run_pty(["verify", "--quiet", "--passfile", PW, cipher])
    assert rc == 0, term
    assert term == "" and "0 errors" in out


def test_no_progress_without_tty(tmp_path):
    cipher = L.golden_cipher("default", str(tmp_path / "cipher"))
    r = L.unseal("decrypt", "--passfile", PW, cipher, str(tmp_path / "out"))
    assert r.returncode == 0 and r.stderr == ""


def test_prompt_twice_no_echo(tmp_path):
    plain = L.golden_plain(str(tmp_path / "plain"))
    cipher = str(tmp_path / "cipher")
    rc, term, _ = run_pty(["encrypt", "--quiet", "--scryptn", "10", plain, cipher],
                          answers=[b"tty-secret", b"tty-secret"], stdin_tty=True)
    assert rc == 0, term
    assert "Password:" in term and "Repeat:" in term
    assert "tty-secret" not in term  # echo was off
    pw = tmp_path / "pw"
    pw.write_text("tty-secret")
    assert L.unseal("verify", "--passfile", str(pw), cipher).returncode == 0


def test_prompt_mismatch(tmp_path):
    plain = L.golden_plain(str(tmp_path / "plain"))
    cipher = str(tmp_path / "cipher")
    rc, term, _ = run_pty(["encrypt", "--quiet", "--scryptn", "10", plain, cipher],
                          answers=[b"one", b"two"], stdin_tty=True)
    assert rc == 1
    assert "unseal: encrypt: password: passwords do not match" in term
    assert not os.path.exists(cipher) and L.leftovers(str(tmp_path)) == []
