"""Changing the caller's email address or phone number: a code goes to the new one."""
from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from audit.services import Actor
from custos.exceptions import PermissionDeniedError
from custos.schema import raises
from custos.validation import body_of as _body

from ..serializers import MeSerializer
from .common import REAUTH_HEADER, require_reauth

CodeSent = inline_serializer("CodeSent", {"retry_after": serializers.IntegerField(
    help_text="seconds before another code can be asked for")})
AddressConfirmed = inline_serializer("AddressConfirmed", {"verified": serializers.ChoiceField(["email", "phone"])})
# Signed in: the caller's user; without a session (a sign-up address confirmed): which one.
ContactVerified = PolymorphicProxySerializer(component_name="ContactVerified", resource_type_field_name=None,
                                             serializers=[MeSerializer, AddressConfirmed])


def _contact_views(channel: str) -> tuple[type[APIView], type[APIView]]:
    field = "email" if channel == "email" else "phone"

    class Start(APIView):
        @extend_schema(summary=f"Start changing my {field}: a code goes to the new address (needs X-Reauth-Token)",
                       request=inline_serializer(f"{field.title()}ChangeStart", {field: serializers.CharField()}),
                       parameters=[REAUTH_HEADER], responses={202: CodeSent})
        @raises("reauth_required", "rate_limited")
        def post(self, request):
            require_reauth(request)
            user = selectors.user_get(user_id=request.user.id)
            services.contact_change_start(user=user, channel=channel, value=_body(request).get(field))
            return Response({"retry_after": 60}, status=status.HTTP_202_ACCEPTED)

    class Verify(APIView):
        # Signed in: finish a change, or confirm the account's own address with its sign-up
        # code. Not signed in: only that confirmation (an account registered with nothing but
        # an email cannot sign in by password before it), answered without account details.
        permission_classes = [AllowAny]

        @extend_schema(summary=f"Finish changing my {field} with the code, or confirm the {field} given at sign-up",
                       request=inline_serializer(f"{field.title()}ChangeVerify", {
                           field: serializers.CharField(), "code": serializers.CharField()}),
                       responses={200: ContactVerified})
        @raises("permission_denied", "otp_invalid", "already_exists", "not_found", "rate_limited")
        def post(self, request):
            body = _body(request)
            principal = request.user
            if principal is not None and getattr(principal, "is_service", False):
                raise PermissionDeniedError()
            user = selectors.user_get(user_id=principal.id) if principal is not None else None
            actor = Actor.user(principal.id) if principal is not None else Actor.anonymous()
            services.contact_change_finish(user=user, channel=channel, value=body.get(field), code=body.get("code"),
                                           actor=actor)
            if principal is None:
                return Response({"verified": field})
            return Response(selectors.user_me(user_id=principal.id, tenant_id=principal.tenant_id))

    Start.__name__, Verify.__name__ = f"{field.title()}ChangeStartView", f"{field.title()}ChangeVerifyView"
    return Start, Verify


EmailChangeStartView, EmailChangeVerifyView = _contact_views("email")
PhoneChangeStartView, PhoneChangeVerifyView = _contact_views("sms")
