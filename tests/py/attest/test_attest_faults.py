"""`unseal attest` under injected faults: documented exit codes, one error line
naming the step, bounded retries and re-attestation."""
import pytest

from kbsutil import (DEADLINE_SLACK, DECRYPT, MISSING, NETWORK, OK, PROTOCOL, REFUSED, SECRET,
                     SECRET_SHA, attest, counters, harness, one_error_line, parse, resource_arg,
                     timed_attest)

CORRUPTIONS = ["flip_ct", "flip_tag", "tag_len", "iv16", "enc_a128", "alg_unknown",
               "alg_mismatch", "legacy_in_rfc", "rfc_in_legacy", "protected_padded",
               "protected_altered", "wrong_key", "cek16", "missing_member", "extra_aad"]


@pytest.fixture(scope="module", params=["p0", "p4"])
def kbs(request):
    h = harness()
    with h.kbs_server(request.param, "--resource", resource_arg()) as server:
        server.profile = request.param
        yield server


@pytest.fixture(autouse=True)
def clean(request):
    if "kbs" in request.fixturenames:
        server = request.getfixturevalue("kbs")
        server.clear_faults()
        server.reset()
    yield


def proto(kbs):
    return "0.1.0" if kbs.profile == "p0" else "0.4.0"


# Transient faults: the client retries (backoff) and succeeds.
TRANSIENT = [
    {"endpoint": "auth", "action": "status", "code": 500, "body": {"detail": "boom"}},
    {"endpoint": "auth", "action": "drop"},
    {"endpoint": "auth", "action": "reset"},
    {"endpoint": "attest", "action": "status", "code": 503, "body": "<html>503</html>",
     "content_type": "text/html"},
    {"endpoint": "attest", "action": "reset"},
    {"endpoint": "resource", "action": "status", "code": 502},
    {"endpoint": "resource", "action": "drop"},
    {"endpoint": "resource", "action": "truncate_json", "short_read": True},
    {"endpoint": "any", "action": "delay", "ms": 300},
    {"endpoint": "resource", "action": "slow_body", "bytes": 64, "interval_ms": 5},
    {"endpoint": "auth", "action": "status", "code": 500, "times": 3},
]


@pytest.mark.parametrize("rule", TRANSIENT, ids=lambda r: f"{r['endpoint']}-{r['action']}")
def test_transient_recovers(unseal_bin, kbs, rule):
    kbs.faults(rule)
    out = parse(attest(unseal_bin, kbs.url, "--protocol", proto(kbs), timeout=30))
    assert out["sha256"] == SECRET_SHA
    auth, att, _ = counters(kbs)
    # Retries repeat the failed request only, never the whole handshake.
    if rule["endpoint"] != "auth":
        assert auth == 1
    if rule["endpoint"] not in ("attest", "any"):
        assert att == 1


@pytest.mark.parametrize("rule,step", [
    ({"endpoint": "auth", "action": "status", "code": 500, "times": -1}, "auth"),
    ({"endpoint": "attest", "action": "drop", "times": -1}, "attest"),
    ({"endpoint": "resource", "action": "hang", "ms": 60000, "times": -1}, "resource"),
    ({"endpoint": "auth", "action": "hang", "ms": 60000}, "auth"),
], ids=["auth-500-forever", "attest-drop-forever", "resource-hang", "auth-hang"])
def test_network_failures_hit_deadline(unseal_bin, kbs, rule, step):
    kbs.faults(rule)
    res, secs = timed_attest(unseal_bin, kbs.url, "--protocol", proto(kbs), timeout=5)
    assert res.returncode == NETWORK
    line = one_error_line(res, step)
    assert "deadline" in line
    assert secs <= 5 + DEADLINE_SLACK, secs  # the deadline holds whatever the fault


def test_connection_refused(unseal_bin):
    res, secs = timed_attest(unseal_bin, "http://127.0.0.1:9", timeout=2)
    assert res.returncode == NETWORK
    assert "deadline" in one_error_line(res, "auth")
    assert secs <= 2 + DEADLINE_SLACK, secs


