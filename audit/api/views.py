from __future__ import annotations

from datetime import datetime

from django.http import StreamingHttpResponse
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
from custos.validation import parse_id

FILTERS = [OpenApiParameter(n, str) for n in ("user_id", "actor_id", "action", "result", "tenant_id", "since",
                                              "until", "cursor", "limit")]


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
                   parameters=FILTERS, responses={200: inline_serializer("AuditEventList", {
                       "results": serializers.ListField(child=serializers.DictField()),
                       "next": serializers.CharField(allow_null=True)})})
    def get(self, request):
        rows, nxt = page(_query(request), cursor=request.query_params.get("cursor"),
                         limit=parse_limit(request.query_params.get("limit")))
        return Response({"results": [event_dict(e) for e in rows], "next": nxt})


class ExportView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Stream the filtered trail as NDJSON or CSV, oldest first",
                   parameters=[*FILTERS[:7], OpenApiParameter("format", str, enum=["ndjson", "csv"])],
                   responses={200: str})
    def get(self, request):
        fmt = request.query_params.get("format", "ndjson")
        if fmt not in ("ndjson", "csv"):
            raise ValidationFailed(fields={"format": ["ndjson or csv."]})
        qs = _query(request)
        content_type = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
        response = StreamingHttpResponse(selectors.stream(qs, fmt), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
        return no_store(response)
