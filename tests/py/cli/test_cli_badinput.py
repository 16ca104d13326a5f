"""Bad input and usage: message format `unseal: <verb>: <path>: <cause>`,
exit codes (1 failure, 2 usage), the input tree unchanged, and no partial
output left behind."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import clilib as L

PW = os.path.join(L.GOLDEN, "password.txt")
MSG = re.compile(r"^unseal: (\w+): (.+?): (.+)$")


def first_msg(stderr):
    m = MSG.match(stderr.splitlines()[0]) if stderr else None
    assert m, stderr
    return m.groups()


@pytest.fixture
def cipher(tmp_path):
    return L.golden_cipher("default", str(tmp_path / "cipher"))


VERBS = ["encrypt", "decrypt", "verify", "info", "run", "attest"]


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("verb", VERBS)
def test_help(verb, flag):
    r = L.unseal(verb, flag)
    assert r.returncode == 0 and r.stdout.startswith(f"Usage: unseal {verb}"), r.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_bad_option_is_usage(verb):
    r = L.unseal(verb, "--no-such-option")
    assert r.returncode == 2
    assert f"unseal: {verb}: " in r.stderr


def usage_lines(r, verb):
    """A usage error is one message in our format, then the --help hint;
    nothing from getopt itself."""
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert lines[1:] == [f"Try 'unseal {verb} --help'."], r.stderr
    return lines[0]


@pytest.mark.parametrize("verb", VERBS)
def test_option_errors_name_the_option(verb):
    r = L.unseal(verb, "--no-such")
    assert usage_lines(r, verb) == f"unseal: {verb}: --no-such: unrecognized option"
    r = L.unseal(verb, "--no-such=3")
    assert usage_lines(r, verb) == f"unseal: {verb}: --no-such: unrecognized option"
    r = L.unseal(verb, "-x")
    assert usage_lines(r, verb) == f"unseal: {verb}: -x: unrecognized option"
    r = L.unseal(verb, "--help=yes")
    assert usage_lines(r, verb) == f"unseal: {verb}: --help: option takes no argument"
    needs_arg = {"encrypt": "--passfile", "decrypt": "--passfile", "verify": "--threads",
                 "run": "--cipher", "attest": "--timeout"}.get(verb)
    if needs_arg:
        r = L.unseal(verb, needs_arg)
        assert usage_lines(r, verb) == \
            f"unseal: {verb}: {needs_arg}: option requires an argument"
        # A unique abbreviation is named in full.
        r = L.unseal(verb, needs_arg[:6])
        assert usage_lines(r, verb) == \
            f"unseal: {verb}: {needs_arg}: option requires an argument"


def test_ambiguous_option():
    r = L.unseal("encrypt", "--p", "x")
    assert usage_lines(r, "encrypt") == "unseal: encrypt: --p: ambiguous option"


def test_top_level():
    assert L.unseal("--help").returncode == 0
    r = L.unseal("--version")
    assert r.returncode == 0 and r.stdout.startswith("unseal ")
    r = L.unseal("frobnicate")
    assert r.returncode == 2
    assert r.stderr == "unseal: frobnicate: unknown verb (see 'unseal --help')\n"
    assert L.unseal().returncode == 2


def test_wrong_arg_counts(tmp_path):
    cases = [
        (("decrypt", "only-one"), "usage: need CIPHER_DIR and OUT_DIR (got 1 arguments)"),
        (("verify",), "usage: need exactly one CIPHER_DIR (got 0 arguments)"),
        (("info", "a", "b"), "usage: need exactly one CIPHER_DIR (got 2 arguments)"),
        (("encrypt", "a", "b", "c"), "usage: need PLAIN_DIR and CIPHER_DIR (got 3 arguments)"),
        (("decrypt", "--passfile", "a", "--masterkey-file", "b", "x", "y"),
         "--passfile: cannot be combined with --masterkey-file"),
        (("verify", "--passfile", "a", "--masterkey-file", "b", "x"),
         "--passfile: cannot be combined with --masterkey-file"),
        (("decrypt", "--threads", "zero", "x", "y"), "--threads: not a number in 1..1024: zero"),
        (("encrypt", "--scryptn", "5", "x", "y"), "--scryptn: not a number in 10..22: 5"),
        (("run", "--cipher", "c"), "usage: --cipher and --mount are required"),
        (("run", "--cipher", "c", "--mount", "/m", "--passfile", "p"),
         "usage: no command given (put it after --)"),
    ]
    for args, want in cases:
        r = L.unseal(*args)
        assert usage_lines(r, args[0]) == f"unseal: {args[0]}: {want}", args


def test_bad_engine(cipher):
    r = L.unseal("verify", "--passfile", PW, cipher, env={**os.environ, "UNSEAL_CRYPTO": "rot13"})
    assert r.returncode == 2
    assert first_msg(r.stderr)[:2] == ("verify", "UNSEAL_CRYPTO")


@pytest.mark.parametrize("verb", ["decrypt", "verify", "info"])
def test_missing_dir(tmp_path, verb):
    missing = str(tmp_path / "nope")
    args = [missing, str(tmp_path / "out")] if verb == "decrypt" else [missing]
    key = ["--passfile", PW] if verb != "info" else []
    r = L.unseal(verb, *key, *args)
    assert r.returncode == 1
    assert first_msg(r.stderr) == (verb, missing, "No such file or directory")
    assert not os.path.exists(str(tmp_path / "out"))


def test_encrypt_missing_input(tmp_path):
    r = L.unseal("encrypt", "--passfile", PW, str(tmp_path / "nope"), str(tmp_path / "c"))
    assert r.returncode == 1
    assert first_msg(r.stderr) == ("encrypt", str(tmp_path / "nope"),
                                   "No such file or directory")
    assert os.listdir(str(tmp_path)) == []


def test_garbage_conf(tmp_path, cipher):
    conf = os.path.join(cipher, "gocryptfs.conf")
    os.chmod(conf, 0o600)
    with open(conf, "w") as f:
        f.write("this is { not json")
    for verb, extra in (("decrypt", [str(tmp_path / "out")]), ("verify", []), ("info", [])):
        key = ["--passfile", PW] if verb != "info" else []
        r = L.unseal(verb, *key, cipher, *extra)
        assert r.returncode == 1, (verb, r.stderr)
        assert first_msg(r.stderr)[:2] == (verb, conf), r.stderr
    assert not os.path.exists(str(tmp_path / "out"))
    assert L.leftovers(str(tmp_path)) == []


def test_missing_conf(tmp_path, cipher):
    os.unlink(os.path.join(cipher, "gocryptfs.conf"))
    r = L.unseal("verify", "--passfile", PW, cipher)
    assert r.returncode == 1
    assert first_msg(r.stderr) == ("verify", os.path.join(cipher, "gocryptfs.conf"),
                                   "No such file or directory")


def test_truncated_name_file(tmp_path, cipher):
    rel = "longname_255_".ljust(255, "x")
    p = os.path.join(cipher, L.namemap("default")[rel])
    before = L.tree_hash(cipher)
    with open(p + ".name", "r+b") as f:
        f.truncate(0)
    before = L.tree_hash(cipher)
    out = str(tmp_path / "out")
    r = L.unseal("decrypt", "--passfile", PW, cipher, out)
    assert r.returncode == 1
    verb, path, cause = first_msg(r.stderr)
    assert (verb, path) == ("decrypt", p) and "name" in cause
    assert not os.path.exists(out) and L.leftovers(str(tmp_path)) == []
    assert L.tree_hash(cipher) == before


def test_decrypt_into_cipher_dir_refused(tmp_path, cipher):
    before = L.tree_hash(cipher)
    inside = os.path.join(cipher, "out")
    r = L.unseal("decrypt", "--passfile", PW, cipher, inside)
    assert r.returncode == 2
    assert first_msg(r.stderr)[:2] == ("decrypt", inside)
    assert L.tree_hash(cipher) == before
    # And the other way round: the output would contain the input.
    r = L.unseal("decrypt", "--passfile", PW, cipher, str(tmp_path), "--force")
    assert r.returncode == 2
    assert first_msg(r.stderr)[:2] == ("decrypt", str(tmp_path)), r.stderr
    assert "contains the cipher directory" in r.stderr
    assert L.tree_hash(cipher) == before


def test_encrypt_into_input_refused(tmp_path):
    plain = L.golden_plain(str(tmp_path / "plain"))
    before = L.tree_hash(plain)
    r = L.unseal("encrypt", "--passfile", PW, "--scryptn", "10", plain,
                 os.path.join(plain, "sub", "c"))
    assert r.returncode == 2
    assert first_msg(r.stderr)[:2] == ("encrypt", os.path.join(plain, "sub", "c"))
    assert L.tree_hash(plain) == before
    assert L.leftovers(os.path.join(plain, "sub")) == []


def test_encrypt_nonempty_target(tmp_path):
    plain = L.golden_plain(str(tmp_path / "plain"))
    target = tmp_path / "c"
    target.mkdir()
    (target / "keep").write_text("mine")
    before_p, before_t = L.tree_hash(plain), L.tree_hash(str(target))
    r = L.unseal("encrypt", "--passfile", PW, "--scryptn", "10", plain, str(target))
    assert r.returncode == 1
    assert first_msg(r.stderr) == ("encrypt", str(target), "directory is not empty")
    assert L.tree_hash(plain) == before_p and L.tree_hash(str(target)) == before_t
    assert L.leftovers(str(tmp_path)) == []


def test_encrypt_into_empty_dir(tmp_path):
    plain = L.golden_plain(str(tmp_path / "plain"))
    target = tmp_path / "c"
    target.mkdir()
    r = L.unseal("encrypt", "--quiet", "--passfile", PW, "--scryptn", "10", plain, str(target))
    assert r.returncode == 0, r.stderr
    out = str(tmp_path / "out")
    assert L.unseal("decrypt", "--passfile", PW, str(target), out).returncode == 0
    assert L.diff_trees(plain, out) == ""


def test_decrypt_existing_out(tmp_path, cipher):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old contents")
    before = L.tree_hash(str(out))
    r = L.unseal("decrypt", "--passfile", PW, cipher, str(out))
    assert r.returncode == 1
    verb, path, cause = first_msg(r.stderr)
    assert (verb, path) == ("decrypt", str(out)) and "--force" in cause
    assert L.tree_hash(str(out)) == before
    assert L.leftovers(str(tmp_path)) == []
    r = L.unseal("decrypt", "--quiet", "--force", "--passfile", PW, cipher, str(out))
    assert r.returncode == 0, r.stderr
    assert not (out / "old").exists()
    assert L.diff_trees(L.golden_plain(str(tmp_path / "plain")), str(out)) == ""
    assert L.leftovers(str(tmp_path)) == []


def test_decrypt_force_failure_keeps_old(tmp_path, cipher):
    """--force with a bad cipher dir must leave the old OUT_DIR intact."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old contents")
    p = os.path.join(cipher, L.namemap("default")["size_8192.bin"])
    with open(p, "r+b") as f:
        f.seek(100)
        f.write(b"\xff")
    before = L.tree_hash(str(out))
    r = L.unseal("decrypt", "--force", "--passfile", PW, cipher, str(out))
    assert r.returncode == 1
    assert L.tree_hash(str(out)) == before
    assert L.leftovers(str(tmp_path)) == []


