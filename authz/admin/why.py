"""The "why" tool: the decision for a subject, domain, object and action, and the rule or role path
that gave it (authz.selectors.explain)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from .. import selectors
from ..models import Why
from ..subjects import (
    PLATFORM_DOMAIN,
    tenant_domain,
)
from .common import (
    ROLE_VIEW,
    WHY_USE,
    WhyForm,
    _domain_choices,
    _domain_label,
    _user_id,
)


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
