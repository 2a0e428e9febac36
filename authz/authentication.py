"""`Authorization: ApiKey <key id>.<secret>` for Clotho and other services."""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication

from custos.crypto import sha256_hex
from custos.exceptions import CustosError

from .subjects import service_subject

_CACHE_SECONDS = 5.0  # a revoked key stops working within this long on every process
_cache: dict[str, tuple[float, str | None, str]] = {}


class ServiceKeyInvalid(CustosError):
    status, code, message = 401, "token_invalid", "The service key is not valid."


@dataclass
class ServicePrincipal:
    name: str
    key_id: str
    is_authenticated: bool = True
    is_service: bool = True
    id: None = None
    tenant_id: None = None
    session_id: None = None

    @property
    def subject(self) -> str:
        return service_subject(self.name)


def _lookup(key_id: str) -> tuple[str | None, str]:
    now = time.monotonic()
    hit = _cache.get(key_id)
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1], hit[2]
    from .models import ServiceKey

    row = ServiceKey.objects.filter(key_id=key_id, revoked_at__isnull=True).values_list("secret_hash", "name").first()
    value = (row[0], row[1]) if row else (None, "")
    _cache[key_id] = (now, *value)
    return value


def principal_from_api_key(http_request) -> ServicePrincipal | None:
    """The service behind `Authorization: ApiKey …` of a Django request; None for another scheme."""
    header = http_request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "apikey":
        return None
    key_id, dot, secret = credential.strip().partition(".")
    if not dot or not key_id or not secret or len(credential) > 200:
        raise ServiceKeyInvalid()
    stored, name = _lookup(key_id)
    presented = sha256_hex(secret)
    if stored is None or not hmac.compare_digest(stored, presented):
        raise ServiceKeyInvalid()
    return ServicePrincipal(name=name, key_id=key_id)


class ServiceKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        principal = principal_from_api_key(request._request)
        return (principal, None) if principal is not None else None

    def authenticate_header(self, request) -> str:
        return "ApiKey"


def forget_cached_keys() -> None:
    _cache.clear()
