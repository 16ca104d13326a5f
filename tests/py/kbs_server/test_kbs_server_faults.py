"""Every fault rule is really emitted: drive it with the scripted client and look at the wire."""
import email.utils
import http.client
import json
import os
import socket
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "kbs"))
sys.path.insert(0, HERE)

from kbs_servers import ERR, fresh, running  # noqa: E402
from kbs_pyclient import PyClient, unb64u  # noqa: E402

RES = "default/aliyun/k"
SECRET = b"fault-test-secret\n"
ARGS = ("--resource", f"{RES}=hex:{SECRET.hex()}")


@pytest.fixture(scope="module")
def servers():
    with running(("p0", "p4"), *ARGS) as started:
        yield started


@pytest.fixture
def kbs(servers):
    return fresh(servers)["p4"]


@pytest.fixture
def kbs0(servers, kbs):
    return servers["p0"]


def attested(kbs, prof="p4", **kw):
    client = PyClient(kbs.url, prof, **kw)
    assert client.auth().status == 200
    assert client.attest().status == 200
    return client


def fired(kbs):
    return {r["action"]: r["fired"] for r in kbs.state()["faults"]}


# ---- status-like replies --------------------------------------------------------------------

def test_status_json_body_and_headers(kbs):
    kbs.faults({"endpoint": "auth", "action": "status", "code": 500,
                "body": {"type": ERR + "Internal", "detail": "boom"}, "headers": {"X-F": "1"}})
    resp = PyClient(kbs.url, "p4").auth()
    assert resp.status == 500 and resp.json()["detail"] == "boom"
    assert ("X-F", "1") in resp.headers
    assert PyClient(kbs.url, "p4").auth().status == 200  # times defaults to 1


@pytest.mark.parametrize("code", [502, 503, 504])
def test_status_html_gateway(kbs, code):
    kbs.faults({"endpoint": "attest", "action": "status", "code": code,
                "body": "<html>bad gateway</html>", "content_type": "text/html"})
    client = PyClient(kbs.url, "p4")
    client.auth()
    resp = client.attest()
    assert resp.status == code and ("Content-Type", "text/html") in resp.headers


def test_status_empty_body(kbs):
    kbs.faults({"endpoint": "resource", "action": "status", "code": 404})
    resp = attested(kbs).resource(RES)
    assert resp.status == 404 and resp.body == b""


def test_non_json_and_huge_body(kbs):
    kbs.faults([{"endpoint": "auth", "action": "non_json"},
                {"endpoint": "auth", "action": "non_json", "code": 500, "nth": 2},
                {"endpoint": "auth", "action": "huge_body", "mib": 3, "nth": 3}])
    client = PyClient(kbs.url, "p4")
    first, second, third = client.auth(), client.auth(), client.auth()
    assert first.status == 200 and dict(first.headers)["Content-Type"] == "text/html"
    assert second.status == 500 and b"<html>" in second.body
    assert third.status == 200 and len(third.body) > 3 * 1024 * 1024


# ---- connection-level faults ----------------------------------------------------------------

def test_drop(kbs):
    kbs.faults({"endpoint": "auth", "action": "drop"})
    with pytest.raises(http.client.RemoteDisconnected):
        PyClient(kbs.url, "p4").auth()
    assert kbs.state()["requests"][-1]["status"] == "drop"


def test_reset_is_rst(kbs):
    kbs.faults({"endpoint": "auth", "action": "reset"})
    with pytest.raises(ConnectionResetError):
        PyClient(kbs.url, "p4").auth()


def test_hang_until_client_gives_up(kbs):
    kbs.faults({"endpoint": "auth", "action": "hang", "ms": 3000})
    with pytest.raises(socket.timeout):
        PyClient(kbs.url, "p4", timeout=0.5).auth()
    assert fired(kbs)["hang"] == 1


def test_delay_then_normal(kbs):
    kbs.faults({"endpoint": "auth", "action": "delay", "ms": 200})
    assert PyClient(kbs.url, "p4").auth().status == 200
    assert kbs.state()["requests"][-1]["faults"] == ["delay"]  # no timing assertion


