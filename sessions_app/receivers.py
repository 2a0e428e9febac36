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


# ---- account merge (docs/merge.md) ---------------------------------------------------------------
from accounts.services.merge import Proven, proof_register  # noqa: E402
from accounts.signals import user_merged  # noqa: E402


@receiver(user_merged, dispatch_uid="sessions_app.end_merged_sessions")
def _end_merged_sessions(sender, *, secondary_id, secondary_token_version, dry_run, **kwargs):
    """The merged account's sessions and refresh tokens end, and its access tokens are kicked
    on the revocation feed (the version accounts bumped in the merge), in the merge's
    transaction: refused by Custos within the poll interval, and by Clotho from the feed."""
    from . import selectors, services

    if dry_run:
        return {"moved": {"sessions_revoked": selectors.active_session_count(user_id=secondary_id)}}
    ended = services.user_tokens_invalidated(user_id=secondary_id, token_version=secondary_token_version,
                                             reason="merged")
    return {"moved": {"sessions_revoked": ended}}


# A bearer token proves control of the account only while it is fresh: one issued (by a sign-in
# or a refresh) at most this long ago.
MERGE_TOKEN_MAX_AGE = 300


@proof_register("token")
def _access_token_proof(*, primary_id, proof, dry_run):
    """{"type": "token", "access_token"}: the secondary's own access token, valid (signature,
    version, session alive: the database's answer, as introspection's) and issued at most
    MERGE_TOKEN_MAX_AGE seconds ago."""
    import time

    from rest_framework_simplejwt.exceptions import TokenError

    from accounts.errors import MergeProofInvalid
    from custos.validation import require_str

    from . import selectors
    from .tokens import CustosAccessToken

    raw = require_str(proof, "access_token", max_length=8192)
    try:
        claims = CustosAccessToken(raw).payload
    except TokenError as exc:
        raise MergeProofInvalid("The access token is not valid.") from exc
    if claims["iat"] < time.time() - MERGE_TOKEN_MAX_AGE:
        raise MergeProofInvalid("The access token was issued more than 5 minutes ago; sign in to that account again.")
    user_id = int(claims["sub"])
    if not selectors.token_still_valid(user_id=user_id, version=claims["ver"], session_id=claims.get("sid")):
        raise MergeProofInvalid("The access token is not valid.")
    return Proven(user_id=user_id, method="token")
