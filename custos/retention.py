"""Retention: delete rows past their time in small batches (short transactions, no long
locks on a table the sign-in writes to), each batch its own statement pair."""
from __future__ import annotations

from django.db.models import QuerySet


def delete_in_batches(queryset: QuerySet, *, batch: int = 1000, max_batches: int = 1000) -> int:
    """Delete what `queryset` selects, `batch` primary keys at a time; returns rows deleted. A
    run stops after `max_batches` (the next run goes on): one job never holds the worker for long."""
    model = queryset.model
    deleted = 0
    for _ in range(max_batches):
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        # Django deletes a batch in one statement when nothing cascades or listens (the usual case
        # here), and follows the cascade when something does (a session's refresh tokens).
        deleted += model._base_manager.filter(pk__in=ids).delete()[0]
    return deleted
