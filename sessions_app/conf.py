from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from custos.conf import cached_conf


@dataclass(frozen=True)
class SessionsSettings:
    access_ttl: int
    refresh_ttl: int
    refresh_grace: int
    leeway: int
    revocation_poll: float


@cached_conf
def conf() -> SessionsSettings:
    raw = settings.CUSTOS_SESSIONS
    return SessionsSettings(access_ttl=raw["ACCESS_TTL"], refresh_ttl=raw["REFRESH_TTL"],
                            refresh_grace=raw["REFRESH_GRACE"], leeway=raw["LEEWAY"],
                            revocation_poll=raw["REVOCATION_POLL"])
