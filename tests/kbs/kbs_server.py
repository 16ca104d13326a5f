#!/usr/bin/python3
"""Protocol-faithful test KBS (Trustee Key Broker Service) for unseal's client tests.

NOT a production server: no real attestation, evidence is only checked for the runtime-data
binding.  Specs: /work/shared/specs/kbs-protocol.md and kbs-test-server-plan.md.

Usage:
  /usr/bin/python3 tests/kbs/kbs_server.py --profile p0|p1|p2|p4 [--port 0] [--host 127.0.0.1]
      [--base-path /trustee] [--session-timeout S] [--token-lifetime S]
      [--resource repo/type/tag=@file|hex:..|str:..]... [--allow-tee sample,tdx,...]
      [--deny-sample] [--hash sha384|sha256|sha512|sm3] [--lb-cookie NAME] [--strict-eq]
      [--max-body BYTES] [--no-bearer] [--admin-token T | --insecure-admin] [--dev]
      [--tls-cert F --tls-key F] [--verbose]
The first stdout line is exactly `KBS_PORT=<port>`; serves until SIGTERM/SIGINT.

Profiles: p0 openanolis chart 1.0.x (`<=0.1.0`, `=0.1.0` with --strict-eq; string
extra-params / tee-evidence; legacy JWE RSA1_5; 404 ReadSecretFailed; non-JSON 400 on
extractor failures), p1 upstream v0.10-0.11 (`=0.1.1`, legacy JWE), p2 upstream v0.12-0.13
(`=0.2.0`, RFC 7516 JWE), p4 upstream main (`=0.4.0`, runtime-data + composite evidence).

Test endpoints (always at the root, whatever --base-path says; never subject to faults):
  GET  /_test/state          {profile, version_req, now, counters{auth, attest, resource,
                             status_<code>, <endpoint>_<code>}, sessions[], requests[] (last
                             200: path, method, cookies, headers, status, endpoint, faults,
                             reason, time (virtual clock), mono (server time.monotonic() at
                             arrival: the gaps between retries)), last_evidence,
                             last_digest_hex, last_reason,
                             negotiated{requested_versions, accepted_version}, faults[],
                             resources[], policy}
  POST /_test/faults         a rule object or a list of rules: appended to the installed set
  POST /_test/faults/clear   remove all rules
  POST /_test/clock          {"advance": seconds} moves the virtual clock (sessions, tokens)
  POST /_test/reset          drop sessions, counters, request log, last_* (faults stay)
  POST /_test/resource/<repo>/<type>/<tag>   raw body becomes that resource
  POST /_test/policy         {"policy": "allow_all"|"deny_sample"|"deny_all"}

Fault rule schema (JSON object):
  "endpoint": "auth" | "attest" | "resource" | "any"     (default "any")
  "nth": N         fire from the N-th matching call counted since the rule was installed
                   (1-based, default 1)
  "times": K       fire on K consecutive matching calls (default 1; -1 = always)
  "probability": p, "seed": s    optional: fire with probability p (seeded PRNG)
  "action": one of
    "status"            reply "code" with optional "body" (string, or JSON value serialised),
                        "content_type" (default application/json for JSON bodies, else
                        text/plain) and "headers" {name: value}; no body -> empty body
    "delay"             sleep "ms" then handle normally (combines with other actions)
    "drop"              close the connection without any reply (FIN)
    "reset"             close with SO_LINGER 0 (RST)
    "hang"              never answer: hold the connection "ms" (default and max 120000)
    "slow_body"         normal reply, body dripped "bytes" (1) per "interval_ms" (50)
    "truncate_json"     normal reply cut to half; Content-Length matches the cut body unless
                        "short_read": true (full length advertised, connection closed early)
    "huge_body"         200 (or "code") JSON body of "mib" MiB (default 4)
    "non_json"          text/html page with "code" (default 200)
    "version_mismatch"  the personality's 401 version mismatch with "expect" (default the
                        profile's requirement); use "times": -1 for "forever"
    "wrong_nonce"       /auth replies a nonce different from the one stored in the session
    "nonce"             /auth uses "value" verbatim as nonce (non-base64, reused, ...)
    "extra_params"      /auth replies "value" as extra-params; a selected-hash-algorithm
                        in it is really used for the binding
    "expire_session"    attest: session expires right after the reply; resource: before it
    "drop_session"      attest: session deleted after the reply; resource: before it
                        ("other replica")
    "no_set_cookie"     reply without the kbs-session-id Set-Cookie
    "cookie_name"       session cookie sent under "name" (default "session-id")
    "past_expires"      Set-Cookie Expires one hour in the past
    "extra_cookie"      add Set-Cookie "name"="value" (default kbs-affinity=<random>); unless
                        "require": false, later requests of the session must replay it
    "jwe"               resource JWE corrupted per "corrupt" (see kbs_jwe docstring):
                        flip_ct flip_tag tag_len iv16 enc_a128 alg_unknown alg_mismatch
                        legacy_in_rfc rfc_in_legacy protected_padded protected_altered
                        wrong_key cek16 missing_member ("member") extra_aad
    "token_missing"     /attest 200 with {}
    "token_not_string"  /attest 200 with {"token": 123}
    "token_expired"     the issued token already has a past exp (Bearer use fails)
    "no_bearer"         resource: ignore Authorization: Bearer (as a server without token
                        trust config does, spec §4.1/§8); only the cookie session counts
"""
import argparse
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kbs_common import DEFAULT_MAX_BODY, DropConnection, KbsError, error_response  # noqa: E402
from kbs_faults import HANG_MAX_MS  # noqa: E402
from kbs_logic import Ctx, Kbs, Reply, parse_cookies  # noqa: E402

