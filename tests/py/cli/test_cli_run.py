"""`unseal run`: the environment it builds for the shim (checked with
/usr/bin/env under a do-nothing preload library), and what it refuses."""
import os
import shutil

import pytest

import clilib as L


@pytest.fixture(scope="module")
def dummy_lib(tmp_path_factory):
    """A real, empty shared object: LD_PRELOAD loads it without complaint."""
    if not shutil.which("cc"):
        pytest.skip("SKIP: no C compiler for the dummy preload library")
    d = tmp_path_factory.mktemp("lib")
    src = d / "dummy.c"
    src.write_text("int unseal_cli_test_dummy;\n")
    so = d / "libdummy.so"
    r = L.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)])
    assert r.returncode == 0, r.stderr
    return str(so)


def env_of(stdout):
    out = {}
    for line in stdout.splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def base_env(lib, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNSEAL_")}
    env.pop("LD_PRELOAD", None)
    env["UNSEAL_BUILD"] = L.BUILD
    env["UNSEAL_LIB"] = lib
    env.update(extra)
    return env


def test_env_passfile(tmp_path, dummy_lib):
    cipher = tmp_path / "cipher"
    cipher.mkdir()
    pw = tmp_path / "pw"
    pw.write_text("s3cret-password\n")
    r = L.unseal("run", "--cipher", "cipher", "--mount", "/models/x", "--passfile", "pw",
                 "--log", "debug", "--log-file", "log.txt", "--eager", "--stream", "--",
                 "/usr/bin/env", env=base_env(dummy_lib, LD_PRELOAD="/already/there.so",
                                              UNSEAL_MASTERKEY_FILE="/stale"),
                 cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    e = env_of(r.stdout)
    assert e["UNSEAL_CIPHER_DIR"] == str(cipher)
    assert e["UNSEAL_MOUNT"] == "/models/x"
    assert e["UNSEAL_PASSFILE"] == str(pw)
    assert e["UNSEAL_LOG"] == "debug"
    assert e["UNSEAL_LOG_FILE"] == str(tmp_path / "log.txt")
    assert e["UNSEAL_EAGER"] == "1" and e["UNSEAL_STREAM"] == "1"
    assert e["LD_PRELOAD"] == f"{dummy_lib}:/already/there.so"
    # Only one key source, and never the key itself.
    assert "UNSEAL_MASTERKEY_FILE" not in e and "UNSEAL_KBS_URL" not in e
    assert "s3cret" not in r.stdout


def test_env_masterkey_and_plain_argv(tmp_path, dummy_lib):
    cipher = tmp_path / "cipher"
    cipher.mkdir()
    mk = tmp_path / "mk"
    mk.write_text("ab" * 32)
    r = L.unseal("run", "--cipher", str(cipher), "--mount", "/m", "--masterkey-file", str(mk),
                 "--", "sh", "-c", 'echo "$LD_PRELOAD|$UNSEAL_MASTERKEY_FILE|$UNSEAL_PASSFILE|$0"',
                 "argzero", env=base_env(dummy_lib))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{dummy_lib}|{mk}||argzero"
    assert "abab" not in r.stdout


def test_env_kbs(tmp_path, dummy_lib):
    cipher = tmp_path / "cipher"
    cipher.mkdir()
    r = L.unseal("run", "--cipher", str(cipher), "--mount", "/m", "--kbs-url",
                 "http://127.0.0.1:8080", "--key-uri", "kbs:///default/key/model",
                 "--tee", "sample", "--key-format", "masterkey", "--protocol", "0.1.0",
                 "--", "/usr/bin/env",
                 env=base_env(dummy_lib, UNSEAL_PASSFILE="/stale/pw"))
    assert r.returncode == 0, r.stderr
    e = env_of(r.stdout)
    assert e["UNSEAL_KBS_URL"] == "http://127.0.0.1:8080"
    assert e["UNSEAL_KEY_URI"] == "kbs:///default/key/model"
    assert e["UNSEAL_TEE"] == "sample" and e["UNSEAL_KEY_FORMAT"] == "masterkey"
    assert e["UNSEAL_KBS_PROTOCOL"] == "0.1.0"
    assert "UNSEAL_PASSFILE" not in e


def test_default_lib_next_to_binary(tmp_path, dummy_lib):
    """Without UNSEAL_LIB the shim is dirname(/proc/self/exe)/libunseal.so."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(L.UNSEAL, bindir / "unseal")
    shutil.copy(dummy_lib, bindir / "libunseal.so")
    cipher = tmp_path / "cipher"
    cipher.mkdir()
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    env = base_env(dummy_lib)
    del env["UNSEAL_LIB"]
    r = L.run([str(bindir / "unseal"), "run", "--cipher", str(cipher), "--mount", "/m",
               "--passfile", str(pw), "--", "/usr/bin/env"], env=env)
    assert r.returncode == 0, r.stderr
    assert env_of(r.stdout)["LD_PRELOAD"] == str(bindir / "libunseal.so")
    os.unlink(bindir / "libunseal.so")
    r = L.run([str(bindir / "unseal"), "run", "--cipher", str(cipher), "--mount", "/m",
               "--passfile", str(pw), "--", "/usr/bin/env"], env=env)
    assert r.returncode == 1
    assert r.stderr.startswith(f"unseal: run: {bindir}/libunseal.so: ")


def _run(tmp_path, lib, *args):
    cipher = tmp_path / "cipher"
    cipher.mkdir(exist_ok=True)
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    return L.unseal("run", "--cipher", str(cipher), "--passfile", str(pw), *args,
                    env=base_env(lib))


def test_relative_mount_refused(tmp_path, dummy_lib):
    r = _run(tmp_path, dummy_lib, "--mount", "models", "--", "/bin/true")
    assert r.returncode == 2
    assert r.stderr.startswith("unseal: run: models: mount path must be absolute")


def test_nonempty_mount_refused(tmp_path, dummy_lib):
    m = tmp_path / "mnt"
    m.mkdir()
    (m / "f").write_text("x")
    r = _run(tmp_path, dummy_lib, "--mount", str(m), "--", "/bin/true")
    assert r.returncode == 1
    assert r.stderr.startswith(f"unseal: run: {m}: directory is not empty")
    (m / "f").unlink()
    assert _run(tmp_path, dummy_lib, "--mount", str(m), "--", "/bin/true").returncode == 0


def test_usage_errors(tmp_path, dummy_lib):
    assert _run(tmp_path, dummy_lib, "--mount", "/m").returncode == 2  # no command
    assert L.unseal("run", "--mount", "/m", "--", "true").returncode == 2  # no cipher
    r = L.unseal("run", "--cipher", str(tmp_path), "--mount", "/m", "--", "/bin/true",
                 env=base_env(dummy_lib))
    assert r.returncode == 2  # no key source
    assert _run(tmp_path, dummy_lib, "--mount", "/m", "--kbs-url", "http://x", "--",
                "/bin/true").returncode == 2  # two key sources
    assert _run(tmp_path, dummy_lib, "--mount", "/m", "--log", "loud", "--",
                "/bin/true").returncode == 2
    cipher = tmp_path / "c"
    cipher.mkdir()
    r = L.unseal("run", "--cipher", str(cipher), "--mount", "/m", "--kbs-url", "http://x",
                 "--key-uri", "kbs:///a/b/c", "--protocol", "0.3.0", "--", "/bin/true",
                 env=base_env(dummy_lib))
    assert r.returncode == 2 and "--protocol" in r.stderr


def test_exit_status_and_missing_command(tmp_path, dummy_lib):
    r = _run(tmp_path, dummy_lib, "--mount", "/m", "--", "sh", "-c", "exit 7")
    assert r.returncode == 7
    r = _run(tmp_path, dummy_lib, "--mount", "/m", "--", "/no/such/cmd")
    assert r.returncode == 127
    assert r.stderr.startswith("unseal: run: /no/such/cmd: No such file or directory")


def test_missing_cipher_or_passfile(tmp_path, dummy_lib):
    r = L.unseal("run", "--cipher", str(tmp_path / "nope"), "--mount", "/m", "--passfile",
                 "/etc/hostname", "--", "/bin/true", env=base_env(dummy_lib))
    assert r.returncode == 1
    assert r.stderr.startswith(f"unseal: run: {tmp_path / 'nope'}: ")
    r = _run(tmp_path, dummy_lib, "--mount", "/m", "--masterkey-file", str(tmp_path / "nokey"),
             "--", "/bin/true")
    assert r.returncode == 2  # --passfile and --masterkey-file together
