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


def _broker() -> bool:
    """A configured broker answers a connection (tasks queued after commit must reach it)."""
    from celery import current_app
    from django.conf import settings

    with current_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return True


_checks: dict[str, Callable[[], bool]] = {"database": _database, "cache": _cache}


def broker_configured() -> bool:
    from django.conf import settings

    return not settings.CELERY_TASK_ALWAYS_EAGER and not settings.CELERY_BROKER_URL.startswith("memory://")


def register(name: str, check: Callable[[], bool]) -> None:
    """Add (or replace) a readiness check: it returns True when ready; False or an exception fails it."""
    _checks[name] = check


def run() -> dict[str, str]:
    """Every check's result, "ok" or "fail", in registration order."""
    results: dict[str, str] = {}
    checks = {**_checks, "broker": _broker} if broker_configured() else _checks
    for name, check in checks.items():
        try:
            results[name] = "ok" if check() else "fail"
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            results[name] = "fail"
    return results
