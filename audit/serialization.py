from __future__ import annotations

from typing import Any

from .models import AuditEvent

FIELDS = ("id", "event_id", "occurred_at", "action", "result", "actor_type", "actor_id", "subject_user_id",
          "tenant_id", "ip", "user_agent", "request_id", "metadata")


def event_dict(e: AuditEvent | dict) -> dict[str, Any]:
    get = e.get if isinstance(e, dict) else (lambda k: getattr(e, k))
    return {"event_id": str(get("event_id")), "occurred_at": get("occurred_at").isoformat(),
            "action": get("action"), "result": get("result"),
            "actor": {"type": get("actor_type"), "id": get("actor_id") or None},
            "subject_user_id": get("subject_user_id"), "tenant_id": get("tenant_id"), "ip": get("ip"),
            "user_agent": get("user_agent"), "request_id": get("request_id"), "metadata": get("metadata")}
