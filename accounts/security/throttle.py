"""Brute-force and credential-stuffing limits, kept in the cache (Redis in production, where
the counters are shared and atomic; local memory in the embedded default, per process).

Per identifier (known or not, so both answer alike): each attempt is counted as a failure
*before* the password is checked (an atomic increment) and forgiven on success, so parallel
attempts cannot all slip in under a limit. After LOGIN_DELAY_AFTER consecutive failures,
one attempt per window may proceed (1 s, 2 s, 4 s … LOGIN_DELAY_MAX); the window is claimed
with an atomic add. At LOGIN_HARD_LOCK_AFTER failures the account is locked until unlocked
or reset. Per client IP: failures across accounts (password spraying) and plain requests."""
from __future__ import annotations

import math
import time

from django.core.cache import cache

from custos import cachebatch
from custos.crypto import sha256_hex
from custos.exceptions import RateLimited

from ..conf import conf


def _h(value: str) -> str:
    return sha256_hex(value)[:32]  # a cache key, not a stored secret: half the digest is plenty


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, ttl)
        return cache.incr(key)


# The same steps as the cache-API path of Guard.begin, atomically: the per-IP request count
# (refuse above its limit), the per-IP failure count (refuse at its limit), then the
# identifier's failure count, counted before the password is checked. Keys are created with
# their TTL as cache.add(key, 0, ttl) would; django-redis stores integers as plain numbers.
_BEGIN_LUA = """
if KEYS[1] ~= '' then
  local req = redis.call('INCR', KEYS[1])
  if req == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
  if req > tonumber(ARGV[2]) then return {1, req} end
  local fails = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  if fails >= tonumber(ARGV[3]) then return {2, fails} end
end
local n = redis.call('INCR', KEYS[3])
if n == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
return {0, n}
"""
_begin = None  # redis-py Script: EVALSHA, loading the script again if the server lost it


def _redis():
    """The raw Redis client behind the cache, or None for a cache without one (local memory)."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    return get_client(write=True) if get_client is not None else None


def _begin_script(client, req_key: str, window: int, ip_fail_key: str, fail_key: str,
                  fail_ttl: int) -> tuple[int, int]:
    global _begin
    if _begin is None:
        _begin = client.register_script(_BEGIN_LUA)
    keys = [cache.make_key(req_key) if req_key else "", cache.make_key(ip_fail_key) if ip_fail_key else "",
            cache.make_key(fail_key)]
    refused, value = _begin(keys=keys, args=[window + 5, conf().ip_requests_limit, conf().ip_failures_limit,
                                             fail_ttl], client=client)
    return int(refused), int(value)


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
    return min(2 ** max(0, failures - delay_after), conf().login_delay_max)


class Guard:
    """One guarded attempt at a secret (a password, a second factor) for one subject."""

    FAIL_TTL = 24 * 3600

    def __init__(self, scope: str, subject: str, ip: str | None, *, delay_after: int | None = None) -> None:
        self.fail_key = f"bf:{scope}:{_h(subject)}"
        self.slot_key = f"{self.fail_key}:slot"
        self.ip = ip
        self.delay_after = conf().login_delay_after if delay_after is None else delay_after
        self.count = 0
        self._ip_counted = False

    # ---- before checking the secret ------------------------------------------------------
    def begin(self) -> None:
        window = conf().ip_requests_window
        req_key = f"bf:ipreq:{_h(self.ip)}:{int(time.time() // window)}" if self.ip else ""
        client = _redis()
        if client is not None:
            # Redis: the counting below in one round trip (it runs on every sign-in attempt)
            refused, value = _begin_script(client, req_key, window, self._ip_fail_key() if self.ip else "",
                                           self.fail_key, self.FAIL_TTL)
            if refused == 1:
                raise _refuse((int(time.time() // window) + 1) * window)
            if refused == 2:
                raise _refuse(time.time() + conf().ip_failures_window)
            self.count = value
        else:
            if self.ip:
                if _incr(req_key, window + 5) > conf().ip_requests_limit:
                    raise _refuse((int(time.time() // window) + 1) * window)
                if (cache.get(self._ip_fail_key()) or 0) >= conf().ip_failures_limit:
                    raise _refuse(time.time() + conf().ip_failures_window)
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
        window = conf().ip_failures_window
        return f"bf:ipfail:{_h(self.ip or '')}:{int(time.time() // window)}"

    # ---- after ---------------------------------------------------------------------------
    def failed(self) -> int:
        """Returns the consecutive failure count (this one included)."""
        if self.ip:
            _incr(self._ip_fail_key(), conf().ip_failures_window + 5)
        if self.count >= self.delay_after:
            delay = delay_for(self.count, self.delay_after)
            cache.set(self.slot_key, time.time() + delay, delay)
        return self.count

    def succeeded(self) -> None:
        cachebatch.delete(self.fail_key, self.slot_key)

    def not_a_guess(self) -> None:
        """The attempt ended before the secret was judged (bad input): forget it."""
        _decr(self.fail_key)


def login_subject(*, user_id: int | None, identifier_key: str) -> str:
    """The sign-in counter's subject: the account's own when the identifier names one, so its
    username, email and phone (and re-authentication, and a password change) all spend one
    allowance; the identifier as typed otherwise, counted exactly alike."""
    return f"user:{user_id}" if user_id is not None else identifier_key


def account_guard(user_id: int, ip: str | None) -> Guard:
    """The sign-in's per-account counter, for the other doors that take the password."""
    return Guard("login", login_subject(user_id=user_id, identifier_key=""), ip)


def reset_for(scope: str, subject: str) -> None:
    key = f"bf:{scope}:{_h(subject)}"
    cache.delete_many([key, f"{key}:slot"])


def counted_limit(name: str, limit: int, window: int) -> None:
    """At most `limit` events per fixed window for this name (sends per destination, per IP)."""
    slot = int(time.time() // window)
    if _incr(f"rl:{_h(name)}:{slot}", window + 5) > limit:
        raise _refuse((slot + 1) * window)
