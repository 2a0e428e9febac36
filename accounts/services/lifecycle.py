"""Account states and the moves between them. Every move is one audited service call;
freeze, lock and delete also invalidate every token at once (token_version bump; the
sessions room ends the sessions on the signal)."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import NotFound

from ..conf import conf
from ..errors import TransitionNotAllowed
from ..models import User, UserProfile
from ..selectors import me_invalidate
from ..signals import user_deleted, user_tokens_invalidated

S = User.Status
# action: (statuses it may start from, status it ends in, audit action, kicks sessions)
TRANSITIONS: dict[str, tuple[frozenset[str], str, str, bool]] = {
    "freeze": (frozenset({S.ACTIVE, S.LOCKED}), S.DISABLED, Action.USER_FROZEN, True),
    "activate": (frozenset({S.DISABLED}), S.ACTIVE, Action.USER_ACTIVATED, False),
    "lock": (frozenset({S.ACTIVE}), S.LOCKED, Action.USER_LOCKED, True),
    "unlock": (frozenset({S.LOCKED}), S.ACTIVE, Action.USER_UNLOCKED, False),
    "delete": (frozenset({S.ACTIVE, S.DISABLED, S.LOCKED}), S.DELETED, Action.USER_DELETED, True),
}


@transaction.atomic
def user_token_version_bump(*, user_id: int, actor: Actor, reason: str) -> int:
    """Invalidate every access token of the user (global kick). Returns the new version."""
    updated = User.objects.filter(pk=user_id).update(token_version=F("token_version") + 1)
    if not updated:
        raise NotFound("No such user.")
    version = User.objects.values_list("token_version", flat=True).get(pk=user_id)
    user_tokens_invalidated.send(sender=User, user_id=user_id, token_version=version, reason=reason, actor=actor)
    return version


@transaction.atomic
def user_transition(*, user_id: int, action: str, actor: Actor, reason: str = "") -> User:
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    sources, target, audit_action, kicks = TRANSITIONS[action]
    if user.status not in sources:
        raise TransitionNotAllowed(action, user.status)
    before = user.status
    now = timezone.now()
    user.status, user.status_reason, user.status_changed_at = target, (reason or action)[:64], now
    fields = ["status", "status_reason", "status_changed_at", "updated_at"]
    if action == "delete":
        _scrub(user, now)
        fields += ["password", "deleted_at"]
    user.save(update_fields=fields)
    if kicks:
        user_token_version_bump(user_id=user.pk, actor=actor, reason=action)
    if action == "delete":
        user_deleted.send(sender=User, user_id=user.pk, actor=actor)
    event_record(action=audit_action, actor=actor, subject_user_id=user.pk, tenant_id=user.tenant_id,
                 metadata={"before": before, "after": target, "reason": reason[:200]})
    user.refresh_from_db()
    return user


def _scrub(user: User, now: datetime) -> None:
    """Personal data goes now; the identifiers stay reserved until the retention period ends
    (so nobody can take over a just-deleted name), then a periodic task frees them."""
    user.set_unusable_password()
    user.deleted_at = now
    UserProfile.objects.filter(user_id=user.pk).update(nickname=None, avatar=None, birthday=None, extra=None,
                                                       gender=UserProfile.Gender.OTHER)


def deleted_identifiers_free(batch: int = 500) -> int:
    """Free identifiers of accounts deleted before the retention period; small batches so
    no statement holds the table for long."""
    cutoff = timezone.now() - timedelta(days=conf().deleted_retention_days)
    freed = 0
    while True:
        ids = list(User.objects.filter(status=S.DELETED, deleted_at__lt=cutoff)
                   .filter(Q(username__isnull=False) | Q(email__isnull=False) | Q(phone__isnull=False))
                   .values_list("pk", flat=True)[:batch])
        if not ids:
            return freed
        with transaction.atomic():
            User.objects.filter(pk__in=ids).update(username=None, email=None, phone=None,
                                                   email_verified_at=None, phone_verified_at=None)
            for user_id in ids:
                me_invalidate(user_id)
        freed += len(ids)
