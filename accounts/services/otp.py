"""One-time codes for email and SMS: 6 digits from a CSPRNG, stored as an HMAC (a 6-digit
space is too small for a bare hash), valid 5 minutes, single use, at most 5 wrong tries."""
from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from custos import metrics
from custos.crypto import seal
from custos.exceptions import RateLimited

from ..conf import conf
from ..errors import OtpInvalid
from ..models import OtpChallenge, User


def _code_hash(challenge_key: str, code: str) -> str:
    return salted_hmac("custos.otp", f"{challenge_key}:{code}", algorithm="sha256").hexdigest()


def _key(purpose: str, channel: str, destination: str) -> str:
    return f"{purpose}|{channel}|{destination}"


def otp_issue(*, purpose: str, channel: str, destination: str, user: User | None = None,
              enforce_cooldown: bool = True) -> OtpChallenge:
    """Create a challenge and send its code after commit. A resend inside the cooldown is
    refused with 429 and the seconds to wait."""
    now = timezone.now()
    cooldown = conf().otp_resend_cooldown
    with transaction.atomic():
        last = (OtpChallenge.objects.filter(purpose=purpose, channel=channel, destination=destination)
                .order_by("-created_at").values_list("created_at", flat=True).first())
        if enforce_cooldown and last is not None and (now - last).total_seconds() < cooldown:
            wait = int(cooldown - (now - last).total_seconds()) + 1
            raise RateLimited("Wait before asking for another code.", headers={"Retry-After": str(wait)})
        # A new code voids the older ones for the same destination and purpose.
        OtpChallenge.objects.filter(purpose=purpose, channel=channel, destination=destination,
                                    consumed_at__isnull=True).update(consumed_at=now)
        code = f"{secrets.randbelow(10**6):06d}"
        ch = OtpChallenge.objects.create(purpose=purpose, channel=channel, destination=destination, user=user,
                                         code_hash=_code_hash(_key(purpose, channel, destination), code),
                                         created_at=now, expires_at=now + timedelta(seconds=conf().otp_ttl))
        sealed = seal(code)
        from ..tasks import send_code

        transaction.on_commit(lambda: send_code.delay(ch.pk, sealed))
        transaction.on_commit(lambda: metrics.OTP_SENT.labels(channel, purpose).inc())
    return ch


def otp_verify(*, purpose: str, channel: str, destination: str, code: str) -> OtpChallenge:
    """Spend the newest live challenge if the code matches. Two parallel requests with the
    right code: one conditional update wins, the other is refused."""
    now = timezone.now()
    ch = (OtpChallenge.objects.filter(purpose=purpose, channel=channel, destination=destination,
                                      consumed_at__isnull=True, expires_at__gt=now)
          .order_by("-created_at").first())
    if ch is None or ch.attempts >= conf().otp_max_attempts:
        raise OtpInvalid()
    expected = _code_hash(_key(purpose, channel, destination), code if isinstance(code, str) else "")
    if not hmac.compare_digest(expected, ch.code_hash):
        OtpChallenge.objects.filter(pk=ch.pk, attempts__lt=conf().otp_max_attempts).update(
            attempts=F("attempts") + 1)
        raise OtpInvalid()
    won = OtpChallenge.objects.filter(pk=ch.pk, consumed_at__isnull=True,
                                      attempts__lt=conf().otp_max_attempts).update(consumed_at=now)
    if not won:
        raise OtpInvalid()
    return ch
