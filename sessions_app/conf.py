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
    # A session ends `session_max_age` seconds after its sign-in whatever its refreshes, and
    # after `session_idle_timeout` seconds without one (0: no such limit); a user holds at
    # most `max_sessions` live sessions, the oldest ending first (0: no cap).
    session_max_age: int = 30 * 24 * 3600
    session_idle_timeout: int = 14 * 24 * 3600
    max_sessions: int = 50
    # a staff member's console session ends after this many seconds without a console request
    console_idle_timeout: int = 1800
    # ended sessions are removed (with their refresh tokens) this many days after they ended
    session_retention_days: int = 30


@cached_conf
def conf() -> SessionsSettings:
    raw = settings.CUSTOS_SESSIONS
    limits = {name: raw.get(key, default) for name, key, default in (
        ("session_max_age", "SESSION_MAX_AGE", SessionsSettings.session_max_age),
        ("session_idle_timeout", "SESSION_IDLE_TIMEOUT", SessionsSettings.session_idle_timeout),
        ("max_sessions", "MAX_SESSIONS", SessionsSettings.max_sessions),
        ("console_idle_timeout", "CONSOLE_IDLE_TIMEOUT", SessionsSettings.console_idle_timeout),
        ("session_retention_days", "SESSION_RETENTION_DAYS", SessionsSettings.session_retention_days))}
    for name, value in limits.items():
        if type(value) is not int or value < 0:
            raise ValueError(f"CUSTOS_SESSIONS[{name.upper()!r}] must be a whole number >= 0 (0: off), not {value!r}")
    return SessionsSettings(access_ttl=raw["ACCESS_TTL"], refresh_ttl=raw["REFRESH_TTL"],
                            refresh_grace=raw["REFRESH_GRACE"], leeway=raw["LEEWAY"],
                            revocation_poll=raw["REVOCATION_POLL"], **limits)
