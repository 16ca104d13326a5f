"""One key fetch per process: threads single-flight, fork children reuse the
key, exec'd children re-attest unless the key is handed off; the key never
shows up in the environment, argv, output or the debug log."""
import os

import pytest

from shimkbs_util import (FILES, GOLDEN, PY, assert_no_secret, counters, harness, key_lines,
                          log_text, need_env, password, plain, resource_arg, run, sha, shim_env,
                          vpath)

PIN = {"UNSEAL_KBS_PROTOCOL": "0.4.0"}

THREADS = """
import hashlib, sys, threading
files = sys.argv[1:]
gate = threading.Barrier(len(files))
out = [None] * len(files)
def work(i):
    gate.wait()  # every thread opens at the same moment, before any key exists
    with open(files[i], "rb") as f:
        out[i] = hashlib.sha256(f.read()).hexdigest()
ts = [threading.Thread(target=work, args=(i,)) for i in range(len(files))]
for t in ts: t.start()
for t in ts: t.join()
print("\\n".join(str(x) for x in out))
"""

FORK = """
import hashlib, os, sys
open(sys.argv[1], "rb").read()
pid = os.fork()
if pid == 0:
    data = open(sys.argv[2], "rb").read()
    os.write(1, hashlib.sha256(data).hexdigest().encode() + b"\\n")
    os._exit(0)
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
"""

EXEC = """
import subprocess, sys
open(sys.argv[1], "rb").read()  # the parent has its key now
sys.stdout.buffer.write(open("/proc/self/environ", "rb").read() + b"\\0")
sys.stdout.buffer.write(open("/proc/self/cmdline", "rb").read() + b"\\0")
sys.stdout.flush()
# The child inherits the C environment (with UNSEAL_KEY_FD when handing off)
# and, with close_fds=False, the key memfd.
r = subprocess.run(["sh", "-c", 'cat "$1" && cat /proc/self/environ', "sh", sys.argv[2]],
                   close_fds=False)
sys.exit(r.returncode)
"""

EAGER = """
import json, sys, urllib.request
st = json.load(urllib.request.urlopen(sys.argv[1] + "/_test/state", timeout=30))
print(st["counters"].get("attest", 0), flush=True)  # before any access under the mount
sys.stdout.buffer.write(open(sys.argv[2], "rb").read())
"""


@pytest.fixture(autouse=True)
def _env():
    need_env()


@pytest.fixture
def kbs():
    with harness().kbs_server("p4", "--resource", resource_arg(password())) as server:
        yield server


def regular_files(n):
    """Regular files per the corpus manifest (the shared copy of plain/ may
    have its symlinks flattened, so os.walk cannot tell)."""
    found = []
    with open(os.path.join(GOLDEN, "MANIFEST.tree")) as f:
        for line in f:
            kind, _size, rel = line.rstrip("\n").split("\t")[:3]
            if kind == "f":
                found.append(rel)
    found.sort()
    assert len(found) >= n, found
    return found[:n]


def test_sixteen_threads_one_handshake(tmp_path, kbs):
    rels = regular_files(16)
    r = run([PY, "-c", THREADS] + [vpath(f) for f in rels], shim_env(kbs.url, tmp_path, **PIN))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [sha(plain(f)) for f in rels]
    assert counters(kbs) == (1, 1, 1), kbs.state()["counters"]
    loaded = [ln for ln in key_lines(log_text(tmp_path)) if "loaded" in ln]
    assert len(loaded) == 1, log_text(tmp_path)


