from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from custos.sql import Prepared, like_exact

from .models import LoginEvent, User


def identifier_taken(*, username: str | None, email: str | None, phone: str | None) -> bool:
    q = Q()
    for field, value in (("username", username), ("email__iexact", email), ("phone", phone)):
        if value:
            q |= Q(**{field: value})
    return bool(q) and User.objects.filter(q).exists()


def _by_identifier(lookup: str, **verified: bool) -> Prepared:
    def build(value: str) -> QuerySet[User]:
        from django.db.models import Exists, F, OuterRef

        from .models import TotpDevice

        # has_mfa and the tenant's status ride along: the sign-in needs both next, and each
        # further round trip costs more than the columns
        return (User.objects.filter(**{lookup: value}, **verified)
                .annotate(has_mfa=Exists(TotpDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True)),
                          tenant_status=F("tenant__status"))
                .order_by("pk")[:1])

    return Prepared(build, "value")


# Compiled once per process (see custos.sql.Prepared): every sign-in starts here. An email
# or phone number is a sign-in identifier only once its owner proved it: anyone can type
# someone else's address at registration (pre-account hijacking), so an unproven one opens
# nothing. `_ADDRESS_READS` find an address whatever its state, for the doors where the
# caller proves it (one-time codes, password reset, external identities).
_IDENTIFIER_READS = {"username": _by_identifier("username"),
                     "phone": _by_identifier("phone", phone_verified_at__isnull=False),
                     "email": _by_identifier("email__iexact", email_verified_at__isnull=False)}
_ADDRESS_READS = {"phone": _by_identifier("phone"), "email": _by_identifier("email__iexact")}


def user_by_identifier(field: str, value: str) -> User | None:
    """The account a normalized sign-in identifier names (a username, or a *verified* email
    or phone), with `has_mfa` and `tenant_status`. Email local parts are stored as typed but
    matched without regard to case, as mail providers do; the domain is already lower-cased
    by normalization."""
    if field == "email":
        value = like_exact(value)
    return _IDENTIFIER_READS[field].first(value=value)


def user_by_address(field: str, value: str) -> User | None:
    """The account holding a normalized email or phone, verified or not: for the doors that
    prove the address themselves (a code sent to it, a reset link, an external identity)."""
    if field == "email":
        value = like_exact(value)
    return _ADDRESS_READS[field].first(value=value)


def user_get(*, user_id: int) -> User | None:
    return User.objects.select_related("profile").filter(pk=user_id).first()


def user_public(user: User) -> dict:
    return {"id": user.pk, "username": user.username, "tenant_id": user.tenant_id,
            "user_type": user.user_type, "status": user.status}


# Rooms above accounts (authz, federation, MFA) add their part of the /users/me answer here
# from their AppConfig.ready(), so accounts never imports them.
ME_CONTRIBUTORS: dict[str, Callable[[User], object]] = {}


def me_contributor(name: str) -> Callable[[Callable[[User], object]], Callable[[User], object]]:
    def register(fn: Callable[[User], object]) -> Callable[[User], object]:
        ME_CONTRIBUTORS[name] = fn
        return fn

    return register


def _me_cache_shared() -> bool:
    # Only a cache every process shares can hold /users/me: with a per-process cache another
    # worker's invalidation would not reach it.
    from django.conf import settings

    return bool(getattr(settings, "REDIS_URL", ""))


# In front of the shared cache, each process keeps what it read for a second: a client's
# burst of requests costs one Redis round trip, and a change made through another worker
# shows within that second (the worker that made it drops its own copy at once).
# Both hold the answer rendered (the bytes DRF's JSON renderer makes of it): rendering the
# same dict on every request was a tenth of the endpoint's CPU.
_LOCAL_ME: dict[int, tuple[float, bytes]] = {}
LOCAL_ME_SECONDS = 1.0
LOCAL_ME_MAX = 20_000
_ME_KEY = "me:v2:{}"


