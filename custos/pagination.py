"""Keyset ("cursor") pagination: stable under inserts, one index range per page, no OFFSET
scans at a million rows. Every list answers `{"results": [...], "next": <cursor or null>}`
and takes `?limit=` (1 to MAX_LIMIT) and `?cursor=` (opaque: whatever `next` said).

- `page`: a queryset on one descending integer key (the id): users, tenants, audit events.
- `page_by`: a queryset on several keys (e.g. a time, then the id as the tie-break), in one
  direction: sign-in history, sessions.
- `page_items`: a list already in memory and sorted by a key (roles of a tenant from the
  policy snapshot, providers, identities: small, bounded sets).

A cursor is base64url of the last row's key; anything that does not decode to a key of the
right shape is `400 validation_error` on `cursor`, never a 500."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Q, QuerySet

from .exceptions import ValidationFailed

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_MAX_KEY = 2**63 - 1  # a database integer: a larger cursor would overflow the query, not page
_MAX_CURSOR = 1024

T = TypeVar("T")
Key = tuple[Any, ...]


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(fields={"cursor": ["Not a cursor this service gave out."]})


def _unb64(cursor: str) -> bytes:
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
        raise _bad_cursor()
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error) as exc:
        raise _bad_cursor() from exc


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        value = int(_unb64(cursor).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not 0 <= value <= _MAX_KEY:
        raise _bad_cursor()
    return value


def _encode(value: int) -> str:
    return _b64(str(value).encode())


def parse_limit(raw: Any, default: int = DEFAULT_LIMIT) -> int:
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


# ---- keys of several parts ---------------------------------------------------------------------
# A key part is an int, a str or an aware datetime; in a cursor a datetime travels as ISO 8601.
Kinds = Sequence[type]


def _encode_key(key: Key) -> str:
    parts = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return _b64(json.dumps(parts, separators=(",", ":")).encode())


def _decode_key(cursor: str, kinds: Kinds) -> Key:
    try:
        parts = json.loads(_unb64(cursor))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(parts, list) or len(parts) != len(kinds):
        raise _bad_cursor()
    out: list[Any] = []
    for value, kind in zip(parts, kinds):
        if kind is datetime:
            try:
                value = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                value = None
            if value is None or value.tzinfo is None:
                raise _bad_cursor()
        elif kind is int:
            if type(value) is not int or not -_MAX_KEY <= value <= _MAX_KEY:
                raise _bad_cursor()
        elif not isinstance(value, kind) or (isinstance(value, str) and len(value) > 512):
            raise _bad_cursor()
        out.append(value)
    return tuple(out)


def _row_key(row: Any, keys: Sequence[str]) -> Key:
    return tuple(row[k] if isinstance(row, dict) else getattr(row, k) for k in keys)


def page_by(qs: QuerySet, *, cursor: str | None, limit: int, keys: Sequence[str], kinds: Kinds,
            descending: bool = True) -> tuple[list, str | None]:
    """Rows after the cursor in the order of `keys` (all descending, or all ascending; the last
    key must make the order total, e.g. the id)."""
    if cursor:
        after = _decode_key(cursor, kinds)
        op = "lt" if descending else "gt"
        cond = Q()
        for i in range(len(keys)):
            step = Q(**{f"{keys[i]}__{op}": after[i]})
            for j in range(i):
                step &= Q(**{keys[j]: after[j]})
            cond |= step
        qs = qs.filter(cond)
    order = [f"-{k}" if descending else k for k in keys]
    rows = list(qs.order_by(*order)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_key(_row_key(rows[-1], keys)) if more and rows else None)


def page_items(items: Sequence[T], *, cursor: str | None, limit: int, key: Callable[[T], Key], kinds: Kinds,
               descending: bool = False) -> tuple[list[T], str | None]:
    """A page of a list already sorted by `key` (ascending, or descending with descending=True)."""
    rows = list(items)
    if cursor:
        after = _decode_key(cursor, kinds)
        rows = [r for r in rows if (key(r) < after if descending else key(r) > after)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_key(key(rows[-1])) if more and rows else None)
