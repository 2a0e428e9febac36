from __future__ import annotations

from datetime import datetime

from .models import Session


def active_session_count(*, user_id: int) -> int:
    """Live sessions of a user, for the sign-in's risk rule (too many sessions)."""
    return Session.objects.filter(user_id=user_id, revoked=False).count()


def sessions_of(*, user_id: int, current_sid: str | None) -> list[dict]:
    rows = (Session.objects.filter(user_id=user_id, revoked=False).order_by("-last_seen_at")
            .values("session_id", "device_id", "user_agent", "ip", "created_at", "last_seen_at"))
    return [{**r, "current": r["session_id"] == current_sid} for r in rows]


def session_of_user(*, user_id: int, session_id: str) -> Session | None:
    return Session.objects.filter(user_id=user_id, session_id=session_id, revoked=False).first()


def owner_of(*, user_id: int | None = None, session_id: str | None = None) -> tuple[int, int | None] | None:
    """(user id, tenant id) of a user or of a session's user; None when there is none."""
    from accounts.models import User

    if session_id is not None:
        user_id = Session.objects.filter(session_id=session_id).values_list("user_id", flat=True).first()
    if user_id is None:
        return None
    return User.objects.filter(pk=user_id).values_list("id", "tenant_id").first()


def revocations_since(*, since: datetime | None, horizon_seconds: int) -> dict:
    """Kicks and ended sessions since a moment (or within the access-token horizon)."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import Revocation

    now = timezone.now()
    floor = now - timedelta(seconds=horizon_seconds)
    start = max(since, floor) if since else floor
    users: dict[int, int] = {}
    sessions: set[str] = set()
    for kind, user_id, version, sid in (Revocation.objects.filter(created_at__gte=start)
                                        .values_list("kind", "user_id", "min_token_version", "session_id")):
        if kind == Revocation.KIND_USER and version is not None:
            users[user_id] = max(version, users.get(user_id, version))
        elif sid:
            sessions.add(sid)
    return {"now": now, "users": [{"user_id": u, "min_token_version": v} for u, v in sorted(users.items())],
            "sessions": sorted(sessions)}


def token_still_valid(*, user_id: int, version: int, session_id: str | None) -> bool:
    """The authoritative (database) answer for introspection: not kicked, session alive."""
    from accounts.models import User

    row = User.objects.filter(pk=user_id).values_list("token_version", "status").first()
    if row is None or row[0] > version or row[1] != User.Status.ACTIVE:
        return False
    if session_id is None:
        return True
    return Session.objects.filter(session_id=session_id, user_id=user_id, revoked=False).exists()
