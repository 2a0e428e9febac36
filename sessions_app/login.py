"""The sign-in journeys: password, one-time code, second factor. Each ends in
services.session_start, an MFA challenge, or a refusal; brute-force limits and the risk
assessment sit in front of every one."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts import identifiers as account_identifiers
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import User
from accounts.security import mfa, risk, throttle
from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import cachebatch, context, metrics
from custos.exceptions import RateLimited
from custos.exceptions import CustosError, InvalidCredentials, ValidationFailed

from .errors import LoginDenied
from .services import TokenPair, session_start


def _identifier_key(identifier: object) -> str:
    """The throttling key of an identifier: normalized when it parses, so "Alice" and
    "alice" share a counter, and the same shape for accounts that do not exist."""
    if not isinstance(identifier, str):
        return "?"
    kind = account_identifiers.classify(identifier)
    return f"{kind[0]}:{kind[1]}" if kind else f"raw:{identifier.strip().casefold()[:254]}"


def _failure_bookkeeping(*, identifier: str, count: int, method: str, code: str) -> None:
    """Audit the failure, note it in the account's history, lock at the hard limit."""
    from accounts.conf import conf as account_conf

    kind = account_identifiers.classify(identifier)
    user = account_selectors.user_by_identifier(*kind) if kind else None
    with transaction.atomic():
        event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.FAILURE,
                     subject_user_id=user.pk if user else None,
                     metadata={"method": method, "reason": code, "consecutive": count})
        if user is None:
            return
        risk.history_record(user=user, method=method, result="failure")
        if count == account_conf().login_delay_after:
            metrics.LOCKOUTS.labels("delay").inc()
            event_record(action=Action.LOGIN_THROTTLED, actor=Actor.system("bruteforce"), subject_user_id=user.pk,
                         tenant_id=user.tenant_id, metadata={"consecutive_failures": count})
        if count >= account_conf().login_hard_lock_after and user.status == User.Status.ACTIVE:
            metrics.LOCKOUTS.labels("hard").inc()
            account_services.user_transition(user_id=user.pk, action="lock", actor=Actor.system("bruteforce"),
                                             reason="too_many_failures")


@cachebatch.batch()  # the counters it forgives and the stale /users/me leave in one round trip
def login_password(*, identifier: str, password: str) -> TokenPair | dict[str, Any]:
    ip = context.current().ip
    guard = throttle.Guard("login", _identifier_key(identifier), ip)
    try:
        guard.begin()
    except RateLimited:
        metrics.LOGINS.labels("password", "throttled").inc()
        raise
    try:
        user = account_services.credentials_verify(identifier=identifier, password=password)
    except InvalidCredentials as exc:
        count = guard.failed()
        metrics.LOGINS.labels("password", "failure").inc()
        _failure_bookkeeping(identifier=identifier, count=count, method="password", code=exc.code)
        raise
    except CustosError as exc:
        guard.not_a_guess()  # the right password of a disabled account: not a guess to count
        with transaction.atomic():
            event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.DENIED,
                         metadata={"method": "password", "reason": exc.code})
        raise
    guard.succeeded()
    return complete_first_factor(user=user, method="password", amr=["pwd"])


