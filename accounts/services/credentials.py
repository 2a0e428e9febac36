from __future__ import annotations

from django.contrib.auth.hashers import get_hasher, make_password, verify_password
from django.utils import timezone

from custos.exceptions import AccountDisabled, InvalidCredentials
from custos.sql import update_later

from .. import identifiers, selectors
from ..models import Tenant, User

_dummy_hash: str | None = None


def _spend_one_hash(password: str) -> None:
    """Verify against a throwaway hash with the current parameters, so an unknown user or an
    account without a password costs the same time as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = make_password("custos-timing-equalizer")
    get_hasher("default").verify(password, _dummy_hash)


def _tenant_status(user: User) -> str:
    # user_by_identifier reads it with the user; other callers' users fetch it
    return user.tenant_status if hasattr(user, "tenant_status") else user.tenant.status


def credentials_verify(*, identifier: str, password: str) -> User:
    """Password check with one Argon2 computation on every path and one answer for every
    failure; only the right password of a disabled or locked account learns that it is.

    The hash runs on the request's own thread. Running it on a helper thread while the
    sign-in's risk reads went on hid their round trips, but under load it left the CPU idle
    more often than it saved (bench: 6% idle against 3.5%, and fewer sign-ins a second),
    and it read an account's history for wrong passwords too."""
    kind = identifiers.classify(identifier) if isinstance(identifier, str) else None
    return credentials_check(user=selectors.user_by_identifier(*kind) if kind else None, password=password)


def credentials_check(*, user: User | None, password: str) -> User:
    """credentials_verify for a caller that has read the account already (the sign-in flow
    reads it first to count the attempt on the account's own counter): None for no account."""
    if user is None or not user.has_usable_password():
        _spend_one_hash(password)
        raise InvalidCredentials()
    correct, must_update = verify_password(password, user.password)
    if correct and must_update:
        # Parameters changed (or a legacy bcrypt/PBKDF2 hash): store the pinned Argon2id form.
        # The same one way as every write of a sign-in to its user's row (see user_mark_login);
        # this runs before the sign-in's transaction, so it is written at once.
        user.set_password(password)
        update_later(user, "password")
    if not correct:
        raise InvalidCredentials()
    if user.status in (User.Status.DELETED, User.Status.MERGED):
        raise InvalidCredentials()
    if user.status in (User.Status.DISABLED, User.Status.LOCKED):
        raise AccountDisabled()
    if user.tenant_id is not None and _tenant_status(user) != Tenant.Status.ACTIVE:
        raise AccountDisabled("This account's organization is disabled.")
    return user


def user_mark_login(*, user: User) -> None:
    # A sign-in's writes to its user's row go one way: an UPDATE of the named fields that
    # custos.sql builds once from the model (the ORM's update() built more than it ran, and
    # every sign-in sends this one), and that nobody reads the outcome of, so it travels with
    # the sign-in's next statement or its COMMIT. A failure fails the sign-in's transaction.
    user.last_login = timezone.now()
    update_later(user, "last_login")
    selectors.me_invalidate(user.pk)