def _nobody_can_run():
    if os.geteuid() != 0:
        return "not root: cannot switch to nobody"
    if not shutil.which("runuser"):
        return "runuser not installed"
    r = subprocess.run(["runuser", "-u", "nobody", "--", L.UNSEAL, "--version"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"nobody cannot run {L.UNSEAL}: {r.stderr.strip()}"
    return ""


def test_unreadable_file_as_nobody():
    """root bypasses DAC, so run unseal as nobody on a 000 file."""
    why = _nobody_can_run()
    if why:
        pytest.skip(f"SKIP: {why}")
    base = tempfile.mkdtemp(prefix="unseal-cli-nobody-")
    try:
        os.chmod(base, 0o755)
        plain = os.path.join(base, "plain")
        os.makedirs(plain)
        for n in ("a.txt", "secret.txt", "z.txt"):
            with open(os.path.join(plain, n), "w") as f:
                f.write(n * 100)
        for d, dirs, files in os.walk(plain):
            os.chown(d, 65534, 65534)
            for n in files:
                os.chown(os.path.join(d, n), 65534, 65534)
        os.chmod(os.path.join(plain, "secret.txt"), 0)
        pw = os.path.join(base, "pw")
        with open(pw, "w") as f:
            f.write("pw\n")
        os.chmod(pw, 0o644)
        outdir = os.path.join(base, "outdir")
        os.makedirs(outdir)
        os.chown(outdir, 65534, 65534)
        before = L.tree_hash(plain)
        cipher = os.path.join(outdir, "c")
        r = subprocess.run(["runuser", "-u", "nobody", "--", L.UNSEAL, "encrypt", "--quiet",
                            "--scryptn", "10", "--passfile", pw, plain, cipher],
                           capture_output=True, text=True)
        assert r.returncode == 1, r.stderr
        assert first_msg(r.stderr) == ("encrypt", os.path.join(plain, "secret.txt"),
                                       "Permission denied")
        assert os.listdir(outdir) == []
        assert L.tree_hash(plain) == before
    finally:
        shutil.rmtree(base)


def test_unreadable_cipher_file_as_nobody():
    why = _nobody_can_run()
    if why:
        pytest.skip(f"SKIP: {why}")
    base = tempfile.mkdtemp(prefix="unseal-cli-nobody-")
    try:
        os.chmod(base, 0o755)
        cipher = L.golden_cipher("default", os.path.join(base, "cipher"))
        for d, dirs, files in os.walk(cipher):
            os.chown(d, 65534, 65534)
            for n in files:
                os.lchown(os.path.join(d, n), 65534, 65534)
        os.chmod(os.path.join(cipher, "gocryptfs.conf"), 0o400)
        bad = os.path.join(cipher, L.namemap("default")["hello.txt"])
        os.chmod(bad, 0)
        pw = os.path.join(base, "pw")
        shutil.copy(PW, pw)
        os.chmod(pw, 0o644)
        r = subprocess.run(["runuser", "-u", "nobody", "--", L.UNSEAL, "verify",
                            "--passfile", pw, cipher], capture_output=True, text=True)
        assert r.returncode == 1
        assert f"BAD {bad} (hello.txt): open: Permission denied" in r.stdout, r.stdout
    finally:
        shutil.rmtree(base)
