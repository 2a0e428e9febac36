from __future__ import annotations

from .models import Session


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
