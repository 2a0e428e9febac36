"""Readiness checks: the core checks the database and the cache; each room that has a
dependency of its own (keys: a signing key) registers a check from its AppConfig.ready(),
so custos never imports the rooms above it."""
from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.db import connection


def _database() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return True


def _cache() -> bool:
    cache.set("custos:readyz", "1", 5)
    return cache.get("custos:readyz") == "1"


_checks: dict[str, Callable[[], bool]] = {"database": _database, "cache": _cache}


def register(name: str, check: Callable[[], bool]) -> None:
    """Add (or replace) a readiness check: it returns True when ready; False or an exception fails it."""
    _checks[name] = check


def run() -> dict[str, str]:
    """Every check's result, "ok" or "fail", in registration order."""
    results: dict[str, str] = {}
    for name, check in _checks.items():
        try:
            results[name] = "ok" if check() else "fail"
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            results[name] = "fail"
    return results
