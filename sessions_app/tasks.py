from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(ignore_result=True, acks_late=True)
def purge_expired(batch: int = 1000) -> int:
    """End the sessions past their age or idle limit that no refresh ended (abandoned
    devices), then drop refresh tokens long expired and revocation-feed rows no verifier
    needs any more. Returns the sessions ended plus the rows removed."""
    from audit.services import job_finished, job_started
    from custos.retention import delete_in_batches

    from .conf import conf
    from .models import RefreshToken, Revocation, Session
    from .services import sessions_expire

    job_started("sessions:purge_expired")
    removed = 0
    try:
        removed = sessions_expire(batch=batch)
        now = timezone.now()
        removed += delete_in_batches(RefreshToken.objects.filter(expires_at__lt=now - timedelta(days=7)), batch=batch)
        # Ended sessions stay listed in the console's history for CUSTOS_SESSION_RETENTION_DAYS,
        # then go with their refresh tokens (a cascade, batch by batch).
        removed += delete_in_batches(
            Session.objects.filter(revoked=True, revoked_at__lt=now - timedelta(days=conf().session_retention_days)),
            batch=batch)
        horizon = now - timedelta(seconds=conf().access_ttl + conf().leeway) - timedelta(days=1)
        removed += delete_in_batches(Revocation.objects.filter(created_at__lt=horizon), batch=batch)
    except Exception as exc:
        job_finished("sessions:purge_expired", count=removed, error=type(exc).__name__)
        raise
    job_finished("sessions:purge_expired", count=removed)
    return removed
