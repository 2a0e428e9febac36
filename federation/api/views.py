from __future__ import annotations

import json
from datetime import datetime

from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.api.serializers import BoundIdentitySerializer, list_of
from accounts.api.views.common import REAUTH_HEADER
from accounts.services.reauth import TTL as REAUTH_TTL
from custos.exceptions import ValidationFailed
from custos.pagination import page_items, parse_limit
from custos.responses import no_store
from custos.schema import LIST_PARAMS, TOKEN_ISSUING, raises
from custos.validation import body_of, require_str
from federation import selectors, services
from sessions_app import signin
from sessions_app.api.serializers import SignInAnswer
from sessions_app.api.views import token_response

ProviderList = list_of("OAuthProviderList", inline_serializer(
    "OAuthProvider", {"name": serializers.CharField(), "display_name": serializers.CharField()}, many=True))
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
Identities = list_of("BoundIdentityList", BoundIdentitySerializer)
# where the provider's answer can go wrong, for every door that takes a code and a state
PROVIDER_ERRORS = ("oauth_state_invalid", "oauth_failed", "not_found", "service_unavailable")


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

    @extend_schema(parameters=LIST_PARAMS, responses={200: ProviderList}, operation_id="v1_oauth_providers_list",
                   summary="Enabled identity providers, by name (public)")
    @raises("validation_error")
    def get(self, request):
        rows, nxt = page_items(selectors.providers_enabled(), cursor=request.query_params.get("cursor"),
                               limit=parse_limit(request.query_params.get("limit")), key=lambda p: (p["name"],),
                               kinds=(str,))
        return Response({"results": rows, "next": nxt})


class LoginView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(parameters=[OpenApiParameter("redirect_uri", str, required=True),
                               OpenApiParameter("purpose", str, enum=["reauth"], required=False,
                                                description="reauth: with the user's Bearer, for POST "
                                                            "/v1/oauth/{provider}/reauth; asks the provider "
                                                            "for a fresh sign-in where it can")],
                   responses={200: AuthorizeUrl, 302: None},
                   summary="Start a sign-in with an identity provider (302, or JSON with Accept: application/json)")
    @raises("validation_error", "not_found", "rate_limited", "service_unavailable")
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

    @extend_schema(request=SignInCallback, responses={200: SignInAnswer},
                   summary="Finish a sign-in: the provider's code and state → token pair or MFA challenge "
                           "(Apple: also its `user` JSON, sent at the first sign-in only)")
    @raises(*PROVIDER_ERRORS, "account_exists", "account_disabled", "email_unverified", "login_denied",
            "rate_limited", *TOKEN_ISSUING)
    def post(self, request, provider: str):
        signed = services.identity_sign_in(provider_name=provider, **_code_state(request),
                                           apple_user=_apple_user(body_of(request).get("user")))
        return token_response(signin.api_answer(signed))




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
    @raises(*PROVIDER_ERRORS, "identity_mismatch", "rate_limited")
    def post(self, request, provider: str):
        token = services.identity_reauth(provider_name=provider, **_code_state(request), user_id=request.user.id,
                                         session_id=request.user.session_id)
        return no_store(Response({"reauth_token": token, "expires_in": REAUTH_TTL}))


class BindView(APIView):
    @extend_schema(request=Callback, responses={201: BoundIdentitySerializer},
                   summary="Bind a provider's identity to the caller (the state started with the caller's Bearer)")
    @raises(*PROVIDER_ERRORS, "identity_already_bound")
    def post(self, request, provider: str):
        link = services.identity_bind(provider_name=provider, **_code_state(request), user_id=request.user.id)
        return Response({"provider": link.provider, "provider_uid": link.provider_uid,
                         "created_at": link.created_at}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, parameters=[REAUTH_HEADER],
                   summary="Unbind the caller's identities of a provider (X-Reauth-Token)")
    @raises("reauth_required", "not_found", "last_login_method")
    def delete(self, request, provider: str):
        account_services.reauth_token_check(token=request.META.get("HTTP_X_REAUTH_TOKEN"), user_id=request.user.id,
                                            session_id=request.user.session_id)
        services.identity_unbind(provider_name=provider, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IdentitiesView(APIView):
    @extend_schema(parameters=LIST_PARAMS, responses={200: Identities}, operation_id="v1_users_me_identities_list",
                   summary="The caller's external identities, oldest first")
    @raises("validation_error")
    def get(self, request):
        rows, nxt = page_items(selectors.identities_of(user_id=request.user.id),
                               cursor=request.query_params.get("cursor"),
                               limit=parse_limit(request.query_params.get("limit")),
                               key=lambda i: (i["created_at"], i["provider"], i["provider_uid"]),
                               kinds=(datetime, str, str))
        return Response({"results": rows, "next": nxt})
