"""What several of accounts' views share: the re-auth gate and the
B-end's tenant check on a target user."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from accounts import selectors, services
from accounts.models import User
from custos import policy
from custos.exceptions import NotFound, PermissionDeniedError

# Sensitive operations: the token of POST /v1/auth/reauth (or /v1/oauth/{provider}/reauth);
# missing, expired or for another session: 403 reauth_required.
REAUTH_HEADER = OpenApiParameter("X-Reauth-Token", str, OpenApiParameter.HEADER, required=True,
                                 description="from POST /v1/auth/reauth, for this session, within 5 minutes")


def require_reauth(request) -> None:
    services.reauth_token_check(token=request.META.get("HTTP_X_REAUTH_TOKEN"), user_id=request.user.id,
                                session_id=request.user.session_id)


def target_user(request, user_id: int, act: str) -> User:
    """The user, if the caller may act on users of that user's tenant (or platform-wide)."""
    p = policy.provider()
    user = selectors.user_get(user_id=user_id)
    # Users the caller cannot even read are "not found": ids of other tenants cannot be probed.
    if user is None or not p.allowed(request, user.tenant_id, "/users", "read"):
        raise NotFound("No such user.")
    if act != "read" and not p.allowed(request, user.tenant_id, "/users", act):
        raise PermissionDeniedError()
    # A staff account is the platform's, wherever it lives: a tenant's admins may not reset its
    # second factor, read its sign-ins or change it (a takeover path otherwise).
    if user.user_type == User.UserType.STAFF and not p.allowed(request, None, "/users", act):
        raise PermissionDeniedError("Only the platform's staff may act on staff accounts.")
    return user
