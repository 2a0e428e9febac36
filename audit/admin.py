from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail can be browsed, never edited or deleted."""

    list_display = ("occurred_at", "action", "result", "actor_type", "actor_id", "subject_user_id", "tenant_id", "ip")
    list_filter = ("action", "result", "actor_type")
    search_fields = ("=subject_user_id", "=actor_id", "=request_id")
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None):  # noqa: ANN001
        return False

    def has_delete_permission(self, request, obj=None):  # noqa: ANN001
        return False
