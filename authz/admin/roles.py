"""Roles and their permissions per domain, as console pages (docs/console-authz.md)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.services import Actor
from custos.exceptions import CustosError, ValidationFailed

from .. import selectors, services
from ..errors import RoleExists
from ..models import Role
from ..subjects import (
    PLATFORM_DOMAIN,
    check_role_name,
    parse_subject,
)
from .common import (
    ROLE_ADD,
    ROLE_CHANGE,
    ROLE_DELETE,
    ROLE_GRANT,
    ROLE_VIEW,
    WHY_USE,
    DomainForm,
    GrantForm,
    RoleCreateForm,
    RolePermissionsForm,
    _apply_error,
    _domain_choices,
    _domain_label,
    _domain_title,
    _error_text,
    _grant,
    _known_domain,
    _permissions_text,
    _user_id,
)


# ---- roles --------------------------------------------------------------------------------------
@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Roles per domain. The URLs are Django's own names (changelist, add, change, delete), with a
    role's identity, (domain, name), in place of a primary key."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(ROLE_VIEW)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ROLE_ADD)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(ROLE_CHANGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(ROLE_DELETE)

    def has_grant_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ROLE_GRANT)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.roles_view), name="authz_role_changelist"),
            path("add/", wrap(self.role_add_view), name="authz_role_add"),
            path("<str:domain>/<str:name>/change/", wrap(self.role_change_view), name="authz_role_change"),
            path("<str:domain>/<str:name>/delete/", wrap(self.role_delete_view), name="authz_role_delete"),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta,
                "can_view": self.has_view_permission(request), "can_add": self.has_add_permission(request),
                "can_change": self.has_change_permission(request),
                "can_delete": self.has_delete_permission(request),
                "can_grant": self.has_grant_permission(request),
                "can_why": request.user.has_perm(WHY_USE), **extra}

    def _role(self, request: HttpRequest, domain: str, name: str) -> dict:
        """The role a URL names, or the console's 404: an unknown or unseen domain, a malformed
        name and a missing role all look the same."""
        try:
            check_role_name(name)
        except ValidationFailed:
            raise Http404 from None
        if not _known_domain(request, domain):
            raise Http404
        role = selectors.role_detail(name, domain)
        if role is None:
            raise Http404
        return role

    def roles_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        choices = _domain_choices(request)
        picker = DomainForm(request.GET if "domain" in request.GET else {"domain": PLATFORM_DOMAIN},
                            domains=choices)
        roles: list[dict] = []
        domain = None
        if picker.is_valid():
            domain = picker.cleaned_data["domain"]
            roles = selectors.roles_overview(domain)
        return TemplateResponse(request, "admin/authz/role/change_list.html", self._context(
            request, "Roles", picker=picker, domain=domain, roles=roles,
            domain_title=_domain_title(choices, domain)))

    def role_add_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        choices = _domain_choices(request)
        initial = {"domain": request.GET.get("domain", PLATFORM_DOMAIN)}
        form = RoleCreateForm(request.POST or None, initial=initial, domains=choices)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                services.role_create(name=d["name"], domain=d["domain"], permissions=d["permissions"],
                                     actor=Actor.user(request.user.pk))
            except RoleExists as exc:
                form.add_error("name", exc.message)
            except CustosError as exc:
                _apply_error(form, exc, {"tenant": "domain", "name": "name", "permissions": "permissions"})
            else:
                self.message_user(request, f"Role “{d['name']}” created in {_domain_label(d['domain'])}.",
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:authz_role_change", args=[d["domain"], d["name"]]))
        return TemplateResponse(request, "admin/authz/role/add.html",
                                self._context(request, "Add role", form=form))

    def role_change_view(self, request: HttpRequest, domain: str, name: str) -> HttpResponse:
        """A role's page: its permissions (editable with `change`), its members (granted and revoked
        with `grant`). One POST does one thing, named by `op`."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        role = self._role(request, domain, name)
        op = request.POST.get("op") if request.method == "POST" else None
        perm_form = RolePermissionsForm(request.POST if op == "permissions" else None, builtin=role["builtin"],
                                        initial={"permissions": _permissions_text(role["permissions"])})
        # room for the whole list: a built-in tenant_admin has a couple of dozen lines
        perm_form.fields["permissions"].widget.attrs["rows"] = min(max(8, len(role["permissions"]) + 2), 40)
        grant_form = GrantForm(request.POST if op == "grant" else None)
        here = reverse("admin:authz_role_change", args=[domain, name])
        actor = Actor.user(request.user.pk)
        if op == "permissions":
            if not self.has_change_permission(request):
                raise PermissionDenied
            if perm_form.is_valid():
                try:
                    services.role_permissions_replace(name=name, domain=domain, actor=actor,
                                                      permissions=perm_form.cleaned_data["permissions"])
                except CustosError as exc:
                    _apply_error(perm_form, exc, {"permissions": "permissions"})
                else:
                    self.message_user(request, f"The permissions of “{name}” were replaced.", messages.SUCCESS)
                    return HttpResponseRedirect(here)
        elif op == "grant":
            if not self.has_grant_permission(request):
                raise PermissionDenied
            if grant_form.is_valid():
                subject = grant_form.cleaned_data["subject"]
                error = _grant(request, subject=subject, role=name, domain=domain, actor=actor)
                if error:
                    grant_form.add_error("subject", error)
                else:
                    self.message_user(request, f"Granted “{name}” to {subject} in {_domain_label(domain)}.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(here)
        elif op == "revoke":
            if not self.has_grant_permission(request):
                raise PermissionDenied
            try:
                subject = parse_subject(request.POST.get("subject", ""))
                services.subject_role_revoke(subject=subject, role=name, domain=domain, actor=actor,
                                             subject_user_id=_user_id(subject))
            except CustosError as exc:
                self.message_user(request, " ".join(_error_text(exc)), messages.ERROR)
            else:
                self.message_user(request, f"Revoked “{name}” from {subject} in {_domain_label(domain)}.",
                                  messages.SUCCESS)
            return HttpResponseRedirect(here)
        elif op is not None:
            raise Http404
        return TemplateResponse(request, "admin/authz/role/change.html", self._context(
            request, f"Role “{name}”", role=role, domain=domain,
            domain_label=_domain_title(_domain_choices(request), domain), perm_form=perm_form,
            grant_form=grant_form, members=[{"subject": m, "user_id": _user_id(m)} for m in role["members"]]))

    def role_delete_view(self, request: HttpRequest, domain: str, name: str) -> HttpResponse:
        """A confirmation that says how many members lose the role; built-in roles are refused, as
        the API refuses them (409 builtin_role)."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        role = self._role(request, domain, name)
        error = None
        if request.method == "POST":
            try:
                removed = services.role_delete(name=name, domain=domain, actor=Actor.user(request.user.pk))
            except CustosError as exc:
                error = exc.message
            else:
                self.message_user(request, f"Role “{name}” deleted from {_domain_label(domain)}; "
                                           f"{removed} member(s) lost it.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:authz_role_changelist") + f"?domain={domain}")
        return TemplateResponse(request, "admin/authz/role/delete.html", self._context(
            request, f"Delete role “{name}”", role=role, domain=domain,
            domain_label=_domain_title(_domain_choices(request), domain),
            error=error), status=409 if error else 200)
