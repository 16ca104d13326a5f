"""Scripted KBS client for the test-KBS self-tests (written from the spec, not the server).

Deliberately independent of tests/kbs/*: its own base64, canonical JSON, evidence and JWE
decryption (spec §3.3, §4.4), so a shared bug cannot make both sides agree.
"""
import base64
import hashlib
import http.client
import json
import os
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

VERSIONS = {"p0": "0.1.0", "p1": "0.1.1", "p2": "0.2.0", "p4": "0.4.0"}
_RSA_KEY = None  # RSA-2048 generation is slow-ish: share one per test process


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    assert "=" not in text and "+" not in text and "/" not in text, text
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


def rsa_key():
    global _RSA_KEY
    if _RSA_KEY is None:
        _RSA_KEY = rsa.generate_private_key(65537, 2048)
    return _RSA_KEY


class PyClient:
    def __init__(self, url, profile, tee="sample", alg=None, version=None, timeout=30):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.prefix = parsed.path.rstrip("/")
        self.profile = profile
        self.tee = tee
        self.version = version or VERSIONS[profile]
        self.alg = alg or ("RSA1_5" if profile in ("p0", "p1") else "RSA-OAEP-256")
        self.timeout = timeout
        self.jar = {}
        self.priv = ec.generate_private_key(ec.SECP256R1()) if self.alg == "ECDH-ES+A256KW" \
            else rsa_key()
        self.nonce = None
        self.extra = None
        self.token = None
        self.last_digest = None

    # ---- HTTP -----------------------------------------------------------------------------

    def request(self, method, endpoint, body=None, headers=None, send_cookies=True):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if send_cookies and self.jar:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        try:
            conn.request(method, self.prefix + "/kbs/v0/" + endpoint, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            headers = resp.getheaders()
        finally:
            conn.close()
        for name, value in headers:
            if name.lower() == "set-cookie":
                cname, _, cval = value.split(";")[0].strip().partition("=")
                self.jar[cname] = cval
        return Response(resp.status, headers, data)

    # ---- RCAR -----------------------------------------------------------------------------

    def auth(self, extra_params=""):
        body = {"version": self.version, "tee": self.tee, "extra-params": extra_params}
        resp = self.request("POST", "auth", body)
        try:
            obj = resp.json() if resp.status == 200 else None
        except ValueError:
            obj = None  # a fault test looks at the raw body itself
        if isinstance(obj, dict) and "nonce" in obj:
            self.nonce, self.extra = obj["nonce"], obj.get("extra-params")
        return resp

    def jwk(self):
        if self.alg == "ECDH-ES+A256KW":
            nums = self.priv.public_key().public_numbers()
            return {"kty": "EC", "crv": "P-256", "alg": self.alg,
                    "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big"))}
        nums = self.priv.public_key().public_numbers()
        return {"kty": "RSA", "alg": self.alg, "n": b64u(nums.n.to_bytes(256, "big")),
                "e": b64u(nums.e.to_bytes(3, "big"))}

    def hash_name(self):
        if isinstance(self.extra, dict):
            sel = self.extra.get("selected-hash-algorithm")
            if isinstance(sel, str) and sel.lower() in ("sha256", "sha384", "sha512", "sm3"):
                return sel.lower()
        return "sha384"

    def digest(self, jwk, nonce=None, additional=""):
        mat = {"nonce": self.nonce if nonce is None else nonce, "tee-pubkey": jwk}
        if self.profile == "p4":
            mat["additional-evidence"] = additional
        canon = json.dumps(mat, sort_keys=True, separators=(",", ":"))
        return hashlib.new(self.hash_name(), canon.encode()).digest()

    def evidence(self, digest, tdx_version=4):
        if self.tee == "tdx":
            off = 568 if tdx_version == 4 else 574
            quote = bytearray(os.urandom(off + 64 + 100))
            quote[0:2] = tdx_version.to_bytes(2, "little")
            quote[off:off + 64] = (digest + bytes(64))[:64]
            return {"cc_eventlog": None, "quote": base64.b64encode(bytes(quote)).decode()}
        return {"svn": "1", "report_data": base64.b64encode(digest).decode()}

    def attest_body(self, evidence, jwk, nonce=None):
        if self.profile == "p0":
            return {"tee-pubkey": jwk, "tee-evidence": json.dumps(evidence)}
        if self.profile in ("p1", "p2"):
            return {"tee-pubkey": jwk, "tee-evidence": evidence}
        return {"init-data": None,
                "runtime-data": {"nonce": self.nonce if nonce is None else nonce,
                                 "tee-pubkey": jwk},
                "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}}

    def attest(self, digest_fn=None, body_fn=None, tdx_version=4):
        """POST /attest; digest_fn / body_fn let a test break one thing on purpose."""
        jwk = self.jwk()
        digest = self.digest(jwk)
        if digest_fn:
            digest = digest_fn(digest)
        self.last_digest = digest
        body = self.attest_body(self.evidence(digest, tdx_version), jwk)
        if body_fn:
            body = body_fn(body)
        resp = self.request("POST", "attest", body)
        if resp.status == 200:
            self.token = resp.json().get("token")
        return resp

    def resource(self, path, bearer=None, send_cookies=True):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        return self.request("GET", "resource/" + path, headers=headers, send_cookies=send_cookies)

    def fetch(self, path):
        """Whole flow; returns the decrypted plaintext or raises AssertionError."""
        r = self.auth()
        assert r.status == 200, (r.status, r.body)
        r = self.attest()
        assert r.status == 200, (r.status, r.body)
        r = self.resource(path)
        assert r.status == 200, (r.status, r.body)
        return self.decrypt(r.json())

    # ---- JWE (§4.4) -----------------------------------------------------------------------

    def decrypt(self, jwe):
        for member in ("protected", "encrypted_key", "iv", "ciphertext", "tag"):
            if not isinstance(jwe.get(member), str):
                raise ValueError(f"missing {member}")
        if "aad" in jwe:
            raise ValueError("unexpected aad member")
        prot = jwe["protected"]
        header = json.loads(prot if prot.startswith("{") else unb64u(prot))
        if header.get("enc") != "A256GCM":
            raise ValueError("enc")
        cek = self.unwrap(header, unb64u(jwe["encrypted_key"]))
        if len(cek) != 32:
            raise ValueError("cek length")
        iv = unb64u(jwe["iv"])
        if len(iv) != 12:
            raise ValueError("iv length")
        ct = unb64u(jwe["ciphertext"])
        if jwe["tag"] == "":
            return AESGCM(cek).decrypt(iv, ct, None)
        tag = unb64u(jwe["tag"])
        if len(tag) != 16:
            raise ValueError("tag length")
        return AESGCM(cek).decrypt(iv, ct + tag, prot.encode())

    def unwrap(self, header, ek):
        alg = header.get("alg")
        if alg != self.alg:
            raise ValueError(f"alg {alg} does not match our key ({self.alg})")
        if alg == "RSA1_5":
            return self.priv.decrypt(ek, padding.PKCS1v15())
        if alg == "RSA-OAEP-256":
            return self.priv.decrypt(ek, padding.OAEP(padding.MGF1(hashes.SHA256()),
                                                      hashes.SHA256(), None))
        epk = header["epk"]
        peer = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64u(epk["x"]), "big"),
                                             int.from_bytes(unb64u(epk["y"]), "big"),
                                             ec.SECP256R1()).public_key()
        z = self.priv.exchange(ec.ECDH(), peer)
        info = (len(alg).to_bytes(4, "big") + alg.encode() + bytes(8) +
                (256).to_bytes(4, "big"))
        kek = ConcatKDFHash(hashes.SHA256(), 32, info).derive(z)
        return aes_key_unwrap(kek, ek)
