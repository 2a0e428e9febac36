from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from authz.permissions import allowed
from authz.subjects import tenant_domain
from custos.exceptions import PermissionDeniedError
from custos.permissions import IsAuthenticatedPrincipal
from audit.services import Actor
from custos.exceptions import NotFound
from sessions_app import selectors, services

from .serializers import (ForceLogoutSerializer, LoginSerializer, RefreshSerializer, SessionSerializer,
                          TokenPairSerializer)


def token_response(pair: services.TokenPair) -> Response:
    response = Response(pair.as_response())
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def actor_of(principal) -> Actor:  # noqa: ANN001
    if getattr(principal, "is_service", False):
        return Actor.service(principal.name)
    return Actor.user(principal.id)


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer},
                   summary="Password login (username, email or phone)")
    def post(self, request):  # noqa: ANN001, ANN201
        s = LoginSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        return token_response(services.login_password(identifier=s.validated_data["username"],
                                                      password=s.validated_data["password"]))


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer},
                   summary="Rotate a refresh token")
    def post(self, request):  # noqa: ANN001, ANN201
        s = RefreshSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        return token_response(services.refresh_rotate(raw=s.validated_data["refresh_token"]))


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="End the current session")
    def post(self, request):  # noqa: ANN001, ANN201
        if request.user.session_id:
            services.logout(user_id=request.user.id, session_id=request.user.session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ForceLogoutView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(request=ForceLogoutSerializer,
                   responses={200: inline_serializer("ForceLogout", {"revoked_sessions": serializers.IntegerField()})},
                   summary="Kick a user everywhere (token_version bump) or end one session")
    def post(self, request):  # noqa: ANN001, ANN201
        s = ForceLogoutSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        actor = actor_of(request.user)
        # Allowed in the target's own tenant (its admins) or in the platform domain (staff).
        owner = selectors.owner_of(user_id=s.validated_data.get("user_id"),
                                   session_id=s.validated_data.get("session_id"))
        if owner is None:
            if not allowed(request, tenant_domain(None), "/sessions", "write"):
                raise PermissionDeniedError()
            raise NotFound()
        if not allowed(request, tenant_domain(owner[1]), "/sessions", "write"):
            raise PermissionDeniedError()
        if "user_id" in s.validated_data:
            n = services.force_logout_user(user_id=s.validated_data["user_id"], actor=actor)
        else:
            n = services.force_logout_session(session_id=s.validated_data["session_id"], actor=actor)
        return Response({"revoked_sessions": n})


class SessionListView(APIView):
    @extend_schema(responses={200: inline_serializer("SessionList", {
        "results": SessionSerializer(many=True), "next": serializers.CharField(allow_null=True)})},
        summary="My active sessions")
    def get(self, request):  # noqa: ANN001, ANN201
        rows = selectors.sessions_of(user_id=request.user.id, current_sid=request.user.session_id)
        return Response({"results": SessionSerializer(rows, many=True).data, "next": None})


class SessionDetailView(APIView):
    @extend_schema(responses={204: None}, summary="End one of my sessions")
    def delete(self, request, session_id: str):  # noqa: ANN001, ANN201
        session = selectors.session_of_user(user_id=request.user.id, session_id=session_id)
        if session is None:
            raise NotFound("No such session.")
        services.session_revoke(session=session, actor=Actor.user(request.user.id), reason="user_revoked")
        return Response(status=status.HTTP_204_NO_CONTENT)
