"""simplejwt's TokenBackend on the key ring: sign with the active key and a `kid`/`typ`
header, verify by `kid` against an algorithm allowlist."""
from __future__ import annotations

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


class NoSigningKey(ServiceUnavailable):
    code, message = "signing_key_unavailable", "No signing key is active; an operator must run rotate_keys."


class TokenRejected(TokenBackendError):
    """A token refused for a reason we can name (for logs and tests; clients see token_invalid)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class KeyRingTokenBackend(TokenBackend):
    def __init__(self) -> None:
        cfg = settings.SIMPLE_JWT
        super().__init__(algorithm=cfg["ALGORITHM"], audience=cfg["AUDIENCE"], issuer=cfg["ISSUER"],
                         leeway=cfg["LEEWAY"])

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
        if isinstance(token, bytes):
            token = token.decode("ascii", "replace")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("malformed") from exc
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
        try:
            return jwt.decode(token, key.public_key, algorithms=[key.alg], audience=self.audience,
                              issuer=self.issuer, leeway=self.get_leeway(),
                              options={"require": _REQUIRED, "verify_signature": verify})
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(type(exc).__name__) from exc


_backend: KeyRingTokenBackend | None = None


def token_backend() -> KeyRingTokenBackend:
    global _backend
    if _backend is None:
        _backend = KeyRingTokenBackend()
    return _backend
