"""tee-pubkey parsing and hand-rolled JWE output of the test KBS (spec §3.2, §4.2-§4.4).

The JWE is built by hand on purpose: we need the legacy non-RFC layout (p0/p1) and
deliberately broken variants that no JOSE library would produce.  Corruptions
(`corrupt=` of the fault rule {"action": "jwe"}):

  flip_ct            one ciphertext bit flipped (GCM must fail)
  flip_tag           one tag bit flipped
  tag_len            tag truncated to 12 bytes (legacy: 4 bytes cut from ciphertext||tag)
  iv16               a genuine 16-byte IV (valid GCM, but the client must insist on 12)
  enc_a128           header says enc A128GCM (content still AES-256-GCM)
  alg_unknown        header alg "RSA-OAEP-999"
  alg_mismatch       header alg differs from the key's alg (wrap still done the key's way)
  legacy_in_rfc      a CORRECT legacy-layout JWE under p2/p4 (decryptable via §4.4 detection)
  rfc_in_legacy      a CORRECT RFC 7516 JWE under p0/p1 (decryptable via §4.4 detection)
  protected_padded   `protected` re-encoded with '=' padding after encryption
                     (opts "style": "std" -> standard alphabet instead)
  protected_altered  `protected` gets an extra "kid" member after encryption (AAD mismatch)
  wrong_key          CEK wrapped to a different, fresh key of the same type
  cek16              16-byte CEK (AES-128-GCM under an A256GCM header)
  missing_member     drops one member (opts "member", default "tag")
  extra_aad          adds an "aad" member; GCM AAD = protected "." aad as RFC 7516 says
"""
import base64
import json
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from kbs_common import KbsError, b64u, b64u_dec, compact

CORRUPTIONS = (
    "flip_ct", "flip_tag", "tag_len", "iv16", "enc_a128", "alg_unknown", "alg_mismatch",
    "legacy_in_rfc", "rfc_in_legacy", "protected_padded", "protected_altered", "wrong_key",
    "cek16", "missing_member", "extra_aad",
)
CURVES = {"P-256": (ec.SECP256R1, 32), "P-521": (ec.SECP521R1, 66)}
RSA_ALGS = ("RSA1_5", "RSA-OAEP-256")
EC_ALG = "ECDH-ES+A256KW"


class TeeKey:
    """A parsed tee-pubkey: the known members (for the binding hash) + a usable key."""

    def __init__(self, members, key):
        self.members = members
        self.key = key
        self.kty = members["kty"]
        self.alg = members["alg"]
        self.crv = members.get("crv")


def _str_member(jwk, name):
    val = jwk.get(name)
    if not isinstance(val, str):
        raise KbsError("attest_failed", f"tee-pubkey member '{name}' missing or not a string")
    return val


def parse_jwk(jwk, prof):
    """Keep only the members the server struct knows (§3.2) and check they are sane.

    Extra members (use, kid, ...) are dropped silently, as serde does; the binding hash is
    then computed over what remains, so a client hashing extra members will not match.
    """
    if not isinstance(jwk, dict):
        raise KbsError("attest_failed", "tee-pubkey is not an object")
    kty = _str_member(jwk, "kty")
    if kty == "RSA" or prof.anolis:
        # p0's struct is {kty, alg, n, e} whatever kty says; EC fails at the JWE step.
        members = {m: _str_member(jwk, m) for m in ("kty", "alg", "n", "e")}
        return TeeKey(members, _rsa_key(members))
    if kty == "EC" and prof.ec_curves:
        members = {m: _str_member(jwk, m) for m in ("kty", "crv", "alg", "x", "y")}
        return TeeKey(members, _ec_key(members, prof))
    raise KbsError("attest_failed", f"unsupported tee-pubkey kty '{kty}'")


def _rsa_key(members):
    try:
        n = int.from_bytes(b64u_dec(members["n"]), "big")
        e = int.from_bytes(b64u_dec(members["e"]), "big")
    except ValueError as exc:
        raise KbsError("attest_failed", f"tee-pubkey n/e: {exc}") from None
    if n.bit_length() < 2048 or e < 3 or e % 2 == 0:
        raise KbsError("attest_failed", "tee-pubkey RSA key too small or bad exponent")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _ec_key(members, prof):
    if members["crv"] not in prof.ec_curves:
        raise KbsError("attest_failed", f"unsupported curve {members['crv']}")
    curve, size = CURVES[members["crv"]]
    try:
        x, y = b64u_dec(members["x"]), b64u_dec(members["y"])
    except ValueError as exc:
        raise KbsError("attest_failed", f"tee-pubkey x/y: {exc}") from None
    if len(x) != size or len(y) != size:
        raise KbsError("attest_failed", "tee-pubkey EC coordinate length")
    try:
        nums = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"),
                                             int.from_bytes(y, "big"), curve())
        return nums.public_key()
    except ValueError:
        raise KbsError("attest_failed", "tee-pubkey point not on curve") from None


def _concat_kdf(z, alg):
    """RFC 7518 §4.6 with empty apu/apv, one SHA-256 round -> 32-byte KEK."""
    info = len(alg).to_bytes(4, "big") + alg.encode() + bytes(8) + (256).to_bytes(4, "big")
    return ConcatKDFHash(hashes.SHA256(), 32, info).derive(z)


