"""The test KBS is strict where the real servers are: each check rejects what it must."""
import base64
import http.client
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "kbs"))
sys.path.insert(0, HERE)

from harness import kbs_server  # noqa: E402
from kbs_servers import ERR, fresh, running  # noqa: E402
from kbs_pyclient import PyClient  # noqa: E402

RES = "default/aliyun/k"
ARGS = ("--resource", f"{RES}=str:secret")


@pytest.fixture(scope="module")
def servers():
    with running(("p0", "p1", "p2", "p4"), *ARGS) as started:
        yield started


@pytest.fixture
def srv(servers):
    return fresh(servers)


def authed(srv, prof, **kw):
    client = PyClient(srv[prof].url, prof, **kw)
    assert client.auth().status == 200
    return client


ALL = ["p0", "p1", "p2", "p4"]


@pytest.mark.parametrize("prof", ALL)
def test_wrong_cookie_401(srv, prof):
    client = authed(srv, prof)
    client.jar["kbs-session-id"] = "0" * 32
    resp = client.attest()
    assert resp.status == 401
    if prof == "p0":
        assert resp.json()["type"] == ERR + "InvalidCookie"
    assert "session not found" in srv[prof].state()["last_reason"]


@pytest.mark.parametrize("prof", ALL)
def test_missing_cookie_401(srv, prof):
    client = authed(srv, prof)
    client.jar.clear()
    resp = client.attest()
    assert resp.status == 401
    assert resp.json()["type"] == ERR + ("MissingCookie" if prof == "p0" else "AttestationError")


@pytest.mark.parametrize("prof", ALL)
def test_wrong_binding_401(srv, prof):
    client = authed(srv, prof)
    good = client.digest(client.jwk())
    # Digest over another nonce: the server must use the session nonce only.
    resp = client.attest(digest_fn=lambda d: client.digest(client.jwk(), nonce="AAAA"))
    assert resp.status == 401
    assert srv[prof].state()["last_digest_hex"] == good.hex()
    assert "does not match" in srv[prof].state()["last_reason"]


@pytest.mark.parametrize("prof", ALL)
def test_zero_padded_sample_report_data_401(srv, prof):
    client = authed(srv, prof)
    resp = client.attest(digest_fn=lambda d: d + bytes(16))  # 64 bytes, zero-padded
    assert resp.status == 401
    # ... while the bare 48-byte digest is accepted on a fresh session.
    assert authed(srv, prof).attest().status == 200


def test_extra_jwk_members_dropped_from_binding(srv):
    """A client hashing members the server does not know (use/kid) fails the binding."""
    client = authed(srv, "p4")

    def with_kid(body):
        body["runtime-data"]["tee-pubkey"]["kid"] = "k1"
        return body
    jwk = dict(client.jwk(), kid="k1")
    resp = client.attest(digest_fn=lambda d: client.digest(jwk), body_fn=with_kid)
    assert resp.status == 401
    ok = authed(srv, "p4")  # extra member sent but NOT hashed: fine
    assert ok.attest(body_fn=with_kid).status == 200


@pytest.mark.parametrize("prof", ["p0", "p4"])
def test_expired_session(srv, prof):
    kbs = srv[prof]
    client = authed(srv, prof)
    kbs.advance(301)
    resp = client.attest()
    assert resp.status == 401
    if prof == "p0":
        assert resp.json()["type"] == ERR + "ExpiredCookie"
    assert kbs.state()["sessions"] == []  # expired session deleted
    client2 = authed(srv, prof)
    assert client2.attest().status == 200
    assert client2.resource(RES).status == 200
    kbs.advance(301)
    assert client2.resource(RES).status == 401


