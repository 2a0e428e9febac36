"""Per-app settings objects, built once and rebuilt when a test overrides a setting."""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from django.core.signals import setting_changed

T = TypeVar("T")
_caches: list = []


def cached_conf(fn: Callable[[], T]) -> Callable[[], T]:
    """Settings are read on every request (token checks, authz): read them once."""
    cached = lru_cache(maxsize=1)(fn)
    _caches.append(cached)
    return cached


def _clear(**kwargs) -> None:  # noqa: ANN003
    for c in _caches:
        c.cache_clear()


setting_changed.connect(_clear, dispatch_uid="custos.conf.clear")
