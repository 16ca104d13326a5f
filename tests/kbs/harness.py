"""Start the test KBS from pytest and drive its /_test endpoints.

    import sys; sys.path.insert(0, "<repo>/tests/kbs")
    from harness import kbs_server

    with kbs_server("p4", "--resource", "default/aliyun/key=str:secret") as kbs:
        kbs.url            # base URL for the client, e.g. http://127.0.0.1:41234[/trustee]
        kbs.root           # http://127.0.0.1:41234 (where /_test lives)
        kbs.port
        kbs.profile        # "p4"
        kbs.faults({"endpoint": "auth", "action": "status", "code": 503})  # dict or list
        kbs.clear_faults()
        kbs.state()        # dict from GET /_test/state
        kbs.advance(301)   # move the server's virtual clock
        kbs.reset()        # sessions, counters, request log
        kbs.set_resource("default/aliyun/key", b"bytes")
        kbs.set_policy("deny_sample")
        kbs.log()          # the server's stderr so far (for failure messages)

The server is stopped with SIGTERM (then SIGKILL) when the block exits.
"""
import contextlib
import json
import os
import select
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "kbs_server.py")
SYS_PYTHON = "/usr/bin/python3"


class KbsServer:
    def __init__(self, proc, port, base_path, scheme, errlog, profile=None):
        self.proc = proc
        self.profile = profile
        self.port = port
        self.root = f"{scheme}://127.0.0.1:{port}"
        self.url = self.root + base_path.rstrip("/")
        self._errlog = errlog
        self._tls = ssl._create_unverified_context() if scheme == "https" else None

    def _call(self, method, path, body=None):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.root + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30, context=self._tls) as resp:
            return json.loads(resp.read() or b"null")

    def state(self):
        return self._call("GET", "/_test/state")

    def faults(self, rules):
        return self._call("POST", "/_test/faults", rules)

    def clear_faults(self):
        return self._call("POST", "/_test/faults/clear", b"")

    def advance(self, seconds):
        return self._call("POST", "/_test/clock", {"advance": seconds})

    def reset(self):
        return self._call("POST", "/_test/reset", b"")

    def set_resource(self, path, data):
        return self._call("POST", "/_test/resource/" + path.strip("/"), bytes(data))

    def set_policy(self, policy):
        return self._call("POST", "/_test/policy", {"policy": policy})

    def log(self):
        self._errlog.flush()
        with open(self._errlog.name, "r", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stdout.close()


def _arg_value(args, name, default=""):
    args = list(args)
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def start(profile, *args, startup_timeout=20.0):
    """Start a server; returns a KbsServer (call .stop()).  Prefer kbs_server()."""
    errlog = tempfile.NamedTemporaryFile("w+", prefix="test-kbs-", suffix=".log")
    cmd = [SYS_PYTHON, SERVER, "--profile", profile, "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + startup_timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            proc.wait()
            errlog.seek(0)
            raise RuntimeError(f"test KBS did not start: {cmd}: {errlog.read()}")
        if select.select([proc.stdout], [], [], min(left, 0.5))[0]:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                continue
            line += chunk
    text = line.decode().strip()
    if not text.startswith("KBS_PORT="):
        proc.kill()
        raise RuntimeError(f"unexpected first line from test KBS: {text!r}")
    scheme = "https" if _arg_value(args, "--tls-cert") else "http"
    return KbsServer(proc, int(text.split("=", 1)[1]), _arg_value(args, "--base-path"), scheme,
                     errlog, profile)


@contextlib.contextmanager
def kbs_server(profile, *args, **kw):
    server = start(profile, *args, **kw)
    try:
        yield server
    finally:
        server.stop()
