"""Access tokens on simplejwt's Token class, signed by the key ring."""
from __future__ import annotations

from datetime import timedelta

from rest_framework_simplejwt.tokens import AccessToken

from keys.backends import token_backend

from .conf import conf


class CustosAccessToken(AccessToken):
    token_type = "access"

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return timedelta(seconds=conf().access_ttl)

    def __init__(self, token=None, verify: bool = True) -> None:
        super().__init__(token, verify)
        # TOKEN_TYPE_CLAIM is None (the type is the `typ` header): drop simplejwt's placeholder.
        self.payload.pop(None, None)

    def get_token_backend(self):
        return token_backend()

    def verify_token_type(self) -> None:
        # The type lives in the JOSE header (`typ: at+jwt`), which the backend checks.
        return None
