"""DRF permission classes that ask Casbin, after DRF has authenticated the caller (unlike
django-casbin-auth's middleware, which runs before a JWT is read and sees everyone as
anonymous)."""
from __future__ import annotations

from rest_framework.permissions import BasePermission

from . import denials
from .selectors import may
from .subjects import PLATFORM_DOMAIN, service_subject, tenant_domain, user_subject


def subject_of(principal) -> str | None:
    if principal is None or not getattr(principal, "is_authenticated", False):
        return None
    if getattr(principal, "is_service", False):
        return service_subject(principal.name)
    return user_subject(principal.id)


def is_superuser(principal) -> bool:
    if getattr(principal, "is_service", False) or principal is None:
        return False
    from accounts.selectors import user_get

    user = user_get(user_id=principal.id)
    return bool(user and user.is_active and user.is_superuser)


def allowed(request, domain: str, obj: str, act: str) -> bool:
    subject = subject_of(request.user)
    if subject is None:
        return False
    if may(subject, domain, obj, act) or is_superuser(request.user):
        return True
    # which permission was missing, should this no become a 403 (authz.denials)
    denials.note(subject=subject, tenant_id=getattr(request.user, "tenant_id", None), domain=domain, obj=obj,
                 act=act)
    return False


def sees_every_tenant(request, obj: str, act: str) -> bool:
    """Has the caller `act` on `obj` in the platform domain (staff, superusers, services with
    platform rights)? Such a caller may learn that an id exists in another tenant."""
    return allowed(request, PLATFORM_DOMAIN, obj, act)


class HasPolicy(BasePermission):
    """`HasPolicy.on("/sessions", "write")`: the caller needs that permission in the platform
    domain or in its own tenant."""

    obj = "/"
    act = "read"

    @classmethod
    def on(cls, obj: str, act: str) -> type[HasPolicy]:
        return type(f"HasPolicy_{obj}_{act}", (cls,), {"obj": obj, "act": act})

    def has_permission(self, request, view) -> bool:
        principal = request.user
        domain = PLATFORM_DOMAIN if getattr(principal, "is_service", False) else tenant_domain(
            getattr(principal, "tenant_id", None))
        return allowed(request, domain, self.obj, self.act)


class CasbinPolicyProvider:
    """authz's answers to custos.policy questions from lower rooms."""

    def allowed(self, request, tenant_id: int | None, obj: str, act: str) -> bool:
        return allowed(request, tenant_domain(tenant_id), obj, act)

    def tenants_visible(self, request, obj: str, act: str) -> list[int] | None:
        if allowed(request, PLATFORM_DOMAIN, obj, act):
            return None
        tenant_id = getattr(request.user, "tenant_id", None)
        if tenant_id is not None and allowed(request, tenant_domain(tenant_id), obj, act):
            return [tenant_id]
        return []

    def grant_roles(self, *, user_id: int, tenant_id: int | None, roles: list[str], actor) -> None:
        from .services import subject_role_grant
        from .subjects import check_role_name

        for role in roles:
            subject_role_grant(subject=user_subject(user_id), role=check_role_name(role, field="roles"),
                               domain=tenant_domain(tenant_id), actor=actor, subject_user_id=user_id)


def my_permissions(principal, domain: str) -> dict:
    """GET /v1/authz/me/permissions: the caller's roles and effective permissions in a domain,
    and the truth about a superuser, whom every Custos check admits (`allowed` above) whatever
    their roles: `superuser: true` and a first permission of everything, via "superuser"."""
    from . import selectors

    subject = subject_of(principal)
    superuser = is_superuser(principal)
    permissions = selectors.effective_permissions(subject, domain)
    if superuser:
        permissions = [{"object": "*", "action": "*", "via": "superuser"}, *permissions]
    return {"subject": subject, "tenant": domain, "superuser": superuser,
            "roles": selectors.subject_roles(subject, domain), "permissions": permissions}
