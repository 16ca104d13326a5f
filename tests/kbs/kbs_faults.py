"""Fault rules of the test KBS (installed with POST /_test/faults, see kbs_server docstring)."""
import random
import threading

from kbs_jwe import CORRUPTIONS

ENDPOINTS = ("auth", "attest", "resource", "any")
# Actions taken before the normal handler runs (the handler never sees the request).
PRE_ACTIONS = ("status", "delay", "drop", "reset", "hang", "huge_body", "non_json",
               "version_mismatch")
# Actions that alter the normal handler's work or its reply.
POST_ACTIONS = ("slow_body", "truncate_json", "wrong_nonce", "expire_session", "drop_session",
                "no_set_cookie", "extra_cookie", "jwe", "token_missing", "token_not_string",
                "token_expired", "cookie_name", "past_expires", "extra_params", "nonce",
                "no_bearer")
ACTIONS = PRE_ACTIONS + POST_ACTIONS
HANG_MAX_MS = 120000


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule must be a JSON object")
        self.spec = dict(spec)
        self.endpoint = spec.get("endpoint", "any")
        self.action = spec.get("action")
        self.nth = spec.get("nth", 1)
        self.times = spec.get("times", 1)
        self.probability = spec.get("probability", 1.0)
        self.rng = random.Random(spec.get("seed", 0))
        self.seen = 0
        self.fired = 0
        self._validate()

    def _validate(self):
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"bad endpoint {self.endpoint!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"bad action {self.action!r}")
        if not isinstance(self.nth, int) or self.nth < 1:
            raise ValueError("nth must be an integer >= 1")
        if not isinstance(self.times, int) or (self.times < 1 and self.times != -1):
            raise ValueError("times must be >= 1 or -1")
        if self.action == "status" and not isinstance(self.spec.get("code"), int):
            raise ValueError("status needs an integer code")
        if self.action == "jwe" and self.spec.get("corrupt") not in CORRUPTIONS:
            raise ValueError(f"jwe corrupt must be one of {', '.join(CORRUPTIONS)}")

    def get(self, key, default=None):
        return self.spec.get(key, default)

    def consider(self):
        """Count one matching call; True if the rule fires on it."""
        self.seen += 1
        if self.seen < self.nth or (self.times != -1 and self.fired >= self.times):
            return False
        if self.probability < 1.0 and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def public(self):
        return dict(self.spec, seen=self.seen, fired=self.fired)


class Faults:
    def __init__(self):
        self._rules = []
        self._lock = threading.Lock()

    def install(self, specs):
        if isinstance(specs, dict):
            specs = [specs]
        if not isinstance(specs, list):
            raise ValueError("expected a list of rules")
        rules = [Rule(s) for s in specs]  # validate all before installing any
        with self._lock:
            self._rules.extend(rules)
        return len(rules)

    def clear(self):
        with self._lock:
            self._rules.clear()

    def take(self, endpoint):
        """The rules firing on this call of `endpoint` (each matching rule counts the call)."""
        fired = []
        with self._lock:
            for rule in self._rules:
                if rule.endpoint in (endpoint, "any") and rule.consider():
                    fired.append(rule)
        return Active(fired)

    def public(self):
        with self._lock:
            return [r.public() for r in self._rules]


class Active:
    """The rules firing for one request, looked up by action."""

    def __init__(self, rules):
        self.rules = rules

    def get(self, action):
        for rule in self.rules:
            if rule.action == action:
                return rule
        return None

    def pre(self):
        for rule in self.rules:
            if rule.action in PRE_ACTIONS and rule.action != "delay":
                return rule
        return None

    def names(self):
        return [r.action for r in self.rules]
