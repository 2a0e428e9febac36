"""Every change to roles and permissions. Each writes casbin_rule through the adapter, an
`authz_policy_changes` row and an audit event (actor, before, after) in one transaction;
after commit, this process reloads the domain and tells the others."""
from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.crypto import sha256_hex
from custos.exceptions import Conflict, ValidationFailed

from .adapter import CustosAdapter
from .builtin import PLATFORM_ROLES, TENANT_ROLES
from .enforcer import enforcer
from .errors import RoleExists, RoleNotFound
from .models import CasbinRule, PolicyChange, ServiceKey
from .signals import roles_changed
from .subjects import PLATFORM_DOMAIN, check_action, check_object, check_role_name, service_subject, tenant_domain

Permission = tuple[str, str]  # (object, action)
_adapter = CustosAdapter()


def _tenant_of(domain: str) -> int | None:
    return int(domain[7:]) if domain.startswith("tenant:") else None


def _role_permissions(role: str, domain: str) -> list[Permission]:
    return sorted(CasbinRule.objects.filter(ptype="p", v0=role, v1=domain).values_list("v2", "v3"))


def _role_exists(role: str, domain: str) -> bool:
    return (CasbinRule.objects.filter(ptype="p", v0=role, v1=domain).exists()
            or CasbinRule.objects.filter(ptype="g", v1=role, v2=domain).exists())


def _user_stale(subject: str) -> None:
    """A user's roles show in /users/me: drop its cached copy."""
    if subject.startswith("user:") and subject[5:].isdigit():
        from accounts.selectors import me_invalidate

        me_invalidate(int(subject[5:]))


def _user_ids(subjects: Iterable[str]) -> list[int]:
    return sorted({int(s[5:]) for s in subjects if s.startswith("user:") and s[5:].isdigit()})


def _roles_changed(domain: str, user_ids: list[int] | None) -> None:
    """Tell the rooms above that tokens issued before now carry stale roles: `user_ids`, or
    any user of the domain (None). Inside the change's transaction, so both commit together."""
    if user_ids is None or user_ids:
        roles_changed.send(sender=None, user_ids=user_ids, tenant_id=_tenant_of(domain), at=timezone.now())


def _changed(domain: str) -> None:
    PolicyChange.objects.create(domain=domain, created_at=timezone.now())
    transaction.on_commit(lambda: enforcer().changed([domain]))


def _clean_permissions(permissions: Iterable[tuple[object, object]]) -> list[Permission]:
    """A role exists in Casbin through its rules: one without permissions cannot be stored, so
    it is refused (delete the role instead)."""
    out = []
    for i, (obj, act) in enumerate(permissions):
        out.append((check_object(obj, field=f"permissions.{i}.object"),
                    check_action(act, field=f"permissions.{i}.action")))
    if not out:
        raise ValidationFailed(fields={"permissions": ["A role needs at least one permission."]})
    return sorted(set(out))


def _domain_exists(domain: str) -> None:
    if domain.startswith("tenant:"):
        from accounts.models import Tenant

        if not Tenant.objects.filter(pk=int(domain[7:])).exists():
            raise ValidationFailed(fields={"tenant": ["No such tenant."]})


def _builtin(name: str, domain: str) -> bool:
    return name in (PLATFORM_ROLES if domain == PLATFORM_DOMAIN else TENANT_ROLES)


@transaction.atomic
def role_create(*, name: str, domain: str, permissions: Iterable[tuple[object, object]],
                actor: Actor) -> list[Permission]:
    check_role_name(name)
    _domain_exists(domain)
    perms = _clean_permissions(permissions)
    if _role_exists(name, domain):
        raise RoleExists()
    if perms:
        _adapter.add_policies("p", "p", [[name, domain, o, a] for o, a in perms])
    _changed(domain)
    event_record(action=Action.POLICY_CHANGED, actor=actor, tenant_id=_tenant_of(domain),
                 metadata={"change": "role_created", "role": name, "domain": domain,
                           "before": None, "after": [list(p) for p in perms]})
    return perms


