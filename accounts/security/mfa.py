"""Second factors: TOTP (RFC 6238 through django-otp's oath implementation, seed encrypted at
rest, each code accepted once) and backup codes (hashed, single use); and the MFA challenge
that sits between a correct first factor and the tokens."""
from __future__ import annotations

import base64
import hmac
import secrets
from datetime import timedelta
from urllib.parse import quote, urlencode

import segno
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP

from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import context, metrics
from custos.crypto import seal, sha256_hex, unseal
from custos.exceptions import Conflict, CustosError, NotFound

from .. import notices
from ..conf import conf
from ..models import BackupCode, MfaChallenge, TotpDevice, User
from .throttle import Guard

BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class MfaInvalid(CustosError):
    status, code, message = 401, "mfa_invalid", "The code is wrong or was already used."


class MfaTokenInvalid(MfaInvalid):
    message = "The MFA token is invalid, used or expired; sign in again."


def mfa_enabled(user_id: int) -> bool:
    return TotpDevice.objects.filter(user_id=user_id, confirmed=True).exists()


def mfa_methods(user_id: int) -> list[str]:
    methods = ["totp"] if mfa_enabled(user_id) else []
    if methods and BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).exists():
        methods.append("backup_code")
    return methods


# ---- TOTP device life -----------------------------------------------------------------------
def totp_secret_new(*, label: str) -> dict[str, str]:
    """A fresh TOTP secret and what an authenticator app needs to scan it. `key_hex` is the
    secret as stored (sealed) on the device; the rest is for the person enrolling."""
    raw = secrets.token_bytes(20)  # 160 bits, RFC 4226's recommendation
    secret = base64.b32encode(raw).decode().rstrip("=")
    label = quote(f"{conf().totp_issuer}:{label}")
    uri = f"otpauth://totp/{label}?" + urlencode({"secret": secret, "issuer": conf().totp_issuer,
                                                  "algorithm": "SHA1", "digits": 6, "period": 30})
    return {"key_hex": raw.hex(), "otpauth_uri": uri, "secret": secret,
            "qr_svg": segno.make(uri, error="m").svg_inline(scale=4)}


@transaction.atomic
def totp_setup(*, user: User) -> dict[str, str]:
    """A new, unconfirmed device (replacing an unconfirmed one). Refused while one is active:
    disable it first (which needs a re-auth)."""
    if mfa_enabled(user.pk):
        raise Conflict("Two-factor authentication is already on; turn it off first.", code="mfa_already_enabled")
    TotpDevice.objects.filter(user=user, confirmed=False).delete()
    new = totp_secret_new(label=str(user.username or user.email or user.phone or user.pk))
    TotpDevice.objects.create(user=user, name="authenticator", confirmed=False, key_sealed=seal(new.pop("key_hex")))
    return new


def _totp(device: TotpDevice) -> TOTP:
    return TOTP(bytes.fromhex(unseal(device.key_sealed)), step=device.step, digits=device.digits)


def _verify_totp(device: TotpDevice, code: str, now: float | None = None) -> bool:
    """True once per time step: the step is recorded with a conditional update, so two
    parallel requests with the same code cannot both win."""
    if not (isinstance(code, str) and code.isdigit() and len(code) == device.digits):
        return False
    totp = _totp(device)
    if now is not None:
        totp.time = now
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = offset
        if hmac.compare_digest(str(totp.token()).zfill(device.digits), code):
            t = totp.t()
            return TotpDevice.objects.filter(pk=device.pk, last_t__lt=t).update(last_t=t) == 1
    return False


def _new_backup_codes(user: User) -> list[str]:
    now = timezone.now()
    BackupCode.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
    codes = ["".join(secrets.choice(BACKUP_ALPHABET) for _ in range(10)) for _ in range(10)]
    BackupCode.objects.bulk_create([BackupCode(user=user, code_hash=sha256_hex(c)) for c in codes])
    return [f"{c[:5]}-{c[5:]}" for c in codes]


@transaction.atomic
def totp_confirm(*, user: User, code: object) -> list[str]:
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise NotFound("No authenticator is waiting for confirmation; start with /v1/mfa/totp/setup.")
    guard = Guard("mfa", str(user.pk), context.current().ip, delay_after=conf().mfa_failures_delay_after)
    guard.begin()
    if not _verify_totp(device, code if isinstance(code, str) else ""):
        guard.failed()
        raise MfaInvalid()
    guard.succeeded()
    return _totp_confirmed(user=user, device=device)


def _totp_confirmed(*, user: User, device: TotpDevice) -> list[str]:
    device.confirmed, device.confirmed_at = True, timezone.now()
    device.save(update_fields=["confirmed", "confirmed_at"])
    codes = _new_backup_codes(user)
    event_record(action=Action.MFA_ENABLED, actor=Actor.user(user.pk), subject_user_id=user.pk,
                 tenant_id=user.tenant_id, metadata={"method": "totp"})
    notices.notify(user_id=user.pk, kind="mfa_enabled")
    return codes


