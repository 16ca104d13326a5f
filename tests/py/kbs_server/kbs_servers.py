"""Test KBS instances shared by the kbs_server tests: one set per module, clean per test."""
import contextlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "kbs"))

from harness import kbs_server  # noqa: E402

# Problem-details "type" prefix the real KBS uses for every error.
ERR = "https://github.com/confidential-containers/kbs/errors/"


@contextlib.contextmanager
def running(profiles, *args):
    """One server per personality, all with the same args; stopped in reverse order."""
    with contextlib.ExitStack() as stack:
        yield {p: stack.enter_context(kbs_server(p, *args)) for p in profiles}


def fresh(servers):
    """Forget the previous test's fault rules and sessions."""
    for kbs in servers.values():
        kbs.clear_faults()
        kbs.reset()
    return servers
