"""Protocol logic of the test KBS: /auth, /attest, /resource, admin (no HTTP plumbing here).

Each method takes a Ctx (parsed request) and returns a Reply or raises KbsError, which the
HTTP layer turns into the personality's error shape (kbs_common.error_response).
"""
import dataclasses
import hmac
import json
import re
import secrets
import threading
from email.utils import formatdate

from kbs_common import (COOKIE, HASHES, KNOWN_TEES, PROFILES, KbsError, DropConnection, b64_dec,
                        b64u_dec, compact, parse_semver, req_matches)
from kbs_faults import Active, Faults
from kbs_jwe import jwe_json, parse_jwk
from kbs_state import Clock, State, TokenSigner, new_nonce
from kbs_verify import binding_digest, binding_material, check_evidence, parse_attest

SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


class Reply:
    def __init__(self, status, body=b"", ctype="application/json", headers=None):
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = list(headers or [])


@dataclasses.dataclass
class Ctx:
    method: str
    path: str
    headers: dict
    cookies: dict
    body: bytes = b""
    endpoint: str = "other"
    faults: Active = dataclasses.field(default_factory=lambda: Active([]))
    reason: str = None
    arrived: float = 0.0  # time.monotonic() when the request arrived (before any delay)


def http_date(ts):
    return formatdate(ts, usegmt=True)


def parse_cookies(values):
    """All cookies from every Cookie header; the first occurrence of a name wins (actix)."""
    out = {}
    for value in values:
        for part in value.split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name and name not in out:
                out[name] = val
    return out


def parse_resource_arg(spec):
    """--resource repo/type/tag=@file|hex:..|str:.. -> (path, bytes)."""
    path, sep, value = spec.partition("=")
    if not sep or len(path.split("/")) != 3:
        raise ValueError(f"bad --resource {spec!r}")
    if value.startswith("@"):
        with open(value[1:], "rb") as f:
            return path, f.read()
    if value.startswith("hex:"):
        return path, bytes.fromhex(value[4:])
    if value.startswith("str:"):
        return path, value[4:].encode()
    raise ValueError(f"--resource value must be @file, hex: or str: ({spec!r})")


def policy_from_rego(text):
    """No rego engine: recognise allow-all / deny-sample / deny-all forms only."""
    if re.search(r"default\s+allow\s*:?=\s*true", text):
        return "allow_all"
    if "sample" in text:
        return "deny_sample"
    return "deny_all"


