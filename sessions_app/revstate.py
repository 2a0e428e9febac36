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

Role changes (kinds `roles` and `troles`) add a third question: were the token's roles read
before its user's, or its tenant's, roles last changed? The rule, shared by this process,
introspection and Clotho (through the feed):

- A change at moment `at` (microseconds, taken inside its transaction) sets the **cutoff**
  `at + ROLES_GAP` (seconds since the epoch, six decimals).
- Every access token carries `roles_at`, the moment up to which its `roles` claim reflects
  every role change (same units). A token whose `roles_at` (its `iat` when it has none: tokens
  issued before the claim existed) is earlier than its user's cutoff, or than its tenant's
  (`tid`; null is the platform domain), is refused.
- An issuer stamps `roles_at = max(as_of, C)`: `as_of` is the moment up to which it has read
  every change (a refresh: its own start, since its lookup reads the feed's recent role rows
  in the same statement; a sign-in: this process's last poll, since sign-in reads nothing of
  the feed), `C` the latest cutoff it knows for the user or tenant. When `C` is recent
  (ROLES_SETTLE), the roles are read from the table, not from this process's policy index,
  which may not have caught up yet.

Why the gap: a change's moment is taken before its commit. A reader that missed the row
(uncommitted when it looked) issued its token at a moment earlier than the commit, which is
less than ROLES_GAP after `at`, so the token is still refused; one that saw the row read the
new roles and stamps the cutoff itself, at most ROLES_GAP ahead of its clock. So a refresh
right after the change is accepted (never refused forever), and a token issued before it, in
the same second or not, is refused.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from django.utils import timezone

from .conf import conf

_OVERLAP = timedelta(seconds=10)
ROLES_GAP = 1.0  # seconds from a role change's moment to its cutoff (a commit comes sooner)
ROLES_SETTLE = 10.0  # seconds after a cutoff during which issuers read roles from the table


def roles_cutoff(at: datetime) -> float:
    """The cutoff a role change at `at` sets (see the module's rule)."""
    return round(at.timestamp() + ROLES_GAP, 6)


def token_roles_at(claims: dict) -> float:
    """When a verified token's roles were current: `roles_at`, or `iat` for older tokens."""
    value = claims.get("roles_at")
    return value if value is not None else claims["iat"]


class RevocationState:
    def __init__(self) -> None:
        self.min_version: dict[int, tuple[int, float]] = {}  # user_id -> (version, expires monotonic)
        self.revoked_sessions: dict[str, float] = {}          # sid -> expires monotonic
        self.roles_users: dict[int, tuple[float, float]] = {}  # user_id -> (cutoff, expires monotonic)
        self.roles_tenants: dict[int | None, tuple[float, float]] = {}  # tenant_id -> (cutoff, expires)
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

    def _apply_cutoff(self, table: dict, key, cutoff: float) -> None:
        # a token issued just before the cutoff lives a lifetime past it
        expires = time.monotonic() + self._horizon() + ROLES_GAP
        current = table.get(key)
        table[key] = (max(cutoff, current[0]) if current is not None else cutoff, expires)

    def apply_roles(self, user_id: int, cutoff: float) -> None:
        self._apply_cutoff(self.roles_users, user_id, cutoff)

    def apply_tenant_roles(self, tenant_id: int | None, cutoff: float) -> None:
        self._apply_cutoff(self.roles_tenants, tenant_id, cutoff)

    def roles_cutoff_of(self, user_id: int, tenant_id: int | None) -> float | None:
        """The latest cutoff this process knows for the user's or the tenant's roles."""
        known = [entry[0] for entry in (self.roles_users.get(user_id), self.roles_tenants.get(tenant_id))
                 if entry is not None]
        return max(known) if known else None

    def roles_knowledge(self, user_id: int, tenant_id: int | None) -> tuple[float, float | None]:
        """(as_of, cutoff) for a token issued from this process's knowledge alone (a sign-in):
        as_of is the moment of the last poll, every change before it having been read. A
        process that has not polled for ROLES_SETTLE (none of its requests asked) reads the
        feed first, so its stamp is not older than that."""
        seen = self.last_seen_at
        if seen is None or (timezone.now() - seen).total_seconds() > ROLES_SETTLE:
            self.poll(force=True)
            seen = self.last_seen_at
        as_of = seen.timestamp() if seen is not None else 0.0
        return as_of, self.roles_cutoff_of(user_id, tenant_id)

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
                "kind", "user_id", "min_token_version", "session_id", "tenant_id", "created_at")
            for kind, user_id, version, sid, tenant_id, created_at in rows:
                if kind == Revocation.KIND_USER and version is not None:
                    self.apply_user(user_id, version)
                elif kind == Revocation.KIND_ROLES:
                    self.apply_roles(user_id, roles_cutoff(created_at))
                elif kind == Revocation.KIND_TENANT_ROLES:
                    self.apply_tenant_roles(tenant_id, roles_cutoff(created_at))
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
        for table in (self.roles_users, self.roles_tenants):
            for key in [k for k, (_, exp) in table.items() if exp < now]:
                table.pop(key, None)

    def is_revoked(self, *, user_id: int, version: int, sid: str | None) -> bool:
        self.poll()
        entry = self.min_version.get(user_id)
        if entry is not None and version < entry[0]:
            return True
        return sid is not None and sid in self.revoked_sessions

    def roles_stale(self, *, user_id: int, tenant_id: int | None, roles_at: float) -> bool:
        """Were the token's roles read before its user's or tenant's last role change? (Call
        after is_revoked, which polled.)"""
        for entry in (self.roles_users.get(user_id), self.roles_tenants.get(tenant_id)):
            if entry is not None and roles_at < entry[0]:
                return True
        return False


_state = RevocationState()


def state() -> RevocationState:
    return _state


def reset_state() -> None:
    global _state
    _state = RevocationState()