@transaction.atomic
def role_permissions_replace(*, name: str, domain: str, permissions: Iterable[tuple[object, object]],
                             actor: Actor) -> list[Permission]:
    """Swap a role's permissions in one transaction: no reader sees a half-replaced role."""
    perms = _clean_permissions(permissions)
    if not _role_exists(name, domain):
        raise RoleNotFound()
    before = _role_permissions(name, domain)
    _adapter.remove_filtered_policy("p", "p", 0, name, domain)
    if perms:
        _adapter.add_policies("p", "p", [[name, domain, o, a] for o, a in perms])
    _changed(domain)
    event_record(action=Action.POLICY_CHANGED, actor=actor, tenant_id=_tenant_of(domain),
                 metadata={"change": "role_permissions_replaced", "role": name, "domain": domain,
                           "before": [list(p) for p in before], "after": [list(p) for p in perms]})
    return perms


@transaction.atomic
def role_delete(*, name: str, domain: str, actor: Actor) -> int:
    """Delete a role and every assignment of it in the domain. Returns members removed."""
    if not _role_exists(name, domain):
        raise RoleNotFound()
    if _builtin(name, domain):
        raise Conflict("Built-in roles cannot be deleted.", code="builtin_role")
    before = _role_permissions(name, domain)
    members = list(CasbinRule.objects.filter(ptype="g", v1=name, v2=domain).values_list("v0", flat=True))
    for member in members:
        _user_stale(member)
    _adapter.remove_filtered_policy("p", "p", 0, name, domain)
    _adapter.remove_filtered_policy("g", "g", 1, name, domain)
    # a role that inherited from other roles loses those links too
    _adapter.remove_filtered_policy("g", "g", 0, name, "", domain)
    _changed(domain)
    _roles_changed(domain, _user_ids(members))
    event_record(action=Action.POLICY_CHANGED, actor=actor, tenant_id=_tenant_of(domain),
                 metadata={"change": "role_deleted", "role": name, "domain": domain,
                           "before": [list(p) for p in before], "after": None, "members_removed": members})
    return len(members)


@transaction.atomic
def subject_role_grant(*, subject: str, role: str, domain: str, actor: Actor,
                       subject_user_id: int | None = None) -> bool:
    if not _role_exists(role, domain):
        raise RoleNotFound()
    added = _adapter.add_policies("g", "g", [[subject, role, domain]])
    _user_stale(subject)
    if added:
        _changed(domain)
        _roles_changed(domain, _user_ids([subject]))
        event_record(action=Action.ROLE_GRANTED, actor=actor, subject_user_id=subject_user_id,
                     tenant_id=_tenant_of(domain),
                     metadata={"subject": subject, "role": role, "domain": domain, "before": None, "after": role})
    return added


@transaction.atomic
def subject_role_revoke(*, subject: str, role: str, domain: str, actor: Actor,
                        subject_user_id: int | None = None) -> bool:
    removed = _adapter.remove_policies("g", "g", [[subject, role, domain]])
    _user_stale(subject)
    if not removed:
        raise RoleNotFound("This subject does not hold that role in this tenant.")
    _changed(domain)
    _roles_changed(domain, _user_ids([subject]))
    event_record(action=Action.ROLE_REVOKED, actor=actor, subject_user_id=subject_user_id,
                 tenant_id=_tenant_of(domain),
                 metadata={"subject": subject, "role": role, "domain": domain, "before": role, "after": None})
    return True


def _seed(domain: str, roles: dict[str, list[Permission]]) -> None:
    rules = [[name, domain, o, a] for name, perms in roles.items() for o, a in perms]
    if _adapter.add_policies("p", "p", rules):
        _changed(domain)


@transaction.atomic
def platform_roles_seed() -> None:
    _seed(PLATFORM_DOMAIN, PLATFORM_ROLES)


@transaction.atomic
def tenant_roles_seed(*, tenant_id: int) -> None:
    _seed(tenant_domain(tenant_id), TENANT_ROLES)


