"""Through the shim: unmodified programs read encrypted files with a key
released by the test KBS, for every protocol profile and key format."""
import os

import pytest

from shimkbs_util import (FILES, MOUNT, PLAIN, PROFILES, PY, assert_no_secret, counters,
                          harness, key_lines, log_text, master_hex, need_env, password, plain,
                          resource_arg, run, sha, shim_env, vpath)

VERSION = {"p0": "0.1.0", "p1": "0.1.1", "p2": "0.2.0", "p4": "0.4.0"}


@pytest.fixture(autouse=True)
def _env():
    need_env()


@pytest.mark.parametrize("base_path", ["", "/trustee"])
@pytest.mark.parametrize("profile", PROFILES)
def test_cat_with_kbs_password(tmp_path, profile, base_path):
    extra = ("--base-path", base_path) if base_path else ()
    with harness().kbs_server(profile, "--resource", resource_arg(password()), *extra) as kbs:
        # Pinned to the profile's version: exactly one /auth and one /attest.
        env = shim_env(kbs.url, tmp_path, UNSEAL_KBS_PROTOCOL=VERSION[profile])
        r = run(["cat", vpath("hello.txt"), vpath("sub/deeper/nested_5000.bin")], env)
        assert r.returncode == 0, r.stderr
        assert r.stdout == plain("hello.txt") + plain("sub/deeper/nested_5000.bin")
        assert counters(kbs) == (1, 1, 1), kbs.state()["counters"]
        assert_no_secret(r.stderr, log_text(tmp_path))


@pytest.mark.parametrize("profile", PROFILES)
def test_negotiated_protocol(tmp_path, profile):
    """Default (auto) starts at 0.4.0: an older server costs one rejected /auth."""
    with harness().kbs_server(profile, "--resource", resource_arg(password())) as kbs:
        r = run(["cat", vpath("hello.txt")], shim_env(kbs.url, tmp_path))
        assert r.returncode == 0, r.stderr
        assert r.stdout == plain("hello.txt")
        c = kbs.state()["counters"]
        assert c.get("auth", 0) == (1 if profile == "p4" else 2), c
        assert (c.get("auth_200", 0), c.get("attest", 0), c.get("resource", 0)) == (1, 1, 1), c
        assert kbs.state()["negotiated"]["accepted_version"] == VERSION[profile]


def test_bad_protocol_env(tmp_path):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        env = shim_env(kbs.url, tmp_path, UNSEAL_KBS_PROTOCOL="9.9.9")
        r = run(["cat", vpath("hello.txt")], env)
        assert r.returncode != 0 and r.stdout == b""
        lines = key_lines(log_text(tmp_path))
        assert len(lines) == 1 and "UNSEAL_KBS_PROTOCOL" in lines[0], lines
        assert counters(kbs) == (0, 0, 0)


def test_password_with_trailing_newline(tmp_path):
    """gocryptfs -passfile semantics: only the first line is the password."""
    with harness().kbs_server("p4", "--resource", resource_arg(password() + b"\n")) as kbs:
        r = run(["sha256sum", vpath("size_4097.bin")], shim_env(kbs.url, tmp_path))
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[0].decode() == sha(plain("size_4097.bin"))


def test_wrong_password_is_eacces(tmp_path):
    """A control: the KBS secret is really what unlocks the files."""
    with harness().kbs_server("p4", "--resource", resource_arg(b"not-the-password")) as kbs:
        r = run(["cat", vpath("hello.txt")], shim_env(kbs.url, tmp_path))
        assert r.returncode != 0
        assert r.stdout == b""
        assert "Permission denied" in r.stderr.decode()


@pytest.mark.parametrize("form", ["raw32", "hex64", "hex64-newline"])
def test_masterkey_format(tmp_path, form):
    mk = bytes.fromhex(master_hex())
    secret = {"raw32": mk, "hex64": mk.hex().encode(),
              "hex64-newline": mk.hex().encode() + b"\n"}[form]
    code = ("import sys,hashlib\n"
            "for p in sys.argv[1:]:\n"
            "    print(hashlib.sha256(open(p,'rb').read()).hexdigest())\n")
    with harness().kbs_server("p2", "--resource", resource_arg(secret)) as kbs:
        env = shim_env(kbs.url, tmp_path, UNSEAL_KEY_FORMAT="masterkey",
                       UNSEAL_KBS_PROTOCOL="0.2.0")
        r = run([PY, "-c", code] + [vpath(f) for f in FILES], env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().split() == [sha(plain(f)) for f in FILES]
        assert counters(kbs) == (1, 1, 1)
        assert_no_secret(r.stdout, r.stderr, log_text(tmp_path))


def test_directory_listing_matches(tmp_path):
    with harness().kbs_server("p0", "--resource", resource_arg(password())) as kbs:
        r = run(["ls", "-1a", MOUNT + "/sub"], shim_env(kbs.url, tmp_path))
        assert r.returncode == 0, r.stderr
        want = sorted([".", ".."] + os.listdir(os.path.join(PLAIN, "sub")))
        assert sorted(r.stdout.decode().splitlines()) == want


def test_one_info_line_no_error(tmp_path):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        r = run(["cat", vpath("hello.txt")], shim_env(kbs.url, tmp_path))
        assert r.returncode == 0
        lines = key_lines(log_text(tmp_path))
        assert any("loaded" in ln for ln in lines), lines