def test_version_mismatch_forever_stops(unseal_bin, kbs):
    kbs.faults({"endpoint": "auth", "action": "version_mismatch", "times": -1})
    res = attest(unseal_bin, kbs.url, timeout=20)
    assert res.returncode == PROTOCOL
    assert "Protocol Version Mismatch" in one_error_line(res, "auth")
    assert 1 <= counters(kbs)[0] <= 4


def test_version_mismatch_names_other_version(unseal_bin, kbs):
    """A mismatch naming 0.2.0: the client jumps there; each version at most once."""
    kbs.faults({"endpoint": "auth", "action": "version_mismatch", "expect": "=0.2.0"})
    res = attest(unseal_bin, kbs.url, timeout=20)
    versions = kbs.state()["negotiated"]["requested_versions"]
    assert versions[:2] == ["0.4.0", "0.2.0"]
    assert len(versions) == len(set(versions)) <= 4
    if kbs.profile == "p0":  # 0.2.0 -> "<=0.1.0" -> 0.1.0 works
        assert parse(res)["protocol"] == "0.1.0"
        assert versions == ["0.4.0", "0.2.0", "0.1.0"]
    else:  # 0.4.0 was already spent on the lie: stop, never retry a version
        assert res.returncode == PROTOCOL
        one_error_line(res, "auth")
        assert versions == ["0.4.0", "0.2.0"]  # and no walk through the rest


def test_resource_401_once_reattests(unseal_bin, kbs):
    kbs.faults({"endpoint": "resource", "action": "status", "code": 401,
                "body": {"type": "https://github.com/confidential-containers/kbs/errors/"
                                 "TokenNotFound", "detail": "session expired"}})
    out = parse(attest(unseal_bin, kbs.url, "--protocol", proto(kbs)))
    assert out["sha256"] == SECRET_SHA
    assert counters(kbs) == (2, 2, 2)


def test_resource_401_forever_one_reattest(unseal_bin, kbs):
    kbs.faults({"endpoint": "resource", "action": "status", "code": 401, "times": -1,
                "body": {"detail": "nope"}})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == REFUSED
    assert "nope" in one_error_line(res, "resource")
    assert counters(kbs) == (2, 2, 2)


@pytest.mark.parametrize("action", ["expire_session", "drop_session"])
def test_session_lost_before_resource(unseal_bin, kbs, action):
    kbs.faults({"endpoint": "attest", "action": action})
    out = parse(attest(unseal_bin, kbs.url, "--protocol", proto(kbs)))
    assert out["sha256"] == SECRET_SHA
    assert counters(kbs)[1] <= 2


def test_expired_session_after_clock_jump(unseal_bin, kbs):
    kbs.faults({"endpoint": "resource", "action": "expire_session"})
    out = parse(attest(unseal_bin, kbs.url, "--protocol", proto(kbs)))
    assert out["sha256"] == SECRET_SHA


@pytest.mark.parametrize("corrupt", ["legacy_in_rfc", "rfc_in_legacy"])
def test_other_jwe_layout_detected(unseal_bin, kbs, corrupt):
    """Spec 4.4: the layout is detected from the body, not assumed from the version."""
    kbs.faults({"endpoint": "resource", "action": "jwe", "corrupt": corrupt})
    out = parse(attest(unseal_bin, kbs.url, "--protocol", proto(kbs)))
    assert out["sha256"] == SECRET_SHA


@pytest.mark.parametrize("corrupt", ["protected_padded", "protected_altered"])
def test_protected_header_tampering(unseal_bin, kbs, corrupt):
    kbs.faults({"endpoint": "resource", "action": "jwe", "corrupt": corrupt})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    if kbs.profile == "p0":
        # Legacy JWE: the raw-JSON header is not authenticated (empty AAD),
        # so a re-serialised header still decrypts, as with the real client.
        assert parse(res)["sha256"] == SECRET_SHA
    else:
        assert res.returncode == DECRYPT
        one_error_line(res, "decrypt")


@pytest.mark.parametrize("corrupt", [c for c in CORRUPTIONS if c not in (
    "legacy_in_rfc", "rfc_in_legacy", "protected_padded", "protected_altered")])