def complete_first_factor(*, user: User, method: str, amr: list[str]) -> TokenPair | dict[str, Any]:
    """After a correct first factor: assess the risk, then refuse, challenge, or sign in."""
    needs_mfa = user.has_mfa if hasattr(user, "has_mfa") else mfa.mfa_enabled(user.pk)
    assessment = risk.assess(user=user)
    # One transaction for the anomaly and what follows it (fewer round trips per login).
    with transaction.atomic():
        risk.anomaly_record(user=user, risk=assessment)
        if assessment.decision == "deny":
            risk.history_record(user=user, method=method, result="denied", risk=assessment)
            event_record(action=Action.LOGIN_FAILED, actor=Actor.user(user.pk), result=Result.DENIED,
                         subject_user_id=user.pk, tenant_id=user.tenant_id,
                         metadata={"method": method, "reason": "risk", "risk": assessment.as_dict()})
        elif not needs_mfa and assessment.decision != "step_up":
            return _sign_in(user=user, method=method, amr=amr, assessment=assessment)
    if assessment.decision == "deny":
        metrics.LOGINS.labels(method, "denied").inc()
        raise LoginDenied()
    if needs_mfa or assessment.decision == "step_up":
        with transaction.atomic():
            if needs_mfa:
                challenge = mfa.challenge_issue(user=user, first_factor="+".join(amr), risk=assessment.as_dict())
            else:
                challenge = _email_step_up(user=user, amr=amr, assessment=assessment)
            risk.history_record(user=user, method=method, result="challenged", risk=assessment)
            event_record(action=Action.LOGIN_CHALLENGED, actor=Actor.user(user.pk), subject_user_id=user.pk,
                         tenant_id=user.tenant_id, metadata={"method": method, "methods": challenge["methods"],
                                                             "risk": assessment.score})
        metrics.LOGINS.labels(method, "challenged").inc()
        return challenge
    return _sign_in(user=user, method=method, amr=amr, assessment=assessment)


def _email_step_up(*, user: User, amr: list[str], assessment: risk.Risk) -> dict[str, Any]:
    """No second factor enrolled but the sign-in looks risky: prove the mailbox or phone."""
    channel, destination = ("email", user.email) if user.email else ("sms", user.phone)
    if not destination:
        raise LoginDenied()
    account_services.otp_issue(purpose="step_up", channel=channel, destination=destination, user=user,
                               enforce_cooldown=False)
    challenge = mfa.challenge_issue(user=user, first_factor="+".join(amr), risk=assessment.as_dict())
    challenge["methods"] = [f"{channel}_otp"]
    return challenge


def _sign_in(*, user: User, method: str, amr: list[str], assessment: risk.Risk | None) -> TokenPair:
    with transaction.atomic(savepoint=False):
        account_services.user_mark_login(user=user)
        pair = session_start(user=user, amr=amr, actor=Actor.user(user.pk))
        risk.history_record(user=user, method=method, result="success", risk=assessment)
        event_record(action=Action.LOGIN_SUCCEEDED, actor=Actor.user(user.pk), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata={"method": method, "session_id": pair.session_id,
                                                         "amr": amr})
        if assessment is not None and assessment.decision == "notify":
            from accounts.tasks import send_security_notice

            reasons = list(assessment.reasons)
            transaction.on_commit(lambda: send_security_notice.delay(user.pk, reasons))
    metrics.LOGINS.labels(method, "success").inc()
    return pair


@cachebatch.batch()  # as login_password: the forgiven counters and the stale /users/me together
def mfa_verify(*, token: object, code: object, method: object) -> TokenPair:
    if method is not None and method not in ("totp", "backup_code", "email_otp", "sms_otp"):
        from custos.exceptions import ValidationFailed

        raise ValidationFailed(fields={"method": ["One of totp, backup_code, email_otp, sms_otp."]})
    ch = mfa.challenge_spend(token=token)
    user = ch.user
    if method in ("email_otp", "sms_otp"):
        channel, destination = ("email", user.email) if method == "email_otp" else ("sms", user.phone)
        guard = throttle.Guard("mfa", str(user.pk), context.current().ip)
        guard.begin()
        try:
            account_services.otp_verify(purpose="step_up", channel=channel, destination=destination or "",
                                        code=code if isinstance(code, str) else "")
        except CustosError:
            guard.failed()
            metrics.MFA_RESULTS.labels(method, "failure").inc()
            raise mfa.MfaInvalid() from None
        guard.succeeded()
        metrics.MFA_RESULTS.labels(method, "success").inc()
        second = "otp"
    else:
        matched = mfa.second_factor_check(user_id=user.pk, code=code, method=method)  # type: ignore[arg-type]
        second = "otp" if matched == "totp" else "kba"
    mfa.challenge_close(ch)
    if user.status != User.Status.ACTIVE:
        raise mfa.MfaInvalid()
    amr = [*ch.first_factor.split("+"), second, "mfa"]
    return _sign_in(user=user, method="mfa", amr=amr, assessment=None)


