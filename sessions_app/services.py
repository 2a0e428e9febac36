from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.selectors import user_public
from audit.models import Action, Result
from audit.services import Actor, event_record
from authz.selectors import token_roles, user_roles
from custos import context, metrics
from custos.exceptions import NotFound
from custos.sql import aware_datetime, execute_together, insert_later, write_later

from . import selectors
from .conf import conf
from .errors import RefreshTokenInvalid, RefreshTokenReused
from .models import RefreshToken, Revocation, Session
from .revstate import ROLES_SETTLE, roles_cutoff
from .revstate import state as revocation_state
from .tokens import CustosAccessToken

if TYPE_CHECKING:
    from accounts.models import User

DEFAULT_SCOPE = "openid profile"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    user: dict[str, Any]

    def as_response(self) -> dict[str, Any]:
        return {"token_type": "Bearer", "access_token": self.access_token, "expires_in": self.expires_in,
                "refresh_token": self.refresh_token, "refresh_expires_in": self.refresh_expires_in,
                "session_id": self.session_id, "user": self.user}


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _new_refresh_token() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def _successor_of(raw: str) -> str:
    """The successor of a refresh token is derived, not drawn: every request that spends the
    same token within the grace window computes the same successor, and nothing but its hash
    is stored. Without the server secret the successor cannot be guessed from the token."""
    digest = salted_hmac("custos.refresh.successor", raw, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def access_token_issue(*, user: User, session: Session,
                       roles_known: tuple[float, float | None] | None = None) -> tuple[str, int]:
    """`roles_known`: (as_of, cutoff) from the caller's own read of the feed (a refresh's
    lookup); without it, this process's revocation state (revstate: the cutoff rule)."""
    ttl = conf().access_ttl
    token = CustosAccessToken()
    as_of, cutoff = roles_known or revocation_state().roles_knowledge(user.pk, session.tenant_id)
    token.payload.update({
        "sub": str(user.pk),
        "tid": session.tenant_id,
        "jti": uuid.uuid4().hex,
        "scope": DEFAULT_SCOPE,
        # Roles are read from Casbin at every issue, never copied from an older token; from the
        # table rather than this process's index right after a change to them.
        "roles": (user_roles(user_id=user.pk, tenant_id=session.tenant_id)
                  if cutoff is not None and cutoff > time.time() - ROLES_SETTLE
                  else token_roles(user_id=user.pk, tenant_id=session.tenant_id)),
        "roles_at": round(max(as_of, cutoff or 0.0), 6),
        "ver": user.token_version,
        "sid": session.session_id,
        "amr": list(session.amr),
        "auth_time": int(session.auth_time.timestamp()),
    })
    return str(token), ttl


def _pair(*, user: User, session: Session, refresh_raw: str, refresh_expires_at: datetime,
          now: datetime, roles_known: tuple[float, float | None] | None = None) -> TokenPair:
    access, ttl = access_token_issue(user=user, session=session, roles_known=roles_known)
    return TokenPair(access_token=access, expires_in=ttl, refresh_token=refresh_raw,
                     refresh_expires_in=max(0, int((refresh_expires_at - now).total_seconds())),
                     session_id=session.session_id, user=user_public(user))


def session_start(*, user: User, amr: list[str], actor: Actor, active_sessions: int | None = None) -> TokenPair:
    """A new device session with its first refresh token and an access token.

    At most `max_sessions` live sessions per user (conf): when this one would pass the cap,
    the oldest end first (`session.revoked`, reason `max_sessions`). `active_sessions` is the
    caller's count of the user's sessions not ended yet (selectors.active_session_count, which
    the sign-in reads anyway for its risk rule); without it, and with a cap, it is read here."""
    with transaction.atomic(savepoint=False):  # inside a sign-in's transaction: no savepoint round trips
        cap = conf().max_sessions
        if cap:
            if active_sessions is None:
                active_sessions = selectors.active_session_count(user_id=user.pk)
            if active_sessions >= cap:
                _sessions_make_room(user_id=user.pk, cap=cap, actor=actor)
        return _session_start(user=user, amr=amr)


# A new session's rows refer to each other by ids nobody in Python needs, so each is found by
# its unique, client-made key (the session's UUID, the token's hash) and every row of a
# sign-in can travel with its COMMIT (custos.sql.write_later): one round trip on MariaDB.
_FIRST_TOKEN = ("INSERT INTO refresh_tokens (user_id, token_hash, is_used, expires_at, created_at, session_ref_id) "
                "SELECT %s, %s, %s, %s, %s, id FROM sessions WHERE session_id = %s")
_POINT_AT_TOKEN = ("UPDATE sessions SET refresh_token_id = (SELECT id FROM refresh_tokens WHERE token_hash = %s) "
                   "WHERE session_id = %s")


def _session_start(*, user: User, amr: list[str]) -> TokenPair:
    """The session row and its first token; inside a transaction both may wait for its
    commit (nothing here needs their ids)."""
    ctx = context.current()
    now = timezone.now()
    ops = connection.ops
    session = Session(user=user, tenant_id=user.tenant_id, amr=amr, auth_time=now,
                      device_id=ctx.device_id or None, user_agent=ctx.user_agent or None, ip=ctx.ip)
    insert_later(session)  # its id stays unknown: the token finds it by session_id
    raw = _new_refresh_token()
    hashed = token_hash(raw)
    expires_at = _refresh_expiry(now=now, auth_time=now)
    write_later(_FIRST_TOKEN, [user.pk, hashed, False, ops.adapt_datetimefield_value(expires_at),
                               ops.adapt_datetimefield_value(now), session.session_id])
    write_later(_POINT_AT_TOKEN, [hashed, session.session_id])
    return _pair(user=user, session=session, refresh_raw=raw, refresh_expires_at=expires_at, now=now)


def _end_sessions(sessions: list[Session], *, reason: str, now: datetime) -> int:
    """Mark sessions revoked, their tokens too, and publish them on the revocation feed."""
    ids = [s.pk for s in sessions if not s.revoked]
    if not ids:
        return 0
    # tokens before sessions: the lock order refresh_rotate relies on
    RefreshToken.objects.filter(session_id__in=ids, revoked_at__isnull=True).update(revoked_at=now)
    # what another transaction ended meanwhile (two refreshes of an expired session) is its to publish
    ended = Session.objects.filter(pk__in=ids, revoked=False).update(revoked=True, revoked_at=now,
                                                                     revoke_reason=reason[:32])
    if not ended:
        return 0
    sids = [s.session_id for s in sessions if s.pk in ids]
    Revocation.objects.bulk_create([Revocation(kind=Revocation.KIND_SESSION, user_id=s.user_id,
                                               session_id=s.session_id, created_at=now)
                                    for s in sessions if s.pk in ids])
    transaction.on_commit(lambda: [revocation_state().apply_session(sid) for sid in sids])
    return ended


# ---- session limits: absolute age, idleness, live sessions per user -----------------------------
def _refresh_expiry(*, now: datetime, auth_time: datetime) -> datetime:
    """A refresh token issued now lives REFRESH_TTL, but never past its session's idle limit
    (counted from now: the session is seen now) or its absolute age, so `refresh_expires_in`
    tells the client when the session ends without a refresh."""
    c = conf()
    expires_at = now + timedelta(seconds=c.refresh_ttl if not c.session_idle_timeout
                                 else min(c.refresh_ttl, c.session_idle_timeout))
    if c.session_max_age:
        expires_at = min(expires_at, auth_time + timedelta(seconds=c.session_max_age))
    return expires_at


def _limit_passed(session: Session, now: datetime) -> str | None:
    """`max_age` or `idle` when the session is past that limit (its revoke reason), else None."""
    c = conf()
    if c.session_max_age and session.auth_time <= now - timedelta(seconds=c.session_max_age):
        return "max_age"
    if c.session_idle_timeout and session.last_seen_at <= now - timedelta(seconds=c.session_idle_timeout):
        return "idle"
    return None


def _sessions_end_audited(sessions: list[Session], *, reason: str, actor: Actor, now: datetime) -> int:
    """End sessions and record a `session.revoked` event for each (in the caller's transaction)."""
    n = _end_sessions(sessions, reason=reason, now=now)
    if n:
        for s in sessions:
            event_record(action=Action.SESSION_REVOKED, actor=actor, subject_user_id=s.user_id,
                         tenant_id=s.tenant_id, metadata={"session_id": s.session_id, "reason": reason})
    return n


_LIMITS_ACTOR = "session_limits"
_SESSION_FIELDS = ("id", "session_id", "user_id", "tenant_id", "auth_time", "last_seen_at", "created_at", "revoked")


def _sessions_make_room(*, user_id: int, cap: int, actor: Actor) -> int:
    """Before a sign-in adds a session to `cap` or more: end the user's sessions already past
    their age or idle limit (nobody had ended them yet), then the oldest live ones (by
    sign-in) until the new one fits. Only a sign-in at the cap reads the sessions."""
    now = timezone.now()
    expired: dict[str, list[Session]] = {"max_age": [], "idle": []}
    live: list[Session] = []
    for s in Session.objects.filter(user_id=user_id, revoked=False).order_by("created_at", "id").only(
            *_SESSION_FIELDS):
        reason = _limit_passed(s, now)
        (expired[reason] if reason else live).append(s)
    n = sum(_sessions_end_audited(group, reason=reason, actor=Actor.system(_LIMITS_ACTOR), now=now)
            for reason, group in expired.items())
    excess = len(live) + 1 - cap
    if excess > 0:
        n += _sessions_end_audited(live[:excess], reason="max_sessions", actor=actor, now=now)
    return n


def sessions_expire(*, batch: int = 500) -> int:
    """End every session past its age or idle limit that no refresh ended (an abandoned
    device): revoked, on the revocation feed, `session.revoked` with reason `max_age`/`idle`.
    Run hourly by sessions_app.tasks.purge_expired; a batch per transaction."""
    c = conf()
    if not (c.session_max_age or c.session_idle_timeout):
        return 0
    ended, after = 0, 0
    while True:
        now = timezone.now()
        with transaction.atomic():
            rows = list(Session.objects.filter(id__gt=after, revoked=False).exclude(selectors.live(now))
                        .order_by("id").only(*_SESSION_FIELDS)[:batch])
            if not rows:
                return ended
            after = rows[-1].pk
            for reason in ("max_age", "idle"):
                group = [s for s in rows if _limit_passed(s, now) == reason]
                ended += _sessions_end_audited(group, reason=reason, actor=Actor.system(_LIMITS_ACTOR), now=now)


# The refresh names only this room's tables; the user it is issued to comes from accounts
# (accounts.selectors.user_token_subject), a statement of its own where a join with `users`
# used to be. The rotation's own statements pay for it: the spending travels with the
# lookup, the successor's INSERT with the session's UPDATE, one execute each
# (custos.sql.execute_together), so a refresh is as many executes and round trips as before
# and one primary-key read more for MariaDB (measured in docs/design.md, "Hot paths").
_SPEND = ("UPDATE refresh_tokens SET is_used = %s, used_at = %s "
          "WHERE token_hash = %s AND is_used = %s AND revoked_at IS NULL AND expires_at > %s")
# The last column is the latest recent change to the user's or the tenant's roles (revstate's
# cutoff rule): read in the lookup's own statement, so the refresh knows every committed change
# without a round trip of its own (a range on the feed's created_at index, a few rows).
_REFRESH_LOOKUP = ("SELECT t.id, t.user_id, s.id, s.session_id, s.tenant_id, s.amr, s.auth_time, "
                   "(SELECT MAX(r.created_at) FROM revocations r WHERE r.created_at > %s AND ("
                   "(r.kind = 'roles' AND r.user_id = t.user_id) OR (r.kind = 'troles' AND "
                   "(r.tenant_id = s.tenant_id OR (r.tenant_id IS NULL AND s.tenant_id IS NULL))))), "
                   # The session's limits, on columns the lookup reads anyway. An expired token is
                   # found too, to tell a session past its limits (the refresh ends it) from a
                   # token that lapsed (the spending never spends either): 1 past its absolute
                   # age, 2 idle, 3 the token expired, 0 none.
                   "CASE WHEN s.auth_time <= %s THEN 1 WHEN s.last_seen_at <= %s THEN 2 "
                   "WHEN t.expires_at <= %s THEN 3 ELSE 0 END "
                   "FROM refresh_tokens t JOIN sessions s ON s.id = t.session_ref_id "
                   "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND s.revoked = %s")
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # the floor of a limit that is off: no session precedes it
_SESSION_LIMIT_PASSED = {1: "max_age", 2: "idle"}
_SUCCESSOR = ("INSERT INTO refresh_tokens (user_id, token_hash, is_used, expires_at, created_at, session_ref_id, "
              "parent_id) VALUES (%s, %s, %s, %s, %s, %s, %s)")
_POINT_AT_SUCCESSOR = ("UPDATE sessions SET refresh_token_id = (SELECT id FROM refresh_tokens WHERE token_hash = %s), "
                       "last_seen_at = %s WHERE id = %s AND revoked = %s")


def refresh_rotate(*, raw: str) -> TokenPair:
    """Spend a refresh token and return its successor.

    The spending is a conditional UPDATE whose row count picks one winner on SQLite (no row
    locks) and MariaDB alike. A loser presenting the token that was just spent gets the same
    (derived) successor while the grace window lasts and the successor is unused; otherwise the
    token was replayed and its whole session is revoked. A session past its absolute age or
    its idle limit (conf) is ended instead, whichever of its tokens comes: 401 as for any
    invalid token.

    The winner's path is every refresh of every client, so it is plain SQL (the ORM's query
    building cost more than the database's work here), in three executes and as many round
    trips on MariaDB before the COMMIT: START TRANSACTION, the spending and the lookup; the
    user (accounts' read); the successor's INSERT and the session's UPDATE."""
    if not isinstance(raw, str) or not raw or len(raw) > 512:
        raise RefreshTokenInvalid()
    h = token_hash(raw)
    c = conf()
    ops = connection.ops
    with transaction.atomic():
        now = timezone.now()
        db_now = ops.adapt_datetimefield_value(now)
        age_floor = ops.adapt_datetimefield_value(
            now - timedelta(seconds=c.session_max_age) if c.session_max_age else _NEVER)
        idle_floor = ops.adapt_datetimefield_value(
            now - timedelta(seconds=c.session_idle_timeout) if c.session_idle_timeout else _NEVER)
        with connection.cursor() as cur:
            # Lock order, everywhere a session's tokens change: its token rows first, then the
            # session row (see _end_sessions). A winner and a loser revoking the family in the
            # other order would deadlock on MariaDB; SQLite serializes writers anyway. The
            # spending comes first: whatever the lookup then finds wrong rolls it back.
            roles_floor = ops.adapt_datetimefield_value(now - timedelta(seconds=ROLES_SETTLE))
            spent, _ = execute_together(cur, (_SPEND, [True, db_now, h, False, db_now]),
                                        (_REFRESH_LOOKUP, [roles_floor, age_floor, idle_floor, db_now,
                                                           h, False]))
            found = cur.fetchone()
            limit_passed = _SESSION_LIMIT_PASSED.get(found[-1]) if found is not None else None
            # Every way an account stops being active (freeze, lock, delete) and every
            # token_version bump ends its sessions in the same transaction (accounts' signal,
            # sessions_app.receivers), so a live session already implies an active user; the
            # selector checks the status again all the same, at no cost in its read.
            user = (account_selectors.user_token_subject(user_id=found[1])
                    if found is not None and not found[-1] else None)
            if user is None and limit_passed is None:
                metrics.REFRESHES.labels("invalid").inc()
                raise RefreshTokenInvalid()
            token_id, user_id, sess_pk, sid, sess_tenant, amr, auth_time, roles_changed, _ = found
            roles_known = (now.timestamp(),
                           roles_cutoff(aware_datetime(roles_changed)) if roles_changed is not None else None)
            session = Session(id=sess_pk, session_id=sid, tenant_id=sess_tenant, user_id=user_id,
                              amr=json.loads(amr) if isinstance(amr, str) else (amr or []),
                              auth_time=aware_datetime(auth_time))
            successor = _successor_of(raw)
            if spent == 1 and limit_passed is None:
                expires_at = _refresh_expiry(now=now, auth_time=session.auth_time)
                successor_hash = token_hash(successor)
                _, pointed = execute_together(
                    cur, (_SUCCESSOR, [user_id, successor_hash, False, ops.adapt_datetimefield_value(expires_at),
                                       db_now, sess_pk, token_id]),
                    (_POINT_AT_SUCCESSOR, [successor_hash, db_now, sess_pk, False]))
                if pointed != 1:
                    raise RefreshTokenInvalid()  # revoked meanwhile: roll the rotation back
                metrics.REFRESHES.labels("success").inc()
                return _pair(user=user, session=session, refresh_raw=successor, refresh_expires_at=expires_at,
                             now=now, roles_known=roles_known)
        if limit_passed is not None:
            # Its end commits before the 401 (a token it may have spent is revoked with it).
            _sessions_end_audited([session], reason=limit_passed, actor=Actor.system(_LIMITS_ACTOR), now=now)
        else:
            # The token was spent already: a lost response (grace) or a replay.
            used_at = RefreshToken.objects.filter(pk=token_id).values_list("used_at", flat=True).first()
            child = RefreshToken.objects.filter(parent_id=token_id).first()
            in_grace = (c.refresh_grace > 0 and used_at is not None and child is not None
                        and (now - used_at).total_seconds() <= c.refresh_grace
                        and not child.is_used and child.revoked_at is None
                        and child.token_hash == token_hash(successor))
            if in_grace:
                metrics.REFRESHES.labels("grace").inc()
                return _pair(user=user, session=session, refresh_raw=successor, refresh_expires_at=child.expires_at,
                             now=now, roles_known=roles_known)
            full_session = Session.objects.get(pk=sess_pk)
            _end_sessions([full_session], reason="refresh_reuse", now=now)
            event_record(action=Action.REFRESH_REUSED, actor=Actor.anonymous(), result=Result.DENIED,
                         subject_user_id=user_id, tenant_id=sess_tenant,
                         metadata={"session_id": sid, "token_id": token_id})
    # Raised outside the atomic block: the revocation above must commit before we answer 401.
    if limit_passed is not None:
        metrics.REFRESHES.labels("expired").inc()
        raise RefreshTokenInvalid()
    metrics.REFRESHES.labels("reused").inc()
    metrics.REUSE_DETECTED.inc()
    raise RefreshTokenReused()


@transaction.atomic
def session_revoke(*, session: Session, actor: Actor, reason: str) -> int:
    n = _end_sessions([session], reason=reason, now=timezone.now())
    if n:
        event_record(action=Action.SESSION_REVOKED, actor=actor, subject_user_id=session.user_id,
                     tenant_id=session.tenant_id, metadata={"session_id": session.session_id, "reason": reason})
    return n


@transaction.atomic
def logout(*, user_id: int, session_id: str) -> None:
    session = Session.objects.filter(user_id=user_id, session_id=session_id).first()
    if session is None:
        return
    _end_sessions([session], reason="logout", now=timezone.now())
    event_record(action=Action.LOGOUT, actor=Actor.user(user_id), subject_user_id=user_id,
                 tenant_id=session.tenant_id, metadata={"session_id": session_id})


@transaction.atomic
def sessions_end_all(*, user_id: int, actor: Actor, keep_session_id: str | None) -> int:
    """`DELETE /v1/sessions`: end every session of the user but `keep_session_id` (the
    caller's own; None ends it too), each audited as `session.revoked`."""
    sessions = list(Session.objects.filter(user_id=user_id, revoked=False).exclude(session_id=keep_session_id or "")
                    .only(*_SESSION_FIELDS))
    return _sessions_end_audited(sessions, reason="user_revoked_all", actor=actor, now=timezone.now())


def sessions_end_for_user(*, user_id: int, reason: str, keep_session_id: str | None = None) -> int:
    sessions = list(Session.objects.filter(user_id=user_id, revoked=False).exclude(session_id=keep_session_id or ""))
    return _end_sessions(sessions, reason=reason, now=timezone.now())


def user_tokens_invalidated(*, user_id: int, token_version: int, reason: str) -> int:
    """Receiver side of accounts' token_version bump: end every session and publish the kick."""
    n = sessions_end_for_user(user_id=user_id, reason=reason)
    now = timezone.now()
    Revocation.objects.create(kind=Revocation.KIND_USER, user_id=user_id, min_token_version=token_version,
                              created_at=now)
    transaction.on_commit(lambda: revocation_state().apply_user(user_id, token_version))
    return n


@transaction.atomic
def force_logout_user(*, user_id: int, actor: Actor) -> int:
    n = sessions_end_for_user(user_id=user_id, reason="forced_logout")
    account_services.user_token_version_bump(user_id=user_id, actor=actor, reason="forced_logout")
    owner = account_selectors.user_tenant(user_id=user_id)
    event_record(action=Action.USER_FORCED_LOGOUT, actor=actor, subject_user_id=user_id,
                 tenant_id=owner[1] if owner else None,
                 metadata={"revoked_sessions": n})
    transaction.on_commit(lambda: metrics.FORCED_LOGOUTS.labels("user").inc())
    return n


@transaction.atomic
def force_logout_session(*, session_id: str, actor: Actor) -> int:
    session = Session.objects.filter(session_id=session_id).first()
    if session is None:
        raise NotFound("No such session.")
    n = _end_sessions([session], reason="forced_logout", now=timezone.now())
    event_record(action=Action.USER_FORCED_LOGOUT, actor=actor, subject_user_id=session.user_id,
                 tenant_id=session.tenant_id, metadata={"session_id": session_id, "revoked_sessions": n})
    transaction.on_commit(lambda: metrics.FORCED_LOGOUTS.labels("session").inc())
    return n
