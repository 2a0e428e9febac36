"""B-end: staff and tenant admins list, create, correct and change the state of users."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import User
from audit.services import Actor
from custos import policy
from custos.exceptions import PermissionDeniedError, ValidationFailed
from custos.pagination import page, parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.schema import LIST_PARAMS, USER_TRANSITION_CODES, raises
from custos.validation import body_of as _body
from custos.validation import parse_id

from ..serializers import AdminUserSerializer, list_of
from .common import target_user

STAFF = User.UserType.STAFF


def _require_platform_staff(request) -> None:
    """Staff accounts are the platform's (docs/authz.md): making one, promoting or demoting one,
    and changing one need /users write in the platform domain (platform staff; superusers pass
    every check). A tenant's admins hold /users in their tenant only, so they cannot mint staff
    or take over a staff account that lives in their tenant."""
    if not policy.provider().allowed(request, None, "/users", "write"):
        raise PermissionDeniedError("Only the platform's staff may create or change staff accounts.")


class AdminUsersView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Users visible to the caller, filtered, newest first", operation_id="v1_admin_users_list",
                   parameters=[OpenApiParameter("tenant_id", int),
                               OpenApiParameter("status", str, enum=User.Status.values),
                               OpenApiParameter("user_type", str, enum=User.UserType.values),
                               OpenApiParameter("q", str, description="a username, email or phone prefix"),
                               *LIST_PARAMS],
                   responses={200: list_of("AdminUserList", AdminUserSerializer)})
    @raises("validation_error", "permission_denied")
    def get(self, request):
        visible = policy.provider().tenants_visible(request, "/users", "read")
        if visible == []:
            raise PermissionDeniedError()
        p = request.query_params
        st, ut, q = p.get("status"), p.get("user_type"), p.get("q")
        if st and st not in User.Status.values:
            raise ValidationFailed(fields={"status": [f"One of {', '.join(User.Status.values)}."]})
        if ut and ut not in User.UserType.values:
            raise ValidationFailed(fields={"user_type": [f"One of {', '.join(User.UserType.values)}."]})
        if q is not None and (len(q) > 128 or not q.strip()):
            raise ValidationFailed(fields={"q": ["1 to 128 characters."]})
        qs = selectors.admin_users(tenant_ids=visible, tenant_id=parse_id(p.get("tenant_id"), "tenant_id"),
                                   status=st, user_type=ut, q=q.strip() if q else None)
        rows, nxt = page(qs, cursor=p.get("cursor"), limit=parse_limit(p.get("limit")))
        return Response({"results": [selectors.admin_user_row(u) for u in rows], "next": nxt})

    @extend_schema(summary="Create a user (B-end): an initial password or an invitation",
                   request=inline_serializer("AdminUserCreate", {
                       "username": serializers.CharField(required=False),
                       "email": serializers.CharField(required=False),
                       "phone": serializers.CharField(required=False),
                       "password": serializers.CharField(required=False),
                       "nickname": serializers.CharField(required=False),
                       "user_type": serializers.ChoiceField(User.UserType.choices, required=False),
                       "tenant_id": serializers.IntegerField(required=False),
                       "roles": serializers.ListField(child=serializers.CharField(), required=False),
                       "invite": serializers.BooleanField(required=False)}),
                   responses={201: AdminUserSerializer})
    @raises("permission_denied", "already_exists")
    def post(self, request):
        body = _body(request)
        tenant_id = parse_id(body.get("tenant_id"), "tenant_id")
        if tenant_id is None and getattr(request.user, "tenant_id", None) is not None:
            tenant_id = request.user.tenant_id  # a tenant admin creates in their own tenant by default
        if not policy.provider().allowed(request, tenant_id, "/users", "write"):
            raise PermissionDeniedError()
        roles = body.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) or len(roles) > 20:
            raise ValidationFailed(fields={"roles": ["A list of role names."]})
        for key in ("username", "email", "phone", "password", "nickname"):
            if body.get(key) is not None and not isinstance(body.get(key), str):
                raise ValidationFailed(fields={key: ["Must be a string."]})
        if not isinstance(body.get("invite", False), bool):
            raise ValidationFailed(fields={"invite": ["Must be a boolean."]})
        if body.get("user_type") == STAFF:
            _require_platform_staff(request)
        user = services.admin_user_create(
            actor=Actor.of(request.user), username=body.get("username"), email=body.get("email"),
            phone=body.get("phone"), password=body.get("password"),
            user_type=body.get("user_type", User.UserType.CUSTOMER), tenant_id=tenant_id,
            invite=body.get("invite", False), nickname=body.get("nickname"), roles=roles)
        return Response(selectors.admin_user_row(selectors.user_get(user_id=user.pk)), status=status.HTTP_201_CREATED)


class AdminUserView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="One user", responses={200: AdminUserSerializer})
    @raises("not_found", "permission_denied")
    def get(self, request, user_id: int):
        return Response(selectors.admin_user_row(target_user(request, user_id, "read")))

    @extend_schema(summary="Correct a user's identifiers or type",
                   request=inline_serializer("AdminUserChange", {
                       "username": serializers.CharField(required=False, allow_null=True),
                       "email": serializers.CharField(required=False, allow_null=True),
                       "phone": serializers.CharField(required=False, allow_null=True),
                       "user_type": serializers.ChoiceField(User.UserType.choices, required=False)}),
                   responses={200: AdminUserSerializer})
    @raises("not_found", "permission_denied", "already_exists")
    def patch(self, request, user_id: int):
        target = target_user(request, user_id, "write")
        body = _body(request)
        if target.user_type == STAFF or body.get("user_type") == STAFF:
            _require_platform_staff(request)
        user = services.admin_user_update(user_id=user_id, data=body, actor=Actor.of(request.user))
        return Response(selectors.admin_user_row(selectors.user_get(user_id=user.pk)))


class AdminUserActionView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]
    action_name = ""

    @extend_schema(summary="Change an account's state (audited; freeze and delete end every session)",
                   request=inline_serializer("StateChange", {"reason": serializers.CharField(required=False)}),
                   responses={200: AdminUserSerializer})
    @raises("not_found", "permission_denied", *USER_TRANSITION_CODES)
    def post(self, request, user_id: int):
        if target_user(request, user_id, "write").user_type == STAFF:
            _require_platform_staff(request)
        reason = _body(request).get("reason") or ""
        if not isinstance(reason, str) or len(reason) > 200:
            raise ValidationFailed(fields={"reason": ["At most 200 characters."]})
        user = services.user_transition(user_id=user_id, action=self.action_name, actor=Actor.of(request.user),
                                        reason=reason)
        return Response(selectors.admin_user_row(user))


def action_view(name: str) -> Any:
    return type(f"AdminUser{name.title()}View", (AdminUserActionView,), {"action_name": name}).as_view()