def otp_send(*, channel: object, destination: object) -> int:
    """Send a login code. The answer is the same whether or not the destination is known;
    unknown ones get a code only when self-registration by OTP is on."""
    from accounts.conf import conf as account_conf

    ch, dest = _otp_destination(channel, destination)
    ip = context.current().ip
    throttle.counted_limit(f"otp:dest:{ch}:{dest}", account_conf().otp_dest_sends_per_hour, 3600)
    if ip:
        throttle.counted_limit(f"otp:ip:{ip}", account_conf().otp_ip_sends_per_hour, 3600)
    field = "email" if ch == "email" else "phone"
    user = account_selectors.user_by_identifier(field, dest)
    if user is not None or account_conf().otp_self_registration:
        account_services.otp_issue(purpose="login", channel=ch, destination=dest, user=user)
    return account_conf().otp_resend_cooldown


def _otp_destination(channel: object, destination: object) -> tuple[str, str]:
    if channel not in ("email", "sms"):
        raise ValidationFailed(fields={"channel": ["One of email, sms."]})
    if not isinstance(destination, str) or not destination or len(destination) > 254:
        raise ValidationFailed(fields={"destination": ["An email address or a phone number."]})
    try:
        ids = account_services.normalize_identifiers(username=None,
                                                     email=destination if channel == "email" else None,
                                                     phone=destination if channel == "sms" else None)
    except ValidationFailed as exc:
        raise ValidationFailed(fields={"destination": sum((exc.fields or {}).values(), [])}) from exc
    dest = ids["email" if channel == "email" else "phone"]
    if channel == "email":
        # codes are keyed by the address as the account stores it: the local part's case
        # is not significant here any more than at login
        user = account_selectors.user_by_identifier("email", dest)
        dest = user.email if user is not None else dest.lower()
    return channel, dest  # type: ignore[return-value]


@cachebatch.batch()  # as login_password: the forgiven counters and the stale /users/me together
def otp_login(*, channel: object, destination: object, code: object) -> TokenPair | dict[str, Any]:
    from accounts.conf import conf as account_conf

    ch, dest = _otp_destination(channel, destination)
    guard = throttle.Guard("otp", f"{ch}:{dest}", context.current().ip)
    guard.begin()
    try:
        account_services.otp_verify(purpose="login", channel=ch, destination=dest,
                                    code=code if isinstance(code, str) else "")
    except CustosError as exc:
        count = guard.failed()
        metrics.LOGINS.labels(f"{ch}_otp", "failure").inc()
        with transaction.atomic():
            event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.FAILURE,
                         metadata={"method": f"{ch}_otp", "reason": exc.code, "consecutive": count})
        raise
    guard.succeeded()
    field = "email" if ch == "email" else "phone"
    user = account_selectors.user_by_identifier(field, dest)
    if user is None:
        if not account_conf().otp_self_registration:
            from accounts.errors import OtpInvalid

            raise OtpInvalid()
        user = account_services.user_create(**{field: dest}, verified=field, actor=Actor.anonymous())
    elif user.status != User.Status.ACTIVE:
        from custos.exceptions import AccountDisabled

        if user.status in (User.Status.DELETED, User.Status.MERGED):
            from accounts.errors import OtpInvalid

            raise OtpInvalid()
        raise AccountDisabled()
    elif getattr(user, f"{field}_verified_at") is None:
        account_services.contact_mark_verified(user_id=user.pk, field=field)
    return complete_first_factor(user=user, method=f"{ch}_otp", amr=["otp", "sms" if ch == "sms" else "email"])
