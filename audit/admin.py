from django.contrib import admin

from .models import AuditEvent


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

    list_display = ("occurred_at", "action", "result", "actor_type", "actor_id", "subject_user_id", "tenant_id", "ip")
    list_filter = ("action", "result", "actor_type", UserFilter, TenantFilter)
    search_fields = ("=subject_user_id", "=actor_id", "=request_id", "=event_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    ordering = ("-id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