class Kbs:
    def __init__(self, args):
        prof = PROFILES[args.profile]
        if args.strict_eq and prof.name == "p0":
            prof = dataclasses.replace(prof, req="=0.1.0")
        self.args = args
        self.prof = prof
        self.clock = Clock()
        self.state = State(self.clock)
        self.faults = Faults()
        self.signer = TokenSigner()
        self.resources = dict(parse_resource_arg(r) for r in args.resource)
        self.allow_tee = set(t for t in args.allow_tee.split(",") if t)
        self.policy = "deny_sample" if args.deny_sample else "allow_all"
        self.base_path = args.base_path.rstrip("/")
        self.stop = threading.Event()  # set on SIGTERM/SIGINT; releases hang/drip faults

    # ---- helpers -----------------------------------------------------------------------

    def json_body(self, ctx, fail_kind):
        """Parse a JSON object body; p0 mimics actix web::Json (content type + 400 text)."""
        if self.prof.anolis:
            ctype = ctx.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json" and not ctype.endswith("+json"):
                raise KbsError("extractor", "Content type error")
        try:
            obj = json.loads(ctx.body)
        except (ValueError, UnicodeDecodeError) as exc:
            obj = exc
        if not isinstance(obj, dict):
            if self.prof.anolis:
                raise KbsError("extractor", f"Json deserialize error: {obj}")
            raise KbsError(fail_kind, f"serde: {obj}")
        return obj

    def shape_error(self, fail_kind, reason):
        if self.prof.anolis:
            raise KbsError("extractor", f"Json deserialize error: {reason}")
        raise KbsError(fail_kind, reason)

    def session(self, ctx):
        """The live session named by the cookie, honouring LB affinity and extra cookies."""
        sid = ctx.cookies.get(COOKIE)
        if sid is None:
            raise KbsError("missing_cookie", "cookie not found")
        with self.state.lock:
            sess = self.state.sessions.get(sid)
        if sess is None:
            raise KbsError("invalid_cookie", "session not found")
        lb = self.args.lb_cookie
        if lb and ctx.cookies.get(lb) != sess.lb:
            raise KbsError("invalid_cookie", f"session not found (no/other {lb}: other replica)")
        for name, val in sess.required_cookies.items():
            if ctx.cookies.get(name) != val:
                raise KbsError("invalid_cookie", f"session not found (cookie {name} not replayed)")
        if sess.expires <= self.clock.now():
            self.state.drop(sid)
            raise KbsError("expired_cookie", "session expired")
        return sess

    def set_cookies(self, ctx, reply, sess, with_lb=False):
        f = ctx.faults
        expires = sess.expires
        if f.get("past_expires"):
            expires = self.clock.now() - 3600
        rename = f.get("cookie_name")
        name = rename.get("name", "session-id") if rename else COOKIE
        if not f.get("no_set_cookie"):
            # Only Expires, no Path/Domain/HttpOnly: exactly what actix-web emits here.
            reply.headers.append(("Set-Cookie", f"{name}={sess.id}; Expires={http_date(expires)}"))
        if with_lb and self.args.lb_cookie:
            reply.headers.append(("Set-Cookie", f"{self.args.lb_cookie}={sess.lb}; Path=/"))
        extra = f.get("extra_cookie")
        if extra:
            cname = extra.get("name", "kbs-affinity")
            cval = extra.get("value", secrets.token_hex(8))
            if extra.get("require", True):
                sess.required_cookies[cname] = cval
            reply.headers.append(("Set-Cookie", f"{cname}={cval}; Path=/"))

    # ---- /kbs/v0/auth ------------------------------------------------------------------

    def auth(self, ctx):
        obj = self.json_body(ctx, "auth_failed")
        version, tee = obj.get("version"), obj.get("tee")
        if not isinstance(version, str) or not isinstance(tee, str) or "extra-params" not in obj:
            self.shape_error("auth_failed", "auth needs string version, tee and extra-params")
        if self.prof.anolis and not isinstance(obj["extra-params"], str):
            raise KbsError("extractor", "Json deserialize error: extra-params: invalid type, "
                           "expected a string")
        with self.state.lock:
            self.state.versions.append(version)
        if parse_semver(version) is None:
            if self.prof.anolis:
                raise DropConnection("Version::parse().unwrap() panics")
            raise KbsError("auth_failed", f"invalid version {version!r}")
        if not req_matches(self.prof.req, version):
            raise KbsError("version", (self.prof.req, version))
        if tee not in KNOWN_TEES:
            self.shape_error("auth_failed", f"unknown variant `{tee}`")
        with self.state.lock:
            self.state.accepted_version = version
        return self._new_session(ctx, tee)

    def _new_session(self, ctx, tee):
        f = ctx.faults
        hash_name = self.args.hash or "sha384"
        extra = {"selected-hash-algorithm": self.args.hash} if self.args.hash else ""
        if f.get("extra_params"):
            extra = f.get("extra_params").get("value")
            sel = extra.get("selected-hash-algorithm") if isinstance(extra, dict) else None
            if isinstance(sel, str) and sel.lower() in HASHES:
                hash_name = sel.lower()
        nonce = f.get("nonce").get("value") if f.get("nonce") else new_nonce()
        lb = secrets.token_hex(8) if self.args.lb_cookie else None
        sess = self.state.new_session(tee, nonce, hash_name, self.args.session_timeout, lb)
        sent_nonce = new_nonce() if f.get("wrong_nonce") else nonce
        reply = Reply(200, compact({"nonce": sent_nonce, "extra-params": extra}))
        self.set_cookies(ctx, reply, sess, with_lb=True)
        return reply

    # ---- /kbs/v0/attest ----------------------------------------------------------------

    def attest(self, ctx):
        if self.prof.anolis:
            self.json_body(ctx, "attest_failed")  # actix extracts the body before the handler
        sess = self.session(ctx)
        if not sess.attested:
            self._verify(ctx, sess)
        f = ctx.faults
        body = {"token": sess.token}
        if f.get("token_missing"):
            body = {}
        elif f.get("token_not_string"):
            body = {"token": 123}
        reply = Reply(200, compact(body))
        self.set_cookies(ctx, reply, sess)
        if f.get("expire_session"):
            sess.expires = self.clock.now()
        if f.get("drop_session"):
            self.state.drop(sess.id)
        return reply

    def _verify(self, ctx, sess):
        req = parse_attest(self.prof, ctx.body)
        with self.state.lock:
            self.state.last_evidence = req.raw_evidence
        if self.prof.evidence == "composite" and req.runtime_nonce != sess.nonce:
            raise KbsError("attest_failed", "runtime-data nonce does not match the session nonce")
        if sess.tee not in self.allow_tee:
            raise KbsError("attest_failed", f"tee '{sess.tee}' not allowed (--allow-tee)")
        # Always the SESSION nonce: a client-chosen nonce never enters the binding.
        material = binding_material(self.prof, req.tee_key, sess.nonce, req.additional)
        digest = binding_digest(sess.hash, material)
        with self.state.lock:
            self.state.last_digest_hex = digest.hex()
        check_evidence(sess.tee, req.evidence, digest)
        now = self.clock.now()
        life = self.args.token_lifetime
        if ctx.faults.get("token_expired"):
            now -= 2 * life
        token = self.signer.issue(now, life, sess.tee, req.evidence, req.tee_key.members,
                                  sess.nonce, req.init_data)
        with self.state.lock:
            sess.token, sess.tee_key, sess.attested = token, req.tee_key, True

    # ---- /kbs/v0/resource/<repo>/<type>/<tag> -------------------------------------------

    def resource(self, ctx, segs):
        if len(segs) != 3 or not all(SEGMENT.match(s) and s not in (".", "..") for s in segs):
            raise KbsError("bad_path", ctx.path)
        self._session_faults(ctx)
        tee_key, tee = self._resource_auth(ctx)
        if self.policy == "deny_all" or (self.policy == "deny_sample" and tee == "sample"):
            raise KbsError("policy", f"policy {self.policy} denies tee {tee}")
        data = self.resources.get("/".join(segs))
        if data is None:
            raise KbsError("missing_resource", f"resource {'/'.join(segs)} not found")
        jf = ctx.faults.get("jwe")
        corrupt = jf.get("corrupt") if jf else None
        return Reply(200, jwe_json(tee_key, self.prof.legacy_jwe, data, corrupt,
                                   jf.spec if jf else None))

    def _session_faults(self, ctx):
        sid = ctx.cookies.get(COOKIE)
        with self.state.lock:
            sess = self.state.sessions.get(sid) if sid else None
        if sess and ctx.faults.get("expire_session"):
            sess.expires = self.clock.now()
        if sess and ctx.faults.get("drop_session"):
            self.state.drop(sid)

    def _resource_auth(self, ctx):
        """Cookie session first, then Bearer token (spec §4.1) unless Bearer is refused
        (--no-bearer, or the no_bearer fault: a server without token trust config, §8)."""
        try:
            sess = self.session(ctx)
            if not sess.attested:
                raise KbsError("unauth_cookie", "session authed but not attested")
            return sess.tee_key, sess.tee
        except KbsError as err:
            cookie_err = err
        auth = ctx.headers.get("authorization", "")
        if auth.startswith("Bearer ") and not self.args.no_bearer and \
                not ctx.faults.get("no_bearer"):
            try:
                claims = self.signer.verify(auth[7:].strip(), self.clock.now())
                members = claims["customized_claims"]["runtime_data"]["tee-pubkey"]
                return parse_jwk(members, self.prof), claims.get("tee")
            except (ValueError, KeyError, TypeError, KbsError) as exc:
                raise KbsError("token", str(exc)) from None
        if self.prof.anolis:
            raise cookie_err
        raise KbsError("no_token", cookie_err.reason)

    # ---- admin -------------------------------------------------------------------------

    def _admin_ok(self, ctx):
        if self.args.insecure_admin:
            return
        token = self.args.admin_token
        got = ctx.headers.get("authorization", "")
        if not token or not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
            raise KbsError("admin", "admin token missing or wrong")

    def admin_resource(self, ctx, segs):
        if len(segs) != 3 or not all(SEGMENT.match(s) and s not in (".", "..") for s in segs):
            raise KbsError("bad_path", ctx.path)
        self._admin_ok(ctx)
        self.resources["/".join(segs)] = ctx.body
        return Reply(200, b"", None)

    def resource_policy(self, ctx):
        self._admin_ok(ctx)
        obj = self.json_body(ctx, "admin")
        text = None
        for decode in (b64_dec, b64u_dec):  # main decodes URL-safe no-pad, older std
            try:
                text = decode(obj.get("policy")).decode()
                break
            except (ValueError, UnicodeDecodeError):
                continue
        if text is None:
            raise KbsError("admin", "policy is not base64")
        self.policy = policy_from_rego(text)
        return Reply(200, b"", None)
