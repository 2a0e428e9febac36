"""The providers as a page of the staff console. The client credential is write-only: sealed on
save, never shown again (the client secret; for Apple the private key, pasted or uploaded).
Every change goes through federation.providers (validated, audited)."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from audit.services import Actor
from custos.exceptions import ValidationFailed

from . import providers
from .models import OAuthProvider


class ProviderForm(forms.ModelForm):
    client_secret = forms.CharField(required=False, strip=False, widget=forms.PasswordInput(render_value=False),
                                    help_text="Write-only (every kind but Apple). On a change, leave empty to keep "
                                              "the current secret.")
    private_key = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "off"}),
                                  help_text="Apple only, write-only: paste the .p8 key (PEM), or upload it below. "
                                            "On a change, leave both empty to keep the current key.")
    private_key_file = forms.FileField(required=False, help_text="Apple only: the .p8 file.")

    class Meta:
        model = OAuthProvider
        fields = ["name", "kind", "display_name", "client_id", "client_secret", "team_id", "key_id", "private_key",
                  "private_key_file", "issuer", "scopes", "trust_email", "enabled", "store_tokens"]
        help_texts = {"team_id": "Apple only: the Apple Developer team id.",
                      "key_id": "Apple only: the id of the Sign in with Apple key.",
                      "client_id": "WeChat: the appid. Apple: the Services ID."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "scopes" in self.fields:  # empty: the kind's default (providers.DEFAULT_SCOPES)
            self.fields["scopes"].required = False

    def clean(self):
        data = super().clean()
        upload = data.get("private_key_file")
        if upload is not None:
            raw = upload.read(8193)
            try:
                data["private_key"] = raw.decode("utf-8") if len(raw) <= 8192 else None
            except UnicodeError:
                data["private_key"] = None
            if data["private_key"] is None:
                self.add_error("private_key_file", "Not a private key file (a .p8 PEM).")
                return data
        kind = data.get("kind") or self.instance.kind
        secret = data.get("client_secret") or None
        if data.get("private_key"):  # a browser's textarea sends CRLF
            data["private_key"] = data["private_key"].replace("\r\n", "\n").strip() + "\n"
        key = data.get("private_key") or None
        if self.instance.pk is None:
            if kind == OAuthProvider.Kind.APPLE and key is None:
                self.add_error("private_key", "Required for a new Apple provider.")
                return data
            if kind != OAuthProvider.Kind.APPLE and secret is None:
                self.add_error("client_secret", "Required for a new provider.")
                return data
        try:
            providers.provider_clean(kind=kind, client_id=data.get("client_id") or "", client_secret=secret,
                                     issuer=data.get("issuer") or None, scopes=data.get("scopes") or None,
                                     display_name=data.get("display_name") or None,
                                     team_id=data.get("team_id") or None, key_id=data.get("key_id") or None,
                                     private_key=key)
        except ValidationFailed as exc:
            for field, messages in (exc.fields or {}).items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(OAuthProvider)
class OAuthProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "display_name", "enabled", "issuer", "client_id", "trust_email", "store_tokens")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "issuer", "client_id")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "kind") if obj is not None else ()

    def save_model(self, request, obj, form, change) -> None:
        d, actor = form.cleaned_data, Actor.user(request.user.pk)
        common = {"client_id": d["client_id"], "client_secret": d.get("client_secret") or None,
                  "issuer": d.get("issuer") or None, "scopes": d.get("scopes") or None,
                  "display_name": d.get("display_name") or None, "trust_email": d["trust_email"],
                  "store_tokens": d["store_tokens"], "team_id": d.get("team_id") or None,
                  "key_id": d.get("key_id") or None, "private_key": d.get("private_key") or None, "actor": actor}
        if change:
            providers.provider_update(name=obj.name, enabled=d["enabled"], **common)
        else:
            provider = providers.provider_add(name=d["name"], kind=d["kind"], **common)
            if not d["enabled"]:
                providers.provider_set_enabled(name=provider.name, enabled=False, actor=actor)
            obj.pk = provider.pk

    def delete_model(self, request, obj) -> None:
        providers.provider_remove(name=obj.name, actor=Actor.user(request.user.pk))

    def delete_queryset(self, request, queryset) -> None:
        for provider in queryset:
            self.delete_model(request, provider)
