"""What Clotho and other services read: the revocation feed and token introspection."""
from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError

from authz.permissions import allowed
from authz.subjects import PLATFORM_DOMAIN
from custos.exceptions import PermissionDeniedError, ValidationFailed
from custos.permissions import IsAuthenticatedPrincipal
from custos.responses import no_store
from custos.schema import raises
from sessions_app import selectors
from sessions_app.conf import conf
from sessions_app.revstate import ROLES_GAP, token_roles_at
from sessions_app.tokens import CustosAccessToken

# Rows can become visible out of commit order; every read re-covers this much before the
# cursor, and entries are idempotent for the reader.
CURSOR_OVERLAP = timedelta(seconds=10)


def _encode_cursor(moment: datetime) -> str:
    return base64.urlsafe_b64encode(json.dumps({"t": moment.isoformat()}).encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> datetime:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        moment = datetime.fromisoformat(data["t"])
        if moment.tzinfo is None:
            raise ValueError
        return moment
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(fields={"since": ["Not a cursor this service gave out."]}) from exc


class RevocationsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Revocation feed: kicked users (minimum token version), ended sessions and "
                           "role changes (a cutoff per user or tenant: refuse a token whose roles_at, or iat "
                           "without one, is earlier)",
                   parameters=[OpenApiParameter("since", str, description="cursor from the previous answer")],
                   responses={200: inline_serializer("Revocations", {
                       "cursor": serializers.CharField(help_text="pass it as `since` next time"),
                       "users": inline_serializer("UserKick", {
                           "user_id": serializers.IntegerField(), "min_token_version": serializers.IntegerField()},
                           many=True, help_text="refuse the user's tokens whose ver is below min_token_version"),
                       "sessions": serializers.ListField(child=serializers.CharField(),
                                                         help_text="ended sessions: refuse tokens whose sid is one"),
                       "roles": inline_serializer("UserRolesCutoff", {
                           "user_id": serializers.IntegerField(), "cutoff": serializers.FloatField()},
                           many=True, help_text="refuse the user's tokens whose roles_at (iat without one) is "
                                                "earlier than cutoff"),
                       "tenant_roles": inline_serializer("TenantRolesCutoff", {
                           "tenant_id": serializers.IntegerField(allow_null=True),
                           "cutoff": serializers.FloatField()},
                           many=True, help_text="the same for every token whose tid is tenant_id (null: the "
                                                "platform domain)")})})
    @raises("permission_denied", "validation_error")
    def get(self, request):
        if not allowed(request, PLATFORM_DOMAIN, "/internal/revocations", "read"):
            raise PermissionDeniedError()
        raw = request.query_params.get("since")
        since = _decode_cursor(raw) - CURSOR_OVERLAP if raw else None
        feed = selectors.revocations_since(since=since, horizon_seconds=_horizon())
        return Response({"cursor": _encode_cursor(feed["now"]), "users": feed["users"],
                         "sessions": feed["sessions"], "roles": feed["roles"],
                         "tenant_roles": feed["tenant_roles"]})


def _horizon() -> int:
    """How far back an entry can still refuse a live token: a token issued just before a
    role change's cutoff (ROLES_GAP after the change) lives an access lifetime past it."""
    c = conf()
    return c.access_ttl + c.leeway + math.ceil(ROLES_GAP)


class IntrospectView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="RFC 7662 token introspection for services",
                   request=inline_serializer("Introspect", {"token": serializers.CharField()}),
                   responses={200: inline_serializer("Introspection", {
                       "active": serializers.BooleanField(),
                       **{name: field(required=False) for name, field in (
                           ("token_type", serializers.CharField), ("iss", serializers.CharField),
                           ("aud", serializers.CharField), ("sub", serializers.CharField),
                           ("jti", serializers.CharField),
                           ("iat", serializers.IntegerField), ("exp", serializers.IntegerField),
                           ("scope", serializers.CharField), ("ver", serializers.IntegerField),
                           ("sid", serializers.CharField), ("auth_time", serializers.IntegerField),
                           ("roles_at", serializers.FloatField))},
                       "tid": serializers.IntegerField(required=False, allow_null=True),
                       "roles": serializers.ListField(child=serializers.CharField(), required=False),
                       "amr": serializers.ListField(child=serializers.CharField(), required=False)},
                       help_text="RFC 7662: `active`, and the token's claims when it is active")})
    @raises("permission_denied")
    def post(self, request):
        if not allowed(request, PLATFORM_DOMAIN, "/internal/introspect", "read"):
            raise PermissionDeniedError()
        raw = request.data.get("token")
        if not isinstance(raw, str) or not raw or len(raw) > 8192:
            raise ValidationFailed(fields={"token": ["A token string."]})
        return no_store(Response(self._introspect(raw)))

    @staticmethod
    def _introspect(raw: str) -> dict:
        try:
            # verification range-checks every claim (sessions_app.tokens.claims_problem), so
            # nothing below converts or queries a hostile value
            claims = CustosAccessToken(raw).payload
        except TokenError:
            return {"active": False}
        user_id = int(claims["sub"])
        if not selectors.token_still_valid(user_id=user_id, version=claims["ver"],
                                           session_id=claims.get("sid")):
            return {"active": False}
        cutoff = selectors.roles_cutoff_for(user_id=user_id, tenant_id=claims.get("tid"), horizon_seconds=_horizon())
        if cutoff is not None and token_roles_at(claims) < cutoff:
            return {"active": False}  # its roles changed since: the session lives, a refresh has the new ones
        return {"active": True, "token_type": "Bearer", **claims}
