from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from custos.conf import cached_conf

MODEL_PATH = Path(__file__).resolve().parent / "policy" / "rbac_with_domains.v1.conf"


@dataclass(frozen=True)
class AuthzSettings:
    redis_url: str
    watcher_channel: str
    poll_interval: float
    batch_limit: int
    denial_window: int  # seconds: denials are counted per principal and permission in windows this long
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_password: str = ""


@cached_conf
def conf() -> AuthzSettings:
    raw = getattr(settings, "CUSTOS_AUTHZ", {})
    return AuthzSettings(
        redis_url=raw.get("REDIS_URL", getattr(settings, "REDIS_URL", "")),
        watcher_channel=raw.get("WATCHER_CHANNEL", "custos:casbin"),
        poll_interval=raw.get("POLL_INTERVAL", 0.5),
        batch_limit=raw.get("BATCH_LIMIT", 1000),
        denial_window=max(1, int(raw.get("DENIAL_WINDOW", 60))),
        redis_sentinels=tuple(getattr(settings, "REDIS_SENTINELS", ())),
        redis_sentinel_password=getattr(settings, "REDIS_SENTINEL_PASSWORD", ""),
    )
