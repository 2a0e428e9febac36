"""The seam through which lower rooms (accounts, audit) ask authorization questions without
importing authz, which depends on them. authz installs its provider at start-up."""
from __future__ import annotations

from typing import Any, Protocol


class PolicyProvider(Protocol):
    def allowed(self, request: Any, tenant_id: int | None, obj: str, act: str) -> bool: ...

    def tenants_visible(self, request: Any, obj: str, act: str) -> list[int] | None:
        """Tenant ids where the caller may act; None means every tenant (platform rights)."""

    def grant_roles(self, *, user_id: int, tenant_id: int | None, roles: list[str], actor: Any) -> None: ...


class _DenyAll:
    def allowed(self, request: Any, tenant_id: int | None, obj: str, act: str) -> bool:
        return False

    def tenants_visible(self, request: Any, obj: str, act: str) -> list[int] | None:
        return []

    def grant_roles(self, *, user_id: int, tenant_id: int | None, roles: list[str], actor: Any) -> None:
        raise RuntimeError("no policy provider installed")


_provider: PolicyProvider = _DenyAll()


def install(provider: PolicyProvider) -> None:
    global _provider
    _provider = provider


def provider() -> PolicyProvider:
    return _provider
