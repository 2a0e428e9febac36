"""What users change about themselves: profile fields, and their email or phone (proven by
a code sent to the new address; the old one is told)."""
from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.crypto import seal
from custos.exceptions import NotFound, ValidationFailed

from .. import identifiers
from ..conf import conf
from ..errors import AlreadyExists
from ..models import User, UserProfile
from . import addresses
from .otp import otp_issue, otp_verify
from .registration import normalize_identifiers

PROFILE_FIELDS = ("nickname", "avatar", "gender", "birthday", "extra")
FORBIDDEN = ("status", "tenant_id", "tenant", "user_type", "token_version", "roles", "is_superuser", "id",
             "username", "email", "phone", "password", "merged_into_user_id")


def _depth(value: Any, level: int = 1) -> int:
    if isinstance(value, dict):
        return max([level] + [_depth(v, level + 1) for v in value.values()])
    if isinstance(value, list):
        return max([level] + [_depth(v, level + 1) for v in value])
    return level - 1


def _past_date(value: object) -> date | None | bool:
    """The date, None for null, or False when it is not a real date after 1900 and before today."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return False
    return day if date(1900, 1, 1) <= day < timezone.now().date() else False


def profile_clean(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for key in FORBIDDEN:
        if key in data:
            errors[key] = ["This field cannot be changed here."]
    out: dict[str, Any] = {}
    if "nickname" in data:
        v = data["nickname"]
        if v is not None and (not isinstance(v, str) or len(v) > 64 or any(ord(c) < 32 for c in v)):
            errors["nickname"] = ["At most 64 printable characters, or null."]
        else:
            out["nickname"] = (v.strip() or None) if isinstance(v, str) else None
    if "avatar" in data:
        v = data["avatar"]
        ok = v is None
        if isinstance(v, str) and len(v) <= 255:
            parts = urlsplit(v)
            ok = parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in v)
        if not ok:
            errors["avatar"] = ["An http(s) URL of at most 255 characters, or null."]
        else:
            out["avatar"] = v
    if "gender" in data:
        if data["gender"] not in UserProfile.Gender.values:
            errors["gender"] = [f"One of {', '.join(UserProfile.Gender.values)}."]
        else:
            out["gender"] = data["gender"]
    if "birthday" in data:
        day = _past_date(data["birthday"])
        if day is False:
            errors["birthday"] = ["A real date in the past, YYYY-MM-DD, or null."]
        else:
            out["birthday"] = day
    if "extra" in data:
        v = data["extra"]
        if v is not None and (not isinstance(v, dict)
                              or len(json.dumps(v, separators=(",", ":")).encode()) > conf().profile_extra_max_bytes
                              or _depth(v) > conf().profile_extra_max_depth):
            errors["extra"] = [f"A JSON object of at most {conf().profile_extra_max_bytes} bytes and "
                               f"{conf().profile_extra_max_depth} levels, or null."]
        else:
            out["extra"] = v
    if errors:
        raise ValidationFailed(fields=errors)
    return out


@transaction.atomic
def profile_update(*, user_id: int, data: dict[str, Any], actor: Actor) -> None:
    changes = profile_clean(data)
    if not changes:
        return
    profile, _ = UserProfile.objects.select_for_update().get_or_create(user_id=user_id)
    changed = sorted(k for k, v in changes.items() if getattr(profile, k) != v)
    for key, value in changes.items():
        setattr(profile, key, value)
    profile.save()
    User.objects.filter(pk=user_id).update(updated_at=timezone.now())
    if changed:
        # field names only: profile values are personal data the trail does not need
        event_record(action=Action.PROFILE_UPDATED, actor=actor, subject_user_id=user_id,
                     metadata={"fields": changed})


def _contact(channel: str, value: object) -> str:
    field = "email" if channel == "email" else "phone"
    if not isinstance(value, str) or not value:
        raise ValidationFailed(fields={field: ["This field is required."]})
    ids = normalize_identifiers(username=None, email=value if field == "email" else None,
                                phone=value if field == "phone" else None)
    return ids[field]  # type: ignore[return-value]


def contact_change_start(*, user: User, channel: str, value: object) -> None:
    """Send a code to the new address. Taken addresses answer like free ones (no probing);
    the check that matters runs again when the code comes back. The account's own unproven
    address gets another sign-up code instead (accounts.services.addresses)."""
    new = _contact(channel, value)
    field = "email" if channel == "email" else "phone"
    if addresses.is_own_unverified(user=user, field=field, address=new):
        addresses.confirm_code_send(user=user, field=field)
        return
    purpose = f"{channel}_change"
    otp_issue(purpose=purpose, channel="email" if channel == "email" else "sms", destination=new, user=user)


def contact_change_finish(*, user: User | None, channel: str, value: object, code: object, actor: Actor) -> User:
    """The code comes back: a change of address, or the confirmation of the account's own
    address given at sign-up (which needs no session: see addresses.address_confirm)."""
    new = _contact(channel, value)
    field = "email" if channel == "email" else "phone"
    if user is None or addresses.is_own_unverified(user=user, field=field, address=new):
        return addresses.address_confirm(user=user, field=field, address=new,
                                         code=code if isinstance(code, str) else "")
    return _contact_change(user=user, channel=channel, new=new, code=code, actor=actor)


@transaction.atomic
def _contact_change(*, user: User, channel: str, new: str, code: object, actor: Actor) -> User:
    otp_verify(purpose=f"{channel}_change", channel="email" if channel == "email" else "sms", destination=new,
               code=code if isinstance(code, str) else "")
    field = "email" if channel == "email" else "phone"
    lookup = "email__iexact" if field == "email" else field
    if User.objects.filter(**{lookup: new}).exclude(pk=user.pk).exists():
        raise AlreadyExists("This address belongs to another account.")
    locked = User.objects.select_for_update().filter(pk=user.pk).first()
    if locked is None:
        raise NotFound()
    old = getattr(locked, field)
    setattr(locked, field, new)
    setattr(locked, f"{field}_verified_at", timezone.now())
    locked.save(update_fields=[field, f"{field}_verified_at", "updated_at"])
    event_record(action=Action.CONTACT_CHANGED, actor=actor, subject_user_id=user.pk, tenant_id=user.tenant_id,
                 metadata={"field": field, "had_previous": bool(old)})
    if old:
        from ..tasks import send_contact_changed

        sealed, masked = seal(old), identifiers.mask(field, new)
        transaction.on_commit(lambda: send_contact_changed.delay(
            "email" if field == "email" else "sms", sealed, field, masked))
    return locked
