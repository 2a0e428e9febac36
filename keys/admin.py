"""Signing keys as a page of the staff console: every key with its state, and staging a
rotation through the same service as `manage.py rotate_keys` (audited, with the staff member as
actor). Read-only otherwise: a key's private half never leaves the key store."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.services import Actor

from . import selectors, services
from .conf import conf
from .models import JwkKey


class RotateForm(forms.Form):
    alg = forms.ChoiceField(choices=[("ES256", "ES256"), ("RS256", "RS256")], label="Algorithm")
    activate_now = forms.BooleanField(required=False, label="Sign with it at once (skip the publish delay)",
                                      help_text="Only when the current key is compromised: verifiers that cached the "
                                                "JWKS will refuse tokens signed by the new key until they refetch.")


@admin.register(JwkKey)
class JwkKeyAdmin(admin.ModelAdmin):
    list_display = ("kid", "alg", "state", "created_at", "activates_at", "retired_at", "verify_until")
    ordering = ("-activates_at",)
    readonly_fields = ("kid", "alg", "public_jwk", "active", "created_at", "rotated_at", "retired_at",
                       "activates_at", "verify_until")
    change_list_template = "admin/keys/jwkkey/change_list.html"

    def get_queryset(self, request):
        self._states = {k["kid"]: k["state"] for k in selectors.key_states()}
        return super().get_queryset(request)

    @admin.display(description="state")
    def state(self, obj: JwkKey) -> str:
        return getattr(self, "_states", {}).get(obj.kid, "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JwkKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: JwkKey | None = None) -> bool:
        return False

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("keys.rotate_jwkkey")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "can_rotate": self.has_rotate_permission(request)})

    def get_urls(self):
        return [path("rotate/", self.admin_site.admin_view(self.rotate_view), name="keys_jwkkey_rotate"),
                *super().get_urls()]

    def rotate_view(self, request: HttpRequest) -> HttpResponse:
        """A confirmation page that says what a rotation does, then the rotation."""
        if not self.has_rotate_permission(request):
            raise PermissionDenied
        form = RotateForm(request.POST or None, initial={"alg": conf().algorithm})
        if request.method == "POST" and form.is_valid():
            actor = Actor.user(request.user.pk)
            services.keys_prune(actor=actor)
            key = services.keys_rotate(actor=actor, alg=form.cleaned_data["alg"],
                                       activate_now=form.cleaned_data["activate_now"])
            self.message_user(request, f"Staged key {key.kid} ({key.alg}); it signs from "
                                       f"{key.activates_at:%Y-%m-%d %H:%M:%S} UTC.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:keys_jwkkey_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Stage a key rotation", "form": form,
                   "opts": self.model._meta, "publish_delay": conf().publish_delay,
                   "keys": selectors.key_states()}
        return TemplateResponse(request, "admin/keys/jwkkey/rotate.html", context)
