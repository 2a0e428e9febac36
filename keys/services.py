from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import ValidationFailed

from .conf import ALLOWED_ALGORITHMS, conf
from .keyring import keyring, reset_keyring
from .models import JwkKey
from .store import key_store


def _generate(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=conf().rsa_bits)
    raise ValidationFailed(f"Unsupported algorithm {alg!r}; use one of {', '.join(ALLOWED_ALGORITHMS)}.")


def _public_jwk(private_key: Any, alg: str) -> dict[str, Any]:
    algo = jwt.get_algorithm_by_name(alg)
    jwk = json.loads(algo.to_jwk(private_key.public_key()))
    return {k: jwk[k] for k in ("kty", "crv", "x", "y", "n", "e") if k in jwk}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: stable, derived from the public key alone."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _longest_token_lifetime() -> timedelta:
    sessions = settings.CUSTOS_SESSIONS
    return timedelta(seconds=sessions["ACCESS_TTL"] + sessions["LEEWAY"])


@transaction.atomic
def key_create(*, alg: str, activates_at: datetime, actor: Actor) -> JwkKey:
    """Generate a key pair, put the private half in the key store, publish the public half."""
    private_key = _generate(alg)
    jwk = _public_jwk(private_key, alg)
    kid = _thumbprint(jwk)
    key_store().put(kid, private_key)
    row = JwkKey.objects.create(kid=kid, alg=alg, public_jwk=jwk, activates_at=activates_at, active=True)
    event_record(action=Action.KEY_CREATED, actor=actor, metadata={"kid": kid, "alg": alg,
                                                                     "activates_at": activates_at.isoformat()})
    transaction.on_commit(reset_keyring)
    return row


@transaction.atomic
def keys_rotate(*, actor: Actor, alg: str | None = None, activate_now: bool = False,
                publish_delay: int | None = None) -> JwkKey:
    """Stage a new key: published in the JWKS at once, signing after the publish delay (so
    verifiers that cache the JWKS know it first), or at once with activate_now.
    The key it supersedes stops signing then and stays verifiable until its tokens expire."""
    now = timezone.now()
    delay = 0 if activate_now else (conf().publish_delay if publish_delay is None else publish_delay)
    activates_at = now + timedelta(seconds=delay)
    # Lock the rows we retire so two concurrent rotations do not both pick the same successor.
    current = list(JwkKey.objects.select_for_update().filter(active=True, retired_at__isnull=True)
                   .order_by("activates_at"))
    new = key_create(alg=alg or conf().algorithm, activates_at=activates_at, actor=actor)
    retired = []
    for row in current:
        row.retired_at = activates_at
        row.rotated_at = now
        row.verify_until = activates_at + _longest_token_lifetime()
        row.save(update_fields=["retired_at", "rotated_at", "verify_until"])
        retired.append(row.kid)
    event_record(action=Action.KEY_ROTATED, actor=actor,
                 metadata={"new_kid": new.kid, "alg": new.alg, "activates_at": activates_at.isoformat(),
                           "retired_kids": retired})
    return new


@transaction.atomic
def key_ensure(*, actor: Actor) -> JwkKey | None:
    """First start: make a signing key when there is none. Returns the new key or None."""
    now = timezone.now()
    if JwkKey.objects.filter(active=True, activates_at__lte=now).exclude(retired_at__lte=now).exists():
        return None
    return key_create(alg=conf().algorithm, activates_at=now, actor=actor)


@transaction.atomic
def keys_rotate_if_due(*, actor: Actor) -> JwkKey | None:
    """The scheduled rotation (CUSTOS_KEY_ROTATE_EVERY): stage the next key when the newest one
    is that old, as `rotate_keys` does (publish delay, then retirement). The key rows are read
    with FOR UPDATE, so a second beat running this at the same moment (two beats by mistake)
    waits, then sees the key the first one staged and does nothing: one rotation, not two."""
    every = conf().rotate_every
    if every <= 0:
        return None
    # First wait for any rotation under way (it holds these rows)...
    list(JwkKey.objects.select_for_update().filter(active=True).values_list("kid", flat=True))
    # ...then look again: a new locking read sees what that rotation committed, its new key too
    # (the first read's rows were fixed before the wait).
    newest = (JwkKey.objects.select_for_update().filter(active=True).order_by("-created_at")
              .values_list("created_at", flat=True).first())
    if newest is None or timezone.now() - newest < timedelta(seconds=every):
        return None  # no key yet is ensure_signing_key's to make, not a rotation's
    return keys_rotate(actor=actor)


@transaction.atomic
def keys_prune(*, actor: Actor) -> list[str]:
    """Unpublish keys whose tokens have all expired and drop their private halves."""
    now = timezone.now()
    expired = list(JwkKey.objects.filter(active=True, verify_until__lte=now).values_list("kid", flat=True))
    if expired:
        JwkKey.objects.filter(kid__in=expired).update(active=False)
        store = key_store()

        def after_commit() -> None:  # a rolled-back prune must not have lost the private keys
            for kid in expired:
                store.delete(kid)
            keyring().reload()

        transaction.on_commit(after_commit)
    return expired
