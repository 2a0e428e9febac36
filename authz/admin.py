"""Roles, the "why" tool and service keys as pages of the staff console (issue 17, docs/console-authz.md).

Every change goes through the same authz services as the REST API, audited with the staff member as
actor. Each page and action is its own Casbin permission in the platform domain (action on
`/admin/authz/<model>`, authz.backends.CasbinAdminBackend): `view`/`add`/`change`/`delete`/`grant`
on `role`, `use` on `why`, `view`/`add`/`revoke`/`grant` on `servicekey`. Roles are not a table of
their own, so the `Role` and `Why` proxies of CasbinRule only give the console its entries; every
view of theirs is replaced here.

Which domains a request may see is decided in one place, `_domains_for`: all of them today
(platform staff), narrowed later for tenant administrators without touching the views.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import patch_cache_control
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.timezone import localtime
from django.views.decorators.debug import sensitive_variables

from audit.services import Actor
from custos.exceptions import CustosError, ValidationFailed

from . import selectors, services
from .errors import RoleExists, RoleNotFound
from .models import Role, ServiceKey, Why
from .subjects import (
    PLATFORM_DOMAIN,
    check_action,
    check_object,
    check_role_name,
    parse_subject,
    service_subject,
    tenant_domain,
)

# ---- permissions: one per action (docs/console-authz.md) ----------------------------------------
ROLE_VIEW, ROLE_ADD, ROLE_CHANGE, ROLE_DELETE, ROLE_GRANT = (
    "authz.view_role", "authz.add_role", "authz.change_role", "authz.delete_role", "authz.grant_role")
WHY_USE = "authz.use_why"
KEY_VIEW, KEY_ADD, KEY_REVOKE, KEY_GRANT = (
    "authz.view_servicekey", "authz.add_servicekey", "authz.revoke_servicekey", "authz.grant_servicekey")

MAX_PERMISSION_LINES = 500  # the API's limit on a role's permissions in one request
MAX_CHECK_OBJECT = 1024  # the check API's limits
MAX_CHECK_ACTION = 64


# ---- which domains a request may see ------------------------------------------------------------
@dataclass(frozen=True)
class DomainScope:
    every: bool
    domains: frozenset[str] = frozenset()

    def allows(self, domain: str) -> bool:
        return self.every or domain in self.domains


def _domains_for(request: HttpRequest) -> DomainScope:
    """The one place that decides which policy domains this staff member sees and changes on these
    pages. Today the pages' own permissions are platform rights, so their holders see every domain;
    tenant administrators' scoping (designed with the user pages) narrows this function only."""
    return DomainScope(every=True)


def _domain_choices(request: HttpRequest) -> list[tuple[str, str]]:
    scope = _domains_for(request)
    return [(d, label) for d, label in selectors.domain_choices() if scope.allows(d)]


def _domain_label(domain: str) -> str:
    return "platform" if domain == PLATFORM_DOMAIN else domain


def _domain_title(choices: list[tuple[str, str]], domain: str | None) -> str:
    """"acme (tenant:3)", "platform": a domain as staff know it."""
    return dict(choices).get(domain, domain) if domain else ""


def _known_domain(request: HttpRequest, domain: str) -> bool:
    return _domains_for(request).allows(domain) and selectors.domain_known(domain)


def _error_text(exc: CustosError) -> list[str]:
    if exc.fields:
        return [m for msgs in exc.fields.values() for m in msgs]
    return [exc.message]


# ---- forms ----------------------------------------------------------------------------------------
_SEPARATOR = re.compile(r"[\s,]+")


def _parse_permissions(text: str) -> list[tuple[str, str]]:
    """`object action` per line (a comma may separate them too); blank lines and `#` comments are
    skipped. Every line is checked with the API's own rules, and each error names its line."""
    perms: list[tuple[str, str]] = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in _SEPARATOR.split(line) if p]
        if len(parts) != 2:
            errors.append(f"Line {n}: expected an object and an action, such as “/orders/* read”.")
            continue
        try:
            perms.append((check_object(parts[0]), check_action(parts[1])))
        except ValidationFailed as exc:
            errors.extend(f"Line {n}: {m}" for m in _error_text(exc))
    if errors:
        raise forms.ValidationError(errors)
    if not perms:
        raise forms.ValidationError("A role needs at least one permission.")
    if len(perms) > MAX_PERMISSION_LINES:
        raise forms.ValidationError(f"At most {MAX_PERMISSION_LINES} permissions.")
    return perms


def _permissions_text(perms: list[dict]) -> str:
    return "".join(f"{p['object']} {p['action']}\n" for p in perms)


