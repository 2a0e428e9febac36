"""Cache deletions gathered and sent as one round trip at the end of a unit of work.

A sign-in drops several keys (the brute-force counters it forgave, the /users/me copy its
last_login_at made stale); each was a Redis round trip of its own. Inside `batch()` the
deletions wait and leave together when the block ends (after the transaction that caused
them committed, before the response is returned); outside one they happen at once."""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

_pending: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("custos_cache_deletes", default=None)


def delete(*keys: str) -> None:
    pending = _pending.get()
    if pending is None:
        cache.delete_many(list(keys))
    else:
        pending.extend(keys)


@contextmanager
def batch() -> Iterator[None]:
    token = _pending.set([])
    try:
        yield
    finally:
        keys = _pending.get() or []
        _pending.reset(token)
        if keys:
            cache.delete_many(list(dict.fromkeys(keys)))