def test_slow_body_drips(kbs):
    kbs.faults({"endpoint": "auth", "action": "slow_body", "bytes": 4, "interval_ms": 20})
    sock = socket.create_connection(("127.0.0.1", kbs.port), timeout=10)
    body = json.dumps({"version": "0.4.0", "tee": "sample", "extra-params": ""}).encode()
    sock.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    sock.close()
    raw = b"".join(chunks)
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert json.loads(payload)["nonce"]  # complete and valid in the end
    assert len(chunks) >= 3  # but it arrived in many pieces


def test_truncate_json(kbs):
    kbs.faults([{"endpoint": "auth", "action": "truncate_json"},
                {"endpoint": "auth", "action": "truncate_json", "short_read": True, "nth": 2}])
    client = PyClient(kbs.url, "p4")
    resp = client.request("POST", "auth", {"version": "0.4.0", "tee": "sample",
                                           "extra-params": ""})
    assert resp.status == 200
    with pytest.raises(ValueError):
        json.loads(resp.body)
    with pytest.raises(http.client.IncompleteRead):
        client.auth()


# ---- handshake faults -----------------------------------------------------------------------

@pytest.mark.parametrize("prof,expect", [("p4", "=0.1.0"), ("p0", "=0.4.0")])
def test_version_mismatch_forever(servers, kbs, prof, expect):
    k = servers[prof]
    k.faults({"endpoint": "auth", "action": "version_mismatch", "expect": expect, "times": -1})
    for version in ("0.4.0", "0.2.0", "0.1.1", "0.1.0", "0.4.0"):
        resp = PyClient(k.url, prof, version=version).auth()
        assert resp.status == 401
        detail = resp.json()["detail"]
        assert "Protocol Version Mismatch" in detail and expect in detail and version in detail
    assert fired(k)["version_mismatch"] == 5


def test_version_mismatch_first_k(kbs):
    kbs.faults({"endpoint": "auth", "action": "version_mismatch", "times": 2})
    statuses = [PyClient(kbs.url, "p4").auth().status for _ in range(3)]
    assert statuses == [401, 401, 200]


def test_wrong_nonce(kbs):
    kbs.faults({"endpoint": "auth", "action": "wrong_nonce"})
    client = PyClient(kbs.url, "p4")
    client.auth()
    assert client.nonce != kbs.state()["sessions"][0]["nonce"]
    assert client.attest().status == 401


@pytest.mark.parametrize("value", ["not base64!", "c2FtZQ=="])
def test_literal_nonce(kbs, value):
    kbs.faults({"endpoint": "auth", "action": "nonce", "value": value, "times": 2})
    a, b = PyClient(kbs.url, "p4"), PyClient(kbs.url, "p4")
    a.auth()
    b.auth()
    assert a.nonce == b.nonce == value  # same nonce for two sessions
    assert a.attest().status == 200  # binding uses the literal string


@pytest.mark.parametrize("value", [{}, None, {"selected-hash-algorithm": "sha512"}])
def test_extra_params_variants(kbs, value):
    kbs.faults({"endpoint": "auth", "action": "extra_params", "value": value})
    client = PyClient(kbs.url, "p4")
    assert client.auth().json()["extra-params"] == value
    assert client.attest().status == 200
    want = 128 if value else 96
    assert len(kbs.state()["last_digest_hex"]) == want


def test_no_set_cookie(kbs):
    kbs.faults({"endpoint": "auth", "action": "no_set_cookie"})
    client = PyClient(kbs.url, "p4")
    resp = client.auth()
    assert resp.status == 200 and resp.header_all("Set-Cookie") == []
    assert client.attest().status == 401


def test_cookie_name_and_past_expires(kbs):
    kbs.faults([{"endpoint": "auth", "action": "cookie_name", "name": "sid"},
                {"endpoint": "auth", "action": "past_expires", "nth": 2}])
    client = PyClient(kbs.url, "p4")
    (cookie,) = client.auth().header_all("Set-Cookie")
    assert cookie.startswith("sid=")
    assert client.attest().status == 401
    (cookie,) = PyClient(kbs.url, "p4").auth().header_all("Set-Cookie")
    expires = email.utils.parsedate_to_datetime(cookie.split("Expires=")[1]).timestamp()
    assert cookie.startswith("kbs-session-id=") and expires < time.time()


