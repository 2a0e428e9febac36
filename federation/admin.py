"""The providers as a page of the staff console. The client secret is write-only: sealed on
save, never shown again. Every change goes through federation.services (validated, audited)."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from audit.services import Actor
from custos.exceptions import ValidationFailed

from . import providers
from .models import OAuthProvider


class ProviderForm(forms.ModelForm):
    client_secret = forms.CharField(required=False, strip=False, widget=forms.PasswordInput(render_value=False),
                                    help_text="Write-only. On a change, leave empty to keep the current secret.")

    class Meta:
        model = OAuthProvider
        fields = ["name", "kind", "display_name", "client_id", "client_secret", "issuer", "scopes", "trust_email",
                  "enabled", "store_tokens"]

    def clean(self):
        data = super().clean()
        secret = data.get("client_secret") or None
        if self.instance.pk is None and secret is None:
            self.add_error("client_secret", "Required for a new provider.")
            return data
        try:
            providers.provider_clean(kind=data.get("kind") or self.instance.kind, client_id=data.get("client_id") or "",
                                    client_secret=secret, issuer=data.get("issuer") or None,
                                    scopes=data.get("scopes") or None, display_name=data.get("display_name") or None)
        except ValidationFailed as exc:
            for field, messages in (exc.fields or {}).items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(OAuthProvider)
class OAuthProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "display_name", "enabled", "issuer", "client_id", "trust_email")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "issuer", "client_id")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "kind") if obj is not None else ()

    def save_model(self, request, obj, form, change) -> None:
        d, actor = form.cleaned_data, Actor.user(request.user.pk)
        secret = d.get("client_secret") or None
        if change:
            providers.provider_update(name=obj.name, client_id=d["client_id"], client_secret=secret,
                                     issuer=d.get("issuer") or None, scopes=d.get("scopes") or None,
                                     display_name=d.get("display_name") or None, trust_email=d["trust_email"],
                                     enabled=d["enabled"], store_tokens=d["store_tokens"], actor=actor)
        else:
            provider = providers.provider_add(name=d["name"], kind=d["kind"], client_id=d["client_id"],
                                             client_secret=secret, issuer=d.get("issuer") or None,
                                             scopes=d.get("scopes") or None,
                                             display_name=d.get("display_name") or None,
                                             trust_email=d["trust_email"], store_tokens=d["store_tokens"],
                                             actor=actor)
            if not d["enabled"]:
                providers.provider_set_enabled(name=provider.name, enabled=False, actor=actor)
            obj.pk = provider.pk

    def delete_model(self, request, obj) -> None:
        providers.provider_remove(name=obj.name, actor=Actor.user(request.user.pk))

    def delete_queryset(self, request, queryset) -> None:
        for provider in queryset:
            self.delete_model(request, provider)
