"""Proof of an email address or phone number, and what it does to an account whose claim to
that address was never proven.

Anyone can type someone else's address at registration. Until its owner proves it, the
address is not a sign-in identifier (accounts.selectors.user_by_identifier), and when the
owner does prove it from outside the account (a one-time code sent to it, a password reset
link, an external identity vouching for it), whoever registered the account may not be the
owner: the account's password, sessions and second factors are voided in the same
transaction, then the address is marked verified. The owner lands in an account the
claimant can no longer open ("pre-account hijacking"; docs/security.md)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos import context
from custos.exceptions import NotFound

from .. import selectors
from ..conf import conf
from ..errors import OtpInvalid
from ..models import TotpDevice, User
from ..security import throttle
from .lifecycle import user_token_version_bump
from .otp import otp_issue, otp_verify

CONFIRM = {"email": "email_confirm", "phone": "sms_confirm"}  # otp purpose of a sign-up code
CHANNEL = {"email": "email", "phone": "sms"}


@transaction.atomic
def address_proven(*, user_id: int, field: str, actor: Actor, proof: str) -> User:
    """Someone proved control of the account's `field` (email or phone) by `proof` (otp,
    password_reset, oauth). A claim already verified changes nothing; an unverified one
    voids what its claimant could have set up. Returns the account as it now is."""
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    if getattr(user, f"{field}_verified_at") is not None:
        return user
    voided = ["sessions"]
    if user.has_usable_password():
        user.set_unusable_password()
        voided.append("password")
    setattr(user, f"{field}_verified_at", timezone.now())
    user.save(update_fields=["password", f"{field}_verified_at", "updated_at"])
    if TotpDevice.objects.filter(user_id=user.pk).exists():
        from ..security.mfa import totp_disable

        totp_disable(user_id=user.pk, actor=actor, reason="unverified_claim")
        voided.append("mfa")
    # every session and token the claimant may hold ends here (sessions_app on the signal)
    user_token_version_bump(user_id=user.pk, actor=actor, reason="unverified_claim")
    event_record(action=Action.UNVERIFIED_CLAIM_VOIDED, actor=actor, subject_user_id=user.pk,
                 tenant_id=user.tenant_id, metadata={"field": field, "proof": proof, "voided": voided})
    selectors.me_invalidate(user.pk)
    return User.objects.get(pk=user.pk)


def signup_codes_send(*, user: User) -> None:
    """A code to each address given at sign-up, confirmed at …/email/verify (or phone)."""
    for field in ("email", "phone"):
        address = getattr(user, field)
        if address and getattr(user, f"{field}_verified_at") is None:
            throttle.counted_limit(f"otp:dest:{CHANNEL[field]}:{address}", conf().otp_dest_sends_per_hour, 3600)
            otp_issue(purpose=CONFIRM[field], channel=CHANNEL[field], destination=address, user=user,
                      enforce_cooldown=False)


def _same(field: str, a: str | None, b: str) -> bool:
    if a is None:
        return False
    return a.casefold() == b.casefold() if field == "email" else a == b


def is_own_unverified(*, user: User, field: str, address: str) -> bool:
    return _same(field, getattr(user, field), address) and getattr(user, f"{field}_verified_at") is None


def confirm_code_send(*, user: User, field: str) -> None:
    """Another sign-up code for the account's own unproven address."""
    otp_issue(purpose=CONFIRM[field], channel=CHANNEL[field], destination=getattr(user, field), user=user)


def address_confirm(*, user: User | None, field: str, address: str, code: str) -> User:
    """The sign-up code comes back: the address is the account's, proven by the one who
    registered it. Signed in or not (an account registered with only an email has no other
    way to sign in before this). Every failure is the same `otp_invalid`."""
    holder = user if user is not None else selectors.user_by_address(field, address)
    if holder is None or not is_own_unverified(user=holder, field=field, address=address):
        raise OtpInvalid()
    guard = throttle.Guard("confirm", f"{field}:{getattr(holder, field)}", context.current().ip)
    guard.begin()
    try:
        challenge = otp_verify(purpose=CONFIRM[field], channel=CHANNEL[field], destination=getattr(holder, field),
                               code=code)
    except OtpInvalid:
        guard.failed()
        raise
    guard.succeeded()
    if challenge.user_id != holder.pk:
        raise OtpInvalid()
    # (no transaction around the check above: a wrong code's spent attempt must stay spent)
    with transaction.atomic():
        updated = User.objects.filter(pk=holder.pk, **{f"{field}_verified_at__isnull": True}).update(
            **{f"{field}_verified_at": timezone.now()})
        if updated:
            event_record(action=Action.CONTACT_VERIFIED, actor=Actor.user(holder.pk), subject_user_id=holder.pk,
                         tenant_id=holder.tenant_id, metadata={"field": field, "proof": "signup_code"})
        selectors.me_invalidate(holder.pk)
    return User.objects.get(pk=holder.pk)
