from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import ValidationFailed

from .. import identifiers, selectors
from ..errors import AlreadyExists
from ..models import Tenant, User, UserProfile


def _validation(field: str, error: ValidationError) -> ValidationFailed:
    messages = [str(m) for m in error.messages]
    codes = [e.code for e in getattr(error, "error_list", []) if e.code]
    return ValidationFailed(" ".join(messages), fields={field: messages}, reasons=sorted(set(codes)) or None)


def normalize_identifiers(*, username: str | None, email: str | None, phone: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {"username": None, "email": None, "phone": None}
    for field, value, fn in (("username", username, identifiers.normalize_username),
                             ("email", email, identifiers.normalize_email),
                             ("phone", phone, identifiers.normalize_phone)):
        if value in (None, ""):
            continue
        try:
            out[field] = fn(value)
        except ValidationError as exc:
            raise _validation(field, exc) from exc
    return out


def password_check_policy(*, password: str, username: str | None = None, email: str | None = None,
                          phone: str | None = None, field: str = "password") -> None:
    probe = User(username=username, email=email, phone=phone)
    try:
        password_validation.validate_password(password, user=probe)
    except ValidationError as exc:
        raise _validation(field, exc) from exc


@transaction.atomic
def user_create(*, username: str | None = None, email: str | None = None, phone: str | None = None,
                password: str | None = None, nickname: str | None = None,
                user_type: str = User.UserType.CUSTOMER, tenant: Tenant | None = None,
                is_superuser: bool = False, actor: Actor | None = None, verified: str | None = None,
                external_identity: bool = False, **_: Any) -> User:
    """A new account. It needs a username, email or phone to sign in by, unless the caller binds
    an external identity to it in the same transaction (`external_identity`, federation's first
    sign-in): such an account signs in through its provider and may have no identifier at all,
    as the seed schema allows."""
    ids = normalize_identifiers(username=username, email=email, phone=phone)
    if not any(ids.values()) and not external_identity:
        raise ValidationFailed("At least one of username, email or phone is required.",
                               fields={"username": ["At least one of username, email or phone is required."]})
    if password is not None:
        password_check_policy(password=password, **ids)
    if selectors.identifier_taken(**ids):
        raise AlreadyExists()
    user = User(**ids, user_type=user_type, tenant=tenant, is_superuser=is_superuser)
    if verified in ("email", "phone"):  # the caller proved it with a code
        setattr(user, f"{verified}_verified_at", timezone.now())
    if password is not None:
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():  # a concurrent twin loses here, not with a 500
            user.save(force_insert=True)
    except IntegrityError as exc:
        raise AlreadyExists() from exc
    UserProfile.objects.create(user=user, nickname=nickname or None)
    event_record(action=Action.USER_REGISTERED, actor=actor or Actor.user(user.pk), subject_user_id=user.pk,
                 tenant_id=user.tenant_id,
                 metadata={"user_type": user_type, **({"external_identity": True} if external_identity else {})})
    return user




@transaction.atomic
def user_register(*, username: str | None = None, email: str | None = None, phone: str | None = None,
                  password: str | None = None, nickname: str | None = None) -> User:
    """Self-service sign-up (C-end): limited per client IP, and each address given gets a
    code that proves it (accounts.services.addresses): until then it is no sign-in identifier."""
    from custos import context

    from ..conf import conf
    from ..security import throttle
    from .addresses import signup_codes_send

    ip = context.current().ip
    if ip:
        throttle.counted_limit(f"register:ip:{ip}", conf().register_ip_per_hour, 3600)
    user = user_create(username=username, email=email, phone=phone, password=password, nickname=nickname)
    signup_codes_send(user=user)
    return user


ADMIN_USER_TYPES = (User.UserType.CUSTOMER, User.UserType.STAFF, User.UserType.PARTNER)


@transaction.atomic
def admin_user_create(*, actor: Actor, username: str | None = None, email: str | None = None,
                      phone: str | None = None, password: str | None = None, user_type: str = User.UserType.CUSTOMER,
                      tenant_id: int | None = None, invite: bool = False, nickname: str | None = None,
                      roles: list[str] | None = None) -> User:
    """B-end creation by staff or a tenant admin: an initial password, or an invitation mail
    that lets the user choose one; and its roles in its tenant. All of it, or none of it."""
    if user_type not in ADMIN_USER_TYPES:
        raise ValidationFailed(fields={"user_type": [f"One of {', '.join(ADMIN_USER_TYPES)}."]})
    tenant = None
    if tenant_id is not None:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            raise ValidationFailed(fields={"tenant_id": ["No such tenant."]})
    if invite and not email:
        raise ValidationFailed(fields={"email": ["An invitation needs an email address."]})
    user = user_create(username=username, email=email, phone=phone, password=password, nickname=nickname,
                       user_type=user_type, tenant=tenant, actor=actor)
    if invite and password is None:
        from .passwords import password_invite

        password_invite(user=user)
    if roles:
        from custos import policy

        policy.provider().grant_roles(user_id=user.pk, tenant_id=tenant_id, roles=roles, actor=actor)
    return user


@transaction.atomic
def admin_user_update(*, user_id: int, data: dict[str, Any], actor: Actor) -> User:
    """What staff may correct about an account: identifiers and type. Status moves have their
    own calls; the tenant never changes."""
    allowed = {"username", "email", "phone", "user_type"}
    refused = [k for k in ("tenant_id", "status", "token_version", "is_superuser", "password") if k in data]
    if refused:
        raise ValidationFailed(fields={k: ["This field cannot be changed here."] for k in refused})
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        from custos.exceptions import NotFound

        raise NotFound("No such user.")
    changes = {k: data[k] for k in allowed if k in data}
    for key in ("username", "email", "phone"):
        if key in changes and changes[key] is not None and not isinstance(changes[key], str):
            raise ValidationFailed(fields={key: ["Must be a string or null."]})
    ids = normalize_identifiers(username=changes.get("username"), email=changes.get("email"),
                                phone=changes.get("phone"))
    before: dict[str, Any] = {}
    for key in ("username", "email", "phone"):
        if key in changes:
            new = ids[key]
            lookup = "email__iexact" if key == "email" else key
            if new and User.objects.filter(**{lookup: new}).exclude(pk=user.pk).exists():
                raise AlreadyExists()
            if getattr(user, key) != new:
                before[key] = bool(getattr(user, key))
                setattr(user, key, new)
                if key in ("email", "phone"):
                    setattr(user, f"{key}_verified_at", None)  # staff typed it; the user has not proven it
    if "user_type" in changes:
        if changes["user_type"] not in ADMIN_USER_TYPES:
            raise ValidationFailed(fields={"user_type": [f"One of {', '.join(ADMIN_USER_TYPES)}."]})
        if user.user_type != changes["user_type"]:
            before["user_type"] = user.user_type
            user.user_type = changes["user_type"]
    if not any((user.username, user.email, user.phone)):
        last = next((k for k in ("phone", "email", "username") if k in changes), "username")
        raise ValidationFailed(fields={last: ["An account keeps at least one identifier."]})
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise AlreadyExists() from exc
    if before:
        event_record(action=Action.USER_UPDATED, actor=actor, subject_user_id=user.pk, tenant_id=user.tenant_id,
                     metadata={"fields": sorted(before), "user_type": {"before": before.get("user_type"),
                                                                         "after": user.user_type}
                               if "user_type" in before else None})
    return user


def contact_mark_verified(*, user_id: int, field: str) -> None:
    if field in ("email", "phone"):
        User.objects.filter(pk=user_id, **{f"{field}_verified_at__isnull": True}).update(
            **{f"{field}_verified_at": timezone.now()})
        selectors.me_invalidate(user_id)
