from rest_framework.permissions import BasePermission


class IsStaffOrService(BasePermission):
    """Staff users (or platform superusers) and authenticated services."""

    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        principal = request.user
        if principal is None or not getattr(principal, "is_authenticated", False):
            return False
        if getattr(principal, "is_service", False):
            return True
        from .selectors import user_get

        user = user_get(user_id=principal.id)
        return bool(user and user.is_active and (user.is_staff or user.is_superuser))
