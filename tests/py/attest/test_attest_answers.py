"""Version pinning, the challenge's hash choice, and bad answers: each with
its documented exit code and an error line that says what was wrong."""
import hashlib

import pytest

from kbsutil import (DECRYPT, PROTOCOL, REFUSED, SECRET_SHA, attest, counters, harness,
                     one_error_line, parse, resource_arg)

ERR = "https://github.com/confidential-containers/kbs/errors/"


@pytest.fixture(scope="module")
def servers():
    h = harness()
    with h.kbs_server("p0", "--resource", resource_arg()) as p0, \
            h.kbs_server("p4", "--resource", resource_arg()) as p4:
        yield {"p0": p0, "p4": p4}


@pytest.fixture
def srv(servers):
    for kbs in servers.values():
        kbs.clear_faults()
        kbs.reset()
    return servers


PIN = {"p0": "0.1.0", "p4": "0.4.0"}


# ---- --protocol is a strict pin ----------------------------------------------------------

@pytest.mark.parametrize("prof,pinned,wants", [("p4", "0.1.0", "=0.4.0"),
                                               ("p4", "0.2.0", "=0.4.0"),
                                               ("p0", "0.4.0", "<=0.1.0"),
                                               ("p0", "0.1.1", "<=0.1.0")])
def test_pinned_version_mismatch_is_protocol_error(unseal_bin, srv, prof, pinned, wants):
    kbs = srv[prof]
    res = attest(unseal_bin, kbs.url, "--protocol", pinned)
    assert res.returncode == PROTOCOL
    line = one_error_line(res, "auth")
    assert f"protocol {pinned} is pinned, the server wants {wants}" in line, line
    assert kbs.state()["negotiated"]["requested_versions"] == [pinned]  # only the pin offered
    assert counters(kbs) == (1, 0, 0)


@pytest.mark.parametrize("prof", ["p0", "p4"])
def test_pinned_version_match(unseal_bin, srv, prof):
    kbs = srv[prof]
    out = parse(attest(unseal_bin, kbs.url, "--protocol", PIN[prof]))
    assert out["protocol"] == PIN[prof] and out["sha256"] == SECRET_SHA
    assert counters(kbs) == (1, 1, 1)


def test_auto_follows_the_named_version_once(unseal_bin, srv):
    """auto: 0.4.0 first, then what the server names; a named version that was
    already tried ends the negotiation (no walk through the rest)."""
    kbs = srv["p4"]
    kbs.faults({"endpoint": "auth", "action": "version_mismatch", "expect": "=0.2.0"})
    res = attest(unseal_bin, kbs.url)
    assert res.returncode == PROTOCOL
    assert "no common protocol version" in one_error_line(res, "auth")
    assert kbs.state()["negotiated"]["requested_versions"] == ["0.4.0", "0.2.0"]


def test_auto_unknown_named_version_stops(unseal_bin, srv):
    kbs = srv["p4"]
    kbs.faults({"endpoint": "auth", "action": "version_mismatch", "expect": "=0.3.0",
                "times": -1})
    res = attest(unseal_bin, kbs.url)
    assert res.returncode == PROTOCOL
    assert "=0.3.0" in one_error_line(res, "auth")
    assert kbs.state()["negotiated"]["requested_versions"] == ["0.4.0"]


def test_auto_unnamed_mismatch_walks_down(unseal_bin, srv):
    """A mismatch that names no version: the next older version, each once."""
    kbs = srv["p0"]
    kbs.faults({"endpoint": "auth", "action": "status", "code": 401, "times": 2,
                "body": {"type": ERR + "ProtocolVersion", "detail": "KBS Client Protocol "
                         "Version Mismatch"}})
    out = parse(attest(unseal_bin, kbs.url))
    assert out["protocol"] == "0.1.0"
    assert kbs.state()["negotiated"]["requested_versions"] == ["0.1.1", "0.1.0"]


# ---- selected-hash-algorithm (spec §2) ---------------------------------------------------

@pytest.mark.parametrize("selected,used", [
    ("sha256", "sha256"), ("SHA512", "sha512"), ("Sha384", "sha384"), ("sm3", "sm3"),
    ("SM3", "sm3"), ("md5", "sha384"), ("sha3-256", "sha384"), ("", "sha384"), (7, "sha384"),
], ids=str)
@pytest.mark.parametrize("prof", ["p0", "p4"])
def test_selected_hash(unseal_bin, srv, prof, selected, used):
    """Known names in any case are used; anything else means SHA-384 (the
    test KBS applies the same rule, so a wrong choice fails the binding)."""
    kbs = srv[prof]
    kbs.faults({"endpoint": "auth", "action": "extra_params",
                "value": {"selected-hash-algorithm": selected}})
    out = parse(attest(unseal_bin, kbs.url, "--protocol", PIN[prof]))
    assert out["sha256"] == SECRET_SHA
    st = kbs.state()
    assert [s["hash"] for s in st["sessions"]] == [used]
    assert len(st["last_digest_hex"]) == 2 * hashlib.new(used).digest_size


def test_sm3_server_option(unseal_bin):
    with harness().kbs_server("p4", "--hash", "sm3", "--resource", resource_arg()) as kbs:
        assert parse(attest(unseal_bin, kbs.url))["sha256"] == SECRET_SHA
        assert [s["hash"] for s in kbs.state()["sessions"]] == ["sm3"]


# ---- bad answers ---------------------------------------------------------------------------

