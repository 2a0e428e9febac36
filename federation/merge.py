"""federation's part of an account merge (accounts.services.merge, docs/merge.md): the merged
account's external identities (`user_oauth`) move to the primary in the merge's transaction,
and an external identity is one of the proofs that the caller controls the secondary."""
from __future__ import annotations

from typing import Any

from accounts.errors import MergeProofInvalid
from accounts.selectors import me_invalidate
from accounts.services.merge import Proven
from custos.validation import require_str

from . import services
from .models import OAuthFlow, UserOAuth


def identities_merge(sender: Any, *, primary_id: int, secondary_id: int, dry_run: bool,
                     **kwargs: Any) -> dict[str, Any]:
    """Receiver of accounts.signals.user_merged. Identities are keyed by issuer and subject, so
    two of the same provider are two subjects: the primary keeps both (listed as a conflict
    that blocks nothing, for the user to unbind one if they like)."""
    theirs = list(UserOAuth.objects.filter(user_id=secondary_id).values_list("provider", flat=True))
    mine = set(UserOAuth.objects.filter(user_id=primary_id).values_list("provider", flat=True))
    conflicts = [{"kind": "identity", "field": f"provider:{p}", "kept": "both", "blocking": False}
                 for p in sorted(set(theirs) & mine)]
    if not dry_run:
        UserOAuth.objects.filter(user_id=secondary_id).update(user_id=primary_id)
        # a bind the secondary started would bind to a tombstone: it is dropped
        OAuthFlow.objects.filter(user_id=secondary_id).delete()
        me_invalidate(primary_id)  # update() sends no post_save: drop both /users/me copies here
        me_invalidate(secondary_id)
    return {"moved": {"identities": len(theirs)}, "conflicts": conflicts}


def oauth_proof(*, primary_id: int, proof: dict[str, Any], dry_run: bool) -> Proven:
    """{"type": "oauth", "provider", "code", "state", "iss"?}: the state was started by the
    primary's Bearer (GET /v1/oauth/{provider}/login with it); the identity the provider
    vouches for must be bound to an account, which is the secondary. The state is single use,
    a dry run's too."""
    provider = require_str(proof, "provider", max_length=64)
    code = require_str(proof, "code", max_length=2048)
    state = require_str(proof, "state", max_length=256)
    iss = require_str(proof, "iss", max_length=512, required=False)
    result = services.flow_finish(provider_name=provider, code=code, state=state, iss=iss, user_id=primary_id)
    link = services._identity(result)  # by its key, or by an older key of the same identity (WeChat)
    if link is None:
        raise MergeProofInvalid("No account holds this identity; bind it instead (POST /v1/oauth/{provider}/bind).")
    return Proven(user_id=link.user_id, method=f"oauth:{link.provider}")
