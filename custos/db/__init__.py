"""Database backends: Django's MySQL/MariaDB and SQLite backends with django-prometheus'
query metrics, counted by a cursor class built once per connection alias.

django-prometheus' own backends define a new cursor class for every cursor they open and
resolve their metric labels on every statement; on the sign-in path (ten statements) that
was measurable CPU. These record the same metric families with the same labels."""
from __future__ import annotations

import re
from typing import Any

from django.db import DatabaseError
from django_prometheus.db import errors_total, execute_many_total, execute_total, query_duration_seconds


class DeferredWriteFailed(DatabaseError):
    """A write that was allowed to wait (custos.sql.insert_later, update_later, write_later)
    failed. On MariaDB it is reported by whichever statement or COMMIT it travelled with, so
    it is raised as its own error, never as that statement's: a caller catching
    IntegrityError around an unrelated statement (a savepoint, a concurrent-insert guard)
    must not take it for its own. Its transaction cannot commit: inside an atomic block the
    block is marked for rollback (see `deferred_write_failed`). `__cause__` is the driver's
    error; `target` names the write ("INSERT INTO audit_events"), never its values (a
    rehash's statement carries a password hash)."""

    def __init__(self, statement: str, cause: BaseException) -> None:
        found = _TARGET.match(statement)
        self.target = " ".join(found.group(1).split() + [found.group(2)]) if found else "?"
        super().__init__(f"a deferred write ({self.target}) failed: {cause}")


_TARGET = re.compile(r"\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+[`\"]?(\w+)", re.IGNORECASE)


def client_error(exc: BaseException) -> bool:
    """A MySQL client error (2xxx: the connection was lost, the server went away), which is
    no statement's fault; the server's own errors are 1xxx and from 3000 up."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    return 2000 <= code < 3000


def deferred_write_failed(connection: Any, statement: str, cause: BaseException) -> DeferredWriteFailed:
    """The error to raise for a failed deferred write. The transaction it belonged to must not
    commit without it: inside an atomic block, Django's rollback flag makes every further
    query of the block fail until the block ends (a savepoint block that the error leaves is
    rolled back to its savepoint, as for any error)."""
    if connection.in_atomic_block:
        connection.needs_rollback = True
    return DeferredWriteFailed(statement, cause)


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
