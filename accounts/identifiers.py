"""Normalization of the three login identifiers, so uniqueness holds however they are typed."""
from __future__ import annotations

import re
import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{1,63}$")


def normalize_username(value: str) -> str:
    name = unicodedata.normalize("NFKC", value).strip().casefold()
    if not _USERNAME.match(name) or name.isdigit():
        raise ValidationError(
            "2-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit, not all digits.",
            code="invalid_username")
    return name


def normalize_email(value: str) -> str:
    email = unicodedata.normalize("NFKC", value).strip()
    if email.count("@") != 1:
        raise ValidationError("Enter a valid email address.", code="invalid_email")
    local, domain = email.split("@")
    try:
        # The domain is case-insensitive and may be Unicode: store its ASCII (IDNA) form.
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValidationError("Enter a valid email address.", code="invalid_email") from exc
    email = f"{local}@{domain}"
    validate_email(email)
    if len(email) > 128:
        raise ValidationError("Email addresses are limited to 128 characters.", code="invalid_email")
    return email


def normalize_phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, getattr(settings, "CUSTOS_DEFAULT_PHONE_REGION", None) or None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("Enter a phone number in international format.", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def classify(identifier: str) -> tuple[str, str] | None:
    """Which field a login identifier names, normalized; None when it can be none of them."""
    text = identifier.strip()
    try:
        if "@" in text:
            return "email", normalize_email(text)
        if text.startswith("+") or text.replace(" ", "").replace("-", "").isdigit():
            return "phone", normalize_phone(text)
        return "username", normalize_username(text)
    except ValidationError:
        return None


def mask(field: str, value: str) -> str:
    """a***@example.com, +86******1234: enough for the owner to recognize, little for others."""
    if field == "email" and "@" in value:
        local, domain = value.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:]
