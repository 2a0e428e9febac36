"""`POST /v1/account/merge` (docs/merge.md): the primary's owner, re-authenticated, proves a
second account of theirs and merges it into the signed-in one (or asks what would move)."""
from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from custos.exceptions import ValidationFailed
from custos.responses import no_store
from custos.schema import raises
from custos.validation import body_of

from ..serializers import MfaChallengeSerializer
from .common import REAUTH_HEADER, require_reauth

_optional = {"required": False}
# The proof of the other account, by its type (accounts.services.merge.PROOFS).
PasswordProof = inline_serializer("MergePasswordProof", {
    "type": serializers.ChoiceField(["password"]),
    "username": serializers.CharField(**_optional), "password": serializers.CharField(**_optional),
    "mfa_token": serializers.CharField(help_text="the second call, after an MFA challenge", **_optional),
    "code": serializers.CharField(**_optional),
    "method": serializers.ChoiceField(["totp", "backup_code"], **_optional)})
OAuthProof = inline_serializer("MergeOAuthProof", {
    "type": serializers.ChoiceField(["oauth"]), "provider": serializers.CharField(), "code": serializers.CharField(),
    "state": serializers.CharField(), "iss": serializers.CharField(**_optional)})
TokenProof = inline_serializer("MergeTokenProof", {"type": serializers.ChoiceField(["token"]),
                                                   "access_token": serializers.CharField()})
MergeRequest = inline_serializer("AccountMerge", {
    "secondary": PolymorphicProxySerializer(component_name="MergeProof", resource_type_field_name="type",
                                            serializers={"password": PasswordProof, "oauth": OAuthProof,
                                                         "token": TokenProof}),
    "dry_run": serializers.BooleanField(required=False)})
MergeAnswer = inline_serializer("AccountMerged", {
    "primary_user_id": serializers.IntegerField(), "merged_user_id": serializers.IntegerField(),
    "dry_run": serializers.BooleanField(),
    "moved": serializers.DictField(child=serializers.IntegerField(), help_text='rows moved per kind, e.g. '
                                                                            '{"identities": 1, "sessions": 2}'),
    "conflicts": inline_serializer("MergeConflict", {
        "kind": serializers.CharField(help_text="profile, contact, tenant, user_type, …"),
        "blocking": serializers.BooleanField(help_text="true: the merge is refused with `code`"),
        "code": serializers.CharField(required=False), "field": serializers.CharField(required=False),
        "kept": serializers.CharField(required=False), "reason": serializers.CharField(required=False),
        "room": serializers.CharField(required=False)}, many=True)})


class AccountMergeView(APIView):
    @extend_schema(summary="Merge another account of mine into this one (X-Reauth-Token; dry_run answers what "
                           "would move); an MFA challenge when the other account has a second factor",
                   parameters=[REAUTH_HEADER], request=MergeRequest,
                   responses={200: PolymorphicProxySerializer(component_name="AccountMergeAnswer",
                                                              resource_type_field_name=None,
                                                              serializers=[MergeAnswer, MfaChallengeSerializer])})
    @raises("reauth_required", "merge_proof_invalid", "mfa_invalid", "oauth_state_invalid", "oauth_failed",
            "not_found", "rate_limited", "merge_self", "merge_target_invalid",
            "merge_primary_invalid", "merge_tenant_conflict", "merge_type_conflict", "merge_conflict",
            "service_unavailable")
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
