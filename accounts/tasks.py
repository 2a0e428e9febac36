"""Mail and SMS, sent after the transaction that asked for them has committed.

Tasks take ids; a secret that must reach the user (a code, a reset link's token) travels
sealed (custos.crypto) so the broker never holds it in the clear. Each task is idempotent
(it re-checks that what it announces is still valid) and retries with backoff."""
from __future__ import annotations

import logging

from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from custos.crypto import unseal

from . import sms
from .conf import conf

log = logging.getLogger("custos.notify")
SITE = "Fly"
RETRY = dict(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=8,
             acks_late=True)


def _deliver(channel: str, to: str, subject: str, template: str, context: dict) -> None:
    body = render_to_string(template, {"site": SITE, **context})
    if channel == "email":
        send_mail(subject, body, None, [to])
    else:
        sms.backend().send(to, body.strip())


@shared_task(**RETRY)
def send_code(challenge_id: int, sealed_code: str) -> None:
    from .models import OtpChallenge

    ch = OtpChallenge.objects.filter(pk=challenge_id).first()
    if ch is None or ch.consumed_at is not None or ch.expires_at <= timezone.now():
        return  # nothing worth sending any more
    code = unseal(sealed_code)
    template = "accounts/code_email.txt" if ch.channel == "email" else "accounts/code_sms.txt"
    _deliver(ch.channel, ch.destination, f"Your {SITE} code", template,
             {"code": code, "minutes": max(1, conf().otp_ttl // 60), "purpose": ch.purpose})
    log.info("code sent", extra={"challenge_id": ch.pk, "channel": ch.channel, "purpose": ch.purpose})


@shared_task(**RETRY)
def send_password_link(token_id: int, sealed_token: str) -> None:
    from .models import PasswordResetToken

    row = PasswordResetToken.objects.select_related("user").filter(pk=token_id).first()
    if row is None or row.used_at or row.voided_at or row.expires_at <= timezone.now() or not row.user.email:
        return
    token = unseal(sealed_token)
    if row.purpose == "invite":
        link = conf().invite_url.format(token=token)
        _deliver("email", row.user.email, f"Your {SITE} account", "accounts/invite_email.txt",
                 {"link": link, "days": max(1, conf().invite_token_ttl // 86400)})
    else:
        link = conf().reset_url.format(token=token)
        _deliver("email", row.user.email, f"Reset your {SITE} password", "accounts/reset_email.txt",
                 {"link": link, "minutes": conf().reset_token_ttl // 60})
    log.info("password link sent", extra={"token_id": row.pk, "purpose": row.purpose})


@shared_task(**RETRY)
def send_contact_changed(channel: str, sealed_old_address: str, what: str, masked_new: str) -> None:
    """Tell the old address that the account's email or phone changed."""
    _deliver(channel, unseal(sealed_old_address), f"Your {SITE} {what} was changed",
             "accounts/contact_changed_email.txt" if channel == "email" else "accounts/contact_changed_sms.txt",
             {"what": what, "masked": masked_new, "code": "-", "minutes": 0})


@shared_task(**RETRY)
def send_security_notice(user_id: int, reasons: list[str]) -> None:
    """Tell the user about a sign-in that looked unusual but was let through."""
    from .models import User

    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    _deliver("email", user.email, f"New sign-in to your {SITE} account", "accounts/security_notice_email.txt",
             {"reasons": [REASON_TEXT.get(r, r) for r in reasons]})


REASON_TEXT = {"new_device": "a device or browser you have not used before", "new_country": "a new country",
               "impossible_travel": "a place too far from your last sign-in", "failure_burst":
               "right after several failed attempts", "too_many_sessions": "while many sessions are open"}


@shared_task(acks_late=True)
def purge_deleted_identifiers() -> int:
    """Free the username, email and phone of accounts deleted longer ago than the retention
    period (beat: daily). The row, its id and its audit trail stay."""
    from .services.lifecycle import deleted_identifiers_free

    return deleted_identifiers_free()