def me_invalidate(user_id: int) -> None:
    """Drop the cached /users/me of a user, after the change that made it stale commits."""
    if not _me_cache_shared():
        return
    from django.db import transaction

    from custos import cachebatch

    def drop() -> None:
        _LOCAL_ME.pop(user_id, None)
        cachebatch.delete(_ME_KEY.format(user_id))

    transaction.on_commit(drop)


def user_me(*, user_id: int, tenant_id: int | None) -> dict | None:
    import json

    raw = user_me_json(user_id=user_id, tenant_id=tenant_id)
    return json.loads(raw) if raw is not None else None


def user_me_json(*, user_id: int, tenant_id: int | None) -> bytes | None:
    """The /users/me answer as JSON bytes, from the caches when Redis is there."""
    import time

    from custos.fastview import render  # DRF's renderer: the bytes the DRF view would send

    shared = _me_cache_shared()
    if shared:
        from django.core.cache import cache

        now = time.monotonic()
        local = _LOCAL_ME.get(user_id)
        if local is not None and local[0] > now:
            return local[1]
        hit = cache.get(_ME_KEY.format(user_id))
        if hit is not None:
            if len(_LOCAL_ME) >= LOCAL_ME_MAX:
                _LOCAL_ME.clear()
            _LOCAL_ME[user_id] = (now + LOCAL_ME_SECONDS, hit)
            return hit
    data = _me_build(user_id)
    if data is None:
        return None
    raw = render(data)
    if shared:
        cache.set(_ME_KEY.format(user_id), raw, ME_CACHE_SECONDS)
    return raw


def _me_build(user_id: int) -> dict | None:
    user = user_get(user_id=user_id)
    if user is None:
        return None
    profile = getattr(user, "profile", None)
    out = {
        **user_public(user),
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "phone": user.phone,
        "phone_verified": user.phone_verified_at is not None,
        "created_at": user.created_at,
        "last_login_at": user.last_login,
        "profile": {
            "nickname": profile.nickname if profile else None,
            "avatar": profile.avatar if profile else None,
            "gender": profile.gender if profile else None,
            "birthday": profile.birthday if profile else None,
            "extra": profile.extra if profile else None,
        },
        "roles": [],
        "mfa_enabled": user.totp_devices_confirmed(),
        "identities": [],
    }
    for name, fn in ME_CONTRIBUTORS.items():
        out[name] = fn(user)
    return out


ME_CACHE_SECONDS = 60


def admin_user_row(user: User) -> dict:
    profile = getattr(user, "profile", None)
    return {**user_public(user), "email": user.email, "phone": user.phone,
            "email_verified": user.email_verified_at is not None, "phone_verified": user.phone_verified_at is not None,
            "nickname": profile.nickname if profile else None, "created_at": user.created_at,
            "last_login_at": user.last_login, "status_reason": user.status_reason,
            # the tombstone: where a merged account's data went (the end of its chain)
            "merged_into_user_id": (user_merged_into_final(user_id=user.pk) if user.status == User.Status.MERGED
                                    else None)}


def user_merged_into_final(*, user_id: int, max_hops: int = 16) -> int | None:
    """Where a merged account's data went: the end of its chain. Normally one hop, as every
    merge repoints the tombstones that pointed at its secondary (accounts.services.merge); the
    walk is bounded all the same."""
    seen: set[int] = set()
    target = User.objects.filter(pk=user_id).values_list("merged_into_id", flat=True).first()
    while target is not None and target not in seen and len(seen) < max_hops:
        seen.add(target)
        nxt = (User.objects.filter(pk=target, status=User.Status.MERGED)
               .values_list("merged_into_id", flat=True).first())
        if nxt is None:
            return target
        target = nxt
    return target