@pytest.mark.parametrize("prof,version,variant,detail", [
    ("p0", "0.4.0", "ProtocolVersion", "KBS Client Protocol Version Mismatch: expected version: "
     "<=0.1.0, requested version: 0.4.0"),
    ("p1", "0.1.0", "AttestationError", "Attestation error: RCAR handshake Auth failed: KBS "
     "Client Protocol Version Mismatch: expect =0.1.1 while the request is 0.1.0"),
    ("p2", "0.4.0", "AttestationError", "Attestation error: RCAR handshake Auth failed: KBS "
     "Client Protocol Version Mismatch: expect =0.2.0 while the request is 0.4.0"),
    ("p4", "0.1.0", "AttestationError", "Attestation error: RCAR handshake Auth failed: KBS "
     "Client Protocol Version Mismatch: expect =0.4.0 while the request is 0.1.0"),
])
def test_version_mismatch_detail(srv, prof, version, variant, detail):
    resp = PyClient(srv[prof].url, prof, version=version).auth()
    assert resp.status == 401
    assert resp.json() == {"type": ERR + variant, "detail": detail}
    assert resp.header_all("Set-Cookie") == []


def raw_post(kbs, path, body, ctype):
    conn = http.client.HTTPConnection("127.0.0.1", kbs.port, timeout=10)
    headers = {"Content-Type": ctype} if ctype else {}
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_p0_wrong_content_type_non_json_400(srv, ctype):
    body = json.dumps({"version": "0.1.0", "tee": "sample", "extra-params": ""})
    resp, data = raw_post(srv["p0"], "/kbs/v0/auth", body, ctype)
    assert resp.status == 400
    assert resp.getheader("Content-Type").startswith("text/plain")
    with pytest.raises(ValueError):
        json.loads(data)
    # Upstream personalities do not look at the content type.
    resp, _ = raw_post(srv["p4"], "/kbs/v0/auth", body.replace("0.1.0", "0.4.0"), ctype)
    assert resp.status == 200


def test_p0_json_variants_accepted(srv):
    body = json.dumps({"version": "0.1.0", "tee": "sample", "extra-params": ""})
    resp, _ = raw_post(srv["p0"], "/kbs/v0/auth", body, "application/json; charset=utf-8")
    assert resp.status == 200


@pytest.mark.parametrize("extra", [{}, {"supported-hash-algorithms": ["sha384"]}, None])
def test_p0_extra_params_must_be_string(srv, extra):
    resp = PyClient(srv["p0"].url, "p0").auth(extra_params=extra)
    assert resp.status == 400 and b"extra-params" in resp.body
    assert PyClient(srv["p4"].url, "p4").auth(extra_params=extra).status == 200
    assert PyClient(srv["p0"].url, "p0").auth(
        extra_params=json.dumps({"supported-hash-algorithms": ["sha384"]})).status == 200


def test_p0_evidence_object_is_400_p1_string_is_401(srv):
    p0 = authed(srv, "p0")

    def as_object(body):
        body["tee-evidence"] = json.loads(body["tee-evidence"])
        return body
    resp = p0.attest(body_fn=as_object)
    assert resp.status == 400 and resp.header_all("Content-Type")[0].startswith("text/plain")
    p1 = authed(srv, "p1")
    resp = p1.attest(body_fn=lambda b: dict(b, **{"tee-evidence": json.dumps(b["tee-evidence"])}))
    assert resp.status == 401


def test_p0_non_semver_version_drops_connection(srv):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        PyClient(srv["p0"].url, "p0", version="v1").auth()
    resp = PyClient(srv["p4"].url, "p4", version="v1").auth()
    assert resp.status == 401 and "invalid version" in resp.json()["detail"]


def rename(body, old, new):
    body[new] = body.pop(old)
    return body


@pytest.mark.parametrize("mutate,why", [
    (lambda b: rename(b, "tee-evidence", "tee_evidence"), "snake outer name"),
    (lambda b: rename(b, "runtime-data", "runtime_data"), "snake runtime-data"),
    (lambda b: {**b, "tee-evidence": {"primary-evidence": b["tee-evidence"]["primary_evidence"],
                                      "additional-evidence": ""}}, "kebab inner names"),
    (lambda b: {**b, "tee-evidence": {"primary_evidence": b["tee-evidence"]["primary_evidence"]}},
     "additional_evidence missing"),
    (lambda b: {**b, "tee-evidence": b["tee-evidence"]["primary_evidence"]}, "p2-style evidence"),
    (lambda b: {**b, "init-data": {"format": "json", "body": "{}"}}, "init-data not toml"),
])
def test_p4_body_shape(srv, mutate, why):
    resp = authed(srv, "p4").attest(body_fn=mutate)
    assert resp.status == 401, why
    assert resp.json() == {"type": ERR + "AttestationError",
                           "detail": "Attestation error: RCAR handshake Attest failed"}


