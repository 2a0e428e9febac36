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


def _clear(**kwargs) -> None:
    for c in _caches:
        c.cache_clear()


setting_changed.connect(_clear, dispatch_uid="custos.conf.clear")


def from_setting(cls: type[T], name: str) -> T:
    """A settings dataclass from the namespaced dict `settings.<name>`: each upper-case key
    fills the field of the same name in lower case; a key the dict leaves out keeps the
    field's default, and an unknown key is an error rather than a silently ignored typo."""
    from dataclasses import fields

    from django.conf import settings

    raw = getattr(settings, name, {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(k for k in raw if k.lower() not in known)
    if unknown:
        raise ValueError(f"settings.{name} has unknown keys: {', '.join(unknown)}")
    return cls(**{k.lower(): v for k, v in raw.items()})
