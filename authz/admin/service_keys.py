"""Service keys as console pages: create (the secret shown once), revoke, grant a role."""
from __future__ import annotations

from typing import Any

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
from custos.exceptions import CustosError

from .. import selectors, services
from ..errors import RoleNotFound
from ..models import ServiceKey
from ..subjects import (
    check_role_name,
    service_subject,
)
from .common import (
    KEY_ADD,
    KEY_GRANT,
    KEY_REVOKE,
    KEY_VIEW,
    ServiceKeyCreateForm,
    ServiceRoleForm,
    _apply_error,
    _domain_choices,
    _domain_label,
    _domains_for,
    _error_text,
)


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
