"""Helpers for the `unseal attest` tests: start the test KBS, run the CLI."""
import hashlib
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import REPO, run  # noqa: E402

KBS_DIR = os.path.join(REPO, "tests", "kbs")
URI = "kbs:///default/aliyun/model-key"
SECRET = b"correct horse battery staple\n"  # passfile style: trailing newline
SECRET_SHA = hashlib.sha256(SECRET).hexdigest()
VERSION = {"p0": "0.1.0", "p1": "0.1.1", "p2": "0.2.0", "p4": "0.4.0"}

# Exit codes of `unseal attest` (attest/kbs.h).
OK, USAGE, NETWORK, PROTOCOL, REFUSED, MISSING, DECRYPT, EVIDENCE = 0, 2, 3, 4, 5, 6, 7, 8


def harness():
    if not os.path.exists(os.path.join(KBS_DIR, "kbs_server.py")):
        pytest.skip("SKIP: test KBS tests/kbs/kbs_server.py not present")
    if KBS_DIR not in sys.path:
        sys.path.insert(0, KBS_DIR)
    import harness as h  # noqa: E402
    return h


def resource_arg(secret=SECRET):
    return f"default/aliyun/model-key=hex:{secret.hex()}"


def attest(unseal_bin, kbs_url, *extra, uri=URI, tee="sample", timeout=None, env=None,
           json_out=True):
    cmd = [unseal_bin, "attest", "--kbs-url", kbs_url, "--key-uri", uri, "--tee", tee]
    if json_out:
        cmd.append("--json")
    if timeout is not None:
        cmd += ["--timeout", str(timeout)]
    cmd += list(extra)
    e = dict(os.environ)
    for k in ("UNSEAL_KBS_URL", "UNSEAL_KEY_URI", "UNSEAL_TEE", "UNSEAL_KBS_TIMEOUT",
              "UNSEAL_KBS_CAFILE", "UNSEAL_TSM_ROOT"):
        e.pop(k, None)
    e.update(env or {})
    # With --timeout given, the client must end by itself within it: the
    # subprocess limit (deadline + a generous margin for a loaded machine)
    # turns a client that ignores its deadline into a failure.
    return run(cmd, env=e, timeout=180 if timeout is None else timeout + 20)


def timed_attest(*args, **kw):
    """attest() and the seconds it took (process start to exit)."""
    t0 = time.monotonic()
    res = attest(*args, **kw)
    return res, time.monotonic() - t0


# Slack on top of a deadline for process start, key generation and exit on a
# loaded machine.  Deadline-bound, not a speed assertion.
DEADLINE_SLACK = 2.5


def requests_to(kbs, endpoint):
    """The test KBS's request log entries for one endpoint, oldest first."""
    return [r for r in kbs.state()["requests"] if r.get("endpoint") == endpoint]


def parse(res):
    assert res.returncode == 0, f"rc={res.returncode} stderr={res.stderr!r}"
    return json.loads(res.stdout)


def one_error_line(res, step):
    """The failure is one `unseal: attest: <step>: ...` line and nothing on stdout."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"unseal: attest: {step}: "), res.stderr
    assert res.stdout == ""
    return lines[0]


def counters(kbs):
    c = kbs.state()["counters"]
    return c.get("auth", 0), c.get("attest", 0), c.get("resource", 0)
