"""Helpers for the shim + KBS end-to-end tests.

Each test starts the test KBS (tests/kbs), serves a key for the golden
gocryptfs corpus (made by the real gocryptfs) as a KBS resource, and runs an
unmodified program with LD_PRELOAD=libunseal.so on a virtual mount path.  The
expected output is the corpus's plaintext tree, never unseal's own output.
"""
import hashlib
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from testlib import BUILD, GOLDEN, LIBUNSEAL, REPO, SYS_PYTHON  # noqa: E402

KBS_DIR = os.path.join(REPO, "tests", "kbs")
KBS_LIB = os.path.join(BUILD, "libunseal-kbs.so")
URI = "kbs:///default/aliyun/model-key"
RES_PATH = "default/aliyun/model-key"
MOUNT = "/unseal-shimkbs-mnt"
CIPHER = os.path.join(GOLDEN, "cipher")
GOLDEN = GOLDEN
PLAIN = os.path.join(GOLDEN, "plain")
FILES = ["hello.txt", "config.json", "size_1.bin", "sub/deeper/nested_5000.bin"]
PROFILES = ["p0", "p1", "p2", "p4"]


def need_env():
    for path, what in ((LIBUNSEAL, "libunseal.so"), (KBS_LIB, "libunseal-kbs.so")):
        if not os.path.exists(path):
            pytest.skip(f"SKIP: {what} not built at {path}")
    if not os.path.isfile(os.path.join(CIPHER, "gocryptfs.conf")):
        pytest.skip(f"SKIP: golden corpus not found at {GOLDEN}")
    if not os.path.exists(os.path.join(KBS_DIR, "kbs_server.py")):
        pytest.skip("SKIP: test KBS tests/kbs/kbs_server.py not present")
    if os.path.exists(MOUNT):
        pytest.skip(f"SKIP: {MOUNT} exists; the shim refuses to shadow it")


def harness():
    if KBS_DIR not in sys.path:
        sys.path.insert(0, KBS_DIR)
    import harness as h  # noqa: E402
    return h


def password():
    with open(os.path.join(GOLDEN, "password.txt"), "rb") as f:
        return f.read()


def master_hex():
    with open(os.path.join(GOLDEN, "masterkey.txt")) as f:
        return f.read().strip()


def plain(rel):
    with open(os.path.join(PLAIN, rel), "rb") as f:
        return f.read()


def resource_arg(secret):
    return f"{RES_PATH}=hex:{secret.hex()}"


def shim_env(kbs_url, tmp_path, uri=URI, timeout=20, **extra):
    """Environment of a shim process with a KBS key source; nothing secret in it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("UNSEAL_") and k != "LD_PRELOAD"}
    env.update({
        "LD_PRELOAD": LIBUNSEAL,
        "UNSEAL_CIPHER_DIR": CIPHER,
        "UNSEAL_MOUNT": MOUNT,
        "UNSEAL_KBS_URL": kbs_url,
        "UNSEAL_KEY_URI": uri,
        "UNSEAL_TEE": "sample",
        "UNSEAL_KBS_TIMEOUT": str(timeout),
        "UNSEAL_LOG": "debug",
        "UNSEAL_LOG_FILE": str(tmp_path / "shim.log"),
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, env, timeout=120, **kw):
    # The timeout only guards against a hung test; no timing is asserted.
    return subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, **kw)


def vpath(rel):
    return os.path.join(MOUNT, rel)


def counters(kbs):
    c = kbs.state()["counters"]
    return c.get("auth", 0), c.get("attest", 0), c.get("resource", 0)


def log_text(tmp_path):
    p = tmp_path / "shim.log"
    return p.read_text(errors="replace") if p.exists() else ""


def key_lines(text):
    """The shim's key outcome lines ("unseal: key: <mount>: ..."), not debug chatter."""
    return [ln for ln in text.splitlines() if ln.startswith(f"unseal: key: {MOUNT}: ")]


def secret_forms():
    """Every spelling of the key material that must never leak."""
    mk = bytes.fromhex(master_hex())
    pw = password()
    return [pw, mk.hex().encode(), mk.hex().upper().encode(), mk, pw.hex().encode()]


def assert_no_secret(*blobs):
    for blob in blobs:
        if isinstance(blob, str):
            blob = blob.encode(errors="replace")
        for s in secret_forms():
            assert s not in blob, f"key material {s[:6]!r}... leaked"


def sha(data):
    return hashlib.sha256(data).hexdigest()


PY = SYS_PYTHON
