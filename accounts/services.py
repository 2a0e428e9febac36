from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import AccountDisabled, InvalidCredentials, ValidationFailed

from . import identifiers, selectors
from .errors import AlreadyExists
from .models import Tenant, User, UserProfile
from .signals import tenant_created, user_tokens_invalidated

_dummy_hash: str | None = None


def _spend_one_hash(password: str) -> None:
    """Verify against a throwaway hash with the current parameters, so an unknown user or an
    account without a password costs the same time as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = make_password("custos-timing-equalizer")
    get_hasher("default").verify(password, _dummy_hash)


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
                          phone: str | None = None) -> None:
    probe = User(username=username, email=email, phone=phone)
    try:
        password_validation.validate_password(password, user=probe)
    except ValidationError as exc:
        raise _validation("password", exc) from exc


@transaction.atomic
def user_create(*, username: str | None = None, email: str | None = None, phone: str | None = None,
                password: str | None = None, nickname: str | None = None,
                user_type: str = User.UserType.CUSTOMER, tenant: Tenant | None = None,
                is_superuser: bool = False, actor: Actor | None = None, **_: Any) -> User:
    ids = normalize_identifiers(username=username, email=email, phone=phone)
    if not any(ids.values()):
        raise ValidationFailed("At least one of username, email or phone is required.",
                               fields={"username": ["At least one of username, email or phone is required."]})
    if password is not None:
        password_check_policy(password=password, **ids)
    if selectors.identifier_taken(**ids):
        raise AlreadyExists()
    user = User(**ids, user_type=user_type, tenant=tenant, is_superuser=is_superuser)
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
                 tenant_id=user.tenant_id, metadata={"user_type": user_type})
    return user


def credentials_verify(*, identifier: str, password: str) -> User:
    """Password check with one Argon2 computation on every path and one answer for every
    failure; only the right password of a disabled or locked account learns that it is."""
    kind = identifiers.classify(identifier) if isinstance(identifier, str) else None
    user = selectors.user_by_identifier(*kind) if kind else None
    if user is None or not user.has_usable_password():
        _spend_one_hash(password)
        raise InvalidCredentials()

    def rehash(raw: str) -> None:
        # Parameters changed (or a legacy bcrypt/PBKDF2 hash): store the pinned Argon2id form.
        user.set_password(raw)
        User.objects.filter(pk=user.pk).update(password=user.password)

    if not check_password(password, user.password, setter=rehash):
        raise InvalidCredentials()
    if user.status in (User.Status.DELETED, User.Status.MERGED):
        raise InvalidCredentials()
    if user.status in (User.Status.DISABLED, User.Status.LOCKED):
        raise AccountDisabled()
    return user


def user_mark_login(*, user: User) -> None:
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login=now)
    user.last_login = now


@transaction.atomic
def user_token_version_bump(*, user_id: int, actor: Actor, reason: str) -> int:
    """Invalidate every access token of the user (global kick). Returns the new version."""
    updated = User.objects.filter(pk=user_id).update(token_version=F("token_version") + 1)
    if not updated:
        from custos.exceptions import NotFound

        raise NotFound("No such user.")
    version = User.objects.values_list("token_version", flat=True).get(pk=user_id)
    user_tokens_invalidated.send(sender=User, user_id=user_id, token_version=version, reason=reason, actor=actor)
    return version


@transaction.atomic
def tenant_create(*, name: str, actor: Actor) -> Tenant:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise ValidationFailed(fields={"name": ["1 to 128 characters."]})
    if Tenant.objects.filter(name__iexact=name).exists():
        raise AlreadyExists("A tenant with this name already exists.")
    tenant = Tenant.objects.create(name=name)
    event_record(action=Action.TENANT_CREATED, actor=actor, tenant_id=tenant.pk, metadata={"name": name})
    tenant_created.send(sender=Tenant, tenant_id=tenant.pk)
    return tenant
