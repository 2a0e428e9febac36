"""Password change, reset and invitations."""
from __future__ import annotations

import dataclasses
import json
import secrets
from datetime import timedelta

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import context
from custos.crypto import seal, sha256_hex
from custos.exceptions import NotFound, ValidationFailed

from .. import identifiers, notices, selectors
from ..conf import conf
from ..errors import ResetTokenInvalid
from ..models import PasswordResetToken, User
from ..signals import password_changed
from .credentials import _spend_one_hash
from .lifecycle import user_token_version_bump
from .registration import _validation


def _new_password_check(user: User, password: str) -> None:
    """The password rules, given the account itself: they ask whether a second factor backs
    the password (15 characters alone, 8 with one) and use its identifiers as context words."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise _validation("new_password", exc) from exc


def password_change(*, user_id: int, current_password: str, new_password: str, keep_session_id: str | None,
                    actor: Actor) -> None:
    """The current password is checked on the sign-in's per-account counter (a stolen access
    token must not be a password oracle), outside the change's transaction so that a wrong
    guess stays counted and audited."""
    from ..security import throttle

    guard = throttle.account_guard(user_id, context.current().ip)
    guard.begin()
    try:
        _password_change(user_id=user_id, current_password=current_password, new_password=new_password,
                         keep_session_id=keep_session_id, actor=actor)
    except ValidationFailed as exc:
        if exc.reasons != [WRONG_CURRENT]:
            guard.not_a_guess()  # the current password was right; the new one was refused
            raise
        count = guard.failed()
        event_record(action=Action.REAUTH_FAILED, actor=actor, result=Result.FAILURE, subject_user_id=user_id,
                     metadata={"method": "pwd", "during": "password_change", "consecutive": count})
        raise
    except Exception:
        guard.not_a_guess()  # never judged: not a guess to count
        raise
    guard.succeeded()


WRONG_CURRENT = "current_password_incorrect"


@transaction.atomic
def _password_change(*, user_id: int, current_password: str, new_password: str, keep_session_id: str | None,
                     actor: Actor) -> None:
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound()
    if not user.has_usable_password():
        _spend_one_hash(current_password)
        ok = False
    else:
        ok = check_password(current_password, user.password)
    if not ok:
        raise ValidationFailed("The current password is not correct.",
                               fields={"current_password": ["The current password is not correct."]},
                               reasons=[WRONG_CURRENT])
    _new_password_check(user, new_password)
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    password_changed.send(sender=User, user_id=user.pk, keep_session_id=keep_session_id)
    event_record(action=Action.PASSWORD_CHANGED, actor=actor, subject_user_id=user.pk, tenant_id=user.tenant_id)
    notices.notify(user_id=user.pk, kind="password_changed")


def _issue_link(user: User, purpose: str, ttl: int) -> PasswordResetToken:
    now = timezone.now()
    # The newest link voids every older one.
    PasswordResetToken.objects.filter(user=user, used_at__isnull=True, voided_at__isnull=True).update(voided_at=now)
    token = secrets.token_urlsafe(32)
    row = PasswordResetToken.objects.create(user=user, token_hash=sha256_hex(token), purpose=purpose, created_at=now,
                                            expires_at=now + timedelta(seconds=ttl))
    sealed = seal(token)
    from ..tasks import send_password_link

    transaction.on_commit(lambda: send_password_link.delay(row.pk, sealed))
    return row


def password_reset_request(*, identifier: object) -> None:
    """The request's whole part, the same few steps whoever is asked for: the answer must not
    tell whether the account exists, and its timing told (12.9 ms for a known account against
    7.5 ms for a missing one: the link's rows and the mail). So the lookup, the link, the audit
    event and the mail all come after the answer, in accounts.tasks.reset_request_process (see
    accounts.tasks.after_response for what "after" means with eager Celery). The identifier
    and the client's context travel sealed: an address is personal data, and the broker is
    no place for it in the clear."""
    from ..tasks import after_response, reset_request_process

    value = identifier if isinstance(identifier, str) and len(identifier) <= 254 else ""
    _reset_limits(value)
    payload = {"identifier": value, "context": dataclasses.asdict(context.current())}
    after_response(reset_request_process, seal(json.dumps(payload)))


def _reset_limits(identifier: str) -> None:
    """Reset requests per client IP and per identifier as typed (normalized, never looked up:
    a known account and a missing one are limited alike), 429 with Retry-After beyond."""
    from ..security import throttle

    ip = context.current().ip
    if ip:
        throttle.counted_limit(f"reset:ip:{ip}", conf().reset_ip_per_hour, 3600)
    kind = identifiers.classify(identifier) if identifier else None
    # addresses match without regard to case (accounts.selectors), so they count that way too
    key = f"{kind[0]}:{kind[1].casefold()}" if kind else f"raw:{identifier.strip().casefold()}"
    throttle.counted_limit(f"reset:dest:{key}", conf().reset_dest_per_hour, 3600)


@transaction.atomic
def password_reset_issue(*, identifier: str) -> bool:
    """The part of a reset request that looks the account up: a link (mailed after commit) and
    an audit event for an eligible account, an audit event for nobody otherwise. Runs after
    the request was answered; True when a link was issued."""
    kind = identifiers.classify(identifier) if identifier and len(identifier) <= 254 else None
    user = selectors.user_by_identifier(*kind) if kind else None
    # A locked account may reset (that is how it gets back in); deleted and merged ones may not.
    eligible = (user is not None and user.email and user.status in (User.Status.ACTIVE, User.Status.LOCKED,
                                                                     User.Status.DISABLED))
    if eligible:
        _issue_link(user, "reset", conf().reset_token_ttl)
        event_record(action=Action.PASSWORD_RESET_REQUESTED, actor=Actor.anonymous(),
                     subject_user_id=user.pk, tenant_id=user.tenant_id)
        return True
    # The request was answered already, but with eager Celery this process is still busy with
    # it: the same statements for nobody leave a probe sent right after it little to learn
    # from how long the server stays busy. And a request for an unknown account is worth a
    # line in the trail (enumeration attempts show up).
    PasswordResetToken.objects.filter(user_id=-1, used_at__isnull=True).update(voided_at=timezone.now())
    secrets.token_urlsafe(32)
    event_record(action=Action.PASSWORD_RESET_REQUESTED, actor=Actor.anonymous(), result=Result.FAILURE,
                 metadata={"reason": "no_eligible_account"})
    return False


@transaction.atomic
def password_invite(*, user: User) -> PasswordResetToken:
    return _issue_link(user, "invite", conf().invite_token_ttl)


@transaction.atomic
def password_reset_confirm(*, token: object, new_password: object) -> None:
    """Set the new password, end every session, answer without tokens: the user signs in
    again (with their second factor, if they have one)."""
    if not isinstance(token, str) or not token or len(token) > 256:
        raise ResetTokenInvalid()
    if not isinstance(new_password, str):
        raise ValidationFailed(fields={"new_password": ["This field is required."]})
    now = timezone.now()
    row = PasswordResetToken.objects.select_related("user").filter(token_hash=sha256_hex(token)).first()
    if (row is None or row.used_at or row.voided_at or row.expires_at <= now
            or row.user.status in (User.Status.DELETED, User.Status.MERGED)):
        raise ResetTokenInvalid()
    user = row.user
    _new_password_check(user, new_password)
    if not PasswordResetToken.objects.filter(pk=row.pk, used_at__isnull=True, voided_at__isnull=True).update(
            used_at=now):
        raise ResetTokenInvalid()  # a parallel confirm won
    if row.purpose == "reset" and user.email_verified_at is None:
        # The link reached a mailbox the account never proved it holds: whoever registered it
        # loses its second factors and sessions before the mailbox's owner sets a password.
        from .addresses import address_proven

        user = address_proven(user_id=user.pk, field="email", actor=Actor.user(user.pk), proof="password_reset")
    user.set_password(new_password)
    fields = ["password", "updated_at"]
    if row.purpose == "invite" and user.email_verified_at is None:
        user.email_verified_at = now  # the link reached the mailbox: the address is proven
        fields.append("email_verified_at")
    if user.status == User.Status.LOCKED and user.status_reason == "too_many_failures":
        # a lockout by failed passwords ends with a reset; a lock by staff does not
        user.status, user.status_reason, user.status_changed_at = User.Status.ACTIVE, "password_reset", now
        fields += ["status", "status_reason", "status_changed_at"]
    user.save(update_fields=fields)
    if "status" in fields:
        event_record(action=Action.USER_UNLOCKED, actor=Actor.user(user.pk), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata={"before": "locked", "after": "active",
                                                         "reason": "password_reset"})
    user_token_version_bump(user_id=user.pk, actor=Actor.user(user.pk), reason="password_reset")
    event_record(action=Action.PASSWORD_RESET, actor=Actor.user(user.pk), subject_user_id=user.pk,
                 tenant_id=user.tenant_id, metadata={"via": row.purpose})
    if row.purpose == "reset":
        notices.notify(user_id=user.pk, kind="password_changed")
    # whoever holds the mailbox is the owner: the failed attempts on the account are forgiven
    from ..security import throttle

    account_id = user.pk
    transaction.on_commit(lambda: throttle.reset_for("login", throttle.login_subject(user_id=account_id,
                                                                                   identifier_key="")))
