"""The scripted client completes the RCAR flow against every personality of the test KBS."""
import base64
import email.utils
import http.client
import json
import os
import re
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "kbs"))
sys.path.insert(0, HERE)

from harness import kbs_server  # noqa: E402
from kbs_servers import ERR, fresh, running  # noqa: E402
from kbs_pyclient import PyClient, VERSIONS  # noqa: E402

RES = "default/aliyun/model-key"
SECRET = b"correct horse battery staple\n"
ARGS = ("--resource", f"{RES}=hex:{SECRET.hex()}")


@pytest.fixture(scope="module")
def servers():
    with running(("p0", "p1", "p2", "p4"), *ARGS) as started:
        yield started


@pytest.fixture
def srv(servers):
    return fresh(servers)


CASES = [("p0", "RSA1_5", "sample"), ("p0", "RSA1_5", "tdx"), ("p1", "RSA1_5", "sample"),
         ("p1", "RSA1_5", "tdx")] + [
    (p, a, t) for p in ("p2", "p4") for a in ("RSA1_5", "RSA-OAEP-256", "ECDH-ES+A256KW")
    for t in ("sample", "tdx")]


@pytest.mark.parametrize("prof,alg,tee", CASES)
def test_full_flow(srv, prof, alg, tee):
    kbs = srv[prof]
    client = PyClient(kbs.url, prof, tee=tee, alg=alg)
    assert client.fetch(RES) == SECRET
    st = kbs.state()
    assert st["counters"]["auth_200"] == 1 and st["counters"]["attest_200"] == 1
    assert st["counters"]["resource_200"] == 1
    assert st["last_digest_hex"] == client.last_digest.hex()
    assert st["negotiated"]["accepted_version"] == VERSIONS[prof]
    assert [s["state"] for s in st["sessions"]] == ["attested"]


@pytest.mark.parametrize("prof", ["p2", "p4"])
def test_tdx_v5_quote(srv, prof):
    client = PyClient(srv[prof].url, prof, tee="tdx")
    assert client.auth().status == 200
    assert client.attest(tdx_version=5).status == 200


@pytest.mark.parametrize("prof", ["p0", "p4"])
def test_auth_reply_and_cookie_shape(srv, prof):
    client = PyClient(srv[prof].url, prof)
    resp = client.auth()
    assert resp.status == 200
    assert dict(resp.headers)["Content-Type"] == "application/json"
    body = resp.json()
    assert body["extra-params"] == ""
    assert len(body["nonce"]) == 44 and len(base64.b64decode(body["nonce"], validate=True)) == 32
    (cookie,) = resp.header_all("Set-Cookie")
    m = re.fullmatch(r"kbs-session-id=([0-9a-f]{32}); Expires=(.+)", cookie)
    assert m, cookie  # only Expires: no Path, Domain, HttpOnly
    expires = email.utils.parsedate_to_datetime(m.group(2)).timestamp()
    assert 200 < expires - time.time() < 400  # default 5 minute session
    att = client.attest()
    assert att.status == 200
    assert att.header_all("Set-Cookie")[0].startswith(f"kbs-session-id={m.group(1)};")
    # A second /attest on an attested session returns the stored token unchanged.
    assert client.attest().json()["token"] == att.json()["token"]


