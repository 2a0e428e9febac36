"""DRF authentication for Custos's own endpoints: the access token plus the revocation state,
with no database query on the hot path."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError

from custos.exceptions import TokenExpired, TokenInvalid

from .revstate import state as revocation_state
from .revstate import token_roles_at
from .tokens import CustosAccessToken


@dataclass
class TokenPrincipal:
    """Who a valid access token speaks for. Views that need the user row load it themselves."""

    id: int
    tenant_id: int | None
    session_id: str | None
    roles: list[str]
    amr: list[str]
    claims: dict[str, Any] = field(repr=False)
    is_authenticated: bool = True
    is_service: bool = False

    @property
    def pk(self) -> int:
        return self.id


def principal_from_bearer(http_request) -> TokenPrincipal | None:
    """The principal of a Django request's bearer token; None without one; CustosError for a
    bad one. Shared by the DRF authentication class and the lean hot-path views."""
    header = http_request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme (ApiKey): another authentication answers
    return _principal(http_request, raw)


class AccessTokenAuthentication(JWTAuthentication):
    www_authenticate_realm = "custos"

    def authenticate(self, request):
        principal = principal_from_bearer(request._request)
        return (principal, principal.claims) if principal is not None else None

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


def _principal(http_request, raw: str) -> TokenPrincipal:
    raw = raw.strip()
    if not raw or " " in raw:
        raise TokenInvalid()
    try:
        token = CustosAccessToken(raw)
    except ExpiredTokenError as exc:
        raise TokenExpired() from exc
    except TokenError as exc:
        raise TokenInvalid() from exc
    # CustosAccessToken.verify range-checked every claim (tokens.claims_problem): these
    # conversions cannot raise.
    claims = token.payload
    user_id, version, sid = int(claims["sub"]), claims["ver"], claims.get("sid")
    revocations = revocation_state()
    if revocations.is_revoked(user_id=user_id, version=version, sid=sid):
        raise TokenInvalid("The access token has been revoked.")
    if revocations.roles_stale(user_id=user_id, tenant_id=claims.get("tid"), roles_at=token_roles_at(claims)):
        # the session lives on: a refresh issues a token with the current roles
        raise TokenInvalid("The access token's roles have changed; refresh it.")
    http_request.custos_user_id = user_id  # for the request log line
    return TokenPrincipal(id=user_id, tenant_id=claims.get("tid"), session_id=sid,
                          roles=list(claims.get("roles", [])), amr=list(claims.get("amr", [])),
                          claims=claims)
