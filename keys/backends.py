"""simplejwt's TokenBackend on the key ring: sign with the active key and a `kid`/`typ`
header, verify by `kid` against an algorithm allowlist."""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from typing import Any

import jwt
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

from custos.exceptions import ServiceUnavailable

from .conf import ALLOWED_ALGORITHMS
from .keyring import keyring

ACCESS_TOKEN_TYP = "at+jwt"
_REQUIRED = ["exp", "iat", "sub", "jti", "iss", "aud"]
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def _b64(segment: str) -> bytes:
    # PyJWT checks the alphabet one character at a time in Python (~70 µs a token); the same
    # rule as one C regex match, then the standard decoder.
    if len(segment) % 4 == 1 or not _SEGMENT.fullmatch(segment):
        raise TokenRejected("malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejected("malformed") from exc


# The largest epoch second a time claim may hold: the end of year 9999, datetime's range.
# JSON as Python reads it also carries 1e300, 400-digit integers, NaN and Infinity; past
# this bound simplejwt's datetime conversion raises (OverflowError, a 500), so such a value
# is refused here, as a malformed claim, before anything converts it.
MAX_EPOCH = 253402300799
MAX_JTI = 255


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def epoch_ok(value: Any) -> bool:
    """A time claim: a finite number of seconds between the epoch and MAX_EPOCH."""
    return _number(value) and (not isinstance(value, float) or math.isfinite(value)) and 0 <= value <= MAX_EPOCH


class NoSigningKey(ServiceUnavailable):
    code, message = "signing_key_unavailable", "No signing key is active; an operator must run rotate_keys."


class TokenRejected(TokenBackendError):
    """A token refused for a reason we can name (for logs and tests; clients see token_invalid)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class KeyRingTokenBackend(TokenBackend):
    # A client presents the same access token on every request of its 15 minutes: the
    # signature of a token is checked once per process and remembered (bounded, oldest out).
    # Time claims are checked on every use; revocation is the caller's check, every time.
    VERIFIED_MAX = 50_000

    def __init__(self) -> None:
        cfg = settings.SIMPLE_JWT
        super().__init__(algorithm=cfg["ALGORITHM"], audience=cfg["AUDIENCE"], issuer=cfg["ISSUER"],
                         leeway=cfg["LEEWAY"])
        self._verified: dict[str, tuple[dict[str, Any], str]] = {}

    def encode(self, payload: dict[str, Any]) -> str:
        key = keyring().signing_key()
        if key is None:
            raise NoSigningKey()
        claims = dict(payload)
        claims["aud"] = self.audience
        claims["iss"] = self.issuer
        return jwt.encode(claims, key.private_key, algorithm=key.alg,
                          headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYP})

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        """Verify an access token. The same checks as PyJWT's decode (whose algorithm objects
        do the cryptography), in one pass over the token instead of three."""
        if isinstance(token, bytes):
            token = token.decode("ascii", "replace")
        if not verify:
            return jwt.decode(token, options={"verify_signature": False})
        hit = self._verified.get(token) if isinstance(token, str) else None
        if hit is not None and keyring().verifying_key(hit[1]) is not None:
            return self._check_claims(dict(hit[0]))
        claims, kid = self._verify(token)
        if len(self._verified) >= self.VERIFIED_MAX:
            self._verified.pop(next(iter(self._verified)), None)
        self._verified[token] = (claims, kid)
        return dict(claims)

    def _verify(self, token: Any) -> tuple[dict[str, Any], str]:
        parts = token.split(".") if isinstance(token, str) and len(token) < 8192 else []
        if len(parts) != 3:
            raise TokenRejected("malformed")
        try:
            header = json.loads(_b64(parts[0]))
        except ValueError as exc:
            raise TokenRejected("malformed") from exc
        if not isinstance(header, dict) or "crit" in header:
            raise TokenRejected("malformed")  # no JOSE extension is understood here
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenRejected("algorithm_not_allowed")
        if not isinstance(typ, str) or typ.lower() not in (ACCESS_TOKEN_TYP, "application/" + ACCESS_TOKEN_TYP):
            raise TokenRejected("wrong_typ")
        if not isinstance(kid, str):
            raise TokenRejected("no_kid")
        key = keyring().verifying_key(kid)
        if key is None:
            raise TokenRejected("unknown_kid")
        if key.alg != alg:  # a key is only ever used with its own algorithm
            raise TokenRejected("algorithm_mismatch")
        payload_raw, signature = _b64(parts[1]), _b64(parts[2])
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        if not key.algorithm.verify(signing_input, key.public_key, signature):
            raise TokenRejected("bad_signature")
        try:
            claims = json.loads(payload_raw)
        except ValueError as exc:
            raise TokenRejected("malformed") from exc
        if not isinstance(claims, dict):
            raise TokenRejected("malformed")
        return self._check_claims(claims), kid

    def _check_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        missing = [c for c in _REQUIRED if c not in claims]
        if missing:
            raise TokenRejected(f"missing_{missing[0]}")
        now = time.time()
        leeway = self.get_leeway().total_seconds()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        # ranges before the expiry test: exp=-1e300 is malformed, not merely expired
        if not epoch_ok(exp) or not epoch_ok(iat) or ("nbf" in claims and not epoch_ok(nbf)):
            raise TokenRejected("bad_time_claim")
        if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str) or not (
                0 < len(claims["jti"]) <= MAX_JTI):
            raise TokenRejected("bad_claim")
        if exp <= now - leeway:
            raise TokenBackendExpiredToken("expired")
        if iat > now + leeway or (nbf is not None and nbf > now + leeway):
            raise TokenRejected("not_yet_valid")
        if not isinstance(claims["iss"], str) or claims["iss"] != self.issuer:
            raise TokenRejected("wrong_issuer")
        aud = claims["aud"]
        # RFC 7519: a string, or a list of strings of which one must be ours
        if isinstance(aud, list):
            if not all(isinstance(a, str) for a in aud) or self.audience not in aud:
                raise TokenRejected("wrong_audience")
        elif not isinstance(aud, str) or aud != self.audience:
            raise TokenRejected("wrong_audience")
        return claims


_backend: KeyRingTokenBackend | None = None


def token_backend() -> KeyRingTokenBackend:
    global _backend
    if _backend is None:
        _backend = KeyRingTokenBackend()
    return _backend
