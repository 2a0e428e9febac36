"""The parts of the console's user pages (accounts/admin.py) that are not the ModelAdmin itself:
a paginator that never counts, the filters, the create/invite form, the account actions and their
confirmation texts, and accounts' own panels (login history, audit trail). Nothing here imports a
room above accounts (accounts/console_panels.py is the seam for those)."""
from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from . import identifiers, selectors
from .models import Tenant, TotpDevice, User


# ---- filters ----------------------------------------------------------------------------------------
class MfaFilter(admin.SimpleListFilter):
    title, parameter_name = "two-factor authentication", "mfa"

    def lookups(self, request, model_admin):
        return [("on", "On"), ("off", "Off")]

    def queryset(self, request, queryset):
        # EXISTS per row of the page (the device table's user index): no count, no join fan-out
        has = Exists(TotpDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True))
        if self.value() == "on":
            return queryset.filter(has)
        if self.value() == "off":
            return queryset.filter(~has)
        return queryset


class _VerifiedFilter(admin.SimpleListFilter):
    field = ""

    def lookups(self, request, model_admin):
        return [("yes", "Verified"), ("no", "Not verified")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class EmailVerifiedFilter(_VerifiedFilter):
    title, parameter_name, field = "email", "email_verified", "email_verified_at"


class PhoneVerifiedFilter(_VerifiedFilter):
    title, parameter_name, field = "phone", "phone_verified", "phone_verified_at"


class TenantFilter(admin.SimpleListFilter):
    """The tenants in the staff member's scope (a tenant administrator sees only theirs, so the
    filter is not shown to them); "none" for the platform's own accounts."""

    title, parameter_name = "tenant", "tenant"

    def lookups(self, request, model_admin):
        if model_admin.scope(request) is not None:
            return []
        rows = Tenant.objects.order_by("name").values_list("pk", "name")[:200]
        return [("none", "No tenant (platform)"), *((str(pk), name) for pk, name in rows)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(tenant_id__isnull=True)
        if value and value.isdigit():
            return queryset.filter(tenant_id=int(value))
        return queryset


# ---- create a user or send an invitation ---------------------------------------------------------
class UserCreateForm(forms.Form):
    username = forms.CharField(required=False, max_length=64)
    email = forms.CharField(required=False, max_length=128, label="Email address")
    phone = forms.CharField(required=False, max_length=32, help_text="International format (+86 138 0000 0000), "
                                                                     "or national with the default region.")
    nickname = forms.CharField(required=False, max_length=64)
    user_type = forms.ChoiceField(choices=[(t, t) for t in User.UserType.values], initial=User.UserType.CUSTOMER)
    tenant = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Tenant")
    how = forms.ChoiceField(choices=[("invite", "Send an invitation by email (the user chooses a password)"),
                                     ("password", "Set an initial password now")],
                            initial="invite", widget=forms.RadioSelect, label="Sign-in")
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               help_text="Only with \"Set an initial password now\". The password rules apply.")

    def __init__(self, *args, scope: frozenset[int] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if scope is None:
            rows = Tenant.objects.order_by("name").values_list("pk", "name")[:500]
            self.fields["tenant"].choices = [("", "No tenant (platform)"), *rows]
        else:
            # a tenant administrator creates in their own tenant, and never a staff account
            rows = Tenant.objects.filter(pk__in=sorted(scope)).order_by("name").values_list("pk", "name")
            self.fields["tenant"].choices = list(rows)
            self.fields["tenant"].required = True
            self.fields["user_type"].choices = [(t, t) for t in User.UserType.values if t != User.UserType.STAFF]

    def clean(self):
        data = super().clean()
        for name, fn in (("username", identifiers.normalize_username), ("email", identifiers.normalize_email),
                         ("phone", identifiers.normalize_phone)):
            if data.get(name):
                try:
                    data[name] = fn(data[name])
                except ValidationError as exc:
                    self.add_error(name, exc)
        if not any(data.get(k) for k in ("username", "email", "phone")):
            raise ValidationError("A username, an email address or a phone number is needed.")
        if data.get("how") == "invite" and not data.get("email") and "email" not in self.errors:
            self.add_error("email", "An invitation is sent to an email address.")
        if data.get("how") == "password" and not data.get("password"):
            self.add_error("password", "Type the initial password, or send an invitation instead.")
        return data


# ---- account actions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountAction:
    """One account action of the console: its permission (`accounts.<op>_user`, Casbin action `op`
    on /admin/accounts/user), its label, and, for destructive ones, what the confirmation page
    says will happen to the accounts."""

    op: str
    label: str
    done: str  # the success message, "{n}" the number of accounts
    confirm: str = ""  # non-empty: a confirmation page first, saying this
    transition: str = ""  # accounts.services.user_transition's action, if it is one


ACTIONS: dict[str, AccountAction] = {a.op: a for a in (
    AccountAction("freeze", "Freeze", "Freeze: {n} account(s).", transition="freeze",
                  confirm="Each account is frozen (status disabled): it cannot sign in, every session and token "
                          "it holds ends now, and its console session too. Activate undoes it."),
    AccountAction("activate", "Activate (undo a freeze)", "Activate: {n} account(s).", transition="activate"),
    AccountAction("lock", "Lock", "Lock: {n} account(s).", transition="lock",
                  confirm="Each account is locked: it cannot sign in and every session and token it holds ends "
                          "now. Unlock undoes it; a password reset does not."),
    AccountAction("unlock", "Unlock", "Unlock: {n} account(s).", transition="unlock"),
    AccountAction("delete", "Delete (scrub personal data)", "Delete: {n} account(s).", transition="delete",
                  confirm="Each account is deleted: every session and token ends, its password, profile "
                          "(nickname, avatar, birthday, extra fields) and external identities are erased now, and "
                          "its username, email and phone stay reserved until the retention period ends, then are "
                          "freed. This cannot be undone."),
    AccountAction("forcelogout", "Force logout (end every session)", "Signed out {n} account(s) everywhere.",
                  confirm="Every session of each account ends now and every access token it holds stops working "
                          "(console sessions too). The accounts stay active: their owners can sign in again."),
    AccountAction("resetmfa", "Reset two-factor authentication (lost device)",
                  "Two-factor authentication reset for {n} account(s).",
                  confirm="Each account's authenticator app and backup codes are removed: it signs in with its "
                          "password alone until its owner sets up a new device. Do this only after checking "
                          "the owner's identity."),
    AccountAction("resetpassword", "Send a password reset link", "Password reset link sent to {n} account(s)."),
)}


# ---- accounts' own panels: login history and the audit trail ----------------------------------------
def render_login_history(request, user: User) -> str:
    return render_to_string("admin/accounts/user/panel_logins.html",
                            {"logins": selectors.login_history(user_id=user.pk, limit=20)}, request=request)


def render_audit(request, user: User) -> str:
    try:
        full = f"{reverse('admin:audit_auditevent_changelist')}?subject_user_id={user.pk}"
    except NoReverseMatch:
        full = ""
    import json

    events = selectors.user_audit_events(user_id=user.pk, limit=50)
    for e in events:  # the details as the trail stores them (JSON), not Python's repr
        e.details = json.dumps(e.metadata, sort_keys=True, default=str) if e.metadata else ""
    return render_to_string("admin/accounts/user/panel_audit.html",
                            {"events": events,
                             "full_url": full if request.user.has_perm("audit.view_auditevent") else ""},
                            request=request)
