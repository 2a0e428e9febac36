from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet

from .models import AuditEvent
from .serialization import event_dict

CSV_COLUMNS = ["event_id", "occurred_at", "action", "result", "actor_type", "actor_id", "subject_user_id",
               "tenant_id", "ip", "user_agent", "request_id", "metadata"]


def events(*, tenant_ids: list[int] | None, user_id: int | None = None, actor_id: str | None = None,
           action: str | None = None, result: str | None = None, tenant_id: int | None = None,
           since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """The filtered trail. tenant_ids None means every tenant (and platform events);
    otherwise only those tenants' events."""
    qs = AuditEvent.objects.all()
    if tenant_ids is not None:
        qs = qs.filter(tenant_id__in=tenant_ids)
    if user_id is not None:
        qs = qs.filter(subject_user_id=user_id)
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    if result:
        qs = qs.filter(result=result)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    return qs


# OWASP CSV injection: a spreadsheet runs a cell that starts with one of these as a formula
# (=HYPERLINK(...) in a User-Agent, say). Such a cell gets a leading quote, which makes it text;
# NDJSON and the other exports carry the value as it was recorded.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def stream(qs: QuerySet, fmt: str) -> Iterator[str]:
    """NDJSON or CSV, a row at a time from a server-side iterator: memory stays flat however
    long the trail. JSON escapes CR/LF and quotes; csv quotes fields that hold them, and
    csv_cell defuses formulas."""
    rows = qs.order_by("id").iterator(chunk_size=2000)
    if fmt == "ndjson":
        for e in rows:
            yield json.dumps(event_dict(e), separators=(",", ":"), ensure_ascii=False) + "\n"
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in rows:
        d = event_dict(e)
        writer.writerow([csv_cell(v) for v in (
            d["event_id"], d["occurred_at"], d["action"], d["result"], d["actor"]["type"], d["actor"]["id"] or "",
            d["subject_user_id"] or "", d["tenant_id"] or "", d["ip"] or "", d["user_agent"], d["request_id"],
            json.dumps(d["metadata"], ensure_ascii=False))])
        if buf.tell() > 65536:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
