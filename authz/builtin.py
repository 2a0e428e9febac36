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

# The staff console's users page for a tenant's support lead (docs/console-users.md): Casbin action
# `<op>` on /admin/accounts/user is Django's permission `accounts.<op>_user`. Held in the tenant's
# domain it counts only on that page, which shows the tenant's own users only
# (authz.backends.TENANT_SCOPED, console_scope). Not `merge`: merging is the platform's.
TENANT_CONSOLE_USER_ACTIONS: tuple[str, ...] = (
    "view", "add", "change", "freeze", "activate", "lock", "unlock", "delete", "forcelogout", "resetmfa",
    "resetpassword", "revokesession", "unbindidentity", "grantrole", "revokerole")

TENANT_ROLES: dict[str, list[tuple[str, str]]] = {
    "tenant_admin": [("/users", "*"), ("/users/*", "*"), ("/authz/*", "*"), ("/sessions", "write"),
                     ("/audit/*", "read"), ("/tenants", "read"),
                     *(("/admin/accounts/user", act) for act in TENANT_CONSOLE_USER_ACTIONS)],
    "auditor": [("/audit/*", "read")],
}
