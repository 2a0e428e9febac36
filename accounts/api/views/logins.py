"""Sign-in history: the caller's own, and (B-end) a user's."""
from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import LoginEvent
from custos.pagination import page_by, parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.schema import LIST_PARAMS, raises

from ..serializers import LoginRecordSerializer, list_of
from .common import target_user

LoginList = list_of("LoginRecordList", LoginRecordSerializer)
_FIELDS = ("occurred_at", "ip", "country", "device_id", "user_agent", "method", "result", "risk_score", "reasons")


def _history(request, user_id: int) -> Response:
    """Newest first, on the login_user_recent index (user, occurred_at); the id breaks ties.
    (accounts.security.risk.history_of answers the last 50 only: a list pages further.)"""
    limit = parse_limit(request.query_params.get("limit"))
    qs = LoginEvent.objects.filter(user_id=user_id).values("id", *_FIELDS)
    rows, nxt = page_by(qs, cursor=request.query_params.get("cursor"), limit=limit, keys=("occurred_at", "id"),
                        kinds=(datetime, int))
    return Response({"results": [{k: r[k] for k in _FIELDS} for r in rows], "next": nxt})


class MyLoginsView(APIView):
    @extend_schema(summary="My sign-in history, newest first", parameters=LIST_PARAMS, responses={200: LoginList},
                   operation_id="v1_users_me_logins_list")
    @raises("validation_error")
    def get(self, request):
        return _history(request, request.user.id)


class AdminUserLoginsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="A user's sign-in history, newest first", parameters=LIST_PARAMS,
                   responses={200: LoginList}, operation_id="v1_admin_users_logins_list")
    @raises("validation_error", "not_found", "permission_denied")
    def get(self, request, user_id: int):
        target_user(request, user_id, "read")
        return _history(request, user_id)
