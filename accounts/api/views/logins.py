"""Sign-in history: the caller's own, and (B-end) a user's."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.security import risk
from custos.permissions import IsAuthenticatedPrincipal

from .common import Generic, target_user


class MyLoginsView(APIView):
    @extend_schema(summary="My sign-in history", responses={200: Generic})
    def get(self, request):
        return Response({"results": risk.history_of(user_id=request.user.id), "next": None})


class AdminUserLoginsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="A user's sign-in history", responses={200: Generic})
    def get(self, request, user_id: int):
        target_user(request, user_id, "read")
        return Response({"results": risk.history_of(user_id=user_id), "next": None})
