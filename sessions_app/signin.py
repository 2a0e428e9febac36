"""The one sign-in flow. Every way in (password, one-time code, second factor, risk step-up,
the staff console, an external identity) passes through here:

    proof  ->  limits  ->  check by the room that owns it  ->  who may use this channel
           ->  risk assessment  ->  MFA challenge / step-up, or issue  ->  history + audit

A *proof* is a first or second factor; the room that owns the secret checks it (accounts:
passwords, one-time codes, TOTP and backup codes; federation: external identities). The
*channel* decides only what a success issues: the API a token pair (sessions_app.services
.session_start), the console a Django session (django.contrib.auth.login). Both share the
brute-force counters (per identifier and per client IP), the risk rules, the MFA challenge,
the login history and the audit events, which carry the channel's name.

It lives in sessions_app because issuing a session is the last step of every sign-in and
sessions_app is the lowest floor that may call accounts (the proofs) and start sessions;
federation, one floor up, brings external identities in through `first_factor_passed`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction
from django.http import HttpRequest

from accounts import identifiers as account_identifiers
from accounts import notices
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.conf import conf as account_conf
from accounts.errors import EmailUnverified, OtpInvalid
from accounts.models import User
from accounts.security import mfa, risk, throttle
from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import cachebatch, context, metrics
from custos.exceptions import AccountDisabled, CustosError, InvalidCredentials, RateLimited, ValidationFailed

from . import selectors
from .errors import LoginDenied
from .services import TokenPair, session_start

Challenge = dict[str, Any]  # {"mfa_required": true, "mfa_token", "methods", "expires_in"}


# ---- channels: what a success issues -----------------------------------------------------------
class Channel(Protocol):
    name: str

    def admits(self, user: User) -> bool:
        """May this user sign in here at all (checked after a correct first factor)."""

    def issue(self, *, user: User, amr: list[str], active_sessions: int | None = None) -> Any:
        """Inside the sign-in's transaction: what the caller gets for a success."""


class ApiChannel:
    """The REST API: a device session with a rotating refresh token and an access JWT."""

    name = "api"

    def admits(self, user: User) -> bool:
        return True

    def issue(self, *, user: User, amr: list[str], active_sessions: int | None = None) -> TokenPair:
        return session_start(user=user, amr=amr, actor=Actor.user(user.pk), active_sessions=active_sessions)


API = ApiChannel()


@dataclass
class ConsoleChannel:
    """The staff console (the Django admin): a Django session, for staff only. The session
    ends when the user's token_version changes (accounts.models.User.get_session_auth_hash)."""

    request: HttpRequest
    name: str = "console"

    def admits(self, user: User) -> bool:
        return user.is_staff

    def issue(self, *, user: User, amr: list[str], active_sessions: int | None = None) -> User:
        from django.contrib.auth import login

        login(self.request, user, backend="accounts.backends.CustosModelBackend")
        self.request.session["custos_amr"] = amr
        return user


@dataclass(frozen=True)
class Signed:
    """Where a sign-in ended: `issued` is the channel's (a TokenPair, a user signed in to the
    console), or None with `challenge` set when a second factor is wanted."""

    issued: Any = None
    challenge: Challenge | None = None


# ---- first factors -----------------------------------------------------------------------------
def _identifier_key(identifier: object, kind: tuple[str, str] | None) -> str:
    """The throttling key of an identifier that names no account: normalized when it parses,
    so "Alice" and "alice" share a counter."""
    if not isinstance(identifier, str):
        return "?"
    if kind is None:
        return f"raw:{identifier.strip().casefold()[:254]}"
    return f"{kind[0]}:{kind[1].casefold()}"  # addresses match without regard to case


def _guard(scope: str, subject: str, *, method: str, channel: Channel,
           target: Callable[[], User | None]) -> throttle.Guard:
    """Count the attempt before its secret is checked; a refused attempt is audited too, with the
    account it aimed at when one exists (`target` reads it only then)."""
    guard = throttle.Guard(scope, subject, context.current().ip)
    try:
        guard.begin()
    except RateLimited:
        metrics.LOGINS.labels(method, "throttled").inc()
        user = target()
        with transaction.atomic():
            event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.DENIED,
                         subject_user_id=user.pk if user else None, tenant_id=user.tenant_id if user else None,
                         metadata={"method": method, "channel": channel.name, "reason": RateLimited.code})
        raise
    return guard


