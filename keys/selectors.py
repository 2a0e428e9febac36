from __future__ import annotations

from django.utils import timezone

from .keyring import KeyRing
from .keyring import keyring as _keyring
from .models import JwkKey


def keyring() -> KeyRing:
    return _keyring()


def key_states() -> list[dict]:
    """Every key the table knows with its state now: next, active, retired or expired."""
    now = timezone.now()
    rows = list(JwkKey.objects.order_by("activates_at", "kid"))
    signing = [r for r in rows if r.active and r.activates_at <= now and (r.retired_at is None or now < r.retired_at)]
    signer = max(signing, key=lambda r: r.activates_at).kid if signing else None
    out = []
    for r in rows:
        if not r.active or (r.verify_until and now >= r.verify_until):
            state = "expired"
        elif r.kid == signer:
            state = "active"
        elif r.activates_at > now:
            state = "next"
        else:
            state = "retired"
        out.append({"kid": r.kid, "alg": r.alg, "state": state, "created_at": r.created_at,
                    "activates_at": r.activates_at, "retired_at": r.retired_at, "verify_until": r.verify_until})
    return out
