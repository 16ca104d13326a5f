"""Transient faults are retried with capped exponential backoff (100 ms doubling
to 2 s) until the total deadline, never past it.  The gaps are measured on the
test KBS's own clock (request arrival times in /_test/state)."""
import pytest

from kbsutil import (DEADLINE_SLACK, NETWORK, SECRET_SHA, harness, one_error_line, parse,
                     requests_to, resource_arg, timed_attest)

# The pauses after attempt 1, 2, ... : 0.1 0.2 0.4 0.8 1.6 then 2.0 for ever.
SCHEDULE = [0.1, 0.2, 0.4, 0.8, 1.6] + [2.0] * 20
# A pause is a sleep: never shorter than asked (minus timer granularity),
# and with the cap it is never much longer.
EARLY = 0.02
LATE = 1.0


@pytest.fixture(scope="module")
def kbs():
    with harness().kbs_server("p4", "--resource", resource_arg()) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(kbs):
    kbs.clear_faults()
    kbs.reset()
    yield


def gaps(kbs, endpoint):
    times = [r["mono"] for r in requests_to(kbs, endpoint)]
    return [b - a for a, b in zip(times, times[1:])]


def test_refused_retried_until_the_deadline(unseal_bin):
    """Nothing listens: the client keeps trying for the whole deadline (not a
    fixed number of attempts) and stops by itself at it."""
    res, secs = timed_attest(unseal_bin, "http://127.0.0.1:9", timeout=10)
    assert res.returncode == NETWORK
    line = one_error_line(res, "auth")
    assert "deadline" in line and "Couldn't connect" in line, line
    assert 10 - 2.1 <= secs <= 10 + DEADLINE_SLACK, secs  # the last pause may be cut short
    attempts = int(line.split(" after ")[1].split()[0])
    assert attempts >= 9, line  # 0 .1 .3 .7 1.5 3.1 5.1 7.1 9.1 (+ one near 10)


def test_backoff_gaps_and_deadline(unseal_bin, kbs):
    """503 for ever: the gaps between /auth attempts follow the schedule, the
    client uses the whole deadline, and ends within it."""
    kbs.faults({"endpoint": "auth", "action": "status", "code": 503, "times": -1,
                "body": "<html>503 Service Temporarily Unavailable</html>",
                "content_type": "text/html"})
    res, secs = timed_attest(unseal_bin, kbs.url, timeout=11)
    assert res.returncode == NETWORK
    line = one_error_line(res, "auth")
    assert "deadline" in line and "HTTP 503" in line, line
    assert 11 - 2.1 <= secs <= 11 + DEADLINE_SLACK, secs
    got = gaps(kbs, "auth")
    assert len(got) >= 9, got
    for i, gap in enumerate(got[:-1]):  # the last pause is cut to the deadline
        assert SCHEDULE[i] - EARLY <= gap <= SCHEDULE[i] + LATE, (i, got)
    assert got[-1] <= SCHEDULE[len(got) - 1] + LATE, got


def test_backoff_restarts_per_request(unseal_bin, kbs):
    """Each request has its own backoff: a flaky /attest after a flaky /auth
    starts again at 100 ms, and the fetch succeeds."""
    kbs.faults([{"endpoint": "auth", "action": "status", "code": 502, "times": 3},
                {"endpoint": "attest", "action": "status", "code": 500, "times": 2}])
    res, secs = timed_attest(unseal_bin, kbs.url, timeout=30)
    assert parse(res)["sha256"] == SECRET_SHA
    for endpoint, n in (("auth", 3), ("attest", 2)):
        got = gaps(kbs, endpoint)
        assert len(got) == n, (endpoint, got)
        for i, gap in enumerate(got):
            assert SCHEDULE[i] - EARLY <= gap <= SCHEDULE[i] + LATE, (endpoint, got)


@pytest.mark.parametrize("rule", [
    {"endpoint": "auth", "action": "drop", "times": -1},
    {"endpoint": "attest", "action": "reset", "times": -1},
    {"endpoint": "resource", "action": "status", "code": 504, "times": -1},
    {"endpoint": "resource", "action": "hang", "ms": 60000, "times": -1},
], ids=lambda r: f"{r['endpoint']}-{r['action']}")
def test_transient_forever_uses_the_whole_deadline(unseal_bin, kbs, rule):
    kbs.faults(rule)
    res, secs = timed_attest(unseal_bin, kbs.url, timeout=6)
    assert res.returncode == NETWORK
    assert "deadline" in one_error_line(res, rule["endpoint"])
    assert 6 - 2.1 <= secs <= 6 + DEADLINE_SLACK, secs
