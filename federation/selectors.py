from __future__ import annotations

from .models import UserOAuth


def identities_of(*, user_id: int) -> list[dict]:
    return [{"provider": p, "provider_uid": uid, "created_at": created}
            for p, uid, created in UserOAuth.objects.filter(user_id=user_id)
            .order_by("created_at").values_list("provider", "provider_uid", "created_at")]
