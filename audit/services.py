from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from custos import context

from .models import ActorType, AuditEvent, Result

# Keys whose values must never reach the trail, whatever a caller passes in metadata.
_FORBIDDEN_KEYS = {"password", "new_password", "current_password", "token", "access_token",
                   "refresh_token", "code", "secret", "otp", "mfa_token", "reauth_token"}


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""

    @classmethod
    def user(cls, user_id: int | str) -> "Actor":
        return cls(ActorType.USER, str(user_id))

    @classmethod
    def service(cls, name: str) -> "Actor":
        return cls(ActorType.SERVICE, name)

    @classmethod
    def system(cls, what: str = "") -> "Actor":
        return cls(ActorType.SYSTEM, what)

    @classmethod
    def anonymous(cls) -> "Actor":
        return cls(ActorType.ANONYMOUS, "")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[redacted]" if str(k).lower() in _FORBIDDEN_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def event_record(*, action: str, actor: Actor, result: str = Result.SUCCESS, subject_user_id: int | None = None,
                 tenant_id: int | None = None, metadata: dict[str, Any] | None = None) -> AuditEvent:
    """Write one audit event in the caller's transaction: the change and its record commit
    or roll back together. Client context comes from the current request."""
    ctx = context.current()
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        action=action,
        result=result,
        actor_type=actor.type,
        actor_id=actor.id,
        subject_user_id=subject_user_id,
        tenant_id=tenant_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        metadata=_scrub(metadata or {}),
    )
