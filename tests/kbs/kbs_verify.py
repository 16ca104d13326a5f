"""/attest body parsing, runtime-data binding and evidence checks (spec §3.1, §3.3, §6).

Strict where the real servers are strict: member names and types per profile, the binding
digest recomputed from the server's own parsed key members and the SESSION nonce, exact
byte equality for sample report_data, zero-padded REPORTDATA for TDX quotes.
"""
import hashlib
import json
from dataclasses import dataclass, field

from kbs_common import KbsError, b64_dec, canonical
from kbs_jwe import parse_jwk

TDX_REPORTDATA_OFFSET = {4: 568, 5: 574}


@dataclass
class AttestRequest:
    tee_key: object
    evidence: object  # the primary evidence as parsed JSON
    raw_evidence: object  # what the client sent in tee-evidence (string or object)
    additional: str = ""  # p4 additional_evidence
    init_data: object = None
    runtime_nonce: str = None  # p4 runtime-data.nonce
    extra: dict = field(default_factory=dict)


def _load_json(body, prof):
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        _shape_error(prof, f"body is not JSON: {exc}")
    if not isinstance(obj, dict):
        _shape_error(prof, "body is not a JSON object")
    return obj


def _shape_error(prof, reason):
    """Deserialization failure: p0 = actix extractor 400 text, others = 401 JSON."""
    if prof.anolis:
        raise KbsError("extractor", f"Json deserialize error: {reason}")
    raise KbsError("attest_failed", f"serde: {reason}")


def parse_attest(prof, body):
    obj = _load_json(body, prof)
    if prof.evidence == "composite":
        return _parse_p4(prof, obj)
    jwk = obj.get("tee-pubkey")
    evid = obj.get("tee-evidence")
    if prof.anolis:
        # kbs-types 0.6: tee-pubkey {kty, alg, n, e} strings, tee-evidence a string.
        if not isinstance(jwk, dict) or not all(isinstance(jwk.get(m), str)
                                                for m in ("kty", "alg", "n", "e")):
            _shape_error(prof, "tee-pubkey: missing field or invalid type")
        if not isinstance(evid, str):
            _shape_error(prof, "tee-evidence: invalid type, expected a string")
        try:
            parsed = json.loads(evid)
        except ValueError:
            raise KbsError("attest_failed", "tee-evidence string is not JSON") from None
        return AttestRequest(parse_jwk(jwk, prof), parsed, evid)
    if "tee-pubkey" not in obj or "tee-evidence" not in obj:
        _shape_error(prof, "missing tee-pubkey or tee-evidence")
    # p1/p2: evidence is the JSON object itself; a string is re-quoted and fails later.
    return AttestRequest(parse_jwk(jwk, prof), evid, evid)


def _parse_p4(prof, obj):
    init = obj.get("init-data")
    if init is not None:
        if not isinstance(init, dict) or not isinstance(init.get("body"), str):
            _shape_error(prof, "init-data must be {format, body}")
        if init.get("format") != "toml":
            raise KbsError("attest_failed", f"unsupported init-data format {init.get('format')}")
    rtd = obj.get("runtime-data")
    if not isinstance(rtd, dict) or not isinstance(rtd.get("nonce"), str) \
            or "tee-pubkey" not in rtd:
        _shape_error(prof, "runtime-data must be {nonce, tee-pubkey}")
    tev = obj.get("tee-evidence")
    if not isinstance(tev, dict) or "primary_evidence" not in tev \
            or not isinstance(tev.get("additional_evidence"), str):
        _shape_error(prof, "tee-evidence must be {primary_evidence, additional_evidence}")
    req = AttestRequest(parse_jwk(rtd["tee-pubkey"], prof), tev["primary_evidence"], tev,
                        tev["additional_evidence"], init, rtd["nonce"])
    return req


def binding_material(prof, tee_key, nonce, additional=""):
    """The JSON value whose canonical form is hashed (§3.3)."""
    mat = {"nonce": nonce, "tee-pubkey": dict(tee_key.members)}
    if prof.evidence == "composite":
        mat["additional-evidence"] = additional
    return mat


def binding_digest(hash_name, material):
    return hashlib.new(hash_name, canonical(material)).digest()


def check_evidence(tee, evidence, digest):
    """Raise KbsError unless `evidence` of TEE `tee` carries `digest` as §3.3 requires."""
    if not isinstance(evidence, dict):
        raise KbsError("attest_failed", f"{tee} evidence is not a JSON object")
    if tee in ("sample", "system"):
        _check_sample(evidence, digest)
    elif tee == "tdx":
        _check_tdx(evidence, digest)
    else:
        raise KbsError("attest_failed", f"no verifier for tee '{tee}' in the test KBS")


def _check_sample(evidence, digest):
    if not isinstance(evidence.get("svn"), str) or not isinstance(evidence.get("report_data"),
                                                                  str):
        raise KbsError("attest_failed", "sample evidence needs string svn and report_data")
    try:
        got = b64_dec(evidence["report_data"])
    except ValueError:
        raise KbsError("attest_failed", "sample report_data is not base64") from None
    # The sample verifier compares decoded bytes for equality: no zero padding accepted.
    if got != digest:
        raise KbsError("attest_failed", "sample report_data does not match runtime data digest")


def tdx_report_data(quote):
    """REPORTDATA (64 bytes) of a v4/v5 TD quote, or KbsError."""
    if len(quote) < 2:
        raise KbsError("attest_failed", "tdx quote too short")
    version = int.from_bytes(quote[0:2], "little")
    off = TDX_REPORTDATA_OFFSET.get(version)
    if off is None or len(quote) < off + 64:
        raise KbsError("attest_failed", f"tdx quote version {version} / length {len(quote)}")
    return quote[off:off + 64]


def _check_tdx(evidence, digest):
    try:
        quote = b64_dec(evidence.get("quote"))
    except ValueError:
        raise KbsError("attest_failed", "tdx quote is not base64") from None
    want = (digest + bytes(64))[:64]
    if tdx_report_data(quote) != want:
        raise KbsError("attest_failed", "tdx REPORTDATA does not match runtime data digest")