def test_token_claims_and_bearer(srv):
    kbs = srv["p4"]
    client = PyClient(kbs.url, "p4")
    client.fetch(RES)
    payload = client.token.split(".")[1]
    header = json.loads(base64.urlsafe_b64decode(client.token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert header == {"typ": "JWT", "alg": "RS384"}
    assert claims["exp"] - claims["iat"] == 300
    assert claims["customized_claims"]["runtime_data"]["tee-pubkey"] == client.jwk()
    # Passport style: no cookies, Bearer token only.
    resp = client.resource(RES, bearer=client.token, send_cookies=False)
    assert resp.status == 200 and client.decrypt(resp.json()) == SECRET
    resp = client.resource(RES, bearer=client.token[:-4] + "AAAA", send_cookies=False)
    assert resp.status == 401 and resp.json()["type"] == ERR + "TokenVerifierError"


def test_no_bearer_flag():
    with kbs_server("p4", *ARGS, "--no-bearer") as kbs:
        client = PyClient(kbs.url, "p4")
        client.fetch(RES)
        resp = client.resource(RES, bearer=client.token, send_cookies=False)
        assert resp.status == 401 and resp.json()["type"] == ERR + "TokenNotFound"


def test_base_path_and_test_endpoints_at_root():
    with kbs_server("p0", *ARGS, "--base-path", "/trustee/") as kbs:
        assert kbs.url.endswith("/trustee")
        assert PyClient(kbs.url, "p0").fetch(RES) == SECRET
        outside = PyClient(kbs.root, "p0").auth()  # /kbs/v0/auth without the prefix
        assert outside.status == 404 and outside.body == b""
        assert kbs.state()["base_path"] == "/trustee"
        paths = [r["path"] for r in kbs.state()["requests"]]
        assert paths[0] == "/trustee/kbs/v0/auth" and paths[-1] == "/kbs/v0/auth"


@pytest.mark.parametrize("hash_name,hexlen", [("sha512", 128), ("sha256", 64), ("sm3", 64)])
def test_selected_hash(hash_name, hexlen):
    with kbs_server("p4", *ARGS, "--hash", hash_name) as kbs:
        client = PyClient(kbs.url, "p4")
        assert client.auth().json()["extra-params"] == {"selected-hash-algorithm": hash_name}
        assert client.attest().status == 200
        assert len(kbs.state()["last_digest_hex"]) == hexlen
        bad = PyClient(kbs.url, "p4")
        bad.auth()
        bad.extra = ""  # ignores the selection -> SHA-384 binding must fail
        assert bad.attest().status == 401


def test_lb_cookie_affinity():
    with kbs_server("p4", *ARGS, "--lb-cookie", "aliyungf_tc") as kbs:
        client = PyClient(kbs.url, "p4")
        assert client.fetch(RES) == SECRET
        assert "aliyungf_tc" in kbs.state()["requests"][1]["cookies"]
        lost = PyClient(kbs.url, "p4")
        lost.auth()
        del lost.jar["aliyungf_tc"]  # client replays only kbs-session-id
        resp = lost.attest()
        assert resp.status == 401
        assert "other replica" in kbs.state()["last_reason"]


@pytest.mark.parametrize("prof,variant", [("p0", "PolicyReject"), ("p4", "PolicyDeny")])
def test_deny_sample(prof, variant):
    with kbs_server(prof, *ARGS, "--deny-sample") as kbs:
        client = PyClient(kbs.url, prof)
        client.auth()
        assert client.attest().status == 200
        resp = client.resource(RES)
        assert resp.status == 401 and resp.json()["type"] == ERR + variant
        kbs.set_policy("allow_all")
        assert client.resource(RES).status == 200


@pytest.mark.parametrize("prof,status,variant", [
    ("p0", 404, "ReadSecretFailed"), ("p1", 401, "PluginInternalError"),
    ("p4", 401, "PluginInternalError")])
def test_missing_resource(srv, prof, status, variant):
    client = PyClient(srv[prof].url, prof)
    client.auth()
    client.attest()
    resp = client.resource("default/aliyun/no-such-key")
    assert resp.status == status and resp.json()["type"] == ERR + variant


@pytest.mark.parametrize("path", ["a/b", "a/b/c/d", "a/../c", "a/.hidden/c", "a/b/c%2f"])
def test_bad_resource_path(srv, path):
    for prof in ("p0", "p4"):
        client = PyClient(srv[prof].url, prof)
        client.auth()
        client.attest()
        resp = client.resource(path)
        assert resp.status == 404
        if prof == "p0":
            assert resp.body == b""
        else:
            assert resp.json()["type"] == ERR + "InvalidRequestPath"


def test_admin_set_resource_and_policy():
    with kbs_server("p4", "--admin-token", "s3cret") as kbs:
        client = PyClient(kbs.url, "p4")
        denied = client.request("POST", "resource/a/b/c", b"v1", {"Authorization": "Bearer no"})
        assert denied.status == 401 and denied.json()["type"] == ERR + "AdminAuth"
        ok = client.request("POST", "resource/a/b/c", b"v1", {"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        assert client.fetch("a/b/c") == b"v1"
        rego = base64.b64encode(b"package policy\ndefault allow = false\n").decode()
        pol = client.request("POST", "resource-policy", {"policy": rego},
                             {"Authorization": "Bearer s3cret"})
        assert pol.status == 200 and kbs.state()["policy"] == "deny_all"
        assert client.resource("a/b/c").status == 401


def test_test_resource_endpoint_and_reset(srv):
    kbs = srv["p2"]
    kbs.set_resource("x/y/z", b"\x00\x01")
    client = PyClient(kbs.url, "p2")
    assert client.fetch("x/y/z") == b"\x00\x01"
    assert kbs.state()["sessions"]
    kbs.reset()
    st = kbs.state()
    assert st["sessions"] == [] and st["counters"] == {} and st["requests"] == []
    assert client.resource("x/y/z").status == 401  # session gone with the reset


def test_negotiation_walk(srv):
    """A client walking 0.4.0, 0.2.0, 0.1.1, 0.1.0 reaches p0 on the 4th /auth."""
    kbs = srv["p0"]
    for i, version in enumerate(["0.4.0", "0.2.0", "0.1.1", "0.1.0"], 1):
        resp = PyClient(kbs.url, "p0", version=version).auth()
        if resp.status == 200:
            break
        assert "Protocol Version Mismatch" in resp.json()["detail"]
    assert i == 4
    assert kbs.state()["negotiated"]["requested_versions"] == ["0.4.0", "0.2.0", "0.1.1", "0.1.0"]


@pytest.mark.parametrize("version,default_ok,strict_ok", [
    ("0.1.0", True, True), ("0.0.9", True, False), ("0.1.1", False, False)])
def test_p0_version_requirement(version, default_ok, strict_ok):
    for flags, ok in (((), default_ok), (("--strict-eq",), strict_ok)):
        with kbs_server("p0", *flags) as kbs:
            resp = PyClient(kbs.url, "p0", version=version).auth()
            assert (resp.status == 200) == ok, (flags, version, resp.body)


def test_dev_banner_and_keepalive():
    with kbs_server("p4", *ARGS, "--dev") as kbs:
        conn = http.client.HTTPConnection("127.0.0.1", kbs.port, timeout=10)
        for _ in range(3):  # three requests on one HTTP/1.1 connection
            conn.request("POST", "/kbs/v0/auth", body=json.dumps(
                {"version": "0.4.0", "tee": "sample", "extra-params": ""}),
                headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
        conn.close()
        assert "test KBS, not a production server" in kbs.log()


def test_tls(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    import datetime
    import ssl
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with kbs_server("p4", "--tls-cert", str(tmp_path / "c.pem"), "--tls-key",
                    str(tmp_path / "k.pem")) as kbs:
        assert kbs.url.startswith("https://")
        req = urllib.request.Request(kbs.url + "/kbs/v0/auth", method="POST", data=json.dumps(
            {"version": "0.4.0", "tee": "sample", "extra-params": ""}).encode())
        with urllib.request.urlopen(req, context=ssl._create_unverified_context()) as resp:
            assert resp.status == 200 and "nonce" in json.loads(resp.read())
        assert kbs.state()["counters"]["auth_200"] == 1