PERMISSIONS_HELP = ("One permission per line: an object and an action, e.g. “/orders/:id read” or “/orders/* *”. "
                    "Objects are paths matched like Casbin's keyMatch2 (:param for one segment, * for the rest).")


class PermissionsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 10, "cols": 60, "spellcheck": "false", "class": "vLargeTextField"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(help_text=PERMISSIONS_HELP, **kwargs)

    def clean(self, value: Any) -> list[tuple[str, str]]:  # type: ignore[override]
        return _parse_permissions(super().clean(value))


class DomainForm(forms.Form):
    """The domain picker: the platform and every tenant this request may see."""

    domain = forms.ChoiceField(label="Domain")

    def __init__(self, *args: Any, domains: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = domains
        self.fields["domain"].error_messages["invalid_choice"] = "No such tenant (or not one you may see)."


class RoleCreateForm(DomainForm):
    name = forms.CharField(max_length=64, label="Name",
                           help_text="1-64 characters: lower-case letters, digits, '_', '.', '-'.")
    permissions = PermissionsField(label="Permissions")
    field_order = ["domain", "name", "permissions"]

    def clean_name(self) -> str:
        try:
            return check_role_name(self.cleaned_data["name"])
        except ValidationFailed as exc:
            raise forms.ValidationError(_error_text(exc)) from None


class RolePermissionsForm(forms.Form):
    permissions = PermissionsField(label="Permissions")
    confirm_builtin = forms.BooleanField(
        required=False, label="I am changing a built-in role",
        help_text="Every installation (or every tenant) starts with this role; the API lets its permissions "
                  "change, and so does the console, once you tick this.")

    def __init__(self, *args: Any, builtin: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.builtin = builtin
        if not builtin:
            del self.fields["confirm_builtin"]

    def clean(self) -> dict:
        data = super().clean()
        if self.builtin and not data.get("confirm_builtin"):
            self.add_error("confirm_builtin", "This is a built-in role: tick the box to change it anyway.")
        return data


class SubjectField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=80, help_text="A user id, user:<id>, or svc:<name>.", **kwargs)

    def clean(self, value: Any) -> str:  # type: ignore[override]
        value = super().clean(value).strip()
        try:
            return parse_subject(value)
        except ValidationFailed as exc:
            raise forms.ValidationError(_error_text(exc)) from None


class GrantForm(forms.Form):
    subject = SubjectField(label="Grant this role to")


class WhyForm(DomainForm):
    subject = SubjectField(label="Subject")
    object = forms.CharField(max_length=MAX_CHECK_OBJECT, label="Object", help_text="e.g. /users/42")
    action = forms.CharField(max_length=MAX_CHECK_ACTION, label="Action", help_text="e.g. read")
    field_order = ["subject", "domain", "object", "action"]

    def clean_object(self) -> str:
        value = self.cleaned_data["object"]
        if not value.strip():
            raise forms.ValidationError("An object, such as /users/42.")
        return value


class ServiceKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=48, label="Service name",
                           help_text="Lower-case letters, digits, '-', '_'; at most 48. The key acts as svc:<name>; "
                                     "a service may have several keys (for a rotation), which share its roles.")


class ServiceRoleForm(DomainForm):
    role = forms.CharField(max_length=64, label="Role", help_text="A role of that domain, e.g. gateway (platform).")

    def clean_role(self) -> str:
        try:
            return check_role_name(self.cleaned_data["role"], field="role")
        except ValidationFailed as exc:
            raise forms.ValidationError(_error_text(exc)) from None


def _apply_error(form: forms.Form, exc: CustosError, fields: dict[str, str]) -> None:
    """A service's refusal as form errors: its field names mapped onto the form's, the rest on top."""
    if exc.fields:
        for name, msgs in exc.fields.items():
            target = next((f for prefix, f in fields.items() if name == prefix or name.startswith(prefix + ".")),
                          None)
            for m in msgs:
                form.add_error(target if target in form.fields else None, m)
    else:
        form.add_error(fields.get(exc.code) if fields.get(exc.code) in form.fields else None, exc.message)


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


def _user_id(subject: str) -> int | None:
    return int(subject[5:]) if subject.startswith("user:") else None


def _grant(request: HttpRequest, *, subject: str, role: str, domain: str, actor: Actor) -> str | None:
    """Grant as the API does (authz.api.views.UserRolesView.post): a user must belong to the
    domain's tenant (any user for the platform). Returns the refusal, or None."""
    user_id = _user_id(subject)
    if user_id is not None and selectors.user_in_domain(user_id=user_id, domain=domain) is None:
        if selectors.user_exists(user_id=user_id) and _domains_for(request).every:
            return "The user does not belong to this tenant."
        return "No such user."
    try:
        added = services.subject_role_grant(subject=subject, role=role, domain=domain, actor=actor,
                                            subject_user_id=user_id)
    except CustosError as exc:
        return " ".join(_error_text(exc))
    return None if added else f"{subject} already holds “{role}” here."