@transaction.atomic
def domain_purge(*, domain: str, actor: Actor) -> int:
    """Every rule of a domain (a deleted tenant)."""
    deleted, _ = CasbinRule.objects.filter(ptype="p", v1=domain).delete()
    deleted += CasbinRule.objects.filter(ptype="g", v2=domain).delete()[0]
    _changed(domain)
    _roles_changed(domain, None)
    event_record(action=Action.POLICY_CHANGED, actor=actor, tenant_id=_tenant_of(domain),
                 metadata={"change": "domain_purged", "domain": domain, "rules_removed": deleted})
    return deleted


# ---- service keys --------------------------------------------------------------------------
@transaction.atomic
def service_key_create(*, name: str, actor: Actor, role: str | None = None,
                       domain: str | None = None) -> tuple[ServiceKey, str]:
    """A new key for service `name`; the returned secret is shown once and never stored. With
    `role`, the service is granted it in `domain` (the platform by default) in the same
    transaction: an unknown role or tenant leaves no key behind."""
    from .subjects import _SERVICE

    if not isinstance(name, str) or not _SERVICE.match(name):
        raise ValidationFailed(fields={"name": ["Lower-case letters, digits, '-', '_'; at most 48."]})
    if role is not None:
        subject_role_grant(subject=service_subject(name), role=role, domain=domain or PLATFORM_DOMAIN, actor=actor)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ServiceKey.objects.create(key_id=key_id, name=name, secret_hash=sha256_hex(secret))
    event_record(action=Action.SERVICE_KEY_CREATED, actor=actor,
                 metadata={"service": name, "key_id": key_id, "subject": service_subject(name)})
    return key, f"{key_id}.{secret}"


@transaction.atomic
def service_key_revoke(*, key_id: str, actor: Actor) -> bool:
    n = ServiceKey.objects.filter(key_id=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if n:
        event_record(action=Action.SERVICE_KEY_REVOKED, actor=actor, metadata={"key_id": key_id})
    return bool(n)


@transaction.atomic
def policy_import(*, rows: list[list[str]], replace: bool, actor: Actor) -> int:
    """Import Casbin CSV rows (validated first: nothing is written if one row is bad)."""
    from .subjects import check_action, check_object

    by_type: dict[str, list[list[str]]] = {"p": [], "g": []}
    for n, row in enumerate(rows, start=1):
        ptype, values = row[0], [v for v in row[1:] if v != ""]
        try:
            if ptype == "p" and len(values) == 4:
                check_object(values[2])
                check_action(values[3])
            elif not (ptype == "g" and len(values) == 3):
                raise ValueError
        except Exception as exc:  # report the line, whatever was wrong with it
            raise ValueError(f"line {n}: expected 'p, sub, dom, obj, act' or 'g, sub, role, dom'") from exc
        by_type[ptype].append(values)
    domains = {v[1] for v in by_type["p"]} | {v[2] for v in by_type["g"]}
    if replace:
        domains |= set(CasbinRule.objects.filter(ptype="p").values_list("v1", flat=True).distinct())
        domains |= set(CasbinRule.objects.filter(ptype="g").values_list("v2", flat=True).distinct())
        CasbinRule.objects.all().delete()
    before = CasbinRule.objects.count()
    for ptype, values in by_type.items():
        if values:
            _adapter.add_policies(ptype, ptype, values)
    added = CasbinRule.objects.count() - before
    # a replace may change anyone's roles; an addition, those of the domains it grants roles in
    claims_changed = domains if replace else {v[2] for v in by_type["g"]}
    for domain in sorted(domains):
        PolicyChange.objects.create(domain=domain, created_at=timezone.now())
        if domain in claims_changed and (domain == PLATFORM_DOMAIN
                                         or (domain.startswith("tenant:") and domain[7:].isdigit())):
            _roles_changed(domain, None)  # one cutoff for the whole domain, however many holders
    transaction.on_commit(lambda: enforcer().changed(["*"]))
    event_record(action=Action.POLICY_CHANGED, actor=actor,
                 metadata={"change": "imported", "rules_added": added, "replace": replace,
                           "domains": len(domains)})
    return added
