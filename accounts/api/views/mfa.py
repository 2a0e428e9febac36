"""Second factors: TOTP enrolment and removal, backup codes, and the B-end's reset."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.security import mfa
from audit.services import Actor
from custos.permissions import IsAuthenticatedPrincipal
from custos.responses import no_store
from custos.schema import raises
from custos.validation import body_of as _body
from custos.validation import require_str

from .common import REAUTH_HEADER, require_reauth, target_user

BackupCodes = inline_serializer("BackupCodes", {"backup_codes": serializers.ListField(
    child=serializers.CharField(), help_text="10 single-use codes, shown only now")})


class TotpSetupView(APIView):
    @extend_schema(summary="Start TOTP enrolment (needs X-Reauth-Token)", request=None, parameters=[REAUTH_HEADER],
                   responses={200: inline_serializer("TotpSetup", {"otpauth_uri": serializers.CharField(),
                                                                  "secret": serializers.CharField(),
                                                                  "qr_svg": serializers.CharField()})})
    @raises("reauth_required", "mfa_already_enabled")
    def post(self, request):
        require_reauth(request)
        return no_store(Response(mfa.totp_setup(user=selectors.user_get(user_id=request.user.id))))


class TotpConfirmView(APIView):
    @extend_schema(summary="Confirm the authenticator with a code; returns 10 backup codes, once",
                   request=inline_serializer("TotpConfirm", {"code": serializers.CharField()}),
                   responses={200: BackupCodes})
    @raises("mfa_invalid", "not_found", "rate_limited")
    def post(self, request):
        codes = mfa.totp_confirm(user=selectors.user_get(user_id=request.user.id),
                                 code=require_str(_body(request), "code", max_length=16))
        return no_store(Response({"backup_codes": codes}))


class TotpView(APIView):
    @extend_schema(summary="Turn TOTP off (needs X-Reauth-Token)", parameters=[REAUTH_HEADER], responses={204: None})
    @raises("reauth_required")
    def delete(self, request):
        require_reauth(request)
        mfa.totp_disable(user_id=request.user.id, actor=Actor.user(request.user.id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackupCodesView(APIView):
    @extend_schema(summary="A new set of backup codes; the old set is void (needs X-Reauth-Token)", request=None,
                   parameters=[REAUTH_HEADER], responses={200: BackupCodes})
    @raises("reauth_required", "mfa_not_enabled")
    def post(self, request):
        require_reauth(request)
        codes = mfa.backup_codes_regenerate(user=selectors.user_get(user_id=request.user.id))
        return no_store(Response({"backup_codes": codes}))


class AdminUserMfaResetView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Turn a user's two-factor authentication off (lost device); audited", request=None,
                   responses={204: None})
    @raises("not_found", "permission_denied")
    def post(self, request, user_id: int):
        target_user(request, user_id, "write")
        mfa.admin_reset(user_id=user_id, actor=Actor.of(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)