def admin_users(*, tenant_ids: list[int] | None, tenant_id: int | None = None, status: str | None = None,
                user_type: str | None = None, q: str | None = None) -> QuerySet[User]:
    """The filtered user query behind GET /v1/admin/users (one query per page: the profile
    comes by join). tenant_ids None means every tenant (platform rights)."""
    qs = User.objects.select_related("profile")
    if tenant_ids is not None:
        qs = qs.filter(tenant_id__in=tenant_ids)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    if status:
        qs = qs.filter(status=status)
    if user_type:
        qs = qs.filter(user_type=user_type)
    if q:
        # prefix match: each side is an index range on the unique indexes
        qs = qs.filter(Q(username__startswith=q.casefold()) | Q(email__istartswith=q) | Q(phone__startswith=q))
    return qs


# Read by every refresh (sessions_app.services.refresh_rotate), whose own lookup names only
# sessions_app's tables: one primary-key read of what a token pair carries. Plain SQL, as
# the ORM's query building cost more than the read itself on this path. The columns are in
# the model's order, the order Model.from_db takes them in (tests/test_plain_sql.py).
_TOKEN_SUBJECT = ("SELECT id, username, user_type, tenant_id, status, token_version FROM users "
                  "WHERE id = %s AND status = %s")
_TOKEN_SUBJECT_NAMES = ["id", "username", "user_type", "tenant_id", "status", "token_version"]


