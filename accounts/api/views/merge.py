"""`POST /v1/account/merge` (docs/merge.md): the primary's owner, re-authenticated, proves a
second account of theirs and merges it into the signed-in one (or asks what would move)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from custos.exceptions import ValidationFailed
from custos.responses import no_store
from custos.validation import body_of

from .common import require_reauth

MergeRequest = inline_serializer("AccountMerge", {
    "secondary": serializers.DictField(help_text='{"type": "password", "username", "password"} (then '
                                                 '{"type": "password", "mfa_token", "code", "method"?} when the '
                                                 'account has a second factor) | {"type": "oauth", "provider", "code", '
                                                 '"state", "iss"?} | {"type": "token", "access_token"}'),
    "dry_run": serializers.BooleanField(required=False)})
MergeAnswer = inline_serializer("AccountMerged", {
    "primary_user_id": serializers.IntegerField(), "merged_user_id": serializers.IntegerField(),
    "dry_run": serializers.BooleanField(), "moved": serializers.DictField(),
    "conflicts": serializers.ListField(child=serializers.DictField())})


class AccountMergeView(APIView):
    @extend_schema(summary="Merge another account of mine into this one (X-Reauth-Token; dry_run answers what "
                           "would move); an MFA challenge when the other account has a second factor",
                   request=MergeRequest, responses={200: MergeAnswer})
    def post(self, request):
        body = body_of(request)
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ValidationFailed(fields={"dry_run": ["Must be a boolean."]})
        require_reauth(request)
        answer = services.account_merge_request(primary_id=request.user.id, proof=body.get("secondary"),
                                                dry_run=dry_run)
        # an MFA challenge carries a token: never cached, like the sign-in's
        return no_store(Response(answer if isinstance(answer, dict) else answer.as_response()))
