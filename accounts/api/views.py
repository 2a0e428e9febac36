from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from custos.exceptions import NotFound

from .serializers import RegisterSerializer

UserOut = inline_serializer("User", {
    "id": serializers.IntegerField(), "username": serializers.CharField(allow_null=True),
    "tenant_id": serializers.IntegerField(allow_null=True), "user_type": serializers.CharField(),
    "status": serializers.CharField()})


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: inline_serializer("Registered", {"user": UserOut})},
                   summary="Self-service registration (C-end)")
    def post(self, request):  # noqa: ANN001, ANN201
        s = RegisterSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        user = services.user_create(**s.validated_data)
        return Response({"user": selectors.user_public(user)}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    @extend_schema(summary="The caller's user, profile, roles, MFA state and identities",
                   responses={200: inline_serializer("Me", {"id": serializers.IntegerField()})})
    def get(self, request):  # noqa: ANN001, ANN201
        data = selectors.user_me(user_id=request.user.id, tenant_id=request.user.tenant_id)
        if data is None:
            raise NotFound()
        return Response(data)
