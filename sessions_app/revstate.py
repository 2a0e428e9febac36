"""In-process revocation state, kept current from the `revocations` feed.

The authentication hot path asks two questions of every access token: is its `ver` below the
user's current token_version, and was its session ended? Asking the database would cost a
query per request; asking a per-process cache alone would miss a logout done by another
worker. So each process holds the answers in memory and polls the feed (one indexed query
at most every REVOCATION_POLL seconds, 0.5 s by default), which bounds the delay for every
deployment shape (several gunicorn workers on SQLite included) below one second.

Only revocations younger than the longest access-token lifetime matter: every token an
older revocation invalidated has expired anyway. That bounds memory and the start-up read.
The poll re-reads a window that overlaps the previous one because a row's id or timestamp
can become visible after a later row's (commit order); applying an entry twice is harmless.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from django.utils import timezone

from .conf import conf

_OVERLAP = timedelta(seconds=10)


class RevocationState:
    def __init__(self) -> None:
        self.min_version: dict[int, tuple[int, float]] = {}  # user_id -> (version, expires monotonic)
        self.revoked_sessions: dict[str, float] = {}          # sid -> expires monotonic
        self.last_poll = 0.0
        self.last_seen_at = None
        self._lock = threading.Lock()

    def _horizon(self) -> float:
        c = conf()
        return c.access_ttl + c.leeway + _OVERLAP.total_seconds()

    def apply_user(self, user_id: int, version: int) -> None:
        expires = time.monotonic() + self._horizon()
        current = self.min_version.get(user_id)
        if current is None or current[0] <= version:
            self.min_version[user_id] = (version, expires)

    def apply_session(self, sid: str) -> None:
        self.revoked_sessions[sid] = time.monotonic() + self._horizon()

    def poll(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_poll < conf().revocation_poll:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread of this process is polling; its answer is as fresh
        try:
            from .models import Revocation

            since = self.last_seen_at - _OVERLAP if self.last_seen_at else timezone.now() - timedelta(
                seconds=self._horizon())
            started = timezone.now()
            rows = Revocation.objects.filter(created_at__gte=since).values_list(
                "kind", "user_id", "min_token_version", "session_id")
            for kind, user_id, version, sid in rows:
                if kind == Revocation.KIND_USER and version is not None:
                    self.apply_user(user_id, version)
                elif sid:
                    self.apply_session(sid)
            self.last_seen_at = started
            self.last_poll = time.monotonic()
            self._expire(self.last_poll)
        finally:
            self._lock.release()

    def _expire(self, now: float) -> None:
        for uid in [u for u, (_, exp) in self.min_version.items() if exp < now]:
            self.min_version.pop(uid, None)
        for sid in [s for s, exp in self.revoked_sessions.items() if exp < now]:
            self.revoked_sessions.pop(sid, None)

    def is_revoked(self, *, user_id: int, version: int, sid: str | None) -> bool:
        self.poll()
        entry = self.min_version.get(user_id)
        if entry is not None and version < entry[0]:
            return True
        return sid is not None and sid in self.revoked_sessions


_state = RevocationState()


def state() -> RevocationState:
    return _state


def reset_state() -> None:
    global _state
    _state = RevocationState()
