"""authz's part of an account merge (accounts.services.merge, docs/merge.md): the merged
account's role assignments (casbin_rule g-lines) become the primary's, in the merge's
transaction. Same tenant: the union of both accounts' roles. A role in another tenant's
domain refuses the merge (merge_tenant_conflict) unless staff allowed a cross-tenant merge."""
from __future__ import annotations

from typing import Any

from .models import CasbinRule
from .services import _adapter, _changed, _roles_changed, _user_stale
from .subjects import tenant_domain, user_subject


def roles_merge(sender: Any, *, primary_id: int, secondary_id: int, primary_tenant_id: int | None,
                cross_tenant: bool, dry_run: bool, **kwargs: Any) -> dict[str, Any]:
    """Receiver of accounts.signals.user_merged: move (or, in a dry run, count) the assignments
    and report them. No role.granted/role.revoked events: the merge's one `user.merged` event
    says what moved; the feed still learns of the change (roles_changed) for both users."""
    src, dst = user_subject(secondary_id), user_subject(primary_id)
    theirs = sorted(set(CasbinRule.objects.filter(ptype="g", v0=src).values_list("v1", "v2")))
    mine = set(CasbinRule.objects.filter(ptype="g", v0=dst).values_list("v1", "v2"))
    home = tenant_domain(primary_tenant_id)
    foreign = sorted({d for _, d in theirs if d.startswith("tenant:") and d != home})
    fresh = [(role, domain) for role, domain in theirs if (role, domain) not in mine]
    report: dict[str, Any] = {"moved": {"roles": len(fresh), "roles_held_already": len(theirs) - len(fresh)},
                              "conflicts": []}
    if foreign and not cross_tenant:
        report["conflicts"].append({"kind": "tenant", "code": "merge_tenant_conflict", "blocking": True,
                                    "room": "authz", "domains": foreign})
    if dry_run or report["conflicts"] or not theirs:
        return report
    if fresh:
        _adapter.add_policies("g", "g", [[dst, role, domain] for role, domain in fresh])
    _adapter.remove_policies("g", "g", [[src, role, domain] for role, domain in theirs])
    for domain in sorted({d for _, d in theirs}):
        _changed(domain)
        # both users' tokens carry stale roles now: the primary's miss the new ones, the
        # secondary's are dead anyway (its version was bumped) but say so on the feed too
        _roles_changed(domain, sorted({primary_id, secondary_id}))
    _user_stale(dst)
    _user_stale(src)
    return report
