"""Self-service registration and the caller's own account: read, change, delete."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from audit.services import Actor
from custos.exceptions import NotFound
from custos.schema import USER_TRANSITION_CODES, raises
from custos.validation import body_of as _body

from ..serializers import MeSerializer, RegisterSerializer, UserSummarySerializer
from .common import REAUTH_HEADER, require_reauth


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer,
                   responses={201: inline_serializer("Registered", {"user": UserSummarySerializer()})},
                   summary="Self-service registration (C-end)")
    @raises("already_exists", "rate_limited")
    def post(self, request):
        s = RegisterSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        user = services.user_register(**s.validated_data)
        return Response({"user": selectors.user_public(user)}, status=status.HTTP_201_CREATED)


USER_DELETE_CODES = tuple(c for c in USER_TRANSITION_CODES if c.startswith("cannot_delete_"))


class MeView(APIView):
    @extend_schema(summary="The caller's user, profile, roles, MFA state and identities",
                   responses={200: MeSerializer})
    @raises("not_found")
    def get(self, request):
        data = selectors.user_me(user_id=request.user.id, tenant_id=request.user.tenant_id)
        if data is None:
            raise NotFound()
        return Response(data)

    @extend_schema(summary="Change profile fields (nickname, avatar, gender, birthday, extra)",
                   request=inline_serializer("ProfileChange", {
                       "nickname": serializers.CharField(required=False, allow_null=True),
                       "avatar": serializers.URLField(required=False, allow_null=True),
                       "gender": serializers.ChoiceField(["male", "female", "other"], required=False),
                       "birthday": serializers.DateField(required=False, allow_null=True),
                       "extra": serializers.DictField(required=False, allow_null=True,
                                                      help_text="a JSON object of at most 8 KiB")}),
                   responses={200: MeSerializer})
    @raises("not_found")
    def patch(self, request):
        services.profile_update(user_id=request.user.id, data=_body(request), actor=Actor.user(request.user.id))
        return self.get(request)

    @extend_schema(summary="Delete my account (needs X-Reauth-Token)", parameters=[REAUTH_HEADER],
                   responses={204: None})
    @raises("reauth_required", *USER_DELETE_CODES)
    def delete(self, request):
        require_reauth(request)
        services.user_transition(user_id=request.user.id, action="delete", actor=Actor.user(request.user.id),
                                 reason="self_service")
        return Response(status=status.HTTP_204_NO_CONTENT)
