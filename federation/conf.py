"""Federation's settings (config/settings.py, CUSTOS_OAUTH_*), read through one object."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class FederationConf:
    redirect_uris: tuple[str, ...]
    flow_ttl: int
    http_timeout: float
    jwks_min_refetch: float
    logins_per_ip_per_hour: int


def conf() -> FederationConf:
    return FederationConf(
        redirect_uris=tuple(getattr(settings, "CUSTOS_OAUTH_REDIRECT_URIS", ()) or ()),
        flow_ttl=int(getattr(settings, "CUSTOS_OAUTH_FLOW_TTL", 600)),
        http_timeout=float(getattr(settings, "CUSTOS_OAUTH_HTTP_TIMEOUT", 10)),
        jwks_min_refetch=float(getattr(settings, "CUSTOS_OAUTH_JWKS_MIN_REFETCH", 30)),
        logins_per_ip_per_hour=int(getattr(settings, "CUSTOS_OAUTH_LOGINS_PER_IP_PER_HOUR", 300)),
    )
