"""Keyset ("cursor") pagination on a descending integer key: stable under inserts, one
index range per page, no OFFSET scans at a million rows."""
from __future__ import annotations

import base64
from typing import Any

from django.db.models import QuerySet

from .exceptions import ValidationFailed

MAX_LIMIT = 200


def _decode(cursor: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(fields={"cursor": ["Not a cursor this service gave out."]}) from exc
    if value < 0:
        raise ValidationFailed(fields={"cursor": ["Not a cursor this service gave out."]})
    return value


def _encode(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def parse_limit(raw: Any, default: int = 50) -> int:
    if raw in (None, ""):
        return default
    try:
        limit = int(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(fields={"limit": [f"An integer from 1 to {MAX_LIMIT}."]}) from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(fields={"limit": [f"An integer from 1 to {MAX_LIMIT}."]})
    return limit


def page(qs: QuerySet, *, cursor: str | None, limit: int, key: str = "id") -> tuple[list, str | None]:
    """Rows with key below the cursor, newest first, and the cursor of the next page."""
    if cursor:
        qs = qs.filter(**{f"{key}__lt": _decode(cursor)})
    rows = list(qs.order_by(f"-{key}")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = _encode(getattr(last, key) if not isinstance(last, dict) else last[key]) if more and last else None
    return rows, next_cursor
