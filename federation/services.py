from __future__ import annotations

from django.db import transaction

from .models import UserOAuth


@transaction.atomic
def identities_forget(*, user_id: int) -> int:
    """A deleted account keeps no link to its external identities, nor their tokens."""
    deleted, _ = UserOAuth.objects.filter(user_id=user_id).delete()
    return deleted