def _failed(*, user: User | None, method: str, code: str, count: int, channel: Channel) -> None:
    """A wrong secret: audit it (with the account it was aimed at, if one exists), note it in
    that account's history, and lock the account at the hard limit."""
    metrics.LOGINS.labels(method, "failure").inc()
    with transaction.atomic():
        event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.FAILURE,
                     subject_user_id=user.pk if user else None, tenant_id=user.tenant_id if user else None,
                     metadata={"method": method, "channel": channel.name, "reason": code, "consecutive": count})
        if user is None:
            return
        risk.history_record(user=user, method=method, result="failure")
        if count == account_conf().login_delay_after:
            metrics.LOCKOUTS.labels("delay").inc()
            event_record(action=Action.LOGIN_THROTTLED, actor=Actor.system("bruteforce"), subject_user_id=user.pk,
                         tenant_id=user.tenant_id, metadata={"consecutive_failures": count, "channel": channel.name})
        if count >= account_conf().login_hard_lock_after and user.status == User.Status.ACTIVE:
            metrics.LOCKOUTS.labels("hard").inc()
            account_services.user_transition(user_id=user.pk, action="lock", actor=Actor.system("bruteforce"),
                                             reason="too_many_failures")


def _refused(*, user: User | None, method: str, code: str, channel: Channel) -> None:
    """The right secret, but not a way in (a disabled account, a customer at the console)."""
    metrics.LOGINS.labels(method, "denied").inc()
    with transaction.atomic():
        event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.DENIED,
                     subject_user_id=user.pk if user else None, tenant_id=user.tenant_id if user else None,
                     metadata={"method": method, "channel": channel.name, "reason": code})


@cachebatch.batch()  # the counters it forgives and the stale /users/me leave in one round trip
def password(*, identifier: str, password: str, channel: Channel = API) -> Signed:
    # The account is read first so that the attempt counts on its own counter, whichever of
    # its identifiers was typed (and re-authentication and password change count there too);
    # an identifier that names no account is counted under itself, exactly alike.
    kind = account_identifiers.classify(identifier) if isinstance(identifier, str) else None
    account = account_selectors.user_by_identifier(*kind) if kind else None
    subject = throttle.login_subject(user_id=account.pk if account else None,
                                     identifier_key=_identifier_key(identifier, kind))
    guard = _guard("login", subject, method="password", channel=channel, target=lambda: account)
    try:
        user = account_services.credentials_check(user=account, password=password)
    except InvalidCredentials as exc:
        count = guard.failed()
        _failed(user=account, method="password", code=exc.code, count=count, channel=channel)
        raise
    except CustosError as exc:
        guard.not_a_guess()  # the right password of a disabled account: not a guess to count
        _refused(user=None, method="password", code=exc.code, channel=channel)
        raise
    if not channel.admits(user):
        # The same answer as a wrong password: the console tells no one which accounts exist.
        guard.not_a_guess()
        _refused(user=user, method="password", code="channel_not_allowed", channel=channel)
        raise InvalidCredentials()
    guard.succeeded()
    return first_factor_passed(user=user, method="password", amr=["pwd"], channel=channel)


def otp_send(*, channel: object, destination: object) -> int:
    """Send a login code. The answer is the same whether or not the destination is known;
    unknown ones get a code only when self-registration by OTP is on."""
    ch, dest = _otp_destination(channel, destination)
    ip = context.current().ip
    throttle.counted_limit(f"otp:dest:{ch}:{dest}", account_conf().otp_dest_sends_per_hour, 3600)
    if ip:
        throttle.counted_limit(f"otp:ip:{ip}", account_conf().otp_ip_sends_per_hour, 3600)
    field = "email" if ch == "email" else "phone"
    user = account_selectors.user_by_address(field, dest)
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
        user = account_selectors.user_by_address("email", dest)
        dest = user.email if user is not None else dest.lower()
    return channel, dest  # type: ignore[return-value]


@cachebatch.batch()  # as password(): the forgiven counters and the stale /users/me together
def one_time_code(*, otp_channel: object, destination: object, code: object, channel: Channel = API) -> Signed:
    ch, dest = _otp_destination(otp_channel, destination)
    method = f"{ch}_otp"
    field = "email" if ch == "email" else "phone"

    def target() -> User | None:
        return account_selectors.user_by_address(field, dest)

    guard = _guard("otp", f"{ch}:{dest}", method=method, channel=channel, target=target)
    try:
        account_services.otp_verify(purpose="login", channel=ch, destination=dest,
                                    code=code if isinstance(code, str) else "")
    except CustosError as exc:
        count = guard.failed()
        _failed(user=target(), method=method, code=exc.code, count=count, channel=channel)
        raise
    guard.succeeded()
    user = account_selectors.user_by_address(field, dest)
    if user is None:
        if not account_conf().otp_self_registration:
            raise OtpInvalid()
        user = account_services.user_create(**{field: dest}, verified=field, actor=Actor.anonymous())
    elif user.status in (User.Status.DELETED, User.Status.MERGED):
        raise OtpInvalid()
    elif user.status != User.Status.ACTIVE:
        _refused(user=user, method=method, code=AccountDisabled.code, channel=channel)
        raise AccountDisabled()
    if not channel.admits(user):
        _refused(user=user, method=method, code="channel_not_allowed", channel=channel)
        raise OtpInvalid()
    if getattr(user, f"{field}_verified_at") is None:
        # The code proved the address; the account's claim to it was never proven, so
        # whoever made the account loses its password, sessions and factors first.
        user = account_services.address_proven(user_id=user.pk, field=field, actor=Actor.anonymous(), proof="otp")
    return first_factor_passed(user=user, method=method, amr=["otp", "sms" if ch == "sms" else "email"],
                               channel=channel)


