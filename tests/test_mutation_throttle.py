"""The brute-force counters (accounts/security/throttle.py) at their edges, on the local-memory
cache and, when a Redis answers on 127.0.0.1:6379, on Redis (its one-round-trip script): what
the mutation run (scripts/mutation.py) found untested."""
from __future__ import annotations

import socket
import uuid

import pytest
from django.core.cache import cache

from accounts.security import throttle
from custos.exceptions import RateLimited


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.skipif(
    not _redis_up(), reason="no Redis on 127.0.0.1:6379"))])
def backend(request, settings):
    if request.param == "redis":
        prefix = f"mutation-{uuid.uuid4().hex}"
        settings.CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
                                       "LOCATION": "redis://127.0.0.1:6379/13", "KEY_PREFIX": prefix,
                                       "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}}}
        assert throttle._redis() is not None
        yield "redis"
        cache.delete_pattern("*")  # this test's prefix only
    else:
        # the services pass runs on Redis: this half of the pair always asks for local memory
        settings.CACHES = _LOCMEM
        assert throttle._redis() is None
        yield "locmem"


_LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "mutation-throttle"}}


def _limits(settings, **values) -> None:
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, **{k.upper(): v for k, v in values.items()}}


def _count(guard: throttle.Guard) -> int:
    return int(cache.get(guard.fail_key) or 0)


def _retry_after(exc: pytest.ExceptionInfo) -> int:
    return int(exc.value.headers["Retry-After"])


def test_delay_for_doubles_from_the_threshold_up_to_the_cap(settings):
    _limits(settings, login_delay_max=900)
    assert [throttle.delay_for(n, 5) for n in (1, 5, 6, 7, 8)] == [1, 1, 2, 4, 8]
    assert throttle.delay_for(100, 5) == 900
    assert throttle.delay_for(15, 5) == 900 and throttle.delay_for(14, 5) == 512


def test_failures_past_the_threshold_hold_a_slot(backend):
    guard = lambda: throttle.Guard("t", "alice", None, delay_after=2)  # noqa: E731
    for expected in (1, 2):
        g = guard()
        g.begin()
        assert g.count == expected and g.failed() == expected
    g = guard()
    with pytest.raises(RateLimited) as refused:
        g.begin()  # the third attempt, within the second after the second failure
    assert 1 <= _retry_after(refused) <= 1
    assert _count(g) == 2  # a refused attempt is not a failure


def test_below_the_threshold_no_slot_is_held(backend):
    for expected in (1, 2):
        g = throttle.Guard("t", "bob", None, delay_after=3)
        g.begin()
        assert g.failed() == expected
        assert cache.get(g.slot_key) is None
    g = throttle.Guard("t", "bob", None, delay_after=3)
    g.begin()  # the third attempt proceeds
    g.failed()
    assert cache.get(g.slot_key) is not None  # and its failure holds the slot


def test_a_success_forgets_the_failures_and_the_slot(backend):
    for _ in range(2):
        g = throttle.Guard("t", "carol", None, delay_after=2)
        g.begin()
        g.failed()
    g.succeeded()
    assert cache.get(g.fail_key) is None and cache.get(g.slot_key) is None
    again = throttle.Guard("t", "carol", None, delay_after=2)
    again.begin()
    assert again.count == 1


def test_bad_input_is_not_a_guess(backend):
    g = throttle.Guard("t", "dave", None)
    g.begin()
    g.not_a_guess()
    assert _count(g) == 0
    assert g.delay_after == throttle.conf().login_delay_after


def test_the_per_ip_request_limit(backend, settings):
    _limits(settings, ip_requests_limit=3, ip_requests_window=60)
    for i in range(3):
        throttle.Guard("t", f"user{i}", "203.0.113.5").begin()
    with pytest.raises(RateLimited) as refused:
        throttle.Guard("t", "user9", "203.0.113.5").begin()
    assert 1 <= _retry_after(refused) <= 60
    throttle.Guard("t", "user9", "203.0.113.6").begin()  # another address has its own count
    throttle.Guard("t", "user9", None).begin()  # and no address, none


def test_the_per_ip_failure_limit(backend, settings):
    _limits(settings, ip_failures_limit=2, ip_failures_window=900, ip_requests_limit=100)
    for i in range(2):
        g = throttle.Guard("t", f"victim{i}", "198.51.100.7", delay_after=10)
        g.begin()
        g.failed()
    with pytest.raises(RateLimited) as refused:
        throttle.Guard("t", "victim9", "198.51.100.7").begin()  # at the limit: spraying stops
    assert 899 <= _retry_after(refused) <= 900
    throttle.Guard("t", "victim9", "198.51.100.8").begin()


def test_one_failure_below_the_ip_failure_limit_passes(backend, settings):
    _limits(settings, ip_failures_limit=2, ip_requests_limit=100)
    g = throttle.Guard("t", "erin", "198.51.100.9", delay_after=10)
    g.begin()
    g.failed()
    throttle.Guard("t", "frank", "198.51.100.9").begin()


def test_the_failure_counter_lives_a_day(backend):
    if backend != "redis":
        pytest.skip("the local-memory cache tells no TTL")
    g = throttle.Guard("t", "gina", None)
    g.begin()
    assert 86400 - 60 <= cache.ttl(g.fail_key) <= 86400


def test_reset_for_forgets_a_subject(backend):
    for _ in range(2):
        g = throttle.Guard("login", "user:5", None, delay_after=2)
        g.begin()
        g.failed()
    throttle.reset_for("login", "user:5")
    assert cache.get(g.fail_key) is None and cache.get(g.slot_key) is None


