"""First-time setup (docs/console.md): no default credentials. While no staff account exists,
`manage.py setup_link` (run by `make run`) prints a signed, expiring link; the page it opens
makes the first superuser and enrols their authenticator in one transaction, then is gone."""
from __future__ import annotations

import secrets

from django.core import signing
from django.db import IntegrityError, transaction

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import CustosError, NotFound

from ..conf import conf
from ..models import ConsoleSetup, User
from ..security import mfa
from .registration import user_create

SALT = "custos.console.setup"


class SetupGone(NotFound):
    """The setup page exists only while the install has no staff account and was never set up."""


class SetupLinkInvalid(CustosError):
    status, code, message = 403, "setup_link_invalid", "This setup link is invalid or expired; run `make run` again."


def setup_open() -> bool:
    return (not ConsoleSetup.objects.exists()
            and not User.objects.filter(user_type=User.UserType.STAFF).exists()
            and not User.objects.filter(is_superuser=True).exists())


def setup_link_token() -> str:
    """Signed (SECRET_KEY) and timestamped: every web worker can check it without shared state,
    and it expires after CUSTOS_SETUP_LINK_TTL. Single use comes from the ConsoleSetup row."""
    return signing.dumps({"n": secrets.token_urlsafe(16)}, salt=SALT, compress=True)


def setup_link_check(token: object) -> None:
    if not setup_open():
        raise SetupGone()
    if not isinstance(token, str) or not token or len(token) > 256:
        raise SetupLinkInvalid()
    try:
        signing.loads(token, salt=SALT, max_age=conf().setup_link_ttl)
    except signing.BadSignature as exc:
        raise SetupLinkInvalid() from exc


@transaction.atomic
def setup_complete(*, token: str, username: str, email: str | None, password: str, totp_key_hex: str,
                   code: str) -> tuple[User, list[str]]:
    """The first superuser, their authenticator confirmed by `code`, the install marked set up,
    and `setup.completed` audited, all or nothing. Returns the user and their backup codes."""
    setup_link_check(token)
    user = user_create(username=username, email=email or None, password=password, user_type=User.UserType.STAFF,
                       is_superuser=True, actor=Actor.system("setup"))
    try:
        with transaction.atomic():
            ConsoleSetup.objects.create(id=1, user_id=user.pk)
    except IntegrityError as exc:  # another setup won the race a moment ago
        raise SetupGone() from exc
    codes = mfa.totp_enrol(user=user, key_hex=totp_key_hex, code=code)
    event_record(action=Action.SETUP_COMPLETED, actor=Actor.system("setup"), subject_user_id=user.pk,
                 metadata={"username": user.username})
    return user, codes
