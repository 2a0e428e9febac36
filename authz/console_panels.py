"""authz's parts of the console's user page (accounts/console_panels.py): the tenant scope every
user page asks (`backends.console_scope`), and the roles panel: the user's roles in each domain,
with grant and revoke (permissions `accounts.grantrole_user` and `accounts.revokerole_user`) through
the API's own services, the staff member as actor.

A staff member grants and revokes only in the domains they administer: a tenant administrator in
their tenant's domain; platform staff in the user's tenant domain and in the platform domain."""
from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string

from accounts.console_panels import PanelAction, console_scope, panel_action_url, register_panel, set_scope_provider
from accounts.models import User
from audit.services import Actor
from custos.exceptions import ValidationFailed

from . import selectors, services
from .backends import console_scope as _scope
from .models import CasbinRule
from .subjects import PLATFORM_DOMAIN, tenant_domain, user_subject

set_scope_provider(_scope)


def _domains(request: HttpRequest, user: User) -> list[str]:
    """Where this staff member may grant or revoke this user's roles."""
    scope = console_scope(request.user)
    if scope is None:
        return list(dict.fromkeys([tenant_domain(user.tenant_id), PLATFORM_DOMAIN]))
    return [tenant_domain(user.tenant_id)] if user.tenant_id in scope else []


def _held(user: User) -> list[tuple[str, str]]:
    """(domain, role) of every role the user holds directly (the `ptype, v0` index)."""
    return sorted(CasbinRule.objects.filter(ptype="g", v0=user_subject(user.pk)).values_list("v2", "v1"))


def render(request: HttpRequest, user: User) -> str:
    domains = _domains(request, user)
    scope = console_scope(request.user)
    held = [(d, r) for d, r in _held(user) if scope is None or d in domains]
    grantable = [(d, name) for d in domains for name in sorted(r["name"] for r in selectors.roles_in(d))
                 if (d, name) not in held]
    return render_to_string("admin/accounts/panels/roles.html", {
        "held": held, "grantable": grantable, "domains": domains,
        "grant_url": panel_action_url(user.pk, "roles", "grant"),
        "revoke_url": panel_action_url(user.pk, "roles", "revoke"),
        "can_grant": request.user.has_perm("accounts.grantrole_user") and bool(grantable),
        "can_revoke": request.user.has_perm("accounts.revokerole_user") and bool(domains)}, request=request)


def _parse(request: HttpRequest, user: User) -> tuple[str, str]:
    raw = request.POST.get("role", "")
    domain, _, role = raw.partition("|")
    if domain not in _domains(request, user) or not role:
        raise ValidationFailed("Not a role you may change for this user.")
    return domain, role


def grant(request: HttpRequest, user: User) -> str:
    domain, role = _parse(request, user)
    if role not in {r["name"] for r in selectors.roles_in(domain)}:
        raise ValidationFailed("No such role in that domain.")
    services.subject_role_grant(subject=user_subject(user.pk), role=role, domain=domain,
                                actor=Actor.user(request.user.pk), subject_user_id=user.pk)
    return f"Granted {role} in {domain}."


def revoke(request: HttpRequest, user: User) -> str:
    domain, role = _parse(request, user)
    services.subject_role_revoke(subject=user_subject(user.pk), role=role, domain=domain,
                                 actor=Actor.user(request.user.pk), subject_user_id=user.pk)
    return f"Revoked {role} in {domain}."


register_panel("roles", 30, render, "accounts.view_user", title="Roles",
               actions={"grant": PanelAction(permission="accounts.grantrole_user", run=grant),
                        "revoke": PanelAction(permission="accounts.revokerole_user", run=revoke)})
