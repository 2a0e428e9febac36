"""Mail and SMS, sent after the transaction that asked for them has committed.

Tasks take ids; a secret that must reach the user (a code, a reset link's token) travels
sealed (custos.crypto) so the broker never holds it in the clear. Each task is idempotent
(it re-checks that what it announces is still valid) and retries with backoff."""
from __future__ import annotations

import dataclasses
import json
import logging
import threading

from celery import shared_task
from django.core.mail import send_mail
from django.core.signals import request_finished
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from custos import context
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
    subject = f"Confirm your email for {SITE}" if ch.purpose == "email_confirm" else f"Your {SITE} code"
    _deliver(ch.channel, ch.destination, subject, template,
             {"code": code, "minutes": max(1, conf().otp_ttl // 60), "purpose": ch.purpose})
    log.info("code sent", extra={"challenge_id": ch.pk, "channel": ch.channel, "purpose": ch.purpose})


# ---- after the response ----------------------------------------------------------------------
_held = threading.local()


def after_response(task, *args) -> None:
    """Run `task` once the current transaction has committed and, inside a request, once its
    response has gone out, so that none of its work is timed with the answer.

    With a broker, `delay` only publishes and a worker does the work: after commit is enough.
    With eager Celery (the embedded default), `delay` runs the task right there, inside the
    request, before the response is written. There the task is held until Django closes the
    response (request_finished), which the WSGI server does after writing it: the client has
    its answer while this process does the work (under gunicorn the worker is busy meanwhile,
    as a Celery worker would be). Outside a request (a command, a test calling a service)
    there is no answer to wait for, and it runs after commit as usual."""
    if not task.app.conf.task_always_eager or not context.current().request_id:
        transaction.on_commit(lambda: task.delay(*args))
        return
    transaction.on_commit(lambda: _hold(task, args))


def _hold(task, args: tuple) -> None:
    if getattr(_held, "tasks", None) is None:
        _held.tasks = []
    _held.tasks.append((task, args))


def _run_held(**_: object) -> None:
    held, _held.tasks = getattr(_held, "tasks", []), []
    for task, args in held:
        try:
            task.delay(*args)
        except Exception as exc:  # noqa: BLE001 - the response is gone: log it, never a 500 after the fact
            log.error("task after the response failed", extra={"task": task.name, "error": type(exc).__name__})


request_finished.connect(_run_held, dispatch_uid="accounts.tasks.after_response")


@shared_task(**RETRY)
def reset_request_process(sealed_request: str) -> None:
    """The part of a password-reset request that depends on whether the account exists (the
    lookup, the link, the audit event, the mail), after the request was answered. The client's
    context comes along, so the audit event names the address and agent that asked."""
    from .services.passwords import password_reset_issue

    request = json.loads(unseal(sealed_request))
    # only the fields this version knows: a task queued by an older or newer release still runs
    known = {f.name for f in dataclasses.fields(context.RequestContext)}
    token = context.set_current(context.RequestContext(**{k: v for k, v in request["context"].items() if k in known}))
    try:
        issued = password_reset_issue(identifier=request["identifier"])
    finally:
        context.reset(token)
    if not issued:
        # the mail a known account gets is rendered for nobody too, and sent nowhere: this
        # worker (the web process itself with eager Celery) stays about as busy either way
        render_to_string("accounts/reset_email.txt", {"site": SITE, "link": conf().reset_url.format(token="-" * 43),
                                                      "minutes": conf().reset_token_ttl // 60})


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


@shared_task(acks_late=True)
def purge_deleted_identifiers() -> int:
    """Free the username, email and phone of accounts deleted longer ago than the retention
    period (beat: daily). The row, its id and its audit trail stay."""
    from .services.lifecycle import deleted_identifiers_free

    return deleted_identifiers_free()


# ---- retention (beat, hourly; README: CUSTOS_LOGIN_HISTORY_RETENTION_DAYS) ----------------------
# Spent or expired proofs are kept a day past their expiry (for a support question about
# "the code didn't work"), then removed; a used backup code a month.
SPENT_GRACE_DAYS = 1
USED_BACKUP_CODE_DAYS = 30


@shared_task(ignore_result=True, acks_late=True)
def purge_spent(batch: int = 1000) -> dict[str, int]:
    """Remove one-time codes, MFA challenges and reset links past their expiry, used backup
    codes, and sign-in history older than its retention; each table in batches, the run
    recorded in audit_job_runs (the job-run metric)."""
    from datetime import timedelta

    from audit.services import job_finished, job_started
    from custos.retention import delete_in_batches

    from .models import BackupCode, LoginEvent, MfaChallenge, OtpChallenge, PasswordResetToken

    now = timezone.now()
    spent = now - timedelta(days=SPENT_GRACE_DAYS)
    plan = {
        "otp_challenges": OtpChallenge.objects.filter(expires_at__lt=spent),
        "mfa_challenges": MfaChallenge.objects.filter(expires_at__lt=spent),
        "password_reset_tokens": PasswordResetToken.objects.filter(expires_at__lt=spent),
        "backup_codes": BackupCode.objects.filter(used_at__lt=now - timedelta(days=USED_BACKUP_CODE_DAYS)),
        "login_history": LoginEvent.objects.filter(
            occurred_at__lt=now - timedelta(days=conf().login_history_retention_days)),
    }
    job_started("accounts:purge_spent")
    removed: dict[str, int] = {}
    try:
        for table, queryset in plan.items():
            removed[table] = delete_in_batches(queryset, batch=batch)
    except Exception as exc:
        job_finished("accounts:purge_spent", count=sum(removed.values()), error=type(exc).__name__)
        raise
    job_finished("accounts:purge_spent", count=sum(removed.values()))
    log.info("retention", extra={"job": "accounts:purge_spent", "removed": removed})
    return removed
