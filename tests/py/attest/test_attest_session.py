"""Session loss after /attest: the Bearer token is sent and, where the server
trusts it, is enough on its own; where the server refuses Bearer (no token
trust config, spec §4.1/§8) the client re-attests exactly once, and a second
401 is a failure, not a loop."""
import base64
import json

import pytest

from kbsutil import (REFUSED, SECRET_SHA, attest, counters, harness, one_error_line, parse,
                     requests_to, resource_arg)

NO_BEARER = {"endpoint": "resource", "action": "no_bearer", "times": -1}


@pytest.fixture(scope="module", params=["p0", "p4"])
def kbs(request):
    with harness().kbs_server(request.param, "--resource", resource_arg()) as server:
        server.profile = request.param
        yield server


@pytest.fixture(autouse=True)
def clean(kbs):
    kbs.clear_faults()
    kbs.reset()
    yield


def pin(kbs):
    return ["--protocol", "0.1.0" if kbs.profile == "p0" else "0.4.0"]


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_bearer_header_sent(unseal_bin, kbs):
    """The token /attest returned goes out as Authorization: Bearer on the GET
    (it is this session's token: its runtime data carries the session nonce)."""
    parse(attest(unseal_bin, kbs.url, *pin(kbs)))
    (get,) = requests_to(kbs, "resource")
    auth = {k.lower(): v for k, v in get["headers"].items()}.get("authorization", "")
    assert auth.startswith("Bearer "), get["headers"]
    (sess,) = kbs.state()["sessions"]
    assert claims(auth[len("Bearer "):])["customized_claims"]["runtime_data"]["nonce"] == \
        sess["nonce"]


@pytest.mark.parametrize("action", ["expire_session", "drop_session"])
def test_bearer_alone_is_enough(unseal_bin, kbs, action):
    """Cookie session gone after /attest (expired / other replica): a server
    that trusts its tokens serves the GET on the Bearer token, no new handshake."""
    kbs.faults({"endpoint": "attest", "action": action})
    out = parse(attest(unseal_bin, kbs.url, *pin(kbs)))
    assert out["sha256"] == SECRET_SHA
    assert counters(kbs) == (1, 1, 1)
    assert [r["status"] for r in requests_to(kbs, "resource")] == [200]


def test_without_token_the_lost_session_reattests(unseal_bin, kbs):
    """Control for the test above: no token from /attest, no Bearer, so the
    same session loss costs one re-attestation."""
    kbs.faults([{"endpoint": "attest", "action": "drop_session"},
                {"endpoint": "attest", "action": "token_missing", "times": -1}])
    assert parse(attest(unseal_bin, kbs.url, *pin(kbs)))["sha256"] == SECRET_SHA
    assert counters(kbs) == (2, 2, 2)


@pytest.mark.parametrize("action", ["expire_session", "drop_session"])
def test_bearer_refused_reattests_once(unseal_bin, kbs, action):
    kbs.faults([{"endpoint": "attest", "action": action}, NO_BEARER])
    out = parse(attest(unseal_bin, kbs.url, *pin(kbs)))
    assert out["sha256"] == SECRET_SHA
    assert counters(kbs) == (2, 2, 2)
    assert (out["auth_calls"], out["attest_calls"]) == (2, 2)
    assert [r["status"] for r in requests_to(kbs, "resource")] == [401, 200]


def test_bearer_refused_session_expires_on_resource(unseal_bin, kbs):
    """Virtual clock: the session expires between /attest and the GET."""
    kbs.faults([{"endpoint": "resource", "action": "expire_session"}, NO_BEARER])
    out = parse(attest(unseal_bin, kbs.url, *pin(kbs)))
    assert out["sha256"] == SECRET_SHA
    assert counters(kbs) == (2, 2, 2)


def test_second_401_is_a_failure(unseal_bin, kbs):
    """The re-attested session is lost too: exit 5 after exactly one
    re-attestation, never a loop."""
    kbs.faults([{"endpoint": "resource", "action": "expire_session", "times": -1}, NO_BEARER])
    res = attest(unseal_bin, kbs.url, *pin(kbs), timeout=30)
    assert res.returncode == REFUSED
    line = one_error_line(res, "resource")
    assert "HTTP 401" in line, line
    assert counters(kbs) == (2, 2, 2)
