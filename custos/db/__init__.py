"""Database backends: Django's MySQL/MariaDB and SQLite backends with django-prometheus'
query metrics, counted by a cursor class built once per connection alias.

django-prometheus' own backends define a new cursor class for every cursor they open and
resolve their metric labels on every statement; on the sign-in path (ten statements) that
was measurable CPU. These record the same metric families with the same labels."""
from __future__ import annotations

from typing import Any

from django_prometheus.db import errors_total, execute_many_total, execute_total, query_duration_seconds

_CLASSES: dict[tuple[type, str, str], type] = {}


def counting_cursor_class(base: type, alias: str, vendor: str) -> type:
    key = (base, alias, vendor)
    cls = _CLASSES.get(key)
    if cls is not None:
        return cls
    executes = execute_total.labels(alias, vendor)
    many = execute_many_total.labels(alias, vendor)
    duration = query_duration_seconds.labels(alias, vendor)

    class CountingCursor(base):  # type: ignore[misc, valid-type]
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            executes.inc()
            try:
                with duration.time():
                    return super().execute(*args, **kwargs)
            except Exception as exc:
                errors_total.labels(alias, vendor, type(exc).__name__).inc()
                raise

        def executemany(self, query: Any, param_list: Any, *args: Any, **kwargs: Any) -> Any:
            executes.inc(len(param_list))
            many.inc(len(param_list))
            try:
                with duration.time():
                    return super().executemany(query, param_list, *args, **kwargs)
            except Exception as exc:
                errors_total.labels(alias, vendor, type(exc).__name__).inc()
                raise

    _CLASSES[key] = CountingCursor
    return CountingCursor
