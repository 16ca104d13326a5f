"""Server state of the test KBS: virtual clock, sessions, counters, request log, tokens."""
import collections
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kbs_common import b64, b64u, b64u_dec, compact


class Clock:
    """Wall clock plus an offset moved by POST /_test/clock (expiry tests without sleeping)."""

    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds):
        with self._lock:
            self._offset += float(seconds)
            return time.time() + self._offset


@dataclass
class Session:
    id: str
    tee: str
    nonce: str
    hash: str
    created: float
    expires: float
    lb: str = None  # affinity cookie value of the "replica" that owns the session
    required_cookies: dict = field(default_factory=dict)
    attested: bool = False
    token: str = None
    tee_key: object = None

    def public(self, now):
        return {"id": self.id, "tee": self.tee, "nonce": self.nonce, "hash": self.hash,
                "state": "attested" if self.attested else "authed",
                "expires_in": round(self.expires - now, 3), "lb": self.lb,
                "alg": self.tee_key.alg if self.tee_key else None,
                "required_cookies": sorted(self.required_cookies)}


class State:
    """Everything /_test/state reports; one lock keeps the threaded handlers consistent."""

    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.RLock()
        self.sessions = {}
        self.reset()

    def reset(self):
        with self.lock:
            self.sessions.clear()
            self.counters = collections.Counter()
            self.requests = collections.deque(maxlen=200)
            self.last_evidence = None
            self.last_digest_hex = None
            self.last_reason = None
            self.versions = []
            self.accepted_version = None

    def new_session(self, tee, nonce, hash_name, timeout, lb=None):
        now = self.clock.now()
        sess = Session(uuid.uuid4().hex, tee, nonce, hash_name, now, now + timeout, lb)
        with self.lock:
            self.sessions[sess.id] = sess
        return sess

    def drop(self, sid):
        with self.lock:
            self.sessions.pop(sid, None)

    def count(self, endpoint, status):
        with self.lock:
            self.counters[endpoint] += 1
            self.counters[f"status_{status}"] += 1
            self.counters[f"{endpoint}_{status}"] += 1

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)

    def snapshot(self, extra):
        now = self.clock.now()
        with self.lock:
            snap = {
                "now": now,
                "counters": dict(self.counters),
                "sessions": [s.public(now) for s in self.sessions.values()],
                "requests": list(self.requests),
                "last_evidence": self.last_evidence,
                "last_digest_hex": self.last_digest_hex,
                "last_reason": self.last_reason,
                "negotiated": {"requested_versions": list(self.versions),
                               "accepted_version": self.accepted_version},
            }
        snap.update(extra)
        return snap


class TokenSigner:
    """RS384 JWS attestation token with p0-style ("CoCo simple token") claims (spec §3.4)."""

    def __init__(self):
        self._key = rsa.generate_private_key(65537, 2048)
        nums = self._key.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "alg": "RS384",
                    "n": b64u(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
                    "e": b64u(nums.e.to_bytes(3, "big"))}

    def issue(self, now, lifetime, tee, evidence, tee_key_members, nonce, init_data=None):
        header = {"typ": "JWT", "alg": "RS384"}
        claims = {
            "iss": "test-kbs", "iat": int(now), "nbf": int(now), "exp": int(now + lifetime),
            "jti": uuid.uuid4().hex, "jwk": self.jwk, "tee": tee,
            "evaluation-reports": [], "tcb-status": {"report_data": _report_data(evidence)},
            "reference-data": {},
            "customized_claims": {"init_data": init_data,
                                  "runtime_data": {"nonce": nonce,
                                                   "tee-pubkey": tee_key_members}},
        }
        signing_input = b64u(compact(header)) + "." + b64u(compact(claims))
        sig = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA384())
        return signing_input + "." + b64u(sig)

    def verify(self, token, now):
        """Claims of a token this server signed and that has not expired, else ValueError."""
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3:
            raise ValueError("not a compact JWS")
        try:
            self._key.public_key().verify(b64u_dec(parts[2]), (parts[0] + "." + parts[1]).encode(),
                                          padding.PKCS1v15(), hashes.SHA384())
        except InvalidSignature:
            raise ValueError("bad token signature") from None
        claims = json.loads(b64u_dec(parts[1]))
        if claims.get("exp", 0) <= now:
            raise ValueError("token expired")
        return claims


def _report_data(evidence):
    if isinstance(evidence, dict) and isinstance(evidence.get("report_data"), str):
        return evidence["report_data"]
    return None


def new_nonce():
    """32 random bytes, standard base64 with padding (44 chars), spec §2."""
    return b64(secrets.token_bytes(32))