@transaction.atomic
def totp_enrol(*, user: User, key_hex: str, code: object) -> list[str]:
    """Enrol and confirm in one step a secret the person has already scanned (the first-time
    setup shows the secret before the account exists). A wrong code writes nothing: MfaInvalid,
    and the caller's transaction rolls back. Returns the backup codes."""
    device = TotpDevice.objects.create(user=user, name="authenticator", confirmed=False, key_sealed=seal(key_hex))
    if not _verify_totp(device, code if isinstance(code, str) else ""):
        raise MfaInvalid()
    return _totp_confirmed(user=user, device=device)


@transaction.atomic
def totp_disable(*, user_id: int, actor: Actor, reason: str = "user") -> None:
    deleted, _ = TotpDevice.objects.filter(user_id=user_id).delete()
    BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).update(used_at=timezone.now())
    if deleted:
        event_record(action=Action.MFA_DISABLED, actor=actor, subject_user_id=user_id,
                     metadata={"method": "totp", "reason": reason})
        if reason != "unverified_claim":  # the claimant's factor, voided for the address's owner
            notices.notify(user_id=user_id, kind="mfa_disabled")


@transaction.atomic
def backup_codes_regenerate(*, user: User) -> list[str]:
    if not mfa_enabled(user.pk):
        raise Conflict("Turn on two-factor authentication first.", code="mfa_not_enabled")
    codes = _new_backup_codes(user)
    event_record(action=Action.MFA_BACKUP_CODES_REGENERATED, actor=Actor.user(user.pk), subject_user_id=user.pk)
    return codes


def second_factor_check(*, user_id: int, code: object, method: str | None, channel: str = "api") -> str:
    """Check a TOTP or backup code, throttled per user across every second factor. Returns
    the method that matched; a failure is audited with the door it came through (`channel`)."""
    code = code.strip().lower().replace(" ", "") if isinstance(code, str) else ""
    guard = Guard("mfa", str(user_id), context.current().ip, delay_after=conf().mfa_failures_delay_after)
    guard.begin()
    matched = None
    if method in (None, "totp") and code.isdigit():
        device = TotpDevice.objects.filter(user_id=user_id, confirmed=True).first()
        if device is not None and _verify_totp(device, code):
            matched = "totp"
    if matched is None and method in (None, "backup_code") and len(code.replace("-", "")) == 10:
        h = sha256_hex(code.replace("-", ""))
        row = BackupCode.objects.filter(user_id=user_id, code_hash=h, used_at__isnull=True).first()
        if row is not None and BackupCode.objects.filter(pk=row.pk, used_at__isnull=True).update(
                used_at=timezone.now()) == 1:
            matched = "backup_code"
    if matched is None:
        guard.failed()
        metrics.MFA_RESULTS.labels(method or "any", "failure").inc()
        with transaction.atomic():
            event_record(action=Action.MFA_FAILED, actor=Actor.user(user_id), result=Result.FAILURE,
                         subject_user_id=user_id, metadata={"method": method or "any", "channel": channel})
        raise MfaInvalid()
    guard.succeeded()
    metrics.MFA_RESULTS.labels(matched, "success").inc()
    return matched


# ---- the challenge between the factors ------------------------------------------------------
def challenge_issue(*, user: User, first_factor: str, risk: dict) -> dict:
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    ttl = conf().mfa_token_ttl
    MfaChallenge.objects.create(token_hash=sha256_hex(token), user=user, first_factor=first_factor, risk=risk,
                                created_at=now, expires_at=now + timedelta(seconds=ttl))
    return {"mfa_required": True, "mfa_token": token, "methods": mfa_methods(user.pk) or ["totp"],
            "expires_in": ttl}


def challenge_spend(*, token: object) -> MfaChallenge:
    """The challenge, if live: used up only by a correct second factor (see mfa_verify)."""
    if not isinstance(token, str) or not token or len(token) > 256:
        raise MfaTokenInvalid()
    ch = MfaChallenge.objects.select_related("user", "user__tenant").filter(token_hash=sha256_hex(token)).first()
    if ch is None or ch.used_at is not None or ch.expires_at <= timezone.now():
        raise MfaTokenInvalid()
    return ch


def challenge_close(ch: MfaChallenge) -> None:
    if not MfaChallenge.objects.filter(pk=ch.pk, used_at__isnull=True).update(used_at=timezone.now()):
        raise MfaInvalid()


def admin_reset(*, user_id: int, actor: Actor) -> None:
    """Staff turn a user's MFA off (lost phone): audited as such."""
    totp_disable(user_id=user_id, actor=actor, reason="staff_reset")