def _ec_coord(num, size):
    return b64u(num.to_bytes(size, "big"))


def wrap_cek(key, alg, cek, crv=None):
    """Wrap the CEK to `key` per `alg`; returns (encrypted_key, extra header members)."""
    if alg == "RSA1_5":
        return key.encrypt(cek, padding.PKCS1v15()), {}
    if alg == "RSA-OAEP-256":
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        return key.encrypt(cek, oaep), {}
    curve, size = CURVES[crv]
    eph = ec.generate_private_key(curve())
    kek = _concat_kdf(eph.exchange(ec.ECDH(), key), EC_ALG)
    pub = eph.public_key().public_numbers()
    epk = {"crv": crv, "kty": "EC", "x": _ec_coord(pub.x, size), "y": _ec_coord(pub.y, size)}
    return aes_key_wrap(kek, cek), {"epk": epk}


def _fresh_like(tee):
    if tee.kty == "EC":
        return ec.generate_private_key(CURVES[tee.crv][0]()).public_key()
    return rsa.generate_private_key(65537, tee.key.key_size).public_key()


def check_alg(tee, legacy):
    """The real servers' JWE support matrix (§3.1): legacy = RSA1_5 only."""
    if tee.kty == "RSA" and (tee.alg == "RSA1_5" or (not legacy and tee.alg in RSA_ALGS)):
        return
    if not legacy and tee.kty == "EC" and tee.alg == EC_ALG and tee.crv in CURVES:
        return
    raise KbsError("jwe", f"unsupported key type/alg {tee.kty}/{tee.alg}")


def _padded_protected(header, style):
    raw = compact(header)
    if len(raw) % 3 == 0:
        raw = raw[:-1] + b" }"  # make base64 need padding; still valid JSON
    good = b64u(raw)
    if style == "std":
        bad = base64.b64encode(raw).decode().rstrip("=")
        if bad == good:
            bad = base64.b64encode(raw).decode()
        return good, bad
    return good, good + "=" * (-len(good) % 4)


def _mismatch_alg(tee):
    return "RSA-OAEP-256" if tee.alg != "RSA-OAEP-256" else "RSA1_5"


def build_jwe(tee, legacy, plaintext, corrupt=None, opts=None):
    """Encrypt `plaintext` to `tee`; returns the JSON object of §4.2 (legacy) or §4.3."""
    opts = opts or {}
    if corrupt not in ("legacy_in_rfc", "rfc_in_legacy"):
        check_alg(tee, legacy)
    if corrupt == "legacy_in_rfc":
        legacy = True
    elif corrupt == "rfc_in_legacy":
        legacy = False
    cek = secrets.token_bytes(16 if corrupt == "cek16" else 32)
    wrap_to = _fresh_like(tee) if corrupt == "wrong_key" else tee.key
    ek, extra = wrap_cek(wrap_to, tee.alg, cek, tee.crv)
    header = {"alg": tee.alg, "enc": "A256GCM", **extra}
    if corrupt == "alg_unknown":
        header["alg"] = "RSA-OAEP-999"
    elif corrupt == "alg_mismatch":
        header["alg"] = _mismatch_alg(tee)
    elif corrupt == "enc_a128":
        header["enc"] = "A128GCM"
    iv = secrets.token_bytes(16 if corrupt == "iv16" else 12)
    if legacy:
        protected = sent = compact(header).decode()
        aad = b""
    elif corrupt == "protected_padded":
        protected, sent = _padded_protected(header, opts.get("style", "pad"))
        aad = protected.encode()
    else:
        protected = sent = b64u(compact(header))
        aad = protected.encode()
    aad_member = None
    if corrupt == "extra_aad":
        aad_member = b64u(b"test-kbs extra aad")
        aad = aad + b"." + aad_member.encode()
    sealed = AESGCM(cek).encrypt(iv, plaintext, aad or None)
    ct, tag = bytearray(sealed[:-16]), bytearray(sealed[-16:])
    if corrupt == "flip_ct":
        if ct:
            ct[len(ct) // 2] ^= 0x01
        else:
            tag[0] ^= 0x01  # empty payload: nothing to flip but the tag
    elif corrupt == "flip_tag":
        tag[0] ^= 0x80
    elif corrupt == "tag_len":
        tag = tag[:12]
    if corrupt == "protected_altered":
        altered = dict(header, kid="altered-after-encryption")
        sent = compact(altered).decode() if legacy else b64u(compact(altered))
    out = {"protected": sent, "encrypted_key": b64u(ek), "iv": b64u(bytes(iv))}
    if legacy:
        out["ciphertext"] = b64u(bytes(ct + tag))
        out["tag"] = ""
    else:
        out["ciphertext"] = b64u(bytes(ct))
        out["tag"] = b64u(bytes(tag))
    if aad_member is not None:
        out["aad"] = aad_member
    if corrupt == "missing_member":
        out.pop(opts.get("member", "tag"), None)
    return out


def jwe_json(tee, legacy, plaintext, corrupt=None, opts=None):
    return json.dumps(build_jwe(tee, legacy, plaintext, corrupt, opts)).encode()
