from __future__ import annotations

from datetime import datetime

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import selectors
from audit.models import Result
from audit.serialization import event_dict
from custos import policy
from custos.exceptions import PermissionDeniedError, ValidationFailed
from custos.pagination import page, parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.responses import no_store
from custos.schema import LIST_PARAMS, raises
from custos.validation import parse_id

FILTERS = [OpenApiParameter("user_id", int, description="the subject user"),
           OpenApiParameter("actor_id", str), OpenApiParameter("action", str, description="e.g. user.frozen"),
           OpenApiParameter("result", str, enum=Result.values), OpenApiParameter("tenant_id", int),
           *(OpenApiParameter(n, OpenApiTypes.DATETIME, description="ISO 8601 with a zone")
             for n in ("since", "until"))]
AuditEvent = inline_serializer("AuditEvent", {
    "event_id": serializers.CharField(), "occurred_at": serializers.DateTimeField(),
    "action": serializers.CharField(), "result": serializers.ChoiceField(Result.choices),
    "actor": inline_serializer("AuditActor", {"type": serializers.CharField(),
                                              "id": serializers.CharField(allow_null=True)}),
    "subject_user_id": serializers.IntegerField(allow_null=True),
    "tenant_id": serializers.IntegerField(allow_null=True),
    "ip": serializers.CharField(allow_null=True), "user_agent": serializers.CharField(allow_null=True),
    "request_id": serializers.CharField(allow_null=True), "metadata": serializers.JSONField(allow_null=True)})


def _when(raw: str | None, field: str) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(fields={field: ["An ISO 8601 time with a zone, e.g. 2026-11-25T12:00:00Z."]}) from exc
    if value.tzinfo is None:
        raise ValidationFailed(fields={field: ["An ISO 8601 time with a zone, e.g. 2026-11-25T12:00:00Z."]})
    return value


def _query(request):
    visible = policy.provider().tenants_visible(request, "/audit/events", "read")
    if visible == []:
        raise PermissionDeniedError()
    p = request.query_params
    result = p.get("result")
    if result and result not in Result.values:
        raise ValidationFailed(fields={"result": [f"One of {', '.join(Result.values)}."]})
    action = p.get("action")
    if action is not None and (not action or len(action) > 64):
        raise ValidationFailed(fields={"action": ["An action name."]})
    return selectors.events(tenant_ids=visible, user_id=parse_id(p.get("user_id"), "user_id"),
                            actor_id=p.get("actor_id") or None, action=action, result=result,
                            tenant_id=parse_id(p.get("tenant_id"), "tenant_id"), since=_when(p.get("since"), "since"),
                            until=_when(p.get("until"), "until"))


class EventsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="The audit trail, newest first (read-only; tenant-scoped by your permissions)",
                   parameters=[*FILTERS, *LIST_PARAMS], operation_id="v1_audit_events_list",
                   responses={200: inline_serializer("AuditEventList", {
                       "results": AuditEvent.__class__(many=True),
                       "next": serializers.CharField(allow_null=True, help_text="the cursor of the next page")})})
    @raises("validation_error", "permission_denied")
    def get(self, request):
        rows, nxt = page(_query(request), cursor=request.query_params.get("cursor"),
                         limit=parse_limit(request.query_params.get("limit")))
        return Response({"results": [event_dict(e) for e in rows], "next": nxt})


class ExportView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Stream the filtered trail as NDJSON or CSV, oldest first",
                   parameters=[*FILTERS, OpenApiParameter("format", str, enum=["ndjson", "csv"])],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR,
                              (200, "text/csv"): OpenApiTypes.STR})
    @raises("validation_error", "permission_denied")
    def get(self, request):
        fmt = request.query_params.get("format", "ndjson")
        if fmt not in ("ndjson", "csv"):
            raise ValidationFailed(fields={"format": ["ndjson or csv."]})
        qs = _query(request)
        content_type = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
        response = StreamingHttpResponse(selectors.stream(qs, fmt), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
        return no_store(response)
