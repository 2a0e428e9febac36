from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(ignore_result=True, acks_late=True)
def purge_expired(batch: int = 1000) -> int:
    """End the sessions past their age or idle limit that no refresh ended (abandoned
    devices), then drop refresh tokens long expired and revocation-feed rows no verifier
    needs any more. Returns the sessions ended plus the rows removed."""
    from .conf import conf
    from .models import RefreshToken, Revocation
    from .services import sessions_expire

    removed = sessions_expire(batch=batch)
    now = timezone.now()
    while True:
        ids = list(RefreshToken.objects.filter(expires_at__lt=now - timedelta(days=7))
                   .values_list("id", flat=True)[:batch])
        if not ids:
            break
        removed += RefreshToken.objects.filter(id__in=ids).delete()[0]
    horizon = now - timedelta(seconds=conf().access_ttl + conf().leeway) - timedelta(days=1)
    removed += Revocation.objects.filter(created_at__lt=horizon).delete()[0]
    return removed
