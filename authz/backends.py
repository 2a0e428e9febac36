"""Django admin permissions for staff are Casbin policies: `app_label.change_user` is action
`change` on object `/admin/accounts/user`, checked in the platform domain; for a tenant-scoped
console page (TENANT_SCOPED), also in the staff member's own tenant domain (`tenant:<id>`).

A permission held in the tenant domain lets a tenant administrator open the page, and the page
itself narrows everything to that tenant through `console_scope` (installed into accounts'
console seam by authz/console_panels.py): the rule "platform rights see every tenant, tenant
rights see their own" lives here once."""
from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from .enforcer import enforcer
from .engine import object_matcher
from .subjects import PLATFORM_DOMAIN, tenant_domain, user_subject

# Console pages that enforce the tenant scope themselves (accounts/admin.py UserAdmin: its list,
# search, user page, actions and panels all ask console_scope). Only these honour a permission
# held in a tenant's domain; every other page stays the platform's, or a tenant administrator
# would see every tenant's rows there.
TENANT_SCOPED: frozenset[str] = frozenset({"accounts.user"})


def admin_object(app_label: str, model: str) -> str:
    return f"/admin/{app_label}/{model}"


def _staff(user_obj) -> bool:
    return bool(getattr(user_obj, "is_active", False) and getattr(user_obj, "is_staff", False))


def console_scope(user_obj, app_label: str = "accounts", model: str = "user") -> frozenset[int] | None:
    """Which tenants' rows `user_obj` may see on a tenant-scoped console page: None for every
    tenant (a superuser, or any console right on the page in the platform domain), the staff
    member's own tenant when the rights are held in that tenant's domain, else nothing."""
    if not _staff(user_obj):
        return frozenset()
    if getattr(user_obj, "is_superuser", False):
        return None
    idx = enforcer().index
    subject, obj = user_subject(user_obj.pk), admin_object(app_label, model)

    def holds(domain: str) -> bool:
        return any(object_matcher(o)(obj) for _, o, _ in idx.permissions_of(subject, domain))

    if holds(PLATFORM_DOMAIN):
        return None
    tenant_id = getattr(user_obj, "tenant_id", None)
    if tenant_id is not None and holds(tenant_domain(tenant_id)):
        return frozenset({tenant_id})
    return frozenset()


class CasbinAdminBackend(BaseBackend):
    def authenticate(self, request, **kwargs):
        return None  # authentication is accounts' backend; this one only answers permissions

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if not _staff(user_obj):
            return False
        app_label, _, codename = perm.partition(".")
        action, _, model = codename.partition("_")
        if not app_label or not model:
            return False
        e, subject, target = enforcer(), user_subject(user_obj.pk), admin_object(app_label, model)
        if e.enforce(subject, PLATFORM_DOMAIN, target, action):
            return True
        tenant_id = getattr(user_obj, "tenant_id", None)
        return (tenant_id is not None and f"{app_label}.{model}" in TENANT_SCOPED
                and e.enforce(subject, tenant_domain(tenant_id), target, action))

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        if not _staff(user_obj):
            return False
        probe = f"/admin/{app_label}/x"
        prefix = f"/admin/{app_label}/"
        idx, subject = enforcer().index, user_subject(user_obj.pk)
        if any(o.startswith(prefix) or object_matcher(o)(probe) for _, o, _ in idx.permissions_of(subject,
                                                                                                     PLATFORM_DOMAIN)):
            return True
        tenant_id = getattr(user_obj, "tenant_id", None)
        scoped = [admin_object(*name.split(".")) for name in TENANT_SCOPED if name.startswith(f"{app_label}.")]
        if tenant_id is None or not scoped:
            return False
        return any(object_matcher(o)(s) for _, o, _ in idx.permissions_of(subject, tenant_domain(tenant_id))
                   for s in scoped)
