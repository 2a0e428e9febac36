from __future__ import annotations

from typing import TYPE_CHECKING

from custos import metrics

from .enforcer import enforcer
from .models import CasbinRule
from .subjects import PLATFORM_DOMAIN, tenant_domain, user_subject

if TYPE_CHECKING:
    from accounts.models import User


def user_roles(*, user_id: int, tenant_id: int | None) -> list[str]:
    """The user's directly assigned roles in the tenant's domain, read from the table (token
    issue re-reads them at every refresh; the in-memory index may lag by a poll)."""
    return sorted(CasbinRule.objects.filter(ptype="g", v0=user_subject(user_id), v2=tenant_domain(tenant_id))
                  .values_list("v1", flat=True))


def token_roles(*, user_id: int, tenant_id: int | None) -> list[str]:
    """Roles for a token being issued: read from this process's policy index, which every
    change reaches within the propagation bound (watcher or change-table poll), so each
    refresh re-reads the roles without a query."""
    return sorted(enforcer().index.roles_of(user_subject(user_id), tenant_domain(tenant_id)))


def user_in_domain(*, user_id: int, domain: str) -> User | None:
    """The user, if it exists and belongs to the domain: any user for the platform domain, a
    member for a tenant's. None otherwise: a caller who may not see the other tenants' users
    gets one answer for "not there" and "not ours" (authz.api.views._target_user)."""
    from accounts.selectors import user_get

    user = user_get(user_id=user_id)
    if user is None or (domain != PLATFORM_DOMAIN and domain != tenant_domain(user.tenant_id)):
        return None
    return user


def user_exists(*, user_id: int) -> bool:
    from accounts.selectors import user_get

    return user_get(user_id=user_id) is not None


def may(subject: str, domain: str, obj: str, act: str) -> bool:
    """May `subject` do `act` on `obj` in `domain`? Platform rules apply to every tenant:
    platform staff act across tenants; a tenant's admins only inside their own domain."""
    e = enforcer()
    return e.enforce(subject, domain, obj, act) or (domain != PLATFORM_DOMAIN
                                                     and e.enforce(subject, PLATFORM_DOMAIN, obj, act))


def check(subject: str, domain: str, obj: str, act: str) -> bool:
    allowed = enforcer().enforce(subject, domain, obj, act)
    metrics.AUTHZ_CHECKS.labels("allowed" if allowed else "denied").inc()
    return allowed


def check_batch(requests: list[tuple[str, str, str, str]]) -> list[bool]:
    results = enforcer().batch_enforce(requests)
    yes = sum(results)
    if yes:
        metrics.AUTHZ_CHECKS.labels("allowed").inc(yes)
    if len(results) - yes:
        metrics.AUTHZ_CHECKS.labels("denied").inc(len(results) - yes)
    return results


def roles_in(domain: str) -> list[dict]:
    idx = enforcer().index
    return [{"name": name, "tenant": domain, "permissions": role_permissions(name, domain)}
            for name in sorted(idx.role_names(domain))]


def role_permissions(role: str, domain: str) -> list[dict]:
    return [{"object": o, "action": a} for _, o, a in enforcer().index.permissions_of(role, domain, implicit=False)]


def role_exists(role: str, domain: str) -> bool:
    return role in enforcer().index.role_names(domain)


def subject_roles(subject: str, domain: str) -> list[str]:
    return sorted(enforcer().index.roles_of(subject, domain))


def effective_permissions(subject: str, domain: str) -> list[dict]:
    return [{"object": o, "action": a, "via": via}
            for via, o, a in enforcer().index.permissions_of(subject, domain, implicit=True)]