def test_auth_200_without_nonce(unseal_bin, srv):
    kbs = srv["p4"]
    kbs.faults({"endpoint": "auth", "action": "status", "code": 200,
                "body": {"extra-params": ""}})
    res = attest(unseal_bin, kbs.url)
    assert res.returncode == PROTOCOL
    assert "challenge without a nonce" in one_error_line(res, "auth")
    assert counters(kbs)[1] == 0


@pytest.mark.parametrize("body", ["[1, 2]", '"token"', "42", "null", "<html>ok</html>"])
def test_attest_200_not_an_object(unseal_bin, srv, body):
    kbs = srv["p4"]
    kbs.faults({"endpoint": "attest", "action": "status", "code": 200, "body": body,
                "content_type": "application/json"})  # the body text is sent verbatim
    res = attest(unseal_bin, kbs.url)
    assert res.returncode == PROTOCOL
    assert "answer is not a JSON object" in one_error_line(res, "attest")
    assert counters(kbs)[2] == 0  # never went on to the resource


@pytest.mark.parametrize("prof", ["p0", "p4"])
def test_auth_401_not_a_mismatch_is_protocol(unseal_bin, srv, prof):
    """A /auth refusal that is not about the version: protocol (4), not
    'attestation refused' (5): no evidence was judged yet."""
    kbs = srv[prof]
    kbs.faults({"endpoint": "auth", "action": "status", "code": 401,
                "body": {"type": ERR + "InvalidRequest", "detail": "unknown tee"}})
    res = attest(unseal_bin, kbs.url, "--protocol", PIN[prof])
    assert res.returncode == PROTOCOL
    assert "HTTP 401: unknown tee" in one_error_line(res, "auth")


@pytest.mark.parametrize("prof", ["p0", "p4"])
def test_jwe_missing_member_is_protocol(unseal_bin, srv, prof):
    """A resource answer without a JWE member is malformed (4, step resource);
    a complete JWE that fails to decrypt is 7 (step decrypt)."""
    kbs = srv[prof]
    kbs.faults({"endpoint": "resource", "action": "jwe", "corrupt": "missing_member",
                "member": "iv", "times": -1})
    res = attest(unseal_bin, kbs.url, "--protocol", PIN[prof])
    assert res.returncode == PROTOCOL
    assert "not a JWE: no string 'iv'" in one_error_line(res, "resource")
    kbs.clear_faults()
    kbs.faults({"endpoint": "resource", "action": "jwe", "corrupt": "flip_tag", "times": -1})
    res = attest(unseal_bin, kbs.url, "--protocol", PIN[prof])
    assert res.returncode == DECRYPT
    one_error_line(res, "decrypt")


@pytest.mark.parametrize("endpoint,step", [("auth", "auth"), ("attest", "attest"),
                                           ("resource", "resource")])
def test_non_json_4xx_detail_quoted(unseal_bin, srv, endpoint, step):
    """openanolis 0.1.0 style plain-text errors: the first line, sanitised and
    quoted, is in the one-line error; nothing after the first line."""
    kbs = srv["p0"]
    body = "Json deserialize error: missing field `tee`\x07 \u00e9\r\nsecond line\n"
    kbs.faults({"endpoint": endpoint, "action": "status", "code": 400, "body": body,
                "times": -1})
    res = attest(unseal_bin, kbs.url, "--protocol", "0.1.0")
    assert res.returncode == PROTOCOL
    line = one_error_line(res, step)
    assert 'HTTP 400: "Json deserialize error: missing field `tee`? ??"' in line, line
    assert "second line" not in line


def test_non_json_detail_bounded(unseal_bin, srv):
    kbs = srv["p0"]
    kbs.faults({"endpoint": "auth", "action": "status", "code": 400, "body": "x" * 5000})
    res = attest(unseal_bin, kbs.url, "--protocol", "0.1.0")
    assert res.returncode == PROTOCOL
    line = one_error_line(res, "auth")
    assert '"' + "x" * 200 + '..."' in line and "x" * 201 not in line


def test_real_413_plain_text(unseal_bin):
    """The p0 server's own 413 (body over --max-body) is plain text."""
    with harness().kbs_server("p0", "--max-body", "300", "--resource", resource_arg()) as kbs:
        res = attest(unseal_bin, kbs.url, "--protocol", "0.1.0")
        assert res.returncode == PROTOCOL
        line = one_error_line(res, "attest")
        assert 'HTTP 413: "JSON payload (' in line and "(limit: 300 bytes)." in line, line


def test_p0_wrong_nonce_names_the_binding(unseal_bin, srv):
    kbs = srv["p0"]
    kbs.faults({"endpoint": "auth", "action": "wrong_nonce"})
    res = attest(unseal_bin, kbs.url, "--protocol", "0.1.0")
    assert res.returncode == REFUSED
    line = one_error_line(res, "attest")
    assert "attestation refused: HTTP 401: Attestation failed: sample report_data does not " \
           "match runtime data digest" in line, line


def test_p4_wrong_nonce_names_the_refusal(unseal_bin, srv):
    kbs = srv["p4"]
    kbs.faults({"endpoint": "auth", "action": "wrong_nonce"})
    res = attest(unseal_bin, kbs.url)
    assert res.returncode == REFUSED
    assert "attestation refused: HTTP 401: Attestation error: RCAR handshake Attest failed" \
        in one_error_line(res, "attest")
