"""A key that cannot be fetched: every open under the mount is EACCES, one
log line names the cause, real files stay readable, the process goes on.
Transient faults recover inside the deadline."""
import os

import pytest

from shimkbs_util import (PY, URI, counters, harness, key_lines, log_text, need_env, password,
                          plain, resource_arg, run, shim_env, vpath)

PROBE = """
import errno, sys
for p in sys.argv[2:]:
    try:
        open(p, "rb").read()
        print("OK", p)
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno), p)
sys.stdout.buffer.write(open(sys.argv[1], "rb").read())  # a real file, after the failure
"""
REAL_FILE = os.path.abspath(__file__)
PIN = {"UNSEAL_KBS_PROTOCOL": "0.4.0"}


@pytest.fixture(autouse=True)
def _env():
    need_env()


def probe(env):
    paths = [vpath("hello.txt"), vpath("size_1.bin"), vpath("sub/hello.txt")]
    r = run([PY, "-c", PROBE, REAL_FILE] + paths, env)
    assert r.returncode == 0, r.stderr
    with open(REAL_FILE, "rb") as f:
        real = f.read()
    lines = r.stdout[:len(r.stdout) - len(real)].decode().splitlines()
    assert r.stdout.endswith(real)
    return [ln.split(" ", 1)[0] for ln in lines]


def assert_failed_once(tmp_path, env, cause):
    assert probe(env) == ["EACCES"] * 3
    lines = key_lines(log_text(tmp_path))
    assert len(lines) == 1, lines
    assert cause in lines[0], lines[0]
    return lines[0]


def test_unreachable(tmp_path):
    env = shim_env("http://127.0.0.1:9", tmp_path, timeout=3)
    line = assert_failed_once(tmp_path, env, "attest: ")
    assert "auth" in line


def test_refused(tmp_path):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        kbs.set_policy("deny_sample")
        line = assert_failed_once(tmp_path, shim_env(kbs.url, tmp_path, timeout=5, **PIN),
                                  "attest")
        assert "refused" in line or "denied" in line, line


def test_resource_missing(tmp_path):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        env = shim_env(kbs.url, tmp_path, uri=URI + "-absent", timeout=5, **PIN)
        assert_failed_once(tmp_path, env, "resource missing")


@pytest.mark.parametrize("corrupt", ["flip_ct", "flip_tag", "wrong_key"])
def test_corrupt_jwe(tmp_path, corrupt):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        kbs.faults({"endpoint": "resource", "action": "jwe", "corrupt": corrupt, "times": -1})
        assert_failed_once(tmp_path, shim_env(kbs.url, tmp_path, timeout=5, **PIN), "decrypt")


def test_hung_server_hits_deadline(tmp_path):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        kbs.faults({"endpoint": "auth", "action": "hang", "ms": 60000, "times": -1})
        # The subprocess guard (120 s) is far above the 2 s deadline; no timing assertion.
        assert_failed_once(tmp_path, shim_env(kbs.url, tmp_path, timeout=2, **PIN), "attest")


def test_pinned_protocol_mismatch(tmp_path):
    """UNSEAL_KBS_PROTOCOL is a strict pin: a 0.4.0 server is not talked to in
    0.4.0 when 0.1.0 is pinned; the cause names both versions."""
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        env = shim_env(kbs.url, tmp_path, timeout=5, UNSEAL_KBS_PROTOCOL="0.1.0")
        line = assert_failed_once(tmp_path, env, "protocol 0.1.0 is pinned, the server wants "
                                  "=0.4.0")
        assert "attest: auth: " in line, line
        assert counters(kbs) == (1, 0, 0)
        assert kbs.state()["negotiated"]["requested_versions"] == ["0.1.0"]


def test_no_retry_after_failure(tmp_path):
    """A failed fetch is not retried on every open: one handshake per process."""
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        kbs.set_policy("deny_sample")
        probe(shim_env(kbs.url, tmp_path, timeout=5, **PIN))
        auth, attest, _ = counters(kbs)
        assert auth <= 2 and attest <= 2  # the client's bounded retries, not one per open


@pytest.mark.parametrize("rule", [
    {"endpoint": "auth", "action": "status", "code": 500},
    {"endpoint": "attest", "action": "status", "code": 500},
    {"endpoint": "resource", "action": "status", "code": 500},
    {"endpoint": "auth", "action": "drop"},
    {"endpoint": "attest", "action": "drop"},
    {"endpoint": "resource", "action": "drop"},
], ids=lambda r: f"{r['endpoint']}-{r['action']}")
def test_transient_fault_recovers(tmp_path, rule):
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as kbs:
        kbs.faults(rule)
        env = shim_env(kbs.url, tmp_path, timeout=20, **PIN)
        r = run(["cat", vpath("hello.txt")], env)
        assert r.returncode == 0, (r.stderr, log_text(tmp_path))
        assert r.stdout == plain("hello.txt")
        assert not [ln for ln in key_lines(log_text(tmp_path)) if "loaded" not in ln]