def user_token_subject(*, user_id: int) -> User | None:
    """The user a token pair is issued to, if the account is active: the fields of
    `user_public` and `token_version` (the access token's `ver`), every other field deferred;
    None for a frozen, locked, deleted or merged account, or none at all."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(_TOKEN_SUBJECT, [user_id, User.Status.ACTIVE])
        row = cur.fetchone()
    return User.from_db(connection.alias, _TOKEN_SUBJECT_NAMES, row) if row is not None else None


# For rooms above accounts that need one fact about a user by id (sessions_app: who owns a
# session and in which tenant, whether a token's `ver` is still current): one primary-key
# read of the columns asked for, as those rooms used to make on `users` themselves.
def user_tenant(*, user_id: int) -> tuple[int, int | None] | None:
    """(id, tenant id) of a user, whatever its status; None when there is no such user."""
    return User.objects.filter(pk=user_id).values_list("id", "tenant_id").first()


def user_token_state(*, user_id: int) -> tuple[int, bool] | None:
    """(token_version, whether the account is active) of a user; None when there is none."""
    row = User.objects.filter(pk=user_id).values_list("token_version", "status").first()
    return None if row is None else (row[0], row[1] == User.Status.ACTIVE)


# ---- the staff console (accounts/admin.py, docs/console-users.md) -------------------------------
@dataclass(frozen=True)
class UserSearch:
    """What a console search box term means: one indexed condition, or nothing (`q` None) with a
    note saying why. `kind` is id, email, domain, phone or username."""

    kind: str
    value: str
    q: Q | None
    note: str = ""


_ID_TERM = re.compile(r"^(?:id:\s*|#\s*)(\S*)$", re.IGNORECASE)
_PHONEISH = re.compile(r"^\+?[\d\s\-().]+$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9\-.]{0,251}[a-z0-9])?$")


def console_user_search(term: str) -> UserSearch | None:
    """The console's search syntax, each form one index range at a million rows (EXPLAIN in
    docs/console-users.md): `id:42` or `#42` the id; `@example.com` every address at that domain
    (the stored, indexed `email_domain`); an address with `@` that address; a phone number in any
    form `phonenumbers` parses (CUSTOS_DEFAULT_PHONE_REGION for numbers without `+`); anything
    else a username prefix. A bare number never means an id: ids are typed on purpose, so a
    phone number typed without its region cannot land on an unrelated account. None for an
    empty term."""
    from django.core.exceptions import ValidationError

    from . import identifiers

    text = (term or "").strip()
    if not text:
        return None
    m = _ID_TERM.match(text)
    if m:
        raw = m.group(1)
        if not raw.isdigit() or len(raw) > 18:
            return UserSearch("id", raw, None, "An id is digits: id:42 or #42.")
        return UserSearch("id", raw, Q(pk=int(raw)))
    if text.startswith("@"):
        try:
            domain = text[1:].strip().encode("idna").decode("ascii").lower()
        except UnicodeError:
            domain = ""
        if not _DOMAIN.match(domain):
            return UserSearch("domain", text, None, "Not a domain: type @example.com.")
        return UserSearch("domain", domain, Q(email_domain=domain))
    if "@" in text:
        try:
            email = identifiers.normalize_email(text)
        except ValidationError:
            return UserSearch("email", text, None,
                              "Not an email address: type the whole address, or @domain for a domain.")
        # matched without regard to case, as sign-in does (user_by_address)
        return UserSearch("email", email, Q(email__iexact=email))
    if _PHONEISH.match(text) and any(c.isdigit() for c in text):
        try:
            phone = identifiers.normalize_phone(text)
        except ValidationError:
            return UserSearch("phone", text, None,
                              "Not a phone number this console can read (a bare number is never an id: "
                              "type id:42 or #42 for an id; +<country code> for a number from another region).")
        return UserSearch("phone", phone, Q(phone=phone))
    name = unicodedata.normalize("NFKC", text).casefold()
    if len(name) > 64:
        return UserSearch("username", name, None, "A username has at most 64 characters.")
    # usernames are stored casefolded: a prefix is one range of the unique index
    return UserSearch("username", name, Q(username__istartswith=name))


def console_users(*, tenant_ids: frozenset[int] | None) -> QuerySet[User]:
    """The console's user list before filters and search: every user, or those of the tenants a
    tenant administrator (or a platform staff member's chosen tenant) may see. Newest first."""
    qs = User.objects.select_related("tenant")
    if tenant_ids is not None:
        qs = qs.filter(tenant_id__in=sorted(tenant_ids))
    return qs.order_by("-id")


def console_user(*, user_id: int, tenant_ids: frozenset[int] | None) -> User | None:
    """One user for the console, if within the staff member's tenant scope: another tenant's user
    is as absent as a missing one (ids cannot be probed)."""
    user = User.objects.select_related("tenant", "profile").filter(pk=user_id).first()
    if user is None or (tenant_ids is not None and user.tenant_id not in tenant_ids):
        return None
    return user


def login_history(*, user_id: int, limit: int = 20) -> list[LoginEvent]:
    """The newest sign-in attempts on an account, with their risk score and reasons: the
    `login_user_recent` index, read backwards."""
    return list(LoginEvent.objects.filter(user_id=user_id).order_by("-occurred_at")[:limit])


def user_has_mfa(*, user_id: int) -> bool:
    from .models import TotpDevice

    return TotpDevice.objects.filter(user_id=user_id, confirmed=True).exists()


def user_audit_events(*, user_id: int, limit: int = 50) -> list:
    """The last events about a user (audit's `audit_subject_time` index)."""
    from audit.selectors import events

    return list(events(tenant_ids=None, user_id=user_id).order_by("-occurred_at", "-id")[:limit])


LOGIN_RECORD_FIELDS = ("occurred_at", "ip", "country", "device_id", "user_agent", "method", "result", "risk_score",
                       "reasons")


def login_history_page(*, user_id: int, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """A user's sign-in history newest first, a page and the next cursor, on the
    login_user_recent index (user, occurred_at); the id breaks ties. (risk.history_of answers
    the last 50 for the risk rules; a list pages through everything still kept.)"""
    from datetime import datetime

    from custos.pagination import page_by

    from .models import LoginEvent

    qs = LoginEvent.objects.filter(user_id=user_id).values("id", *LOGIN_RECORD_FIELDS)
    rows, nxt = page_by(qs, cursor=cursor, limit=limit, keys=("occurred_at", "id"), kinds=(datetime, int))
    return [{k: r[k] for k in LOGIN_RECORD_FIELDS} for r in rows], nxt
