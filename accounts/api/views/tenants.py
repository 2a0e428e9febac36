"""B-end: tenants, listed, created, renamed, disabled and enabled."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import Tenant
from audit.services import Actor
from custos import policy
from custos.exceptions import PermissionDeniedError
from custos.pagination import page, parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.schema import LIST_PARAMS, TENANT_TRANSITION_CODES, raises
from custos.validation import body_of as _body

from ..serializers import TenantSerializer, list_of


def _tenant_row(t: Tenant) -> dict:
    return {"id": t.pk, "name": t.name, "status": t.status, "created_at": t.created_at}


class TenantsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Tenants visible to the caller, newest first", parameters=LIST_PARAMS,
                   responses={200: list_of("TenantList", TenantSerializer)}, operation_id="v1_admin_tenants_list")
    @raises("validation_error", "permission_denied")
    def get(self, request):
        visible = policy.provider().tenants_visible(request, "/tenants", "read")
        if visible == []:
            raise PermissionDeniedError()
        qs = Tenant.objects.all() if visible is None else Tenant.objects.filter(pk__in=visible)
        rows, nxt = page(qs, cursor=request.query_params.get("cursor"),
                         limit=parse_limit(request.query_params.get("limit")))
        return Response({"results": [_tenant_row(t) for t in rows], "next": nxt})

    @extend_schema(summary="Create a tenant (platform staff)",
                   request=inline_serializer("TenantCreate", {"name": serializers.CharField()}),
                   responses={201: TenantSerializer})
    @raises("permission_denied", "already_exists")
    def post(self, request):
        if not policy.provider().allowed(request, None, "/tenants", "write"):
            raise PermissionDeniedError()
        tenant = services.tenant_create(name=_body(request).get("name"), actor=Actor.of(request.user))
        return Response(_tenant_row(tenant), status=status.HTTP_201_CREATED)


class TenantView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Rename a tenant", request=inline_serializer("TenantRename", {
        "name": serializers.CharField()}), responses={200: TenantSerializer})
    @raises("permission_denied", "not_found", "already_exists")
    def patch(self, request, tenant_id: int):
        if not policy.provider().allowed(request, None, "/tenants", "write"):
            raise PermissionDeniedError()
        tenant = services.tenant_rename(tenant_id=tenant_id, name=_body(request).get("name"),
                                        actor=Actor.of(request.user))
        return Response(_tenant_row(tenant))


class TenantActionView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]
    enable = True

    @extend_schema(summary="Disable (signs every user of the tenant out) or enable a tenant", request=None,
                   responses={200: TenantSerializer})
    @raises("permission_denied", "not_found", *TENANT_TRANSITION_CODES)
    def post(self, request, tenant_id: int):
        if not policy.provider().allowed(request, None, "/tenants", "write"):
            raise PermissionDeniedError()
        fn = services.tenant_enable if self.enable else services.tenant_disable
        return Response(_tenant_row(fn(tenant_id=tenant_id, actor=Actor.of(request.user))))
