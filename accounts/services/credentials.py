from __future__ import annotations

from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.utils import timezone

from custos.exceptions import AccountDisabled, InvalidCredentials

from .. import identifiers, selectors
from ..models import User

_dummy_hash: str | None = None


def _spend_one_hash(password: str) -> None:
    """Verify against a throwaway hash with the current parameters, so an unknown user or an
    account without a password costs the same time as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = make_password("custos-timing-equalizer")
    get_hasher("default").verify(password, _dummy_hash)


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
    if user.tenant_id is not None and user.tenant.status != user.tenant.Status.ACTIVE:
        raise AccountDisabled("This account's organization is disabled.")
    return user


def user_mark_login(*, user: User) -> None:
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login=now)
    user.last_login = now
    selectors.me_invalidate(user.pk)


