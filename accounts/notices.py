"""Telling the owner: security-relevant changes and sign-ins go to the account's *verified*
addresses (an unproven one may be someone else's). Each notice is a Celery task queued after
the change commits, carries only the user id, the kind and non-secret details, and is
rendered from a template per kind; nothing it says is a secret (no code, token or password)."""
from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

log = logging.getLogger("custos.notify")

# kind: (subject, the sentence the notice opens with)
KINDS = {
    "password_changed": ("Your {site} password was changed", "The password of your {site} account was changed."),
    "mfa_enabled": ("Two-factor authentication is on", "Two-factor authentication was turned on for your {site} "
                    "account."),
    "mfa_disabled": ("Two-factor authentication is off", "Two-factor authentication was turned off for your {site} "
                     "account."),
    "new_sign_in": ("New sign-in to your {site} account", "Your {site} account was just signed in to from {reasons}."),
    "second_factor_failed": ("Someone has your {site} password", "Someone entered your {site} password correctly "
                             "but failed the second step."),
    "account_merged": ("Two {site} accounts were merged", "Another {site} account was merged into this one: its "
                       "sign-in methods and roles now belong to this account."),
    "merged_away": ("Your {site} account was merged", "This address's {site} account was merged into another "
                    "account and no longer signs in; use that account from now on."),
}
REASON_TEXT = {"new_device": "a device or browser you have not used before", "new_country": "a new country",
               "impossible_travel": "a place too far from your last sign-in", "failure_burst":
               "right after several failed attempts", "too_many_sessions": "while many sessions are open"}
# At most one notice of a kind per account in this many seconds: a burst of wrong second
# factors is one warning, not a mailbox flood.
QUIET_SECONDS = {"second_factor_failed": 900}


def notify(*, user_id: int, kind: str, reasons: list[str] | None = None) -> None:
    """Queue a notice to the account's verified addresses once the current transaction commits."""
    if kind not in KINDS:
        raise ValueError(kind)
    quiet = QUIET_SECONDS.get(kind)
    if quiet and not cache.add(f"notice:{kind}:{user_id}", 1, quiet):
        return
    details = list(reasons or [])
    transaction.on_commit(lambda: send_account_notice.delay(user_id, kind, details))


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=8, acks_late=True)
def send_account_notice(user_id: int, kind: str, reasons: list[str]) -> int:
    """Send one notice to every verified address of the account; returns how many went out."""
    from .models import User
    from .tasks import SITE, _deliver

    user = User.objects.filter(pk=user_id).first()
    if user is None or user.status in (User.Status.DELETED, User.Status.MERGED):
        return 0
    subject, opening = KINDS[kind]
    text = ", ".join(REASON_TEXT.get(r, r) for r in reasons)
    context = {"opening": opening.format(site=SITE, reasons=text), "kind": kind}
    sent = 0
    if user.email and user.email_verified_at is not None:
        _deliver("email", user.email, subject.format(site=SITE), "accounts/notice_email.txt", context)
        sent += 1
    if user.phone and user.phone_verified_at is not None:
        _deliver("sms", user.phone, subject.format(site=SITE), "accounts/notice_sms.txt", context)
        sent += 1
    log.info("account notice sent", extra={"user_id": user_id, "kind": kind, "addresses": sent})
    return sent


def notify_former_addresses(*, user_id: int, kind: str, addresses: list[tuple[str, str]]) -> None:
    """Queue a notice to addresses an account held until the current transaction (a merged
    account's identifiers are freed in it, so the task cannot read them from the row as
    send_account_notice does). The addresses travel sealed (custos.crypto), as codes do."""
    import json

    from custos.crypto import seal

    if kind not in KINDS:
        raise ValueError(kind)
    if not addresses:
        return
    sealed = seal(json.dumps([list(a) for a in addresses]))
    transaction.on_commit(lambda: send_address_notice.delay(user_id, kind, sealed))


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=8, acks_late=True)
def send_address_notice(user_id: int, kind: str, sealed_addresses: str) -> int:
    """Send one notice to each (channel, address) of a sealed list; returns how many went out."""
    import json

    from custos.crypto import unseal

    from .tasks import SITE, _deliver

    subject, opening = KINDS[kind]
    context = {"opening": opening.format(site=SITE, reasons=""), "kind": kind}
    sent = 0
    for channel, address in json.loads(unseal(sealed_addresses)):
        template = "accounts/notice_email.txt" if channel == "email" else "accounts/notice_sms.txt"
        _deliver(channel, address, subject.format(site=SITE), template, context)
        sent += 1
    log.info("account notice sent", extra={"user_id": user_id, "kind": kind, "addresses": sent})
    return sent