def test_p4_runtime_nonce_must_match(srv):
    client = authed(srv, "p4")

    def other_nonce(body):
        body["runtime-data"]["nonce"] = base64.b64encode(bytes(32)).decode()
        return body
    assert client.attest(body_fn=other_nonce).status == 401
    assert "nonce" in srv["p4"].state()["last_reason"]
    ok = authed(srv, "p4")
    assert ok.attest(body_fn=lambda b: {**b, "extra-member": 1}).status == 200  # tolerated


@pytest.mark.parametrize("prof,alg,variant", [("p0", "RSA-OAEP-256", "JWEFailed"),
                                              ("p1", "ECDH-ES+A256KW", "JweError"),
                                              ("p1", "RSA-OAEP-256", "JweError")])
def test_legacy_profiles_fail_non_rsa15_at_jwe_step(srv, prof, alg, variant):
    client = PyClient(srv[prof].url, prof, alg=alg)
    client.auth()
    assert client.attest().status == 200  # accepted at attest time, like the real servers
    resp = client.resource(RES)
    assert resp.status == 401 and resp.json()["type"] == ERR + variant


def test_p0_rejects_ec_key_at_deserialization(srv):
    client = PyClient(srv["p0"].url, "p0", alg="ECDH-ES+A256KW")
    client.auth()
    assert client.attest().status == 400


def test_small_rsa_key_rejected(srv):
    from cryptography.hazmat.primitives.asymmetric import rsa
    client = authed(srv, "p4")
    client.priv = rsa.generate_private_key(65537, 1024)
    client.jwk = lambda: {"kty": "RSA", "alg": "RSA-OAEP-256", "n": base64.urlsafe_b64encode(
        client.priv.public_key().public_numbers().n.to_bytes(128, "big")).rstrip(b"=").decode(),
        "e": "AQAB"}
    assert client.attest().status == 401


def test_unattested_session_cannot_read(srv):
    for prof, variant in (("p0", "UnAuthenticatedCookie"), ("p4", "TokenNotFound")):
        client = authed(srv, prof)
        resp = client.resource(RES)
        assert resp.status == 401 and resp.json()["type"] == ERR + variant


def test_tdx_wrong_offset_401(srv):
    client = PyClient(srv["p4"].url, "p4", tee="tdx")
    client.auth()
    # A v5 quote with REPORTDATA at the v4 offset must fail.
    orig = client.evidence

    def misplaced(digest, tdx_version=4):
        ev = orig(digest, 4)
        quote = bytearray(base64.b64decode(ev["quote"]))
        quote[0:2] = (5).to_bytes(2, "little")
        return dict(ev, quote=base64.b64encode(bytes(quote)).decode())
    client.evidence = misplaced
    assert client.attest().status == 401


def test_tee_not_allowed():
    with kbs_server("p4", *ARGS, "--allow-tee", "tdx") as kbs:
        client = PyClient(kbs.url, "p4")
        client.auth()
        assert client.attest().status == 401
        assert "not allowed" in kbs.state()["last_reason"]


def test_unknown_tee_rejected(srv):
    assert PyClient(srv["p0"].url, "p0", tee="nosuchtee").auth().status == 400
    assert PyClient(srv["p4"].url, "p4", tee="nosuchtee").auth().status == 401


@pytest.mark.parametrize("prof,text", [("p0", b"larger than allowed"), ("p4", b"size limit")])
def test_413_on_oversize(srv, prof, text):
    big = json.dumps({"version": "0.1.0", "tee": "sample", "extra-params": "x" * (2 << 20)})
    resp, data = raw_post(srv[prof], "/kbs/v0/auth", big, "application/json")
    assert resp.status == 413 and text in data
    assert srv[prof].state()["counters"]["auth_413"] == 1


def test_max_body_flag():
    with kbs_server("p4", "--max-body", "300") as kbs:
        client = PyClient(kbs.url, "p4")
        assert client.auth().status == 200
        assert client.attest().status == 413  # the attest body is > 300 bytes
