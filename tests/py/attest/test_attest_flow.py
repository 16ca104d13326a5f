"""`unseal attest` against the test KBS: full fetches per profile, negotiation,
base paths, cookies, secret hygiene."""
import pytest

from kbsutil import (OK, PROTOCOL, REFUSED, SECRET, SECRET_SHA, URI, USAGE, VERSION, attest,
                     counters, harness, one_error_line, parse, resource_arg)

PROFILES = ["p0", "p1", "p2", "p4"]


@pytest.mark.parametrize("base_path", ["", "/trustee"])
@pytest.mark.parametrize("profile", PROFILES)
def test_full_fetch(unseal_bin, profile, base_path):
    h = harness()
    args = ["--resource", resource_arg()]
    if base_path:
        args += ["--base-path", base_path]
    with h.kbs_server(profile, *args) as kbs:
        # Start at the profile's own version: exactly one auth and one attest.
        out = parse(attest(unseal_bin, kbs.url, "--protocol", VERSION[profile]))
        assert out["protocol"] == VERSION[profile]
        assert out["sha256"] == SECRET_SHA
        assert out["length"] == len(SECRET)
        assert out["tee"] == "sample"
        assert counters(kbs) == (1, 1, 1), kbs.state()["counters"]
        want = "RSA1_5" if profile in ("p0", "p1") else "RSA-OAEP-256"
        assert [x["alg"] for x in kbs.state()["sessions"]] == [want]


@pytest.mark.parametrize("profile", PROFILES)
def test_negotiation_from_040(unseal_bin, profile):
    """Auto starts at 0.4.0; a mismatch names the wanted version: <= 2 auth calls."""
    h = harness()
    with h.kbs_server(profile, "--resource", resource_arg()) as kbs:
        out = parse(attest(unseal_bin, kbs.url))
        assert out["protocol"] == VERSION[profile]
        auth, att, res = counters(kbs)
        assert auth == (1 if profile == "p4" else 2)
        assert (att, res) == (1, 1)
        assert out["auth_calls"] == auth and out["attest_calls"] == 1
        neg = kbs.state()["negotiated"]
        assert neg["accepted_version"] == VERSION[profile]


def test_p0_strict_eq_pin(unseal_bin):
    """A pinned version is the only one offered: against an =0.1.0 server a
    0.1.1 pin is a protocol error naming both; auto negotiates 0.1.0."""
    h = harness()
    with h.kbs_server("p0", "--strict-eq", "--resource", resource_arg()) as kbs:
        res = attest(unseal_bin, kbs.url, "--protocol", "0.1.1")
        assert res.returncode == PROTOCOL
        assert "protocol 0.1.1 is pinned, the server wants =0.1.0" in \
            one_error_line(res, "auth")
        assert counters(kbs) == (1, 0, 0)
        kbs.reset()
        out = parse(attest(unseal_bin, kbs.url))
        assert out["protocol"] == "0.1.0"
        assert counters(kbs)[0] == 2


@pytest.mark.parametrize("profile", ["p0", "p4"])
def test_lb_cookie_replayed(unseal_bin, profile):
    h = harness()
    with h.kbs_server(profile, "--lb-cookie", "aliyungf_tc", "--base-path", "/trustee",
                      "--resource", resource_arg()) as kbs:
        out = parse(attest(unseal_bin, kbs.url + "/"))  # trailing slash is stripped
        assert out["sha256"] == SECRET_SHA
        reqs = [r for r in kbs.state()["requests"] if r.get("endpoint") in ("attest",
                                                                              "resource")]
        assert reqs and all("aliyungf_tc" in r["cookies"] for r in reqs), reqs


def test_wrong_base_path_is_protocol_error(unseal_bin):
    h = harness()
    with h.kbs_server("p4", "--base-path", "/trustee", "--resource", resource_arg()) as kbs:
        res = attest(unseal_bin, kbs.root)  # missing /trustee: 404 with empty body
        assert res.returncode == PROTOCOL
        assert "404" in one_error_line(res, "auth")


def test_hash_selected_by_server(unseal_bin):
    h = harness()
    with h.kbs_server("p4", "--hash", "sha512", "--resource", resource_arg()) as kbs:
        out = parse(attest(unseal_bin, kbs.url))
        assert out["sha256"] == SECRET_SHA
        assert len(kbs.state()["last_digest_hex"]) == 128


def test_secret_only_with_reveal(unseal_bin):
    h = harness()
    with h.kbs_server("p4", "--resource", resource_arg()) as kbs:
        for extra in ([], ["--json"]):
            res = attest(unseal_bin, kbs.url, *extra, json_out=False)
            assert res.returncode == OK, res.stderr
            text = SECRET.decode().strip()
            assert text not in res.stdout and text not in res.stderr
            assert SECRET_SHA in res.stdout
        res = attest(unseal_bin, kbs.url, "--reveal", json_out=False)
        assert res.returncode == OK
        assert res.stdout == SECRET.decode()  # raw bytes, trailing newline kept
        assert SECRET_SHA in res.stderr


