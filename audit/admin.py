from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from .models import AuditEvent


def _user_link(user_id: int | str | None, label: str = "") -> str:
    """A user id as a link to the user's console page (by URL name: audit imports no room above it)."""
    if user_id in (None, ""):
        return "-"
    try:
        url = reverse("admin:accounts_user_change", args=[user_id])
    except NoReverseMatch:
        return str(user_id)
    return format_html('<a href="{}">{}{}</a>', url, label, user_id)


class _IdFilter(admin.SimpleListFilter):
    """A filter on an id column: the changelist offers the ids seen most recently, and any
    other id works from the URL (?subject_user_id=42)."""

    field = ""

    def lookups(self, request, model_admin):
        recent = (AuditEvent.objects.exclude(**{f"{self.field}__isnull": True}).order_by("-id")
                  .values_list(self.field, flat=True)[:500])
        return [(str(v), str(v)) for v in sorted(set(recent))[:30]]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.field: int(value)}) if value and value.isdigit() else queryset


class UserFilter(_IdFilter):
    title, parameter_name, field = "user", "subject_user_id", "subject_user_id"


class TenantFilter(_IdFilter):
    title, parameter_name, field = "tenant", "tenant_id", "tenant_id"


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail can be browsed and filtered, never edited or deleted."""

    list_display = ("occurred_at", "action", "result", "actor", "subject", "tenant_id", "ip")
    list_filter = ("action", "result", "actor_type", UserFilter, TenantFilter)
    search_fields = ("=subject_user_id", "=actor_id", "=request_id", "=event_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    ordering = ("-id",)

    @admin.display(description="actor", ordering="actor_id")
    def actor(self, obj: AuditEvent) -> str:
        if obj.actor_type == "user" and str(obj.actor_id or "").isdigit():
            return _user_link(obj.actor_id, "user ")
        return f"{obj.actor_type} {obj.actor_id or ''}".strip()

    @admin.display(description="subject user", ordering="subject_user_id")
    def subject(self, obj: AuditEvent) -> str:
        return _user_link(obj.subject_user_id)

    def get_queryset(self, request):
        from custos.replica import read_alias

        return super().get_queryset(request).using(read_alias())  # a list may lag: the replica serves it

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
