"""Brute-force and credential-stuffing limits, kept in the cache (Redis in production, where
the counters are shared and atomic; local memory in the embedded default, per process).

Per identifier (known or not, so both answer alike): each attempt is counted as a failure
*before* the password is checked (an atomic increment) and forgiven on success, so parallel
attempts cannot all slip in under a limit. After LOGIN_DELAY_AFTER consecutive failures,
one attempt per window may proceed (1 s, 2 s, 4 s … LOGIN_DELAY_MAX); the window is claimed
with an atomic add. At LOGIN_HARD_LOCK_AFTER failures the account is locked until unlocked
or reset. Per client IP: failures across accounts (password spraying) and plain requests."""
from __future__ import annotations

import hashlib
import math
import time

from django.core.cache import cache

from custos.exceptions import RateLimited

from ..conf import conf


def _h(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, ttl)
        return cache.incr(key)


def _decr(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:
        pass


def _refuse(until: float, message: str = "Too many attempts; retry later.") -> RateLimited:
    wait = max(1, math.ceil(until - time.time()))
    return RateLimited(message, headers={"Retry-After": str(wait)})


def delay_for(failures: int, delay_after: int) -> int:
    """Seconds refused after the given number of consecutive failures: 1, 2, 4 … capped."""
    return min(2 ** max(0, failures - delay_after), conf("LOGIN_DELAY_MAX"))


class Guard:
    """One guarded attempt at a secret (a password, a second factor) for one subject."""

    FAIL_TTL = 24 * 3600

    def __init__(self, scope: str, subject: str, ip: str | None, *, delay_after: int | None = None) -> None:
        self.fail_key = f"bf:{scope}:{_h(subject)}"
        self.slot_key = f"{self.fail_key}:slot"
        self.ip = ip
        self.delay_after = conf("LOGIN_DELAY_AFTER") if delay_after is None else delay_after
        self.count = 0
        self._ip_counted = False

    # ---- before checking the secret ------------------------------------------------------
    def begin(self) -> None:
        if self.ip:
            window = conf("IP_REQUESTS_WINDOW")
            req_key = f"bf:ipreq:{_h(self.ip)}:{int(time.time() // window)}"
            if _incr(req_key, window + 5) > conf("IP_REQUESTS_LIMIT"):
                raise _refuse((int(time.time() // window) + 1) * window)
            if (cache.get(self._ip_fail_key()) or 0) >= conf("IP_FAILURES_LIMIT"):
                raise _refuse(time.time() + conf("IP_FAILURES_WINDOW"))
        self.count = _incr(self.fail_key, self.FAIL_TTL)
        prior = self.count - 1
        if prior >= self.delay_after:
            # The window after the last failure holds the slot; once it lapses, exactly one
            # attempt may claim it (atomic add) and go on; parallel ones are refused.
            until = time.time() + delay_for(self.count, self.delay_after)
            if not cache.add(self.slot_key, until, max(1, math.ceil(until - time.time()))):
                _decr(self.fail_key)  # a refused attempt is not a failure
                raise _refuse(cache.get(self.slot_key) or until)

    def _ip_fail_key(self) -> str:
        window = conf("IP_FAILURES_WINDOW")
        return f"bf:ipfail:{_h(self.ip or '')}:{int(time.time() // window)}"

    # ---- after ---------------------------------------------------------------------------
    def failed(self) -> int:
        """Returns the consecutive failure count (this one included)."""
        if self.ip:
            _incr(self._ip_fail_key(), conf("IP_FAILURES_WINDOW") + 5)
        if self.count >= self.delay_after:
            delay = delay_for(self.count, self.delay_after)
            cache.set(self.slot_key, time.time() + delay, delay)
        return self.count

    def succeeded(self) -> None:
        cache.delete_many([self.fail_key, self.slot_key])

    def not_a_guess(self) -> None:
        """The attempt ended before the secret was judged (bad input): forget it."""
        _decr(self.fail_key)


def reset_for(scope: str, subject: str) -> None:
    key = f"bf:{scope}:{_h(subject)}"
    cache.delete_many([key, f"{key}:slot"])


def counted_limit(name: str, limit: int, window: int) -> None:
    """At most `limit` events per fixed window for this name (sends per destination, per IP)."""
    slot = int(time.time() // window)
    if _incr(f"rl:{_h(name)}:{slot}", window + 5) > limit:
        raise _refuse((slot + 1) * window)
