from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from authz.permissions import allowed
from authz.subjects import tenant_domain
from custos.exceptions import NotFound, PermissionDeniedError, ValidationFailed
from custos.pagination import parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.responses import no_store
from custos.schema import LIST_PARAMS, TOKEN_ISSUING, raises
from custos.validation import body_of as _body
from custos.validation import require_str
from sessions_app import selectors, services, signin

from .serializers import (
    ForceLogoutSerializer,
    LoginSerializer,
    RefreshSerializer,
    SessionSerializer,
    SignInAnswer,
    TokenPairSerializer,
)

SIGN_IN_REFUSALS = ("account_disabled", "email_unverified", "login_denied", "rate_limited", *TOKEN_ISSUING)


def token_response(pair: services.TokenPair | dict, render: Callable[[Any], HttpResponse] = Response) -> HttpResponse:
    """A token pair, or an MFA challenge: neither may be cached. `render` makes the response
    (DRF's Response here, custos.fastview.json_response in the lean views)."""
    if not isinstance(pair, services.TokenPair):
        return no_store(render(pair), pragma=True)
    response = no_store(render(pair.as_response()), pragma=True)
    # Sign-in and refresh authenticate nobody, so the request log line (custos.middleware) learns
    # whom the tokens were issued to from the response.
    response.custos_user_id = pair.user.get("id")
    return response


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginSerializer, responses={200: SignInAnswer},
                   summary="Password login (username, email or phone): a token pair, or an MFA challenge")
    @raises("invalid_credentials", *SIGN_IN_REFUSALS)
    def post(self, request):
        s = LoginSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        signed = signin.password(identifier=s.validated_data["username"], password=s.validated_data["password"])
        return token_response(signin.api_answer(signed))


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer},
                   summary="Rotate a refresh token")
    @raises("refresh_token_invalid", "refresh_token_reused", *TOKEN_ISSUING)
    def post(self, request):
        s = RefreshSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        return token_response(services.refresh_rotate(raw=s.validated_data["refresh_token"]))


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="End the current session")
    def post(self, request):
        if request.user.session_id:
            services.logout(user_id=request.user.id, session_id=request.user.session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ForceLogoutView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(request=ForceLogoutSerializer,
                   responses={200: inline_serializer("RevokedSessions", {
                       "revoked_sessions": serializers.IntegerField()})},
                   summary="Kick a user everywhere (token_version bump) or end one session")
    @raises("permission_denied", "not_found")
    def post(self, request):
        s = ForceLogoutSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        actor = Actor.of(request.user)
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
    @extend_schema(parameters=LIST_PARAMS, operation_id="v1_sessions_list",
                   responses={200: inline_serializer("SessionList", {
                       "results": SessionSerializer(many=True), "next": serializers.CharField(allow_null=True)})},
                   summary="My live sessions, newest sign-in first")
    @raises("validation_error")
    def get(self, request):
        rows, nxt = selectors.sessions_page(user_id=request.user.id, current_sid=request.user.session_id,
                                            cursor=request.query_params.get("cursor"),
                                            limit=parse_limit(request.query_params.get("limit")))
        return Response({"results": SessionSerializer(rows, many=True).data, "next": nxt})

    @extend_schema(parameters=[OpenApiParameter(
        "all", OpenApiTypes.STR, enum=["1", "0", "true", "false"], required=False,
        description="`1`: the current session ends too (the caller's access token stops working)")],
        request=None, responses={204: None}, operation_id="v1_sessions_destroy_all",
        summary="End all my other sessions (with all=1: every one), each audited as session.revoked")
    @raises("validation_error")
    def delete(self, request):
        everything = _flag(request.query_params.get("all"), "all")
        services.sessions_end_all(user_id=request.user.id, actor=Actor.user(request.user.id),
                                  keep_session_id=None if everything else request.user.session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _flag(value: str | None, name: str) -> bool:
    if value in (None, "", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise ValidationFailed(fields={name: ["One of 1, 0, true, false."]})


class SessionDetailView(APIView):
    @extend_schema(responses={204: None}, summary="End one of my sessions")
    @raises("not_found")
    def delete(self, request, session_id: str):
        session = selectors.session_of_user(user_id=request.user.id, session_id=session_id)
        if session is None:
            raise NotFound("No such session.")
        services.session_revoke(session=session, actor=Actor.user(request.user.id), reason="user_revoked")
        return Response(status=status.HTTP_204_NO_CONTENT)


class OtpSendView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Send a sign-in code by email or SMS (202 whether or not the destination is known)",
                   request=inline_serializer("OtpSend", {"channel": serializers.ChoiceField(["email", "sms"]),
                                                         "destination": serializers.CharField()}),
                   responses={202: inline_serializer("OtpSent", {"retry_after": serializers.IntegerField()})})
    @raises("rate_limited")
    def post(self, request):
        body = _body(request)
        retry_after = signin.otp_send(channel=body.get("channel"), destination=body.get("destination"))
        return Response({"retry_after": retry_after}, status=status.HTTP_202_ACCEPTED)


class OtpVerifyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Sign in with the code (creates the account when self-registration by OTP is on)",
                   request=inline_serializer("OtpVerify", {"channel": serializers.ChoiceField(["email", "sms"]),
                                                           "destination": serializers.CharField(),
                                                           "code": serializers.CharField()}),
                   responses={200: SignInAnswer})
    @raises("otp_invalid", *SIGN_IN_REFUSALS)
    def post(self, request):
        body = _body(request)
        signed = signin.one_time_code(otp_channel=body.get("channel"), destination=body.get("destination"),
                                      code=require_str(body, "code", max_length=16))
        return token_response(signin.api_answer(signed))


class MfaVerifyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Second factor after an MFA challenge",
                   request=inline_serializer("MfaVerify", {
                       "mfa_token": serializers.CharField(), "code": serializers.CharField(),
                       "method": serializers.ChoiceField(["totp", "backup_code", "email_otp", "sms_otp"],
                                                         required=False)}),
                   responses={200: TokenPairSerializer})
    @raises("mfa_invalid", "rate_limited", *TOKEN_ISSUING)
    def post(self, request):
        body = _body(request)
        signed = signin.second_factor(token=require_str(body, "mfa_token", max_length=256),
                                      code=require_str(body, "code", max_length=32), method=body.get("method"))
        return token_response(signin.api_answer(signed))
