"""Shared pieces of the test KBS: encodings, canonical JSON, semver, profiles, errors.

Everything here mirrors /work/shared/specs/kbs-protocol.md; section numbers in comments
refer to that spec.  The error texts are the ones the C client's version negotiation and
error reporting match on, so keep them byte-stable.
"""
import base64
import json
import re
from dataclasses import dataclass

ERR_BASE = "https://github.com/confidential-containers/kbs/errors/"
COOKIE = "kbs-session-id"
DEFAULT_MAX_BODY = 2 * 1024 * 1024

# Lower-case TEE names any of the emulated servers knows at /auth (spec §2).  A name outside
# this set fails deserialization of the request, like the real enum.
KNOWN_TEES = {
    "sample", "tdx", "snp", "sgx", "csv", "cca", "se", "azsnpvtpm", "aztdxvtpm",
    "az-snp-vtpm", "az-tdx-vtpm", "tpm", "nvidia", "hygondcu", "dpu", "system",
}
# Names a challenge may select (spec §2); anything else means SHA-384 on both sides.
HASHES = ("sha256", "sha384", "sha512", "sm3")


class KbsError(Exception):
    """A protocol failure; `kind` selects the personality's status/type/detail."""

    def __init__(self, kind, reason=""):
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class DropConnection(Exception):
    """Abort the exchange without any reply (mimics a panicking handler)."""


@dataclass(frozen=True)
class Profile:
    name: str
    req: str  # semver requirement on Request.version
    legacy_jwe: bool  # §4.2 legacy layout (p0/p1) vs §4.3 RFC 7516 (p2/p4)
    anolis: bool  # openanolis v1.0 error variants + actix JSON extractor (p0)
    evidence: str  # "string" | "object" | "composite"
    ec_curves: tuple  # EC curves accepted syntactically in tee-pubkey


PROFILES = {
    "p0": Profile("p0", "<=0.1.0", True, True, "string", ()),
    "p1": Profile("p1", "=0.1.1", True, False, "object", ("P-256",)),
    "p2": Profile("p2", "=0.2.0", False, False, "object", ("P-256",)),
    "p4": Profile("p4", "=0.4.0", False, False, "composite", ("P-256", "P-521")),
}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_dec(text):
    """Strict base64url without padding (what the servers' URL_SAFE_NO_PAD engine accepts)."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url (no padding)")
    if len(text) % 4 == 1:
        raise ValueError("bad base64url length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64_dec(text):
    """Strict standard base64 with padding."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.b64decode(text.encode("ascii"), validate=True)


def canonical(obj):
    """Compact JSON with sorted keys and minimal escaping (§3.3): the binding material."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compact(obj):
    """Compact JSON keeping insertion order (JWE headers, response bodies)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse_semver(text):
    """(major, minor, patch, prerelease) or None when `text` is not semver."""
    m = _SEMVER.match(text) if isinstance(text, str) else None
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def req_matches(req, version):
    """Subset of Rust semver::VersionReq: one comparator, `=` or `<=`."""
    op = "<=" if req.startswith("<=") else "="
    want = parse_semver(req[len(op):])
    have = parse_semver(version)
    if want is None or have is None:
        return False
    if have[3] is not None:
        # A pre-release only matches a comparator naming the same x.y.z (semver rules).
        return op == "=" and have == want
    if op == "=":
        return have[:3] == want[:3]
    return have[:3] <= want[:3]


def version_mismatch_detail(prof, expect, version):
    if prof.anolis:
        return ("ProtocolVersion",
                f"KBS Client Protocol Version Mismatch: expected version: {expect}, "
                f"requested version: {version}")
    return ("AttestationError",
            "Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version "
            f"Mismatch: expect {expect} while the request is {version}")


# kind -> (status, variant, detail template) for openanolis v1.0 (p0).
_ANOLIS = {
    "missing_cookie": (401, "MissingCookie", "The cookie is missing"),
    "invalid_cookie": (401, "InvalidCookie", "The cookie is invalid"),
    "expired_cookie": (401, "ExpiredCookie", "The cookie is expired"),
    "unauth_cookie": (401, "UnAuthenticatedCookie", "The cookie is unauthenticated"),
    "auth_failed": (401, "InvalidRequest", "The request is invalid: {r}"),
    "attest_failed": (401, "AttestationFailed", "Attestation failed: {r}"),
    "jwe": (401, "JWEFailed", "JWE failed: {r}"),
    "policy": (401, "PolicyReject", "Resource not permitted."),
    "missing_resource": (404, "ReadSecretFailed", "Read secret failed: {r}"),
    "token": (401, "TokenParseFailed", "Token parse failed: {r}"),
    "no_token": (401, "MissingCookie", "The cookie is missing"),
    "admin": (401, "FailedAuthentication", "Authentication failed: {r}"),
}

# kind -> (status, variant, detail template) for upstream (p1..p4).
_UPSTREAM = {
    "missing_cookie": (401, "AttestationError", "Attestation error: RCAR handshake Attest failed"),
    "invalid_cookie": (401, "AttestationError", "Attestation error: RCAR handshake Attest failed"),
    "expired_cookie": (401, "AttestationError", "Attestation error: RCAR handshake Attest failed"),
    "attest_failed": (401, "AttestationError", "Attestation error: RCAR handshake Attest failed"),
    "auth_failed": (401, "AttestationError", "Attestation error: RCAR handshake Auth failed: {r}"),
    "unauth_cookie": (401, "TokenNotFound", "Attestation Token not found"),
    "no_token": (401, "TokenNotFound", "Attestation Token not found"),
    "token": (401, "TokenVerifierError", "Token Verifier error: {r}"),
    "jwe": (401, "JweError", "JWE error: {r}"),
    "policy": (401, "PolicyDeny", "Access denied by policy"),
    "missing_resource": (401, "PluginInternalError", "Plugin internal error: {r}"),
    "bad_path": (404, "InvalidRequestPath", "Invalid request path {r}"),
    "no_plugin": (404, "PluginNotFound", "Plugin {r} not found"),
    "admin": (401, "AdminAuth", "Admin auth error: {r}"),
}

_ATTEST_KINDS = ("missing_cookie", "invalid_cookie", "expired_cookie", "attest_failed")


def error_response(prof, err):
    """(status, content_type, body bytes) for a KbsError under personality `prof`."""
    if err.kind == "version":
        expect, version = err.reason
        variant, detail = version_mismatch_detail(prof, expect, version)
        return 401, "application/json", compact({"type": ERR_BASE + variant, "detail": detail})
    if err.kind == "extractor":
        # actix web::Json rejection in openanolis v1.0: plain text 400, not ErrorInformation.
        return 400, "text/plain; charset=utf-8", str(err.reason).encode()
    if err.kind in ("bad_path", "no_plugin") and prof.anolis:
        return 404, None, b""  # actix: no route matched, empty body
    table = _ANOLIS if prof.anolis else _UPSTREAM
    status, variant, detail = table[err.kind]
    detail = detail.replace("{r}", str(err.reason))
    if prof.name in ("p1", "p2") and err.kind in _ATTEST_KINDS and err.reason:
        # v0.10..v0.13 still included the cause; main (p4) hides it (spec §4.5).
        detail += f": {err.reason}"
    return status, "application/json", compact({"type": ERR_BASE + variant, "detail": detail})
