"""The audit room's settings (settings.CUSTOS_AUDIT), read through one typed object."""
from __future__ import annotations

from dataclasses import dataclass, field

from custos.conf import cached_conf, from_setting


@dataclass(frozen=True)
class AuditSettings:
    sinks: list[str] = field(default_factory=list)  # the export task's sinks, in order
    amqp_url: str = ""
    amqp_exchange: str = "custos.audit"
    webhook_url: str = ""
    webhook_secret: str = ""
    es_url: str = ""
    es_index: str = "custos-audit"
    es_api_key: str = ""
    batch: int = 500
    settle_seconds: int = 10
    retention_days: int = 365
    purge_batch: int = 1000


@cached_conf
def conf() -> AuditSettings:
    return from_setting(AuditSettings, "CUSTOS_AUDIT")