def test_corrupt_jwe(unseal_bin, kbs, corrupt):
    rule = {"endpoint": "resource", "action": "jwe", "corrupt": corrupt, "times": -1}
    if corrupt == "missing_member":
        rule["member"] = "tag"
    kbs.faults(rule)
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    if corrupt == "missing_member":  # a malformed answer, not a crypto failure
        assert res.returncode == PROTOCOL, res.stderr
        one_error_line(res, "resource")
    else:
        assert res.returncode == DECRYPT, res.stderr
        one_error_line(res, "decrypt")
    assert SECRET.decode().strip() not in res.stderr


def test_missing_resource(unseal_bin, kbs):
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs),
                 uri="kbs:///default/aliyun/no-such-key")
    assert res.returncode == MISSING
    one_error_line(res, "resource")
    assert counters(kbs)[1] == 1  # no pointless re-attestation


@pytest.mark.parametrize("endpoint", ["auth", "attest", "resource"])
def test_non_json_200(unseal_bin, kbs, endpoint):
    kbs.faults({"endpoint": endpoint, "action": "non_json", "times": -1})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == PROTOCOL
    one_error_line(res, endpoint)


@pytest.mark.parametrize("endpoint", ["auth", "resource"])
def test_huge_body(unseal_bin, kbs, endpoint):
    kbs.faults({"endpoint": endpoint, "action": "huge_body", "mib": 4, "times": -1})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == PROTOCOL
    assert "too large" in one_error_line(res, endpoint)


def test_truncated_json(unseal_bin, kbs):
    kbs.faults({"endpoint": "auth", "action": "truncate_json", "times": -1})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == PROTOCOL
    one_error_line(res, "auth")


def test_attest_refused(unseal_bin, kbs):
    kbs.faults({"endpoint": "attest", "action": "status", "code": 401,
                "body": {"detail": "Attestation error: policy"}})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == REFUSED
    assert "policy" in one_error_line(res, "attest")


def test_wrong_nonce_refused(unseal_bin, kbs):
    """P4 checks runtime-data.nonce (reason hidden); P0 fails the binding and says so."""
    kbs.faults({"endpoint": "auth", "action": "wrong_nonce"})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == REFUSED
    line = one_error_line(res, "attest")
    if kbs.profile == "p4":
        assert "HTTP 401: Attestation error: RCAR handshake Attest failed" in line, line
    else:
        assert "HTTP 401: Attestation failed: sample report_data does not match runtime " \
               "data digest" in line, line


def test_no_set_cookie(unseal_bin, kbs):
    kbs.faults({"endpoint": "auth", "action": "no_set_cookie"})
    res = attest(unseal_bin, kbs.url, "--protocol", proto(kbs))
    assert res.returncode == REFUSED
    one_error_line(res, "attest")


@pytest.mark.parametrize("rule", [
    {"endpoint": "auth", "action": "extra_cookie"},
    {"endpoint": "auth", "action": "past_expires"},
    {"endpoint": "attest", "action": "token_missing"},
    {"endpoint": "attest", "action": "token_not_string"},
    {"endpoint": "auth", "action": "extra_params", "value": {"selected-hash-algorithm":
                                                             "sha256"}},
    {"endpoint": "auth", "action": "extra_params", "value": {}},
    {"endpoint": "auth", "action": "extra_params", "value": None},
], ids=lambda r: f"{r['endpoint']}-{r['action']}-{r.get('value', '')}")
def test_tolerated_variants(unseal_bin, kbs, rule):
    kbs.faults(rule)
    out = parse(attest(unseal_bin, kbs.url, "--protocol", proto(kbs)))
    assert out["sha256"] == SECRET_SHA
    assert counters(kbs)[1] == 1


def test_hang_once_recovers_with_long_deadline(unseal_bin):
    """A deadline over 20 s lets one hung request use only half of it, so the
    retry still fits (one ALB hiccup must not cost the whole deadline)."""
    h = harness()
    with h.kbs_server("p4", "--resource", resource_arg()) as kbs:
        kbs.faults({"endpoint": "resource", "action": "hang", "ms": 60000})
        out = parse(attest(unseal_bin, kbs.url, timeout=24))
        assert out["sha256"] == SECRET_SHA
        assert counters(kbs)[:2] == (1, 1)  # the retry repeated only the GET