def test_counted_limit(backend):
    name = f"sends:{uuid.uuid4().hex}"
    throttle.counted_limit(name, 2, 3600)
    throttle.counted_limit(name, 2, 3600)
    with pytest.raises(RateLimited) as refused:
        throttle.counted_limit(name, 2, 3600)
    assert 1 <= _retry_after(refused) <= 3600
    throttle.counted_limit(name + "-other", 2, 3600)


def test_the_account_counter_is_the_sign_ins():
    assert throttle.login_subject(user_id=5, identifier_key="u:alice") == "user:5"
    assert throttle.login_subject(user_id=None, identifier_key="u:alice") == "u:alice"
    assert throttle.account_guard(5, "192.0.2.1").fail_key == throttle.Guard("login", "user:5", None).fail_key
    assert throttle.account_guard(5, "192.0.2.1").ip == "192.0.2.1"
    assert throttle.Guard("a", "x", None).fail_key != throttle.Guard("b", "x", None).fail_key


def test_refuse_rounds_the_wait_up_and_never_below_a_second():
    import time

    assert throttle._refuse(time.time() - 50).headers["Retry-After"] == "1"
    assert throttle._refuse(time.time() + 10.2).headers["Retry-After"] in ("11", "10")
    assert throttle._refuse(time.time() + 10.2, "slow down").message == "slow down"


def test_a_counter_that_expires_between_its_add_and_its_increment_starts_again(monkeypatch):
    class ExpiresOnce:
        """The cache, except that the first increment finds its key just expired."""

        def __init__(self, real) -> None:
            self.real, self.expired = real, False

        def add(self, *args, **kwargs):
            return self.real.add(*args, **kwargs)

        def incr(self, key, *args):
            if not self.expired:
                self.expired = True
                self.real.delete(key)
                raise ValueError(f"Key '{key}' not found")
            return self.real.incr(key, *args)

    monkeypatch.setattr(throttle, "cache", ExpiresOnce(cache))
    assert throttle._incr("mutation:expiring", 60) == 1
    assert throttle._incr("mutation:expiring", 60) == 2


class _RecordingCache:
    """The cache, remembering the lifetime each key was given."""

    def __init__(self, real) -> None:
        self.real, self.ttl = real, {}

    def add(self, key, value, timeout=None):
        self.ttl.setdefault(key, timeout)
        return self.real.add(key, value, timeout)

    def set(self, key, value, timeout=None):
        self.ttl[key] = timeout
        return self.real.set(key, value, timeout)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_each_counter_outlives_its_window(monkeypatch, settings):
    """A per-window counter lives 5 s past its window (never resetting inside it), a failure
    count a day, a slot as long as its delay."""
    settings.CACHES = _LOCMEM  # the cache-API path, whatever the pass (Redis takes the script)
    _limits(settings, ip_requests_window=60, ip_failures_window=900, login_delay_max=900)
    recording = _RecordingCache(cache)
    monkeypatch.setattr(throttle, "cache", recording)
    g = throttle.Guard("t", "hank", "192.0.2.99", delay_after=1)
    g.begin()
    g.failed()
    req = next(k for k in recording.ttl if k.startswith("bf:ipreq:"))
    ipfail = next(k for k in recording.ttl if k.startswith("bf:ipfail:"))
    assert (recording.ttl[req], recording.ttl[ipfail], recording.ttl[g.fail_key]) == (65, 905, 86400)
    assert recording.ttl[g.slot_key] == 1
    throttle.counted_limit("sends:x", 5, 3600)
    assert next(v for k, v in recording.ttl.items() if k.startswith("rl:")) == 3605


def test_on_redis_the_counters_outlive_their_windows(settings):
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/13",
                                   "KEY_PREFIX": f"mutation-{uuid.uuid4().hex}",
                                   "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}}}
    _limits(settings, ip_requests_window=60)
    try:
        g = throttle.Guard("t", "ida", "192.0.2.98")
        g.begin()
        req = f"bf:ipreq:{throttle._h('192.0.2.98')}:{int(throttle.time.time() // 60)}"
        assert 60 < cache.ttl(req) <= 65
        assert 86400 - 60 <= cache.ttl(g.fail_key) <= 86400
    finally:
        cache.delete_pattern("*")


@pytest.fixture
def frozen(monkeypatch):
    """throttle's clock at 10 s before a minute's end (and 290 s before an hour's)."""
    from types import SimpleNamespace

    now = 1_000_000_010.0  # 16 666 666 minutes and 50 s
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: now))
    return now


def test_retry_after_names_the_end_of_the_window(backend, settings, frozen):
    _limits(settings, ip_requests_limit=1, ip_requests_window=60)
    throttle.Guard("t", "jo", "203.0.113.77").begin()
    with pytest.raises(RateLimited) as refused:
        throttle.Guard("t", "kim", "203.0.113.77").begin()
    assert _retry_after(refused) == 10
    name = f"sends:{uuid.uuid4().hex}"
    throttle.counted_limit(name, 1, 3600)
    with pytest.raises(RateLimited) as refused:
        throttle.counted_limit(name, 1, 3600)
    assert _retry_after(refused) == 3600 - 1_000_000_010 % 3600


def test_the_slot_claimed_after_a_lapse_lasts_the_next_delay(monkeypatch, frozen):
    adds = []
    real_add = cache.add

    def add(key, value, timeout=None):
        adds.append((key, timeout))
        return real_add(key, value, timeout)

    monkeypatch.setattr(throttle.cache, "add", add)
    for _ in range(2):
        g = throttle.Guard("t", "lee", None, delay_after=1)
        g.begin()
        g.failed()
        cache.delete(g.slot_key)  # the slot's window lapses
    g = throttle.Guard("t", "lee", None, delay_after=1)
    g.begin()  # the third attempt claims the slot for delay_for(3, 1) = 4 s
    assert [t for k, t in adds if k == g.slot_key][-1] == 4
