"""`unseal attest` over https: --cacert / UNSEAL_KBS_CAFILE, verification on."""
import shutil

import pytest

from testlib import run
from kbsutil import NETWORK, SECRET_SHA, attest, harness, one_error_line, parse, resource_arg


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("SKIP: openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    res = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
               "-keyout", str(key), "-out", str(cert)])
    assert res.returncode == 0, res.stderr
    return str(cert), str(key)


def test_https_with_cacert(unseal_bin, tls_files):
    cert, key = tls_files
    h = harness()
    with h.kbs_server("p4", "--tls-cert", cert, "--tls-key", key, "--resource",
                      resource_arg()) as kbs:
        assert kbs.url.startswith("https://")
        out = parse(attest(unseal_bin, kbs.url, "--cacert", cert))
        assert out["sha256"] == SECRET_SHA
        out = parse(attest(unseal_bin, kbs.url, env={"UNSEAL_KBS_CAFILE": cert}))
        assert out["sha256"] == SECRET_SHA
        # Without the CA the self-signed server must be refused, at once.
        res = attest(unseal_bin, kbs.url, timeout=30)
        assert res.returncode == NETWORK
        one_error_line(res, "auth")
        assert kbs.state()["counters"].get("auth", 0) == 2