def external_identity(*, method: str, amr: list[str], proof: Callable[[], User], channel: Channel = API) -> Signed:
    """A first factor a room above this one checks (federation: an external identity, `method`
    `oauth:<provider>`), under the password door's per-client-IP limits: the same request and
    failed-sign-in counters, 429 with Retry-After. `proof()` returns the account or raises a
    CustosError that may name the account it aimed at (`exc.user`). A 400/401 refusal (the proof
    did not hold: a spent state, a code the provider refused) is a failed sign-in: counted
    against the IP and in that account's history; any other (it held but is no way in: a
    disabled account, an email another account holds) is audited and in the history as denied,
    not counted, as a disabled account's right password is not. Both are `login.failed`."""
    ip = context.current().ip
    # The subject is the IP itself, without the per-subject delays (delay_after out of reach):
    # a shared address must not slow every user of a provider down; the IP's counters limit it.
    guard = throttle.Guard("external", f"{method}:{ip}", ip, delay_after=2**31)
    try:
        guard.begin()
    except RateLimited:
        metrics.LOGINS.labels(method, "throttled").inc()
        with transaction.atomic():
            event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.DENIED,
                         metadata={"method": method, "channel": channel.name, "reason": RateLimited.code})
        raise
    try:
        user = proof()
    except CustosError as exc:
        aimed: User | None = getattr(exc, "user", None)
        failed = exc.status in (400, 401)
        count = guard.failed() if failed else 0
        if not failed:
            guard.not_a_guess()
        metrics.LOGINS.labels(method, "failure" if failed else "denied").inc()
        with transaction.atomic():
            event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(),
                         result=Result.FAILURE if failed else Result.DENIED,
                         subject_user_id=aimed.pk if aimed else None, tenant_id=aimed.tenant_id if aimed else None,
                         metadata={"method": method, "channel": channel.name, "reason": exc.code,
                                   **({"consecutive": count} if failed else {})})
            if aimed is not None:
                risk.history_record(user=aimed, method=method, result="failure" if failed else "denied")
        raise
    guard.succeeded()
    return first_factor_passed(user=user, method=method, amr=amr, channel=channel)


# ---- after a correct first factor --------------------------------------------------------------
def first_factor_passed(*, user: User, method: str, amr: list[str], channel: Channel) -> Signed:
    """After a correct first factor (checked by the room that owns it): assess the risk, then
    refuse, ask for a second factor, or issue. Federation enters here with an external identity."""
    if account_conf().require_verified_email and user.email_verified_at is None and user.phone_verified_at is None:
        _refused(user=user, method=method, code=EmailUnverified.code, channel=channel)
        raise EmailUnverified()
    needs_mfa = user.has_mfa if hasattr(user, "has_mfa") else mfa.mfa_enabled(user.pk)
    active_sessions = selectors.active_session_count(user_id=user.pk)  # the risk rule's and the session cap's
    assessment = risk.assess(user=user, active_sessions=active_sessions)
    # One transaction for the anomaly and what follows it (fewer round trips per login).
    with transaction.atomic():
        risk.anomaly_record(user=user, risk=assessment)
        if assessment.decision == "deny":
            risk.history_record(user=user, method=method, result="denied", risk=assessment)
            event_record(action=Action.LOGIN_FAILED, actor=Actor.user(user.pk), result=Result.DENIED,
                         subject_user_id=user.pk, tenant_id=user.tenant_id,
                         metadata={"method": method, "channel": channel.name, "reason": "risk",
                                   "risk": assessment.as_dict()})
        elif not needs_mfa and assessment.decision != "step_up":
            return Signed(issued=_issue(user=user, method=method, amr=amr, assessment=assessment, channel=channel,
                                        active_sessions=active_sessions))
    if assessment.decision == "deny":
        metrics.LOGINS.labels(method, "denied").inc()
        raise LoginDenied()
    with transaction.atomic():
        if needs_mfa:
            challenge = mfa.challenge_issue(user=user, first_factor="+".join(amr), risk=assessment.as_dict())
        else:
            challenge = _email_step_up(user=user, amr=amr, assessment=assessment)
        risk.history_record(user=user, method=method, result="challenged", risk=assessment)
        event_record(action=Action.LOGIN_CHALLENGED, actor=Actor.user(user.pk), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata={"method": method, "channel": channel.name,
                                                         "methods": challenge["methods"], "risk": assessment.score})
    metrics.LOGINS.labels(method, "challenged").inc()
    return Signed(challenge=challenge)


