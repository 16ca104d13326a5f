"""Known answers for the test KBS: §3.3 binding vectors, §4.3 header examples, JWE cross-checks.

Expected values come from the spec / RFC 7517 (typed in here), decryption from jwcrypto or a
plain AESGCM call, never from the server's own code path alone.
"""
import base64
import hashlib
import json
import os
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "kbs"))
sys.path.insert(0, HERE)

from harness import kbs_server  # noqa: E402
from kbs_common import PROFILES, canonical  # noqa: E402
from kbs_jwe import parse_jwk  # noqa: E402
from kbs_pyclient import PyClient, unb64u  # noqa: E402
from kbs_verify import binding_digest, binding_material  # noqa: E402

# RFC 7517 appendix A.1 public keys.
RFC7517_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJEC"
    "PebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
    "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
    "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
EC_X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
EC_Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
NONCE = base64.b64encode(b"example-nonce-32-bytes-long-xxxx").decode()


def rsa_jwk(alg):
    # Member order as a client might send it; "use"/"kid" must be dropped by the server.
    return {"kty": "RSA", "alg": alg, "n": RFC7517_N, "e": "AQAB", "use": "enc", "kid": "x"}


EC_JWK = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": EC_X, "y": EC_Y}

# (profile, jwk, documented canonical string, spec SHA-384 hex, spec sample report_data)
VECTORS = [
    ("p0", rsa_jwk("RSA1_5"),
     '{"nonce":"%s","tee-pubkey":{"alg":"RSA1_5","e":"AQAB","kty":"RSA","n":"%s"}}'
     % (NONCE, RFC7517_N),
     "b716afd97a68eccea9277ddaefd9273c02cd1b6320bcf5b7f2319fa650ccca12da946e25e74f3c00f195c07"
     "221b5cfb5", "txav2Xpo7M6pJ33a79knPALNG2MgvPW38jGfplDMyhLalG4l5088APGVwHIhtc+1"),
    ("p2", rsa_jwk("RSA-OAEP-256"),
     '{"nonce":"%s","tee-pubkey":{"alg":"RSA-OAEP-256","e":"AQAB","kty":"RSA","n":"%s"}}'
     % (NONCE, RFC7517_N),
     "f06b1d57920884a8888ebf2c723c8b2a2a4d1e839092d174a32ae0eec865247c3129af21d00b466c4206e16"
     "c4a507653", "8GsdV5IIhKiIjr8scjyLKipNHoOQktF0oyrg7shlJHwxKa8h0AtGbEIG4WxKUHZT"),
    ("p4", rsa_jwk("RSA-OAEP-256"),
     '{"additional-evidence":"","nonce":"%s","tee-pubkey":{"alg":"RSA-OAEP-256","e":"AQAB",'
     '"kty":"RSA","n":"%s"}}' % (NONCE, RFC7517_N),
     "8ba3e23cb643b53d2046f1d967eeb94f6a21a8c2389a7d8d306884faff3bfae0df9cfe6060a18e7d98d39f5"
     "5073d3d7f", "i6PiPLZDtT0gRvHZZ+65T2ohqMI4mn2NMGiE+v87+uDfnP5gYKGOfZjTn1UHPT1/"),
    ("p4", EC_JWK,
     '{"additional-evidence":"","nonce":"%s","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256",'
     '"kty":"EC","x":"%s","y":"%s"}}' % (NONCE, EC_X, EC_Y),
     "1c6996c4a19b87336dcf1da2136bea7d1cbc22a2aa164441a25ef582b4157245e870afc86756598f858fb79"
     "6b6a3e5fe", "HGmWxKGbhzNtzx2iE2vqfRy8IqKqFkRBol71grQVckXocK/IZ1ZZj4WPt5a2o+X+"),
]


@pytest.mark.parametrize("prof,jwk,canon,hexdigest,report_data", VECTORS)
def test_binding_vectors(prof, jwk, canon, hexdigest, report_data):
    # The documented string alone reproduces the spec numbers ...
    assert hashlib.sha384(canon.encode()).hexdigest() == hexdigest
    assert base64.b64encode(bytes.fromhex(hexdigest)).decode() == report_data
    # ... and the server's own parse + canonicalisation produces that exact string.
    tee_key = parse_jwk(jwk, PROFILES[prof])
    material = binding_material(PROFILES[prof], tee_key, NONCE, "")
    assert canonical(material).decode() == canon
    assert binding_digest("sha384", material).hex() == hexdigest


def test_protected_header_examples():
    from kbs_common import b64u, compact
    assert b64u(compact({"alg": "RSA1_5", "enc": "A256GCM"})) == \
        "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMjU2R0NNIn0"
    assert b64u(compact({"alg": "RSA-OAEP-256", "enc": "A256GCM"})) == \
        "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0"


PAYLOADS = {
    "one-byte": b"x",
    "nul-newline": b"pass\x00word\nsecond line\n",
    "one-mib": os.urandom(1024 * 1024),
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    args = []
    tmp = tmp_path_factory.mktemp("payloads")
    for name, data in PAYLOADS.items():
        (tmp / name).write_bytes(data)
        args += ["--resource", f"r/t/{name}=@{tmp / name}"]
    with kbs_server("p0", *args) as p0, kbs_server("p1", *args) as p1, \
            kbs_server("p2", *args) as p2, kbs_server("p4", *args) as p4:
        yield {"p0": p0, "p1": p1, "p2": p2, "p4": p4}


def fetch_jwe(kbs, prof, alg, name):
    client = PyClient(kbs.url, prof, alg=alg)
    assert client.auth().status == 200
    assert client.attest().status == 200
    resp = client.resource(f"r/t/{name}")
    assert resp.status == 200, resp.body
    return client, resp.json()


@pytest.mark.parametrize("prof", ["p2", "p4"])
@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP-256", "ECDH-ES+A256KW"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_rfc7516_output_decrypts_with_jwcrypto(servers, prof, alg, name):
    from jwcrypto import jwe as jj, jwk as jk
    client, obj = fetch_jwe(servers[prof], prof, alg, name)
    header = json.loads(unb64u(obj["protected"]))
    assert header["alg"] == alg and header["enc"] == "A256GCM"
    assert len(unb64u(obj["iv"])) == 12 and len(unb64u(obj["tag"])) == 16
    assert "aad" not in obj
    if alg == "ECDH-ES+A256KW":
        assert len(unb64u(obj["encrypted_key"])) == 40 and set(header["epk"]) == \
            {"crv", "kty", "x", "y"}
    token = jj.JWE(algs=[alg, "A256GCM"])
    token.deserialize(json.dumps(obj), jk.JWK.from_pyca(client.priv))
    assert token.payload == PAYLOADS[name]
    assert client.decrypt(obj) == PAYLOADS[name]


@pytest.mark.parametrize("prof", ["p0", "p1"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_legacy_output_decrypts_with_plain_aesgcm(servers, prof, name):
    client, obj = fetch_jwe(servers[prof], prof, "RSA1_5", name)
    assert obj["protected"] == '{"alg":"RSA1_5","enc":"A256GCM"}'
    assert obj["tag"] == ""
    assert list(obj) == ["protected", "encrypted_key", "iv", "ciphertext", "tag"]
    cek = client.priv.decrypt(unb64u(obj["encrypted_key"]), padding.PKCS1v15())
    assert len(cek) == 32
    plain = AESGCM(cek).decrypt(unb64u(obj["iv"]), unb64u(obj["ciphertext"]), None)
    assert plain == PAYLOADS[name]