DRAIN_MAX = 64 * 1024 * 1024
PROTOCOL_ENDPOINTS = ("auth", "attest", "resource")


class TooLarge(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like actix
    server_version = "test-kbs/1.0"
    kbs = None  # set by make_server

    def setup(self):
        super().setup()
        # Replies go out as soon as they are written: with Nagle on, a second
        # small write waits for the ACK of the first, which the client delays
        # (~40 ms per reply on loopback).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.kbs.args.verbose:
            sys.stderr.write("test-kbs: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    # ---- request plumbing ---------------------------------------------------------------

    def read_body(self, cap):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(cap)
        length = int(self.headers.get("Content-Length") or 0)
        if length > cap:
            self._drain(length)
            raise TooLarge(length)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self, cap):
        data = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            data += self.rfile.read(size)
            self.rfile.readline()
            if len(data) > cap:
                self.close_connection = True
                raise TooLarge(len(data))
        return bytes(data)

    def _drain(self, length):
        """Read and discard an oversized body so the client sees the 413, not a reset."""
        if length > DRAIN_MAX:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def send_reply(self, reply, ctx):
        body = reply.body
        advertised = len(body)
        trunc = ctx.faults.get("truncate_json")
        if trunc:
            body = body[:max(1, len(body) // 2)]
            if trunc.get("short_read"):
                self.close_connection = True
            else:
                advertised = len(body)
        self.send_response(reply.status)
        if reply.ctype:
            self.send_header("Content-Type", reply.ctype)
        self.send_header("Content-Length", str(advertised))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        slow = ctx.faults.get("slow_body")
        if self.command == "HEAD" or slow:
            self.end_headers()
            if slow and self.command != "HEAD":
                self._drip(body, slow)
            return
        # Headers and body in one write (one segment for small replies).
        self._headers_buffer.append(b"\r\n")
        data = b"".join(self._headers_buffer) + body
        self._headers_buffer = []
        self.wfile.write(data)

    def _drip(self, body, rule):
        step = max(1, int(rule.get("bytes", 1)))
        interval = float(rule.get("interval_ms", 50)) / 1000.0
        deadline = time.monotonic() + HANG_MAX_MS / 1000.0
        for i in range(0, len(body), step):
            self.wfile.write(body[i:i + step])
            self.wfile.flush()
            if self.kbs.stop.wait(interval) or time.monotonic() > deadline:
                self.close_connection = True
                return

    def abort(self, how, rule=None):
        """No reply at all: drop (FIN), reset (RST) or hang (hold, then FIN)."""
        self.close_connection = True
        if how == "hang":
            ms = min(int(rule.get("ms", HANG_MAX_MS)), HANG_MAX_MS)
            self.kbs.stop.wait(ms / 1000.0)
        elif how == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            # Really close now (rfile holds a reference): a later shutdown() would send FIN.
            self.connection.close()
            self.rfile.close()

    # ---- dispatch -----------------------------------------------------------------------

    def dispatch(self):
        arrived = time.monotonic()
        path = self.path.partition("?")[0]
        if path == "/_test" or path.startswith("/_test/"):
            return self.test_endpoint(path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        cookies = parse_cookies(self.headers.get_all("Cookie") or [])
        ctx = Ctx(self.command, self.path, headers, cookies, arrived=arrived)
        route = self.route(path)
        ctx.endpoint = route[0]
        try:
            ctx.body = self.read_body(self.kbs.args.max_body)
        except TooLarge as exc:
            return self.finish_request(ctx, self.too_large(exc.args[0]))
        except (ValueError, OSError):
            self.close_connection = True
            return self.log_request_entry(ctx, "bad-body")
        if ctx.endpoint in PROTOCOL_ENDPOINTS:
            ctx.faults = self.kbs.faults.take(ctx.endpoint)
        delay = ctx.faults.get("delay")
        if delay:
            self.kbs.stop.wait(float(delay.get("ms", 1000)) / 1000.0)
        pre = ctx.faults.pre()
        if pre is not None and pre.action in ("drop", "reset", "hang"):
            self.abort(pre.action, pre)
            return self.log_request_entry(ctx, pre.action)
        try:
            reply = self.pre_reply(pre, ctx) if pre is not None else self.handle_route(route, ctx)
        except KbsError as err:
            reply = self.error_reply(err, ctx)
        except DropConnection as exc:
            ctx.reason = str(exc)
            self.abort("drop")
            return self.log_request_entry(ctx, "drop")
        self.finish_request(ctx, reply)

    def route(self, path):
        base = self.kbs.base_path
        if base:
            if not path.startswith(base + "/"):
                return ("other", None)
            path = path[len(base):]
        if not path.startswith("/kbs/v0/"):
            return ("other", None)
        rest = path[len("/kbs/v0/"):]
        if rest in ("auth", "attest"):
            return (rest, None) if self.command == "POST" else ("other", None)
        if rest == "resource-policy" and self.command == "POST":
            return ("policy", None)
        parts = rest.split("/")
        if parts[0] == "resource" and self.command == "GET":
            return ("resource", parts[1:])
        if parts[0] == "resource" and self.command == "POST":
            return ("resource_admin", parts[1:])
        return ("other", parts[0])

    def handle_route(self, route, ctx):
        endpoint, arg = route
        kbs = self.kbs
        if endpoint == "auth":
            return kbs.auth(ctx)
        if endpoint == "attest":
            return kbs.attest(ctx)
        if endpoint == "resource":
            return kbs.resource(ctx, arg)
        if endpoint == "resource_admin":
            return kbs.admin_resource(ctx, arg)
        if endpoint == "policy":
            return kbs.resource_policy(ctx)
        if arg:
            raise KbsError("no_plugin", arg)
        return Reply(404, b"", None)  # outside the base path / route table: empty 404

    def pre_reply(self, rule, ctx):
        action = rule.action
        if action == "status":
            body, ctype = rule.get("body"), None
            if body is None:
                data = b""
            elif isinstance(body, str):
                data, ctype = body.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = json.dumps(body).encode(), "application/json"
            return Reply(rule.get("code"), data, rule.get("content_type", ctype),
                         list(rule.get("headers", {}).items()))
        if action == "huge_body":
            pad = b"A" * (int(rule.get("mib", 4)) * 1024 * 1024)
            return Reply(rule.get("code", 200), b'{"pad":"' + pad + b'"}')
        if action == "non_json":
            page = (b"<html><head><title>Error</title></head><body><h1>Service "
                    b"Temporarily Unavailable</h1>test-kbs injected page</body></html>\n")
            return Reply(rule.get("code", 200), page, "text/html")
        # version_mismatch: the personality's 401 with the rule's expectation.
        try:
            version = json.loads(ctx.body).get("version", "unknown")
        except (ValueError, AttributeError, UnicodeDecodeError):
            version = "unknown"
        with self.kbs.state.lock:
            self.kbs.state.versions.append(version)
        raise KbsError("version", (rule.get("expect", self.kbs.prof.req), version))

    def error_reply(self, err, ctx):
        ctx.reason = err.reason if err.kind != "version" else "version mismatch"
        with self.kbs.state.lock:
            self.kbs.state.last_reason = f"{err.kind}: {ctx.reason}"
        status, ctype, body = error_response(self.kbs.prof, err)
        return Reply(status, body, ctype)

    def too_large(self, size):
        limit = self.kbs.args.max_body
        if self.kbs.prof.anolis:
            text = f"JSON payload ({size} bytes) is larger than allowed (limit: {limit} bytes)."
        else:
            text = "A payload reached size limit."
        return Reply(413, text.encode(), "text/plain; charset=utf-8")

    def finish_request(self, ctx, reply):
        # Count before sending: once the client has the reply it may read
        # /_test/state at once, and must see this request there.
        self.log_request_entry(ctx, reply.status)
        self.send_reply(reply, ctx)

    def log_request_entry(self, ctx, status):
        state = self.kbs.state
        state.count(ctx.endpoint, status)
        state.log({"path": self.path, "method": self.command, "endpoint": ctx.endpoint,
                   "cookies": ctx.cookies, "headers": dict(self.headers.items()),
                   "status": status, "faults": ctx.faults.names(), "reason": ctx.reason,
                   "time": self.kbs.clock.now(), "mono": ctx.arrived})

    # ---- /_test ------------------------------------------------------------------------

    def test_endpoint(self, path):
        try:
            body = self.read_body(DRAIN_MAX)
            status, obj = self.kbs_test(path, body)
        except (ValueError, TypeError, TooLarge) as exc:
            status, obj = 400, {"error": str(exc)}
        ctx = Ctx(self.command, self.path, {}, {})
        self.send_reply(Reply(status, json.dumps(obj).encode()), ctx)

    def kbs_test(self, path, body):
        kbs = self.kbs
        if path == "/_test/state":
            return 200, kbs.state.snapshot(self.state_extra())
        if self.command != "POST":
            return 404, {"error": "unknown test endpoint"}
        if path == "/_test/faults":
            return 200, {"installed": kbs.faults.install(json.loads(body))}
        if path == "/_test/faults/clear":
            kbs.faults.clear()
            return 200, {"cleared": True}
        if path == "/_test/clock":
            return 200, {"now": kbs.clock.advance(json.loads(body or b"{}").get("advance", 0))}
        if path == "/_test/reset":
            kbs.state.reset()
            return 200, {"reset": True}
        if path.startswith("/_test/resource/"):
            kbs.resources[path[len("/_test/resource/"):]] = body
            return 200, {"stored": len(body)}
        if path == "/_test/policy":
            policy = json.loads(body).get("policy")
            if policy not in ("allow_all", "deny_sample", "deny_all"):
                raise ValueError("policy must be allow_all, deny_sample or deny_all")
            kbs.policy = policy
            return 200, {"policy": policy}
        return 404, {"error": "unknown test endpoint"}

    def state_extra(self):
        kbs = self.kbs
        return {"profile": kbs.prof.name, "version_req": kbs.prof.req,
                "faults": kbs.faults.public(), "resources": sorted(kbs.resources),
                "policy": kbs.policy, "base_path": kbs.base_path}


def parse_args(argv):
    ap = argparse.ArgumentParser(description="protocol-faithful test KBS (not for production)")
    ap.add_argument("--profile", choices=("p0", "p1", "p2", "p4"), required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--base-path", default="")
    ap.add_argument("--session-timeout", type=float, default=300.0)
    ap.add_argument("--token-lifetime", type=float, default=300.0)
    ap.add_argument("--resource", action="append", default=[])
    ap.add_argument("--allow-tee", default="sample,tdx,system")
    ap.add_argument("--deny-sample", action="store_true")
    ap.add_argument("--hash", choices=("sha384", "sha256", "sha512", "sm3"))
    ap.add_argument("--lb-cookie")
    ap.add_argument("--strict-eq", action="store_true")
    ap.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY)
    ap.add_argument("--no-bearer", action="store_true")
    ap.add_argument("--admin-token")
    ap.add_argument("--insecure-admin", action="store_true")
    ap.add_argument("--tdx-accept-unsigned", action="store_true",
                    help="accepted for compatibility; quotes are never signature-checked")
    ap.add_argument("--dev", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    return args


def make_server(args):
    kbs = Kbs(args)
    handler = type("BoundHandler", (Handler,), {"kbs": kbs})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    return server, kbs


def main(argv=None):
    args = parse_args(argv)
    try:
        server, kbs = make_server(args)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"test-kbs: cannot start: {exc}\n")
        return 2
    print(f"KBS_PORT={server.server_address[1]}", flush=True)
    if args.dev:
        sys.stderr.write(f"test-kbs: test KBS, not a production server (profile {args.profile},"
                         f" http://{args.host}:{server.server_address[1]}{kbs.base_path})\n")
    signal.signal(signal.SIGTERM, lambda *_: kbs.stop.set())
    signal.signal(signal.SIGINT, lambda *_: kbs.stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    while not kbs.stop.wait(1.0):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
