"""Django admin for staff: browse and search, and act only through the same services the API
uses, with the staff user as actor. Secrets (password hash, token version) are read-only."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.services import Actor
from custos.exceptions import CustosError

from . import services
from .models import Tenant, User, UserProfile

# Permissions are Casbin policies (authz.backends); Django's groups would be a second,
# disconnected source of rights.
admin.site.unregister(Group)


class ProfileInline(admin.StackedInline):
    model = UserProfile
    can_delete = False
    fields = ("nickname", "avatar", "gender", "birthday", "extra")


def _transition(action: str, label: str):
    @admin.action(description=label, permissions=["change"])
    def run(modeladmin, request, queryset):
        done, failed = 0, []
        for user in queryset:
            try:
                services.user_transition(user_id=user.pk, action=action, actor=Actor.user(request.user.pk),
                                         reason="admin")
                done += 1
            except CustosError as exc:
                failed.append(f"{user}: {exc.code}")
        if done:
            modeladmin.message_user(request, f"{label}: {done} account(s).", messages.SUCCESS)
        if failed:
            modeladmin.message_user(request, "Not changed: " + "; ".join(failed[:20]), messages.WARNING)

    run.__name__ = f"action_{action}"
    return run


@admin.action(description="Force logout (end every session)", permissions=["change"])
def force_logout(modeladmin, request, queryset):
    # The API's force logout, not a bare token_version bump: its event and metric come with it.
    from sessions_app.services import force_logout_user

    done = 0
    for user in queryset:
        force_logout_user(user_id=user.pk, actor=Actor.user(request.user.pk))
        done += 1
    modeladmin.message_user(request, f"Signed out {done} account(s) everywhere.", messages.SUCCESS)


@admin.action(description="Reset two-factor authentication (lost device)", permissions=["change"])
def mfa_reset(modeladmin, request, queryset):
    from .security.mfa import admin_reset

    for user in queryset:
        admin_reset(user_id=user.pk, actor=Actor.user(request.user.pk))
    modeladmin.message_user(request, f"Two-factor authentication reset for {queryset.count()} account(s).",
                            messages.SUCCESS)


# ---- merge two accounts (docs/merge.md): the API's service, with the staff member as actor ----------
class MergeForm(forms.Form):
    primary = forms.IntegerField(min_value=1, label="Keep (primary account id)")
    secondary = forms.IntegerField(min_value=1, label="Merge into it and close (secondary account id)")
    reason = forms.CharField(max_length=200, label="Reason (kept in the audit trail)")


def _plan_token(plan) -> str:
    from django.core import signing

    return signing.dumps([plan.primary_user_id, plan.merged_user_id], salt="custos.admin.merge")


def _plan_token_valid(token, data) -> bool:
    from django.core import signing

    try:
        return signing.loads(token or "", salt="custos.admin.merge", max_age=900) == [data["primary"],
                                                                                       data["secondary"]]
    except signing.BadSignature:
        return False


@admin.action(description="Merge the two selected accounts…", permissions=["change"])
def merge_selected(modeladmin, request, queryset):
    ids = sorted(queryset.values_list("pk", flat=True)[:3])
    if len(ids) != 2:
        modeladmin.message_user(request, "Select exactly two accounts to merge.", messages.WARNING)
        return None
    return HttpResponseRedirect(f"{reverse('admin:accounts_user_merge')}?primary={ids[0]}&secondary={ids[1]}")


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("id", "username", "email", "phone", "user_type", "tenant", "status", "last_login", "created_at")
    list_filter = ("status", "user_type", "tenant")
    search_fields = ("username__startswith", "email__istartswith", "phone__startswith", "=id")
    list_select_related = ("tenant",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    ordering = ("-id",)
    inlines = [ProfileInline]
    actions = [_transition("freeze", "Freeze"), _transition("activate", "Activate"),
               _transition("unlock", "Unlock"), _transition("delete", "Delete (scrub personal data)"), force_logout,
               mfa_reset, merge_selected]
    fields = ("username", "email", "email_verified_at", "phone", "phone_verified_at", "user_type", "tenant", "status",
              "status_reason", "status_changed_at", "token_version", "password", "is_superuser", "last_login",
              "created_at", "updated_at", "deleted_at")
    readonly_fields = ("password", "token_version", "status", "status_reason", "status_changed_at", "tenant",
                       "is_superuser", "last_login", "created_at", "updated_at", "deleted_at",
                       "email_verified_at", "phone_verified_at")

    def has_add_permission(self, request) -> bool:
        return False  # accounts are made through the API (policy, invitations, audit)

    def get_urls(self):
        return [path("merge/", self.admin_site.admin_view(self.merge_view), name="accounts_user_merge"),
                *super().get_urls()]

    def merge_view(self, request):
        """Two steps: the dry run (what would move, every conflict), then the merge itself,
        which only a form already shown with its dry run can ask for. Staff may merge across
        tenants; the reason goes into the `user.merged` event."""
        from django.core.exceptions import PermissionDenied

        if not self.has_change_permission(request):
            raise PermissionDenied
        form = MergeForm(request.POST or request.GET or None)
        plan, error = None, None
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            # a confirmation counts only for the pair whose dry run this form showed
            confirm = request.POST.get("confirm") == "1" and _plan_token_valid(request.POST.get("plan"), d)
            try:
                plan = services.account_merge(primary_id=d["primary"], secondary_id=d["secondary"],
                                              actor=Actor.user(request.user.pk), dry_run=not confirm,
                                              cross_tenant=True, reason=d["reason"], proof_method="staff")
            except CustosError as exc:
                error = f"{exc.code}: {exc.message}"
            else:
                if confirm:
                    self.message_user(request, f"Account {d['secondary']} was merged into account {d['primary']}.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[d["primary"]]))
        context = {**self.admin_site.each_context(request), "title": "Merge two accounts", "form": form,
                   "plan": plan, "error": error, "opts": self.model._meta,
                   "plan_token": _plan_token(plan) if plan is not None else ""}
        return TemplateResponse(request, "admin/accounts/user/merge.html", context)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deletion is the "Delete" action: a soft delete that scrubs personal data

    def save_model(self, request, obj, form, change) -> None:
        data = {k: form.cleaned_data.get(k) or None for k in ("username", "email", "phone")}
        data["user_type"] = form.cleaned_data.get("user_type")
        services.admin_user_update(user_id=obj.pk, data=data, actor=Actor.user(request.user.pk))

    def save_formset(self, request, form, formset, change) -> None:
        for f in formset.forms:
            if f.has_changed() and f.cleaned_data:
                data = {k: f.cleaned_data.get(k) for k in ("nickname", "avatar", "gender", "birthday", "extra")}
                if data.get("birthday"):
                    data["birthday"] = data["birthday"].isoformat()
                services.profile_update(user_id=form.instance.pk, data=data, actor=Actor.user(request.user.pk))


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("status", "created_at", "updated_at")
    actions = ["disable", "enable"]

    def _each(self, request, queryset, fn) -> None:
        for t in queryset:
            try:
                fn(tenant_id=t.pk, actor=Actor.user(request.user.pk))
            except CustosError as exc:
                self.message_user(request, f"{t}: {exc.code}", messages.WARNING)

    @admin.action(description="Disable (signs every user of the tenant out)", permissions=["change"])
    def disable(self, request, queryset):
        self._each(request, queryset, services.tenant_disable)

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request, queryset):
        self._each(request, queryset, services.tenant_enable)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            services.tenant_rename(tenant_id=obj.pk, name=form.cleaned_data["name"], actor=Actor.user(request.user.pk))
        else:
            obj.pk = services.tenant_create(name=form.cleaned_data["name"], actor=Actor.user(request.user.pk)).pk

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
