from django.dispatch import receiver

from accounts.signals import user_tokens_invalidated


@receiver(user_tokens_invalidated, dispatch_uid="sessions_app.end_sessions_on_kick")
def _end_sessions_on_kick(sender, *, user_id, token_version, reason, **kwargs):
    from . import services

    services.user_tokens_invalidated(user_id=user_id, token_version=token_version, reason=reason)


from accounts.signals import password_changed  # noqa: E402


@receiver(password_changed, dispatch_uid="sessions_app.end_other_sessions_on_password_change")
def _end_other_sessions(sender, *, user_id, keep_session_id, **kwargs):
    from . import services

    services.sessions_end_for_user(user_id=user_id, reason="password_changed", keep_session_id=keep_session_id)


from authz.signals import roles_changed  # noqa: E402

# A role change names its holders one row each up to this many; beyond, one row for the whole
# tenant: the change's transaction writes (and every process and Clotho holds) a bounded
# number of entries, at the price of every token of the tenant refreshing once.
ROLES_PER_USER_MAX = 1000


@receiver(roles_changed, dispatch_uid="sessions_app.refuse_tokens_with_stale_roles")
def _refuse_tokens_with_stale_roles(sender, *, user_ids, tenant_id, at, **kwargs):
    """Publish a role change on the revocation feed, in the change's transaction: every token
    of these users (or of the tenant) issued before it is refused within the poll interval
    (sessions_app.revstate: the cutoff rule); their sessions live on."""
    from django.db import transaction

    from .models import Revocation
    from .revstate import roles_cutoff
    from .revstate import state as revocation_state

    cutoff = roles_cutoff(at)
    if user_ids is None or len(user_ids) > ROLES_PER_USER_MAX:
        Revocation.objects.create(kind=Revocation.KIND_TENANT_ROLES, user_id=0, tenant_id=tenant_id, created_at=at)
        transaction.on_commit(lambda: revocation_state().apply_tenant_roles(tenant_id, cutoff))
        return
    Revocation.objects.bulk_create([Revocation(kind=Revocation.KIND_ROLES, user_id=uid, created_at=at)
                                    for uid in user_ids])
    ids = list(user_ids)
    transaction.on_commit(lambda: [revocation_state().apply_roles(uid, cutoff) for uid in ids])
