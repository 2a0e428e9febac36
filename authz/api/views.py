"""Thin interfaces over authz.services and authz.selectors. The check endpoints parse by
hand instead of through serializers: they are on every request's path through Clotho, and
a serializer costs more than the decision itself."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from authz import selectors, services
from authz.permissions import allowed, sees_every_tenant, subject_of
from authz.subjects import check_role_name, parse_subject, parse_tenant, user_subject
from custos.exceptions import Conflict, NotFound, PermissionDeniedError, ValidationFailed
from custos.pagination import page_items, parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.schema import LIST_PARAMS, raises

MAX_OBJECT = 1024
TENANT_PARAM = OpenApiParameter("tenant", str, description='tenant id, or "platform" (the default)')
PermissionOut = inline_serializer("Permission", {"object": serializers.CharField(), "action": serializers.CharField()})
RoleOut = inline_serializer("Role", {"name": serializers.CharField(), "tenant": serializers.CharField(),
                                     "permissions": PermissionOut.__class__(many=True)})
UserRolesOut = inline_serializer("UserRoles", {"user_id": serializers.IntegerField(),
                                               "tenant": serializers.CharField(),
                                               "roles": serializers.ListField(child=serializers.CharField())})
PermissionsIn = inline_serializer("RolePermissions", {"permissions": PermissionOut.__class__(many=True)})
CheckIn = inline_serializer("Check", {
    "subject": serializers.CharField(required=False, allow_null=True,
                                     help_text='a user id, "user:<id>" or "svc:<name>"; the caller when absent'),
    "tenant": serializers.CharField(allow_null=True, help_text='a tenant id, or "platform" (or null)'),
    "object": serializers.CharField(max_length=MAX_OBJECT), "action": serializers.CharField(max_length=64)})


def _require(request, domain: str, obj: str, act: str) -> None:
    if not allowed(request, domain, obj, act):
        raise PermissionDeniedError()


def _parse_check(item: Any, caller: str, i: int | None = None) -> tuple[str, str, str, str]:
    prefix = "" if i is None else f"checks.{i}."
    if not isinstance(item, dict):
        raise ValidationFailed(fields={prefix.rstrip(".") or "body": ["Must be an object."]})
    obj, act = item.get("object"), item.get("action")
    if not isinstance(obj, str) or not obj or len(obj) > MAX_OBJECT:
        raise ValidationFailed(fields={f"{prefix}object": ["A non-empty string of at most 1024 characters."]})
    if not isinstance(act, str) or not act or len(act) > 64:
        raise ValidationFailed(fields={f"{prefix}action": ["A non-empty string of at most 64 characters."]})
    if "tenant" not in item:
        raise ValidationFailed(fields={f"{prefix}tenant": ["This field is required (a tenant id or \"platform\")."]})
    domain = parse_tenant(item["tenant"], field=f"{prefix}tenant")
    subject = caller if item.get("subject") is None else parse_subject(item["subject"], field=f"{prefix}subject")
    return subject, domain, obj, act


def check_answer(request, data: Any) -> dict:
    """POST /v1/authz/check for a caller already authenticated (request.user)."""
    caller = subject_of(request.user)
    check = _parse_check(data, caller)
    _authorize_checks(request, caller, [check])
    return {"allowed": selectors.check(*check)}


def _authorize_checks(request, caller: str, checks: list[tuple[str, str, str, str]]) -> None:
    """Anyone may ask about themselves; asking about others needs /authz/check in that domain."""
    for domain in {d for s, d, _, _ in checks if s != caller}:
        _require(request, domain, "/authz/check", "check")


class CheckView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Is subject allowed action on object in tenant?",
                   request=CheckIn,
                   responses={200: inline_serializer("CheckResult", {"allowed": serializers.BooleanField()})})
    @raises("permission_denied")
    def post(self, request):
        return Response(check_answer(request, request.data))


class CheckBatchView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Up to 1000 checks in one call, answered in order",
                   request=inline_serializer("CheckBatch", {"checks": CheckIn.__class__(many=True, max_length=1000)}),
                   responses={200: inline_serializer("CheckBatchResult", {
                       "results": serializers.ListField(child=serializers.BooleanField(),
                                                        help_text="one answer per check, in order")})})
    @raises("permission_denied")
    def post(self, request):
        return Response(check_batch_answer(request, request.data))


def check_batch_answer(request, data: Any) -> dict:
    """POST /v1/authz/check-batch for a caller already authenticated (request.user)."""
    caller = subject_of(request.user)
    items = data.get("checks")
    if not isinstance(items, list) or not items or len(items) > 1000:
        raise ValidationFailed(fields={"checks": ["A list of 1 to 1000 checks."]})
    checks = [_parse_check(item, caller, i) for i, item in enumerate(items)]
    _authorize_checks(request, caller, checks)
    return {"results": selectors.check_batch(checks)}


def _permissions_in(data: Any) -> list[tuple[Any, Any]]:
    perms = data.get("permissions", []) if isinstance(data, dict) else None
    if not isinstance(perms, list) or len(perms) > 500:
        raise ValidationFailed(fields={"permissions": ["A list of at most 500 {object, action}."]})
    out = []
    for i, p in enumerate(perms):
        if not isinstance(p, dict):
            raise ValidationFailed(fields={f"permissions.{i}": ["Must be an object {object, action}."]})
        out.append((p.get("object"), p.get("action")))
    return out


class RolesView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Roles of a tenant, by name", parameters=[TENANT_PARAM, *LIST_PARAMS],
                   operation_id="v1_authz_roles_list",
                   responses={200: inline_serializer("RoleList", {
                       "results": RoleOut.__class__(many=True),
                       "next": serializers.CharField(allow_null=True, help_text="the cursor of the next page")})})
    @raises("validation_error", "permission_denied")
    def get(self, request):
        domain = parse_tenant(request.query_params.get("tenant"))
        limit = parse_limit(request.query_params.get("limit"))
        _require(request, domain, "/authz/roles", "read")
        # a tenant's roles are few and come from the enforcer's snapshot, sorted by name
        rows, nxt = page_items(selectors.roles_in(domain), cursor=request.query_params.get("cursor"), limit=limit,
                               key=lambda r: (r["name"],), kinds=(str,))
        return Response({"results": rows, "next": nxt})

    @extend_schema(summary="Create a role with its permissions",
                   request=inline_serializer("RoleCreate", {"name": serializers.CharField(),
                                                            "tenant": serializers.CharField(),
                                                            "permissions": PermissionOut.__class__(many=True)}),
                   responses={201: RoleOut})
    @raises("permission_denied", "role_exists")
    def post(self, request):
        data = request.data
        if "tenant" not in data:
            raise ValidationFailed(fields={"tenant": ["This field is required (a tenant id or \"platform\")."]})
        domain = parse_tenant(data.get("tenant"))
        _require(request, domain, "/authz/roles", "write")
        name = check_role_name(data.get("name"))
        perms = services.role_create(name=name, domain=domain, permissions=_permissions_in(data),
                                     actor=Actor.of(request.user))
        return Response({"name": name, "tenant": domain,
                         "permissions": [{"object": o, "action": a} for o, a in perms]},
                        status=status.HTTP_201_CREATED)


class RoleDetailView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Delete a role and its assignments", parameters=[TENANT_PARAM], responses={204: None})
    @raises("validation_error", "permission_denied", "not_found", "builtin_role")
    def delete(self, request, role: str):
        domain = parse_tenant(request.query_params.get("tenant"))
        _require(request, domain, "/authz/roles", "write")
        services.role_delete(name=check_role_name(role), domain=domain, actor=Actor.of(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RolePermissionsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="A role's permissions", parameters=[TENANT_PARAM], responses={200: RoleOut})
    @raises("validation_error", "permission_denied", "not_found")
    def get(self, request, role: str):
        domain = parse_tenant(request.query_params.get("tenant"))
        _require(request, domain, "/authz/roles", "read")
        if not selectors.role_exists(check_role_name(role), domain):
            raise NotFound("No such role in this tenant.")
        return Response({"name": role, "tenant": domain, "permissions": selectors.role_permissions(role, domain)})

    @extend_schema(summary="Replace a role's permissions atomically", parameters=[TENANT_PARAM],
                   request=PermissionsIn, responses={200: RoleOut})
    @raises("permission_denied", "not_found")
    def put(self, request, role: str):
        domain = parse_tenant(request.query_params.get("tenant", request.data.get("tenant")))
        _require(request, domain, "/authz/roles", "write")
        perms = services.role_permissions_replace(name=check_role_name(role), domain=domain,
                                                  permissions=_permissions_in(request.data),
                                                  actor=Actor.of(request.user))
        return Response({"name": role, "tenant": domain,
                         "permissions": [{"object": o, "action": a} for o, a in perms]})


def _target_user(request, user_id: int, domain: str):
    """The user whose roles in `domain` the caller asks about or changes.

    A user outside the domain's tenant is "not found", exactly like an id that does not exist,
    unless the caller sees every tenant's users (platform rights): otherwise a tenant admin
    could tell, from 200 against 404, which ids exist in other tenants."""
    user = selectors.user_in_domain(user_id=user_id, domain=domain)
    if user is not None:
        return user
    if selectors.user_exists(user_id=user_id) and sees_every_tenant(request, "/authz/users", "read"):
        raise Conflict("The user does not belong to this tenant.", code="user_not_in_tenant")
    raise NotFound("No such user.")


class UserRolesView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="A user's roles in a tenant", parameters=[TENANT_PARAM], responses={200: UserRolesOut})
    @raises("validation_error", "permission_denied", "not_found")
    def get(self, request, user_id: int):
        domain = parse_tenant(request.query_params.get("tenant"))
        if subject_of(request.user) != user_subject(user_id):
            _require(request, domain, "/authz/users", "read")
            try:
                _target_user(request, user_id, domain)
            except Conflict:
                pass  # platform staff may read anyone's roles in any domain (none, outside their tenant)
        return Response({"user_id": user_id, "tenant": domain,
                         "roles": selectors.subject_roles(user_subject(user_id), domain)})

    @extend_schema(summary="Grant a role", parameters=[TENANT_PARAM],
                   request=inline_serializer("RoleGrant", {"role": serializers.CharField()}),
                   responses={201: UserRolesOut})
    @raises("permission_denied", "not_found", "user_not_in_tenant")
    def post(self, request, user_id: int):
        domain = parse_tenant(request.query_params.get("tenant", request.data.get("tenant")))
        _require(request, domain, "/authz/users", "write")
        role = check_role_name(request.data.get("role"), field="role")
        _target_user(request, user_id, domain)
        services.subject_role_grant(subject=user_subject(user_id), role=role, domain=domain,
                                    actor=Actor.of(request.user), subject_user_id=user_id)
        return Response({"user_id": user_id, "tenant": domain,
                         "roles": selectors.subject_roles(user_subject(user_id), domain)},
                        status=status.HTTP_201_CREATED)


class UserRoleDetailView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Revoke a role", parameters=[TENANT_PARAM], responses={204: None})
    @raises("validation_error", "permission_denied", "not_found")
    def delete(self, request, user_id: int, role: str):
        domain = parse_tenant(request.query_params.get("tenant"))
        _require(request, domain, "/authz/users", "write")
        try:
            _target_user(request, user_id, domain)
        except Conflict:
            pass  # platform staff may clear what an older grant left across tenants
        services.subject_role_revoke(subject=user_subject(user_id), role=check_role_name(role), domain=domain,
                                     actor=Actor.of(request.user), subject_user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyPermissionsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="The caller's effective permissions in a tenant", parameters=[TENANT_PARAM],
                   responses={200: inline_serializer("MyPermissions", {
                       "subject": serializers.CharField(), "tenant": serializers.CharField(),
                       "superuser": serializers.BooleanField(help_text=(
                           "a superuser: every Custos check admits them whatever their roles (the first "
                           'permission is then {"object": "*", "action": "*", "via": "superuser"})')),
                       "roles": serializers.ListField(child=serializers.CharField()),
                       "permissions": inline_serializer("EffectivePermission", {
                           "object": serializers.CharField(), "action": serializers.CharField(),
                           "via": serializers.CharField(help_text="the role (or the subject, or superuser) it "
                                                                  "comes from")},
                           many=True)})})
    @raises("validation_error")
    def get(self, request):
        from authz.permissions import my_permissions

        default = getattr(request.user, "tenant_id", None)
        domain = parse_tenant(request.query_params.get("tenant", default))
        return Response(my_permissions(request.user, domain))