# ---- the why tool -------------------------------------------------------------------------------
@admin.register(Why)
class WhyAdmin(admin.ModelAdmin):
    """Pick a subject, a domain, an object and an action: the decision and the rule, or role path,
    that gave it (authz.selectors.explain). Read-only: one permission, `use`."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(WHY_USE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self):
        return [path("", self.admin_site.admin_view(self.why_view), name="authz_why_changelist")]

    def why_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # GET: a question changes nothing, and its answer is a link staff can share. A link with
        # only a subject and a domain (a role page's "Explain…") fills the form in, asking nothing.
        asked = "object" in request.GET or "action" in request.GET
        initial = {"domain": request.GET.get("domain", PLATFORM_DOMAIN), "subject": request.GET.get("subject", "")}
        form = WhyForm(request.GET if asked else None, initial=initial, domains=_domain_choices(request))
        form.fields["object"].widget.attrs["class"] = "vTextField"
        answer, notes = None, []
        if asked and form.is_valid():
            d = form.cleaned_data
            answer = selectors.explain(d["subject"], d["domain"], d["object"], d["action"])
            notes = _subject_notes(d["subject"], d["domain"])
            titles = dict(form.fields["domain"].choices)
            for part in answer["domains"]:
                part["title"] = titles.get(part["domain"], part["domain"])
            answer["domain_title"] = titles.get(d["domain"], d["domain"])
        return TemplateResponse(request, "admin/authz/why.html", {
            **self.admin_site.each_context(request), "title": "Why: explain a decision", "opts": self.model._meta,
            "form": form, "answer": answer, "notes": notes, "platform": PLATFORM_DOMAIN,
            "can_view_roles": request.user.has_perm(ROLE_VIEW)})


def _subject_notes(subject: str, domain: str) -> list[str]:
    """What the rules alone do not say about the subject."""
    user_id = _user_id(subject)
    if user_id is None:
        return []
    user = selectors.user_in_domain(user_id=user_id, domain=PLATFORM_DOMAIN)
    if user is None:
        return [f"There is no user {user_id}; the rules are explained all the same."]
    notes = []
    if domain != PLATFORM_DOMAIN and domain != tenant_domain(user.tenant_id):
        notes.append(f"User {user_id} belongs to {_domain_label(tenant_domain(user.tenant_id))}, not to {domain}.")
    if user.is_superuser and user.is_active:
        notes.append(f"User {user_id} is a superuser: Custos's own endpoints and the console let a superuser do "
                     "everything whatever the rules say; /v1/authz/check answers by the rules below.")
    return notes


# ---- service keys -------------------------------------------------------------------------------
def _when(value) -> str:
    return date_format(localtime(value), "Y-m-d H:i")


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class _KeyChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # the page's services' roles in one query, not one per row
        roles = selectors.service_roles(sorted({k.name for k in self.result_list}))
        for key in self.result_list:
            key.console_roles = roles.get(key.name, [])


@admin.register(ServiceKey)
class ServiceKeyAdmin(admin.ModelAdmin):
    """Service keys: the list is Django's changelist; creating one shows its secret once, on the
    answer to the POST (never stored, never in a message); revoking and a service's roles have
    their own pages and permissions. Nothing here shows a secret or its hash again."""

    list_display = ("name", "key_id", "state", "roles", "created", "last_used")
    list_filter = (KeyStateFilter,)
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice is a query each, for nothing here
    search_fields = ("name", "=key_id")
    ordering = ("-created_at", "-id")
    fields = ("name", "key_id", "created_at", "revoked_at", "last_used_at")
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(KEY_VIEW)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(KEY_ADD)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key is created and revoked, never edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay, for the trail's key ids

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(KEY_REVOKE)

    def has_grant_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(KEY_GRANT)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _KeyChangeList

    @admin.display(description="state")
    def state(self, key: ServiceKey) -> str:
        return "revoked" if key.revoked_at else "active"

    @admin.display(description="created", ordering="created_at")
    def created(self, key: ServiceKey) -> str:
        return _when(key.created_at)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, key: ServiceKey) -> str:
        return _when(key.last_used_at) if key.last_used_at else "never"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {"title": "Service keys", **(extra_context or {})})

    @admin.display(description="roles of the service")
    def roles(self, key: ServiceKey) -> str:
        held = getattr(key, "console_roles", [])
        if not held:
            return "—"
        return format_html_join(", ", "{} in {}", ((role, _domain_label(dom)) for dom, role in held))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:key_pk>/revoke/", wrap(self.revoke_view), name="authz_servicekey_revoke"),
                *super().get_urls()]

    def _key(self, request: HttpRequest, pk: Any) -> ServiceKey:
        key = ServiceKey.objects.filter(pk=pk).first() if str(pk).isdigit() else None
        if key is None:
            raise Http404
        return key

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta,
                "can_add": self.has_add_permission(request), "can_revoke": self.has_revoke_permission(request),
                "can_grant": self.has_grant_permission(request), **extra}

    @sensitive_variables("secret")
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """Create a key; the answer to this POST is the only time its secret is shown. Rendered
        directly (no redirect): a redirect would need the secret stored in the session."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ServiceKeyCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                key, secret = services.service_key_create(name=form.cleaned_data["name"],
                                                          actor=Actor.user(request.user.pk))
            except CustosError as exc:
                _apply_error(form, exc, {"name": "name"})
            else:
                response = TemplateResponse(request, "admin/authz/servicekey/created.html", self._context(
                    request, "Service key created", key=key, secret=secret, subject=service_subject(key.name)))
                # the admin's never_cache says no-store already; said here too, so that this page
                # keeps it whatever happens to the wrapper
                patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
                return response
        return TemplateResponse(request, "admin/authz/servicekey/add.html",
                                self._context(request, "Add service key", form=form))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        """A key's page: what it is, the roles its service holds per domain (granted and revoked
        here with `grant`), and the way to revoke it. Never its secret or its hash."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        key = self._key(request, object_id)
        subject = service_subject(key.name)
        op = request.POST.get("op") if request.method == "POST" else None
        choices = _domain_choices(request)
        grant_form = ServiceRoleForm(request.POST if op == "grant" else None, domains=choices)
        here = reverse("admin:authz_servicekey_change", args=[key.pk])
        actor = Actor.user(request.user.pk)
        if op in ("grant", "revoke_role") and not self.has_grant_permission(request):
            raise PermissionDenied
        if op == "grant" and grant_form.is_valid():
            d = grant_form.cleaned_data
            try:
                added = services.subject_role_grant(subject=subject, role=d["role"], domain=d["domain"], actor=actor)
            except RoleNotFound:
                grant_form.add_error("role", "No such role in this domain.")
            except CustosError as exc:
                _apply_error(grant_form, exc, {"role": "role", "tenant": "domain"})
            else:
                if added:
                    self.message_user(request, f"Granted “{d['role']}” to {subject} in {_domain_label(d['domain'])}.",
                                      messages.SUCCESS)
                else:
                    self.message_user(request, f"Nothing to do: {subject} already held “{d['role']}” there.",
                                      messages.INFO)
                return HttpResponseRedirect(here)
        elif op == "revoke_role":
            domain, role = request.POST.get("domain", ""), request.POST.get("role", "")
            if not _domains_for(request).allows(domain):
                raise PermissionDenied
            try:
                services.subject_role_revoke(subject=subject, role=check_role_name(role, field="role"),
                                             domain=domain, actor=actor)
            except CustosError as exc:
                self.message_user(request, " ".join(_error_text(exc)), messages.ERROR)
            else:
                self.message_user(request, f"Revoked “{role}” from {subject} in {_domain_label(domain)}.",
                                  messages.SUCCESS)
            return HttpResponseRedirect(here)
        elif op is not None and op != "grant":
            raise Http404
        scope = _domains_for(request)
        held = [(d, r) for d, r in selectors.service_roles([key.name])[key.name] if scope.allows(d)]
        siblings = ServiceKey.objects.filter(name=key.name).exclude(pk=key.pk).order_by("-created_at")
        return TemplateResponse(request, "admin/authz/servicekey/change.html", self._context(
            request, f"Service key {key.key_id}", key=key, subject=subject, held=held, grant_form=grant_form,
            siblings=siblings))

    def revoke_view(self, request: HttpRequest, key_pk: int) -> HttpResponse:
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        key = self._key(request, key_pk)
        if request.method == "POST":
            if services.service_key_revoke(key_id=key.key_id, actor=Actor.user(request.user.pk)):
                self.message_user(request, f"Key {key.key_id} of {service_subject(key.name)} is revoked.",
                                  messages.SUCCESS)
            else:
                self.message_user(request, f"Key {key.key_id} was already revoked.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:authz_servicekey_change", args=[key.pk]))
        others = ServiceKey.objects.filter(name=key.name, revoked_at__isnull=True).exclude(pk=key.pk).count()
        return TemplateResponse(request, "admin/authz/servicekey/revoke.html", self._context(
            request, f"Revoke service key {key.key_id}", key=key, subject=service_subject(key.name),
            other_active=others))