def _email_step_up(*, user: User, amr: list[str], assessment: risk.Risk) -> Challenge:
    """No second factor enrolled but the sign-in looks risky: prove the mailbox or phone."""
    channel, destination = ("email", user.email) if user.email else ("sms", user.phone)
    if not destination:
        raise LoginDenied()
    account_services.otp_issue(purpose="step_up", channel=channel, destination=destination, user=user,
                               enforce_cooldown=False)
    challenge = mfa.challenge_issue(user=user, first_factor="+".join(amr), risk=assessment.as_dict())
    challenge["methods"] = [f"{channel}_otp"]
    return challenge


def _issue(*, user: User, method: str, amr: list[str], assessment: risk.Risk | None, channel: Channel,
           active_sessions: int | None = None) -> Any:
    with transaction.atomic(savepoint=False):
        account_services.user_mark_login(user=user)
        issued = channel.issue(user=user, amr=amr, active_sessions=active_sessions)
        risk.history_record(user=user, method=method, result="success", risk=assessment)
        metadata: dict[str, Any] = {"method": method, "channel": channel.name, "amr": amr}
        if isinstance(issued, TokenPair):
            metadata["session_id"] = issued.session_id
        event_record(action=Action.LOGIN_SUCCEEDED, actor=Actor.user(user.pk), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata=metadata)
        if assessment is not None and assessment.decision == "notify":
            notices.notify(user_id=user.pk, kind="new_sign_in", reasons=assessment.reasons)
    metrics.LOGINS.labels(method, "success").inc()
    return issued


SECOND_FACTORS = ("totp", "backup_code", "email_otp", "sms_otp")


@cachebatch.batch()  # as password(): the forgiven counters and the stale /users/me together
def second_factor(*, token: object, code: object, method: object, channel: Channel = API) -> Signed:
    """The answer to a challenge: a TOTP or backup code, or the code of a risk step-up."""
    if method is not None and method not in SECOND_FACTORS:
        raise ValidationFailed(fields={"method": ["One of totp, backup_code, email_otp, sms_otp."]})
    ch = mfa.challenge_spend(token=token)
    user = ch.user
    if method in ("email_otp", "sms_otp"):
        otp_channel, destination = ("email", user.email) if method == "email_otp" else ("sms", user.phone)
        guard = throttle.Guard("mfa", str(user.pk), context.current().ip)
        guard.begin()
        try:
            account_services.otp_verify(purpose="step_up", channel=otp_channel, destination=destination or "",
                                        code=code if isinstance(code, str) else "")
        except CustosError:
            guard.failed()
            metrics.MFA_RESULTS.labels(method, "failure").inc()
            with transaction.atomic():
                event_record(action=Action.MFA_FAILED, actor=Actor.user(user.pk), result=Result.FAILURE,
                             subject_user_id=user.pk, metadata={"method": method, "channel": channel.name})
            notices.notify(user_id=user.pk, kind="second_factor_failed")
            raise mfa.MfaInvalid() from None
        guard.succeeded()
        metrics.MFA_RESULTS.labels(method, "success").inc()
        second = "otp"
    else:
        try:
            matched = mfa.second_factor_check(user_id=user.pk, code=code, method=method,  # type: ignore[arg-type]
                                              channel=channel.name)
        except mfa.MfaInvalid:
            notices.notify(user_id=user.pk, kind="second_factor_failed")
            raise
        second = "otp" if matched == "totp" else "kba"
    mfa.challenge_close(ch)
    if user.status != User.Status.ACTIVE or not channel.admits(user):
        raise mfa.MfaInvalid()
    amr = [*ch.first_factor.split("+"), second, "mfa"]
    return Signed(issued=_issue(user=user, method="mfa", amr=amr, assessment=None, channel=channel))


# ---- the API's doors (sessions_app.api) ----------------------------------------------------------
def api_answer(signed: Signed) -> TokenPair | Challenge:
    return signed.challenge if signed.challenge is not None else signed.issued


def console_signed_out(*, user: User) -> None:
    """A staff member signed out of the console (the API's logout is services.logout)."""
    with transaction.atomic():
        event_record(action=Action.LOGOUT, actor=Actor.user(user.pk), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata={"channel": "console"})