def test_reveal_write_error_names_the_cause(unseal_bin):
    """--reveal into a full device: `unseal: attest: stdout: <strerror>`."""
    import os
    import subprocess
    if not os.path.exists("/dev/full"):
        pytest.skip("SKIP: no /dev/full")
    h = harness()
    with h.kbs_server("p4", "--resource", resource_arg()) as kbs:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNSEAL_")}
        with open("/dev/full", "wb") as full:
            res = subprocess.run([unseal_bin, "attest", "--kbs-url", kbs.url, "--key-uri", URI,
                                  "--tee", "sample", "--reveal"], stdout=full,
                                 stderr=subprocess.PIPE, text=True, env=env, timeout=180)
        assert res.returncode == 1
        assert res.stderr.splitlines()[-1] == \
            "unseal: attest: stdout: No space left on device", res.stderr


def test_env_configuration(unseal_bin):
    h = harness()
    with h.kbs_server("p2", "--resource", resource_arg()) as kbs:
        import os
        from testlib import run
        env = dict(os.environ, UNSEAL_KBS_URL=kbs.url, UNSEAL_KEY_URI=URI, UNSEAL_TEE="sample",
                   UNSEAL_KBS_TIMEOUT="30")
        res = run([unseal_bin, "attest", "--json"], env=env, timeout=180)
        assert parse(res)["protocol"] == "0.2.0"


def test_uri_authority_as_base(unseal_bin):
    h = harness()
    with h.kbs_server("p4", "--resource", resource_arg()) as kbs:
        from testlib import run
        import os
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNSEAL_")}
        res = run([unseal_bin, "attest", "--json", "--tee", "sample", "--key-uri",
                   f"kbs://127.0.0.1:{kbs.port}/default/aliyun/model-key"], env=env,
                  timeout=180)
        assert parse(res)["sha256"] == SECRET_SHA


@pytest.mark.parametrize("uri", ["kbs:///default/aliyun", "kbs:///a/../b", "http:///a/b/c",
                                 "kbs:///a/b/c/d", "kbs:///a//c", "kbs:///a/b/c?x"])
def test_malformed_uri(unseal_bin, uri):
    res = attest(unseal_bin, "http://127.0.0.1:9", uri=uri)
    assert res.returncode == USAGE
    one_error_line(res, "uri")


@pytest.mark.parametrize("args", [["--protocol", "0.3.0"], ["--timeout", "0"],
                                  ["--tee", "sgx"], ["--bogus"]])
def test_bad_options(unseal_bin, args):
    res = attest(unseal_bin, "http://127.0.0.1:9", *args)
    assert res.returncode == USAGE
    assert res.stderr.startswith("unseal: attest: ")


def test_bad_kbs_url(unseal_bin):
    res = attest(unseal_bin, "ftp://127.0.0.1:9")
    assert res.returncode == USAGE
    one_error_line(res, "config")


def test_deny_sample_refused(unseal_bin):
    h = harness()
    with h.kbs_server("p4", "--deny-sample", "--resource", resource_arg()) as kbs:
        res = attest(unseal_bin, kbs.url)
        assert res.returncode == REFUSED
        one_error_line(res, "resource")
        # Policy deny: one re-attestation at most, never a loop.
        assert counters(kbs)[1] <= 2


def test_no_tee_without_sample(unseal_bin, tmp_path):
    """auto never falls back to sample."""
    import os
    if os.path.exists("/dev/tdx_guest"):
        pytest.skip("SKIP: a TDX device exists here")
    res = attest(unseal_bin, "http://127.0.0.1:9", tee="auto",
                 env={"UNSEAL_TSM_ROOT": str(tmp_path / "none")})
    assert res.returncode == 8
    assert "no TEE found; set UNSEAL_TEE=sample" in one_error_line(res, "evidence")


@pytest.mark.parametrize("profile", PROFILES)
def test_ec_key_type(unseal_bin, profile):
    """--key-type ec: P-256 ECDH-ES+A256KW from 0.2.0 (decrypts the server's
    independent Python JWE); 0.1.x servers still get RSA1_5."""
    h = harness()
    with h.kbs_server(profile, "--resource", resource_arg()) as kbs:
        out = parse(attest(unseal_bin, kbs.url, "--key-type", "ec"))
        assert out["sha256"] == SECRET_SHA
        assert out["protocol"] == VERSION[profile]
        want = "RSA1_5" if profile in ("p0", "p1") else "ECDH-ES+A256KW"
        assert [x["alg"] for x in kbs.state()["sessions"]] == [want]


@pytest.mark.parametrize("corrupt", ["flip_tag", "wrong_key", "alg_mismatch", "cek16",
                                     "protected_altered"])
def test_ec_corrupt_jwe(unseal_bin, corrupt):
    h = harness()
    with h.kbs_server("p4", "--resource", resource_arg()) as kbs:
        kbs.faults({"endpoint": "resource", "action": "jwe", "corrupt": corrupt, "times": -1})
        res = attest(unseal_bin, kbs.url, "--key-type", "ec", env={})
        assert res.returncode == 7, res.stderr
        one_error_line(res, "decrypt")


def test_ec_key_type_from_env(unseal_bin):
    h = harness()
    with h.kbs_server("p2", "--resource", resource_arg()) as kbs:
        out = parse(attest(unseal_bin, kbs.url, env={"UNSEAL_KBS_KEY": "ec"}))
        assert out["sha256"] == SECRET_SHA
        res = attest(unseal_bin, kbs.url, env={"UNSEAL_KBS_KEY": "dsa"})
        assert res.returncode == USAGE
        one_error_line(res, "config")
