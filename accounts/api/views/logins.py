"""Sign-in history: the caller's own, and (B-end) a user's."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from custos.pagination import parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.schema import LIST_PARAMS, raises

from ..serializers import LoginRecordSerializer, list_of
from .common import target_user

LoginList = list_of("LoginRecordList", LoginRecordSerializer)
def _history(request, user_id: int) -> Response:
    rows, nxt = selectors.login_history_page(user_id=user_id, cursor=request.query_params.get("cursor"),
                                             limit=parse_limit(request.query_params.get("limit")))
    return Response({"results": rows, "next": nxt})


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