def test_fork_child_reuses_key(tmp_path, kbs):
    env = shim_env(kbs.url, tmp_path, **PIN)
    r = run([PY, "-c", FORK, vpath(FILES[0]), vpath(FILES[3])], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == [sha(plain(FILES[3]))]
    assert counters(kbs) == (1, 1, 1), kbs.state()["counters"]


@pytest.mark.parametrize("handoff", [False, True])
def test_exec_child(tmp_path, kbs, handoff):
    extra = dict(PIN, UNSEAL_KEY_HANDOFF=1) if handoff else PIN
    env = shim_env(kbs.url, tmp_path, **extra)
    r = run([PY, "-c", EXEC, vpath("hello.txt"), vpath("sub/hello.txt")], env)
    assert r.returncode == 0, r.stderr
    want = plain("sub/hello.txt")
    assert want in r.stdout
    # Exec'd children start without keys: a new handshake unless handed off.
    assert counters(kbs) == ((1, 1, 1) if handoff else (2, 2, 2)), kbs.state()["counters"]
    child_env = r.stdout.split(want, 1)[1]
    assert (b"UNSEAL_KEY_FD=" in child_env) == handoff
    assert_no_secret(r.stdout, r.stderr, log_text(tmp_path))


def test_handoff_child_without_kbs(tmp_path, kbs):
    """The exec'd child really reads with the handed-off key: the KBS is down."""
    code = ("import subprocess,sys\nopen(sys.argv[1],'rb').read()\n"
            "sys.stdout.flush()\n"
            "sys.exit(subprocess.run(['cat', sys.argv[2]], close_fds=False).returncode)\n")
    env = shim_env(kbs.url, tmp_path, UNSEAL_KEY_HANDOFF=1, **PIN)
    # After the parent's fetch, faults make every further handshake fail.
    kbs.faults({"endpoint": "auth", "action": "status", "code": 401, "nth": 2, "times": -1})
    r = run([PY, "-c", code, vpath("hello.txt"), vpath("size_4096.bin")], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == plain("size_4096.bin")
    assert counters(kbs)[1] == 1


def test_key_not_in_environ_or_debug_log(tmp_path, kbs):
    env = shim_env(kbs.url, tmp_path, UNSEAL_EAGER=1, **PIN)
    r = run([PY, "-c", EXEC, vpath("hello.txt"), vpath("size_12289.bin")], env)
    assert r.returncode == 0, r.stderr
    log = log_text(tmp_path)
    assert "unseal: key:" in log  # the debug log exists and says something
    assert_no_secret(r.stdout, r.stderr, log)
    for k, v in env.items():
        assert_no_secret(k, v)


@pytest.mark.parametrize("eager", [False, True])
def test_eager_fetch_at_load(tmp_path, kbs, eager):
    extra = dict(PIN, UNSEAL_EAGER=1) if eager else PIN
    r = run([PY, "-c", EAGER, kbs.root, vpath("hello.txt")], shim_env(kbs.url, tmp_path, **extra))
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split(b"\n", 1)
    assert int(first) == (1 if eager else 0)
    assert rest == plain("hello.txt")
    assert counters(kbs) == (1, 1, 1)


def test_eager_failure_reported_at_start(tmp_path):
    env = shim_env("http://127.0.0.1:9", tmp_path, timeout=2, UNSEAL_EAGER=1)
    del env["UNSEAL_LOG_FILE"]
    r = run(["true"], env)
    assert r.returncode == 0
    lines = key_lines(r.stderr.decode())
    assert len(lines) == 1 and "attest" in lines[0], r.stderr


def test_handoff_fd_closed_falls_back(tmp_path, kbs):
    """Python's subprocess closes inherited fds (close_fds=True): the child
    finds no hand-off key and fetches its own; it must still read."""
    code = ("import subprocess,sys\nopen(sys.argv[1],'rb').read()\nsys.stdout.flush()\n"
            "sys.exit(subprocess.run(['cat', sys.argv[2]]).returncode)\n")
    env = shim_env(kbs.url, tmp_path, UNSEAL_KEY_HANDOFF=1, **PIN)
    r = run([PY, "-c", code, vpath("hello.txt"), vpath("size_4097.bin")], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == plain("size_4097.bin")
    assert counters(kbs)[1] in (1, 2)
