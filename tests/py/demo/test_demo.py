"""`make demo` is quick-start command one: run its script end to end (sample
model, encrypt, verify, decrypt, test KBS, unmodified loader under the shim
with the key released by attestation) and require the identical result."""
import os
import subprocess

from testlib import BUILD, REPO


def test_make_demo_end_to_end():
    env = dict(os.environ, B=BUILD)
    r = subprocess.run(["bash", os.path.join(REPO, "tests", "tools", "demo.sh")], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "decrypted tree == plaintext tree" in out
    assert "handshake: 1 auth, 1 attest" in out
    assert "OK: identical output from the encrypted model through the shim" in out
