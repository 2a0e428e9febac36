from __future__ import annotations

import json

from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.services.reauth import TTL as REAUTH_TTL
from custos.exceptions import ValidationFailed
from custos.responses import no_store
from custos.validation import body_of, require_str
from federation import selectors, services
from sessions_app import signin
from sessions_app.api.serializers import TokenPairSerializer
from sessions_app.api.views import token_response

ProviderList = inline_serializer("OAuthProviders", {"results": serializers.ListField(child=inline_serializer(
    "OAuthProvider", {"name": serializers.CharField(), "display_name": serializers.CharField()})),
    "next": serializers.CharField(allow_null=True)})
AuthorizeUrl = inline_serializer("OAuthAuthorizeUrl", {"authorize_url": serializers.CharField(),
                                                       "state": serializers.CharField()})
Callback = inline_serializer("OAuthCallback", {"code": serializers.CharField(), "state": serializers.CharField(),
                                               "iss": serializers.CharField(required=False),
                                               "redirect_uri": serializers.CharField(required=False)})
AppleUser = inline_serializer("AppleUser", {"name": inline_serializer("AppleUserName", {
    "firstName": serializers.CharField(required=False), "lastName": serializers.CharField(required=False)},
    required=False), "email": serializers.CharField(required=False)}, required=False)
SignInCallback = inline_serializer("OAuthSignInCallback", {
    "code": serializers.CharField(), "state": serializers.CharField(), "iss": serializers.CharField(required=False),
    "redirect_uri": serializers.CharField(required=False), "user": AppleUser})
ReauthAnswer = inline_serializer("OAuthReauthToken", {"reauth_token": serializers.CharField(),
                                                     "expires_in": serializers.IntegerField()})
Identities = inline_serializer("Identities", {"results": serializers.ListField(child=inline_serializer(
    "Identity", {"provider": serializers.CharField(), "provider_uid": serializers.CharField(),
                 "created_at": serializers.DateTimeField()})), "next": serializers.CharField(allow_null=True)})


def _user_id(request) -> int | None:
    user = request.user
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "is_service", False):
        return None
    return int(user.id)


def _wants_json(request) -> bool:
    return "application/json" in request.META.get("HTTP_ACCEPT", "")


class ProvidersView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProviderList}, summary="Enabled identity providers (public)")
    def get(self, request):
        return Response({"results": selectors.providers_enabled(), "next": None})


class LoginView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(parameters=[OpenApiParameter("redirect_uri", str, required=True),
                               OpenApiParameter("purpose", str, enum=["reauth"], required=False,
                                                description="reauth: with the user's Bearer, for POST "
                                                            "/v1/oauth/{provider}/reauth; asks the provider "
                                                            "for a fresh sign-in where it can")],
                   responses={200: AuthorizeUrl, 302: None},
                   summary="Start a sign-in with an identity provider (302, or JSON with Accept: application/json)")
    def get(self, request, provider: str):
        redirect_uri = request.query_params.get("redirect_uri")
        if not isinstance(redirect_uri, str) or not redirect_uri or len(redirect_uri) > 512:
            raise ValidationFailed(fields={"redirect_uri": ["This field is required."]})
        started = services.flow_start(provider_name=provider, redirect_uri=redirect_uri, user_id=_user_id(request),
                                      purpose=request.query_params.get("purpose"))
        if _wants_json(request):
            return no_store(Response(started), pragma=True)
        return no_store(HttpResponseRedirect(started["authorize_url"]), pragma=True)


class CallbackView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=SignInCallback, responses={200: TokenPairSerializer},
                   summary="Finish a sign-in: the provider's code and state → token pair or MFA challenge "
                           "(Apple: also its `user` JSON, sent at the first sign-in only)")
    def post(self, request, provider: str):
        signed = services.identity_sign_in(provider_name=provider, **_code_state(request),
                                           apple_user=_apple_user(body_of(request).get("user")))
        return token_response(signin.api_answer(signed))


IdentityOut = inline_serializer("BoundIdentity", {"provider": serializers.CharField(),
                                                 "provider_uid": serializers.CharField(),
                                                 "created_at": serializers.DateTimeField()})


def _code_state(request) -> dict[str, str | None]:
    data = body_of(request)
    return {"code": require_str(data, "code", max_length=2048), "state": require_str(data, "state", max_length=256),
            "iss": require_str(data, "iss", max_length=512, required=False),
            "redirect_uri": require_str(data, "redirect_uri", max_length=512, required=False)}


def _apple_user(raw: object) -> dict | None:
    """Apple's `user` (form_post sends it as a JSON string; a front end may pass it parsed):
    only the name is read, as a new account's nickname."""
    if raw is None:
        return None
    bad = ValidationFailed(fields={"user": ["Apple's user JSON: {\"name\": {\"firstName\", \"lastName\"}}."]})
    if isinstance(raw, str):
        if len(raw) > 2048:
            raise bad
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise bad from exc
    if not isinstance(raw, dict):
        raise bad
    name = raw.get("name")
    if name is None:
        return {}
    if not isinstance(name, dict) or any(
            not isinstance(name.get(k), (str, type(None))) or len(name.get(k) or "") > 64
            for k in ("firstName", "lastName")):
        raise bad
    return {"name": {k: name[k] for k in ("firstName", "lastName") if isinstance(name.get(k), str)}}


class ReauthView(APIView):
    @extend_schema(request=Callback, responses={200: ReauthAnswer},
                   summary="Re-authenticate through a provider bound to the caller (the state started with the "
                           "caller's Bearer) → a reauth token, as POST /v1/auth/reauth answers")
    def post(self, request, provider: str):
        token = services.identity_reauth(provider_name=provider, **_code_state(request), user_id=request.user.id,
                                         session_id=request.user.session_id)
        return no_store(Response({"reauth_token": token, "expires_in": REAUTH_TTL}))


class BindView(APIView):
    @extend_schema(request=Callback, responses={201: IdentityOut},
                   summary="Bind a provider's identity to the caller (the state started with the caller's Bearer)")
    def post(self, request, provider: str):
        link = services.identity_bind(provider_name=provider, **_code_state(request), user_id=request.user.id)
        return Response({"provider": link.provider, "provider_uid": link.provider_uid,
                         "created_at": link.created_at}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None},
                   summary="Unbind the caller's identities of a provider (X-Reauth-Token)")
    def delete(self, request, provider: str):
        account_services.reauth_token_check(token=request.META.get("HTTP_X_REAUTH_TOKEN"), user_id=request.user.id,
                                            session_id=request.user.session_id)
        services.identity_unbind(provider_name=provider, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IdentitiesView(APIView):
    @extend_schema(responses={200: Identities}, summary="The caller's external identities")
    def get(self, request):
        return Response({"results": selectors.identities_of(user_id=request.user.id), "next": None})
