from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from accounts import selectors as account_selectors

from .conf import conf
from .models import Session


def active_session_count(*, user_id: int) -> int:
    """The user's live sessions, for the sign-in's risk rule (too many sessions) and its
    session cap (sessions_app.services.session_start): one past its age or idle limit is over
    even before the hourly sweep ends it, so it neither raises the risk nor takes a place
    (the user's rows on the (user, revoked) index, a few at most)."""
    return Session.objects.filter(live(), user_id=user_id).count()


def live(now: datetime | None = None) -> Q:
    """Sessions not ended and within their age and idle limits (sessions_app.conf)."""
    now = now or timezone.now()
    c = conf()
    q = Q(revoked=False)
    if c.session_max_age:
        q &= Q(auth_time__gt=now - timedelta(seconds=c.session_max_age))
    if c.session_idle_timeout:
        q &= Q(last_seen_at__gt=now - timedelta(seconds=c.session_idle_timeout))
    return q


def sessions_of(*, user_id: int, current_sid: str | None) -> list[dict]:
    """The user's live sessions: a session past its limits is over even before a refresh or
    the hourly sweep marks it so."""
    rows = (Session.objects.filter(live(), user_id=user_id).order_by("-last_seen_at")
            .values("session_id", "device_id", "user_agent", "ip", "created_at", "last_seen_at"))
    return [{**r, "current": r["session_id"] == current_sid} for r in rows]


def sessions_page(*, user_id: int, current_sid: str | None, cursor: str | None,
                  limit: int) -> tuple[list[dict], str | None]:
    """GET /v1/sessions: the user's live sessions newest sign-in first, a page and the next
    cursor. Paged on what never changes (sign-in time, then id): last_seen_at moves on every
    refresh and would skip or repeat sessions between pages."""
    from custos.pagination import page_by

    qs = Session.objects.filter(live(), user_id=user_id).values(
        "id", "session_id", "device_id", "user_agent", "ip", "created_at", "last_seen_at")
    rows, nxt = page_by(qs, cursor=cursor, limit=limit, keys=("created_at", "id"), kinds=(datetime, int))
    return [{**r, "current": r["session_id"] == current_sid} for r in rows], nxt


def session_of_user(*, user_id: int, session_id: str) -> Session | None:
    return Session.objects.filter(user_id=user_id, session_id=session_id, revoked=False).first()


def owner_of(*, user_id: int | None = None, session_id: str | None = None) -> tuple[int, int | None] | None:
    """(user id, tenant id) of a user or of a session's user; None when there is none."""
    if session_id is not None:
        user_id = Session.objects.filter(session_id=session_id).values_list("user_id", flat=True).first()
    if user_id is None:
        return None
    return account_selectors.user_tenant(user_id=user_id)


def revocations_since(*, since: datetime | None, horizon_seconds: int) -> dict:
    """Kicks, ended sessions and role-change cutoffs (per user, per tenant: the latest of each)
    since a moment (or within the access-token horizon)."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import Revocation
    from .revstate import roles_cutoff

    now = timezone.now()
    floor = now - timedelta(seconds=horizon_seconds)
    start = max(since, floor) if since else floor
    users: dict[int, int] = {}
    sessions: set[str] = set()
    roles: dict[int, float] = {}
    tenant_roles: dict[int | None, float] = {}
    for kind, user_id, version, sid, tenant_id, created_at in (
            Revocation.objects.filter(created_at__gte=start)
            .values_list("kind", "user_id", "min_token_version", "session_id", "tenant_id", "created_at")):
        if kind == Revocation.KIND_USER and version is not None:
            users[user_id] = max(version, users.get(user_id, version))
        elif kind == Revocation.KIND_ROLES:
            roles[user_id] = max(roles_cutoff(created_at), roles.get(user_id, 0.0))
        elif kind == Revocation.KIND_TENANT_ROLES:
            tenant_roles[tenant_id] = max(roles_cutoff(created_at), tenant_roles.get(tenant_id, 0.0))
        elif sid:
            sessions.add(sid)
    return {"now": now, "users": [{"user_id": u, "min_token_version": v} for u, v in sorted(users.items())],
            "sessions": sorted(sessions),
            "roles": [{"user_id": u, "cutoff": c} for u, c in sorted(roles.items())],
            "tenant_roles": [{"tenant_id": t, "cutoff": c}
                             for t, c in sorted(tenant_roles.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0))]}


def roles_cutoff_for(*, user_id: int, tenant_id: int | None, horizon_seconds: int) -> float | None:
    """The authoritative (database) latest cutoff for a user's or tenant's roles, for
    introspection (revstate's rule)."""
    from datetime import timedelta

    from django.db.models import Max, Q
    from django.utils import timezone

    from .models import Revocation
    from .revstate import roles_cutoff

    tenant = Q(kind=Revocation.KIND_TENANT_ROLES) & (Q(tenant_id=tenant_id) if tenant_id is not None
                                                      else Q(tenant_id__isnull=True))
    latest = (Revocation.objects.filter(created_at__gte=timezone.now() - timedelta(seconds=horizon_seconds))
              .filter(Q(kind=Revocation.KIND_ROLES, user_id=user_id) | tenant)
              .aggregate(latest=Max("created_at"))["latest"])
    return roles_cutoff(latest) if latest is not None else None


def token_still_valid(*, user_id: int, version: int, session_id: str | None) -> bool:
    """The authoritative (database) answer for introspection: not kicked, session alive."""
    state = account_selectors.user_token_state(user_id=user_id)
    if state is None or state[0] > version or not state[1]:
        return False
    if session_id is None:
        return True
    return Session.objects.filter(session_id=session_id, user_id=user_id, revoked=False).exists()