def test_extra_cookie_must_be_replayed(kbs):
    kbs.faults({"endpoint": "auth", "action": "extra_cookie", "name": "SERVERID", "times": 2})
    good = PyClient(kbs.url, "p4")
    assert good.auth().status == 200 and "SERVERID" in good.jar
    assert good.attest().status == 200
    assert good.resource(RES).status == 200
    bad = PyClient(kbs.url, "p4")
    bad.auth()
    del bad.jar["SERVERID"]
    assert bad.attest().status == 401


@pytest.mark.parametrize("endpoint", ["attest", "resource"])
@pytest.mark.parametrize("action", ["expire_session", "drop_session"])
def test_session_loss(kbs, endpoint, action):
    kbs.faults({"endpoint": endpoint, "action": action})
    client = PyClient(kbs.url, "p4")
    client.auth()
    assert client.attest().status == 200
    assert client.resource(RES).status == 401
    if action == "drop_session":
        assert kbs.state()["sessions"] == []


def test_no_bearer_fault(kbs):
    """no_bearer: this GET ignores Authorization (a server without token trust
    config); only the cookie session counts, and only while the rule fires."""
    client = attested(kbs)
    kbs.faults({"endpoint": "resource", "action": "no_bearer"})
    resp = client.resource(RES, bearer=client.token, send_cookies=False)
    assert resp.status == 401 and resp.json()["type"] == ERR + "TokenNotFound"
    assert client.resource(RES, bearer=client.token, send_cookies=False).status == 200
    kbs.faults({"endpoint": "resource", "action": "no_bearer"})
    assert client.resource(RES, bearer=client.token).status == 200  # the cookie still works


def test_no_bearer_fault_p0(kbs0):
    client = attested(kbs0, "p0")
    kbs0.faults({"endpoint": "resource", "action": "no_bearer"})
    resp = client.resource(RES, bearer=client.token, send_cookies=False)
    assert resp.status == 401 and resp.json()["type"] == ERR + "MissingCookie"


def test_request_arrival_times(kbs):
    """Each logged request carries the server's monotonic arrival time, taken
    before any delay fault, so client-side gaps can be measured."""
    kbs.faults({"endpoint": "auth", "action": "delay", "ms": 300, "nth": 2})
    t0 = time.monotonic()
    for _ in range(3):
        PyClient(kbs.url, "p4").auth()
    monos = [r["mono"] for r in kbs.state()["requests"] if r["endpoint"] == "auth"]
    assert len(monos) == 3 and monos == sorted(monos)
    assert t0 - 1 < monos[0]  # same clock as ours (CLOCK_MONOTONIC, one machine)
    assert monos[2] - monos[1] >= 0.3  # the 2nd request's delay is after its arrival


# ---- token faults ---------------------------------------------------------------------------

def test_token_missing_and_not_string(kbs):
    kbs.faults([{"endpoint": "attest", "action": "token_missing"},
                {"endpoint": "attest", "action": "token_not_string", "nth": 2}])
    client = PyClient(kbs.url, "p4")
    client.auth()
    assert client.attest().json() == {}
    assert client.attest().json() == {"token": 123}
    assert isinstance(client.attest().json()["token"], str)


def test_token_expired(kbs):
    kbs.faults({"endpoint": "attest", "action": "token_expired"})
    client = attested(kbs)
    claims = json.loads(unb64u(client.token.split(".")[1]))
    assert claims["exp"] < time.time()
    assert client.resource(RES, bearer=client.token, send_cookies=False).status == 401
    assert client.resource(RES).status == 200  # the cookie session is still fine


# ---- JWE corruption -------------------------------------------------------------------------

def corrupted(kbs, prof, corrupt, alg=None, **extra):
    kbs.faults(dict({"endpoint": "resource", "action": "jwe", "corrupt": corrupt}, **extra))
    client = attested(kbs, prof, alg=alg)
    resp = client.resource(RES)
    assert resp.status == 200
    return client, resp.json()


def header_of(jwe):
    prot = jwe["protected"]
    return json.loads(prot if prot.startswith("{") else unb64u(prot.rstrip("=")))


