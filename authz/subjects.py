"""How Custos names things to Casbin: one place, so every room agrees."""
from __future__ import annotations

PLATFORM_DOMAIN = "platform"


def user_subject(user_id: int | str) -> str:
    return f"user:{user_id}"


def service_subject(name: str) -> str:
    return f"svc:{name}"


def tenant_domain(tenant_id: int | None) -> str:
    return PLATFORM_DOMAIN if tenant_id is None else f"tenant:{tenant_id}"
