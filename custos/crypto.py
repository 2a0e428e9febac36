"""Digests of secrets that are only ever compared (sha256_hex), and field encryption for
secrets that must be readable again (TOTP seeds, codes on their way to a mail or SMS task):
Fernet (AES-128-CBC + HMAC-SHA256) with rotation through MultiFernet.

Keys: CUSTOS_FIELD_KEYS (comma-separated Fernet keys, newest first), or one derived from the
Django secret key when unset (the embedded default)."""
from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def sha256_hex(text: str) -> str:
    """The SHA-256 of a secret's UTF-8 bytes, as 64 hex digits: what is stored (and looked up)
    in place of a high-entropy secret (refresh and reset tokens, service keys, backup codes).
    A lone surrogate (JSON allows "\\ud800") is encoded as it stands, so any string has a
    digest and two different strings never share one."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = list(getattr(settings, "CUSTOS_FIELD_KEYS", []) or [])
    if not keys:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"custos-field-encryption",
                       info=b"v1").derive(settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def unseal(token: str, *, ttl: int | None = None) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii"), ttl=ttl).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise ValueError("sealed value is not readable") from exc


def reset_keys() -> None:
    _fernet.cache_clear()
