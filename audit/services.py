from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from custos import context
from custos.sql import insert_later

from .models import ActorType, AuditEvent, Result

# Keys whose values must never reach the trail, whatever a caller passes in metadata.
_FORBIDDEN_KEYS = {"password", "new_password", "current_password", "token", "access_token",
                   "refresh_token", "code", "secret", "otp", "mfa_token", "reauth_token"}


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""

    @classmethod
    def user(cls, user_id: int | str) -> Actor:
        return cls(ActorType.USER, str(user_id))

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(ActorType.SERVICE, name)

    @classmethod
    def system(cls, what: str = "") -> Actor:
        return cls(ActorType.SYSTEM, what)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(ActorType.ANONYMOUS, "")

    @classmethod
    def of(cls, principal: Any) -> Actor:
        """The actor behind a request's principal: a service (ApiKey) or a user (bearer token)."""
        return cls.service(principal.name) if getattr(principal, "is_service", False) else cls.user(principal.id)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[redacted]" if str(k).lower() in _FORBIDDEN_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _nudge_export() -> None:
    """Ask for an export soon after this transaction commits (the beat schedule is the
    backstop); at most one nudge per second per process."""
    import time

    from .conf import conf

    global _last_nudge
    if not conf().sinks:
        return
    now = time.monotonic()
    if now - _last_nudge < 1.0:
        return
    _last_nudge = now
    from .tasks import export_all

    transaction.on_commit(lambda: export_all.apply_async(countdown=0.5, ignore_result=True))


_last_nudge = 0.0


def event_record(*, action: str, actor: Actor, result: str = Result.SUCCESS, subject_user_id: int | None = None,
                 tenant_id: int | None = None, metadata: dict[str, Any] | None = None) -> AuditEvent:
    """Write one audit event in the caller's transaction: the change and its record commit
    or roll back together. Client context comes from the current request.

    Inside a transaction the row may travel with the transaction's next statement or its
    commit (custos.sql.insert_later): the returned event's `pk` is always None, and its
    `event_id` is what identifies it."""
    ctx = context.current()
    _nudge_export()
    event = AuditEvent(  # plain SQL (custos.sql): an event accompanies most writes; nobody reads it back
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
    insert_later(event)
    return event


# ---- export (transactional outbox) and retention ---------------------------------------------
def job_started(name: str) -> None:
    """A scheduled job began (audit_job_runs; the job-run metric reads it)."""
    _job_start(name)


def job_finished(name: str, *, count: int, error: str = "") -> None:
    """A scheduled job ended: how many rows it handled, or the error's name."""
    _job_done(name, count=count, error=error)


def _job_start(name: str) -> None:
    from .models import JobRun

    JobRun.objects.update_or_create(name=name, defaults={"last_started_at": timezone.now()})


def _job_done(name: str, *, count: int, error: str = "") -> None:
    from .models import JobRun

    fields: dict[str, Any] = {"last_count": count, "last_error": error[:255]}
    if not error:
        fields["last_success_at"] = timezone.now()
    JobRun.objects.update_or_create(name=name, defaults=fields)


def _exportable(after_id: int, batch: int) -> list[AuditEvent]:
    """The next events in id order, stopping before a young gap: an id missing from the
    sequence may belong to a transaction that has not committed yet, and skipping it for
    good would lose it. Gaps older than the settle time are real (rolled back) and skipped."""
    from django.conf import settings

    from custos.replica import alias_within

    from .conf import conf

    # A replica may serve this when it is close behind; a gap must then stay open for the lag
    # allowed too: an id the primary committed late may reach the replica later still.
    max_lag = settings.CUSTOS_REPLICA_MAX_LAG
    alias = alias_within(max_lag)
    rows = list(AuditEvent.objects.using(alias).filter(id__gt=after_id).order_by("id")[:batch])
    settle = timezone.now() - timedelta(seconds=conf().settle_seconds + (max_lag if alias != "default" else 0))
    out: list[AuditEvent] = []
    prev = after_id
    for e in rows:
        if e.id != prev + 1 and e.occurred_at > settle:
            break
        out.append(e)
        prev = e.id
    return out


def export_run(*, sink_name: str, max_batches: int = 100) -> int:
    """Send what this sink has not acknowledged yet, batch by batch, in order. The cursor
    moves only after the sink acknowledged a batch. Returns events sent."""
    from .conf import conf
    from .models import ExportCursor
    from .serialization import event_dict
    from .sinks import SINKS

    job = f"export:{sink_name}"
    _job_start(job)
    sent = 0
    sink = None
    try:
        ExportCursor.objects.get_or_create(sink=sink_name)  # outside the batch transaction: survives a failure
        sink = SINKS[sink_name]()
        for _ in range(max_batches):
            with transaction.atomic():
                cursor, _ = ExportCursor.objects.select_for_update().get_or_create(sink=sink_name)
                events = _exportable(cursor.last_event_id, conf().batch)
                if not events:
                    break
                sink.send([event_dict(e) for e in events])
                cursor.last_event_id, cursor.updated_at, cursor.last_error = events[-1].id, timezone.now(), ""
                cursor.save()
            sent += len(events)
    except Exception as exc:  # a sink being down is an expected state: recorded, then raised for the retry
        ExportCursor.objects.filter(sink=sink_name).update(last_error=f"{type(exc).__name__}: {exc}"[:255])
        _job_done(job, count=sent, error=f"{type(exc).__name__}")
        raise
    finally:
        if sink is not None:
            sink.close()
    _job_done(job, count=sent)
    return sent


def purge_run() -> int:
    """Delete events past retention that every configured sink has acknowledged, a small
    batch per statement so the table is never locked for long."""
    from custos.retention import delete_in_batches

    from .conf import conf
    from .models import ExportCursor

    _job_start("purge")
    cutoff = timezone.now() - timedelta(days=conf().retention_days)
    sinks = conf().sinks
    acked = min([ExportCursor.objects.filter(sink=s).values_list("last_event_id", flat=True).first() or 0
                 for s in sinks], default=None)
    qs = AuditEvent.objects.filter(occurred_at__lt=cutoff)
    if acked is not None:
        qs = qs.filter(id__lte=acked)
    deleted = delete_in_batches(qs.order_by("id"), batch=conf().purge_batch)
    _job_done("purge", count=deleted)
    return deleted
