from __future__ import annotations

from .models import UserOAuth


def identities_of(*, user_id: int) -> list[dict]:
    return [{"provider": p, "provider_uid": uid, "created_at": created}
            for p, uid, created in UserOAuth.objects.filter(user_id=user_id)
            .order_by("created_at").values_list("provider", "provider_uid", "created_at")]


def providers_enabled() -> list[dict[str, str]]:
    from .models import OAuthProvider

    return [{"name": n, "display_name": d or n} for n, d in
            OAuthProvider.objects.filter(enabled=True).order_by("name").values_list("name", "display_name")]


def providers_all() -> list:
    from .models import OAuthProvider

    return list(OAuthProvider.objects.order_by("name"))
