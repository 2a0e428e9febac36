"""Re-authentication for sensitive operations, password change and password reset."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.security import mfa
from audit.services import Actor
from custos.exceptions import ValidationFailed
from custos.responses import no_store
from custos.schema import raises
from custos.validation import body_of as _body
from custos.validation import require_str


class ReauthView(APIView):
    @extend_schema(summary="Prove a fresh password check for a sensitive operation",
                   request=inline_serializer("Reauth", {"password": serializers.CharField(required=False),
                                                        "code": serializers.CharField(required=False)}),
                   responses={200: inline_serializer("ReauthToken", {"reauth_token": serializers.CharField(),
                                                                     "expires_in": serializers.IntegerField()})})
    @raises("invalid_credentials", "mfa_invalid", "rate_limited")
    def post(self, request):
        body = _body(request)
        if "password" in body:
            token = services.reauth_with_password(user_id=request.user.id, session_id=request.user.session_id,
                                                  password=require_str(body, "password"))
        elif "code" in body:
            method = mfa.second_factor_check(user_id=request.user.id, code=require_str(body, "code", max_length=32),
                                             method=None)
            token = services.reauth_token_issue(user_id=request.user.id, session_id=request.user.session_id,
                                                method=method)
        else:
            raise ValidationFailed(fields={"password": ["Give your password, or a code from your authenticator."]})
        return no_store(Response({"reauth_token": token, "expires_in": 300}))


class PasswordChangeView(APIView):
    @extend_schema(summary="Change my password; my other sessions end",
                   request=inline_serializer("PasswordChange", {"current_password": serializers.CharField(),
                                                                "new_password": serializers.CharField()}),
                   responses={204: None})
    @raises("rate_limited")
    def post(self, request):
        body = _body(request)
        current, new = body.get("current_password"), body.get("new_password")
        if not isinstance(current, str) or not isinstance(new, str):
            raise ValidationFailed(fields={k: ["This field is required."] for k, v in
                                           (("current_password", current), ("new_password", new))
                                           if not isinstance(v, str)})
        services.password_change(user_id=request.user.id, current_password=current, new_password=new,
                                 keep_session_id=request.user.session_id, actor=Actor.user(request.user.id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetRequestView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Ask for a reset link (202 whether or not the account exists)",
                   request=inline_serializer("PasswordResetStart", {"identifier": serializers.CharField()}),
                   responses={202: inline_serializer("Accepted", {"status": serializers.ChoiceField(["accepted"])})})
    @raises("rate_limited")
    def post(self, request):
        services.password_reset_request(identifier=_body(request).get("identifier"))
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Set a new password with a reset (or invitation) token; every session ends",
                   request=inline_serializer("PasswordResetConfirm", {"token": serializers.CharField(),
                                                                      "new_password": serializers.CharField()}),
                   responses={204: None})
    @raises("reset_token_invalid")
    def post(self, request):
        body = _body(request)
        services.password_reset_confirm(token=require_str(body, "token", max_length=256),
                                        new_password=require_str(body, "new_password"))
        return Response(status=status.HTTP_204_NO_CONTENT)
