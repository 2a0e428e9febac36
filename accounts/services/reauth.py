"""Re-authentication: a short-lived proof that the user just confirmed their password (or a
second factor). Signed and stateless, so any worker can check it; bound to the user and
the session it was made for."""
from __future__ import annotations

from django.core import signing

from custos.exceptions import CustosError

SALT = "custos.reauth"
TTL = 300


class ReauthRequired(CustosError):
    status, code, message = 403, "reauth_required", "Confirm your password first (POST /v1/auth/reauth)."


def reauth_token_issue(*, user_id: int, session_id: str | None, method: str) -> str:
    return signing.dumps({"u": user_id, "s": session_id, "m": method}, salt=SALT, compress=True)


def reauth_token_check(*, token: object, user_id: int, session_id: str | None) -> str:
    """The method the token proves (pwd, otp, totp...), or ReauthRequired."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise ReauthRequired()
    try:
        data = signing.loads(token, salt=SALT, max_age=TTL)
    except signing.BadSignature as exc:
        raise ReauthRequired() from exc
    if data.get("u") != user_id or data.get("s") != session_id:
        raise ReauthRequired()
    return str(data.get("m"))


def reauth_with_password(*, user_id: int, session_id: str | None, password: object) -> str:
    from django.contrib.auth.hashers import check_password

    from audit.models import Action, Result
    from audit.services import Actor, event_record
    from custos import context
    from custos.exceptions import InvalidCredentials

    from ..models import User
    from ..security import throttle
    from .credentials import _spend_one_hash

    # A stolen access token must not be a password oracle: re-authentication spends the
    # sign-in's own allowance for the account (its delays, its per-IP limits).
    guard = throttle.account_guard(user_id, context.current().ip)
    guard.begin()
    user = User.objects.filter(pk=user_id, status=User.Status.ACTIVE).first()
    pw = password if isinstance(password, str) else ""
    if user is None or not user.has_usable_password():
        _spend_one_hash(pw)
        ok = False
    else:
        ok = check_password(pw, user.password)
    if not ok:
        count = guard.failed()
        event_record(action=Action.REAUTH_FAILED, actor=Actor.user(user_id), result=Result.FAILURE,
                     subject_user_id=user_id, metadata={"method": "pwd", "consecutive": count})
        raise InvalidCredentials("The password is not correct.")
    guard.succeeded()
    return reauth_token_issue(user_id=user_id, session_id=session_id, method="pwd")
