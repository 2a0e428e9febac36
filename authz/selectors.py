from __future__ import annotations

from typing import TYPE_CHECKING

from custos import metrics

from .enforcer import enforcer
from .engine import PolicyIndex, object_matcher
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


# ---- the staff console (authz/admin/) ------------------------------------------------------
def domain_choices() -> list[tuple[str, str]]:
    """Every domain a policy can live in: the platform's, then each tenant's, as (domain, label).
    Reads accounts' tenants directly, as services._domain_exists does: accounts has no tenant
    listing of its own, and authz sits above it."""
    from accounts.models import Tenant

    return [(PLATFORM_DOMAIN, "platform"), *((tenant_domain(pk), f"{name} ({tenant_domain(pk)})")
                                             for pk, name in Tenant.objects.order_by("name", "pk")
                                             .values_list("pk", "name"))]


def domain_known(domain: str) -> bool:
    if domain == PLATFORM_DOMAIN:
        return True
    if not domain.startswith("tenant:") or not domain[7:].isdigit():
        return False
    from accounts.models import Tenant

    return Tenant.objects.filter(pk=int(domain[7:])).exists()


def role_is_builtin(name: str, domain: str) -> bool:
    """A role every installation (platform) or every tenant has: authz/builtin.py."""
    from .builtin import PLATFORM_ROLES, TENANT_ROLES

    return name in (PLATFORM_ROLES if domain == PLATFORM_DOMAIN else TENANT_ROLES)


def _is_principal(subject: str) -> bool:
    return subject.startswith(("user:", "svc:"))


def roles_overview(domain: str) -> list[dict]:
    """The roles of a domain for the console's list: permissions, how many users and services hold
    each directly, and how many roles inherit it. One pass over the domain's assignments, not one
    per role (a tenant may have many thousands of members)."""
    idx = enforcer().index
    grants = idx.domains.get(domain, ({}, {}))[0]
    members: dict[str, int] = {}
    heirs: dict[str, int] = {}
    for sub, held in grants.items():
        counts = members if _is_principal(sub) else heirs
        for role in ((held,) if type(held) is str else held):
            counts[role] = counts.get(role, 0) + 1
    return [{"name": name, "domain": domain, "builtin": role_is_builtin(name, domain),
             "permissions": role_permissions(name, domain), "members": members.get(name, 0),
             "inherited_by": heirs.get(name, 0), "inherits": sorted(idx.roles_of(name, domain))}
            for name in sorted(idx.role_names(domain))]


def role_detail(name: str, domain: str, *, member_limit: int = 500) -> dict | None:
    """One role of a domain: its permissions, the roles it inherits and that inherit it, and its
    direct members (users and services; the first `member_limit`, with the full count)."""
    idx = enforcer().index
    if name not in idx.role_names(domain):
        return None
    holders = idx.members_of(name, domain)
    principals = [s for s in holders if _is_principal(s)]
    return {"name": name, "domain": domain, "builtin": role_is_builtin(name, domain),
            "permissions": role_permissions(name, domain), "inherits": sorted(idx.roles_of(name, domain)),
            "inherited_by": [s for s in holders if not _is_principal(s)],
            "members": principals[:member_limit], "member_count": len(principals)}


def service_roles(names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(domain, role) pairs each service holds directly, for a page of service keys: one query on
    casbin_rule's (ptype, v0) index rather than a walk through every domain of the index."""
    from .subjects import service_subject

    by_subject = {service_subject(n): n for n in names}
    out: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    for sub, role, dom in (CasbinRule.objects.filter(ptype="g", v0__in=list(by_subject))
                           .order_by("v2", "v1").values_list("v0", "v1", "v2")):
        out[by_subject[sub]].append((dom, role))
    return out


def _role_paths(idx: PolicyIndex, subject: str, domain: str) -> dict[str, tuple[str, ...]]:
    """subject and every role it reaches in domain, each with its shortest path from subject, in
    the engine's own walk order (PolicyIndex.subjects_of: breadth first, the same depth limit).
    Walking the reached names in that order and naming each role's first discoverer gives the
    path the engine itself followed."""
    reached = idx.subjects_of(subject, domain)
    inside = set(reached)
    paths: dict[str, tuple[str, ...]] = {subject: (subject,)}
    for name in reached:
        for role in idx.roles_of(name, domain):
            if role in inside and role not in paths:
                paths[role] = paths[name] + (role,)
    return paths


def _explain_domain(idx: PolicyIndex, subject: str, domain: str, obj: str, act: str) -> dict:
    paths = _role_paths(idx, subject, domain)
    matches: list[dict] = []
    other_actions: list[dict] = []
    for name, path in paths.items():
        for _, pattern, action in idx.permissions_of(name, domain, implicit=False):
            if not object_matcher(pattern)(obj):
                continue
            rule = {"path": list(path), "object": pattern, "action": action}
            (matches if action == act or action == "*" else other_actions).append(rule)
    return {"domain": domain, "allowed": bool(matches), "matches": matches,
            "held": sorted(idx.roles_of(subject, domain)),
            "reached": [{"role": name, "path": list(path)} for name, path in paths.items() if name != subject],
            "other_actions": other_actions}


def explain(subject: str, domain: str, obj: str, act: str, *, index: PolicyIndex | None = None) -> dict:
    """Why `subject` may or may not do `act` on `obj` in `domain`, from the same index the
    enforcer decides with.

    - `allowed`: Custos's own checks (`may`): the domain's rules, then the platform's.
    - `allowed_in_domain`: the model in that domain alone (`enforcer().enforce`, what
      /v1/authz/check answers).
    - `domains`: the domain, then (for a tenant) the platform, each with `matches` (every rule
      that grants it, with the role path that reaches it; the first is the one the engine stops
      at), `held` (roles held directly), `reached` (every role reached, with its path) and
      `other_actions` (rules on a matching object for other actions: the usual near miss).
    """
    idx = enforcer().index if index is None else index
    scopes = [domain] if domain == PLATFORM_DOMAIN else [domain, PLATFORM_DOMAIN]
    parts = [_explain_domain(idx, subject, d, obj, act) for d in scopes]
    return {"subject": subject, "domain": domain, "object": obj, "action": act,
            "allowed": any(p["allowed"] for p in parts), "allowed_in_domain": parts[0]["allowed"],
            "domains": parts}
