from rest_framework.permissions import BasePermission


class IsAuthenticatedPrincipal(BasePermission):
    """A valid access token or service key."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user is not None and getattr(request.user, "is_authenticated", False))


class IsUserPrincipal(IsAuthenticatedPrincipal):
    """An end user's access token (the default): services have no 'me'."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and not getattr(request.user, "is_service", False)