RFC_REJECT = {
    "flip_ct": lambda c, j: True,
    "flip_tag": lambda c, j: True,
    "tag_len": lambda c, j: len(unb64u(j["tag"])) == 12,
    "iv16": lambda c, j: len(unb64u(j["iv"])) == 16,
    "enc_a128": lambda c, j: header_of(j)["enc"] == "A128GCM",
    "alg_unknown": lambda c, j: header_of(j)["alg"] == "RSA-OAEP-999",
    "alg_mismatch": lambda c, j: header_of(j)["alg"] == "RSA1_5",
    "protected_padded": lambda c, j: j["protected"].endswith("="),
    "protected_altered": lambda c, j: "kid" in header_of(j),
    "wrong_key": lambda c, j: True,
    "cek16": lambda c, j: len(c.unwrap(header_of(j), unb64u(j["encrypted_key"]))) == 16,
    "missing_member": lambda c, j: "tag" not in j,
    "extra_aad": lambda c, j: "aad" in j,
}


@pytest.mark.parametrize("corrupt,alg", [
    (c, a) for c in sorted(RFC_REJECT) for a in ("RSA-OAEP-256", "ECDH-ES+A256KW")
    if not (c == "alg_mismatch" and a != "RSA-OAEP-256")])
def test_rfc_jwe_corruptions_are_rejected(kbs, corrupt, alg):
    client, jwe = corrupted(kbs, "p4", corrupt, alg=alg)
    assert RFC_REJECT[corrupt](client, jwe)
    with pytest.raises(Exception):
        client.decrypt(jwe)


def test_protected_std_alphabet(kbs):
    client, jwe = corrupted(kbs, "p4", "protected_padded", style="std")
    prot = jwe["protected"]
    assert "+" in prot or "/" in prot or prot.endswith("=")
    with pytest.raises(Exception):
        client.decrypt(jwe)


LEGACY_REJECT = ["flip_ct", "flip_tag", "tag_len", "iv16", "enc_a128", "alg_unknown",
                 "alg_mismatch", "wrong_key", "cek16", "missing_member", "extra_aad"]


@pytest.mark.parametrize("corrupt", LEGACY_REJECT)
def test_legacy_jwe_corruptions_are_rejected(kbs0, corrupt):
    client, jwe = corrupted(kbs0, "p0", corrupt)
    assert jwe["protected"].startswith("{")
    with pytest.raises(Exception):
        client.decrypt(jwe)


def test_format_swaps_decrypt_via_detection(servers, kbs):
    client, jwe = corrupted(servers["p4"], "p4", "legacy_in_rfc")
    assert jwe["protected"].startswith("{") and jwe["tag"] == ""
    assert client.decrypt(jwe) == SECRET
    client, jwe = corrupted(servers["p0"], "p0", "rfc_in_legacy")
    assert jwe["protected"].startswith("ey") and len(unb64u(jwe["tag"])) == 16
    assert client.decrypt(jwe) == SECRET


# ---- rule semantics -------------------------------------------------------------------------

def test_nth_times_any_and_probability(kbs):
    kbs.faults([{"endpoint": "auth", "action": "status", "code": 503, "nth": 2, "times": 2},
                {"endpoint": "any", "action": "status", "code": 500, "probability": 0.0}])
    statuses = [PyClient(kbs.url, "p4").auth().status for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    rules = kbs.state()["faults"]
    assert rules[0]["seen"] == 4 and rules[0]["fired"] == 2
    assert rules[1]["seen"] == 4 and rules[1]["fired"] == 0


def test_any_endpoint_and_clear(kbs):
    kbs.faults({"action": "status", "code": 502, "times": -1})
    client = PyClient(kbs.url, "p4")
    assert client.auth().status == 502
    assert client.resource(RES).status == 502
    kbs.clear_faults()
    assert client.auth().status == 200


@pytest.mark.parametrize("rule", [{"action": "nope"}, {"action": "status"},
                                  {"action": "jwe", "corrupt": "bogus"},
                                  {"endpoint": "x", "action": "drop"},
                                  {"action": "drop", "times": 0}])
def test_invalid_rules_rejected(kbs, rule):
    import urllib.error
    with pytest.raises(urllib.error.HTTPError) as exc:
        kbs.faults(rule)
    assert exc.value.code == 400
    assert kbs.state()["faults"] == []
