"""Roles every installation has. Platform roles are seeded by a migration; tenant roles are
made in a tenant's domain when the tenant is created. None has members to begin with."""
from __future__ import annotations

PLATFORM_ROLES: dict[str, list[tuple[str, str]]] = {
    # everything, everywhere in the platform domain (and, through `may`, in every tenant)
    "platform_admin": [("/*", "*")],
    "auditor": [("/audit/*", "read"), ("/admin/audit/*", "view")],
    # for Clotho and other gateways: ask about any subject, read the revocation feed, introspect
    "gateway": [("/authz/check", "check"), ("/internal/*", "read")],
}

TENANT_ROLES: dict[str, list[tuple[str, str]]] = {
    "tenant_admin": [("/users", "*"), ("/users/*", "*"), ("/authz/*", "*"), ("/sessions", "write"),
                     ("/audit/*", "read"), ("/tenants", "read")],
    "auditor": [("/audit/*", "read")],
}
