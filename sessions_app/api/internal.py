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
                       "cursor": serializers.CharField(),
                       "users": serializers.ListField(child=serializers.DictField()),
                       "sessions": serializers.ListField(child=serializers.CharField()),
                       "roles": serializers.ListField(child=serializers.DictField(), help_text=(
                           '[{"user_id": 42, "cutoff": 1718000001.123456}]: refuse the user\'s tokens '
                           "whose roles_at (iat without one) is earlier than cutoff")),
                       "tenant_roles": serializers.ListField(child=serializers.DictField(), help_text=(
                           '[{"tenant_id": 7, "cutoff": …}]: the same for every token whose tid is '
                           "tenant_id (null: the platform domain)"))})})
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
                   request=inline_serializer("IntrospectRequest", {"token": serializers.CharField()}),
                   responses={200: inline_serializer("Introspection", {"active": serializers.BooleanField()})})
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
