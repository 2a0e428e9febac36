"""Django admin for staff: browse and search, and act only through the same services the API
uses, with the staff user as actor. Secrets (password hash, token version) are read-only."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.models import Group

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
               mfa_reset]
    fields = ("username", "email", "email_verified_at", "phone", "phone_verified_at", "user_type", "tenant", "status",
              "status_reason", "status_changed_at", "token_version", "password", "is_superuser", "last_login",
              "created_at", "updated_at", "deleted_at")
    readonly_fields = ("password", "token_version", "status", "status_reason", "status_changed_at", "tenant",
                       "is_superuser", "last_login", "created_at", "updated_at", "deleted_at",
                       "email_verified_at", "phone_verified_at")

    def has_add_permission(self, request) -> bool:
        return False  # accounts are made through the API (policy, invitations, audit)

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
