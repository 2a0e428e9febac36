"""Account merge (issue 16, docs/merge.md): the secondary account's rows move to the primary in
one transaction, the secondary ends as a tombstone (`status=merged`, `merged_into_user_id`).

accounts moves its own rows (identifiers, profile, second factors) and sends `user_merged`;
the rooms above move or end theirs in receivers inside the same transaction (federation:
identities, authz: role assignments, sessions_app: sessions and the revocation feed) and
report what they moved or would move. Proofs of the secondary that need a higher room (an
external identity, an access token) are registered into PROOFS by those rooms, so accounts
imports nothing above it."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import OperationalError, transaction
from django.utils import timezone

from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import context
from custos.crypto import sha256_hex
from custos.exceptions import CustosError, InvalidCredentials, NotFound, ValidationFailed
from custos.validation import require_str

from .. import identifiers, notices, selectors
from ..conf import conf
from ..errors import (
    MergeConflict,
    MergePrimaryInvalid,
    MergeSelf,
    MergeTargetInvalid,
    MergeTenantConflict,
    MergeTypeConflict,
)
from ..models import BackupCode, MfaChallenge, PasswordResetToken, TotpDevice, User, UserProfile
from ..security import mfa, risk, throttle
from ..signals import user_merged
from . import credentials
from .lifecycle import user_transition

S = User.Status
Challenge = dict[str, Any]  # the sign-in's MFA challenge shape: mfa_required, mfa_token, methods, expires_in


# ---- proofs of the secondary -------------------------------------------------------------------
@dataclass(frozen=True)
class Proven:
    """The account a proof showed control of. `spend`, when set, runs inside the merge's
    transaction to use up a single-use proof (an MFA challenge), so a lost race or a refusal
    leaves it unspent, and two merges cannot spend it twice."""

    user_id: int
    method: str
    spend: Callable[[], None] | None = None


ProofCheck = Callable[..., "Proven | Challenge"]
# type -> check(*, primary_id, proof, dry_run). accounts fills "password"; sessions_app
# ("token") and federation ("oauth") register theirs when their app is ready.
PROOFS: dict[str, ProofCheck] = {}


def proof_register(kind: str) -> Callable[[ProofCheck], ProofCheck]:
    def register(fn: ProofCheck) -> ProofCheck:
        PROOFS[kind] = fn
        return fn

    return register


def secondary_prove(*, primary_id: int, proof: object, dry_run: bool) -> Proven | Challenge:
    """Check the request's proof of the secondary: the proven account, or an MFA challenge."""
    if not isinstance(proof, dict):
        raise ValidationFailed(fields={"secondary": ["An object with a type: password, oauth or token."]})
    check = PROOFS.get(proof.get("type")) if isinstance(proof.get("type"), str) else None
    if check is None:
        raise ValidationFailed(fields={"secondary.type": [f"One of {', '.join(sorted(PROOFS))}."]})
    proven = check(primary_id=primary_id, proof=proof, dry_run=dry_run)
    if isinstance(proven, Proven) and proven.user_id == primary_id:
        raise MergeSelf()
    return proven


def _identifier_key(identifier: str, kind: tuple[str, str] | None) -> str:
    # the sign-in's key for an identifier that names no account (sessions_app.signin), so a
    # merge and a sign-in spend one allowance per identifier
    if kind is None:
        return f"raw:{identifier.strip().casefold()[:254]}"
    return f"{kind[0]}:{kind[1].casefold()}"


def _merge_challenge_hash(token: str) -> str:
    # Domain-separated from the sign-in's challenges (sha256 of the token alone): a merge's
    # mfa_token is never found by /v1/auth/mfa/verify, so it cannot be turned into a sign-in.
    return sha256_hex(f"merge:{token}")


_MERGE_FACTOR = "merge:pwd"


@proof_register("password")
def _password_proof(*, primary_id: int, proof: dict[str, Any], dry_run: bool) -> Proven | Challenge:
    """The secondary's password, on the sign-in's own counters (per account and per client IP:
    a merge is no password oracle); with a second factor, the sign-in's challenge shape first
    and the code on a second call ({"type": "password", "mfa_token", "code", "method"?})."""
    if "mfa_token" in proof:
        return _password_second_factor(primary_id=primary_id, proof=proof, dry_run=dry_run)
    identifier = require_str(proof, "username", max_length=254)
    password = require_str(proof, "password", max_length=4096)
    kind = identifiers.classify(identifier)
    account = selectors.user_by_identifier(*kind) if kind else None
    subject = throttle.login_subject(user_id=account.pk if account else None,
                                     identifier_key=_identifier_key(identifier, kind))
    guard = throttle.Guard("login", subject, context.current().ip)
    guard.begin()
    try:
        user = credentials.credentials_check(user=account, password=password)
    except InvalidCredentials:
        _proof_failed(account=account, count=guard.failed())
        raise
    except CustosError as exc:  # the right password of a disabled or locked account
        guard.not_a_guess()
        raise MergeTargetInvalid() from exc
    guard.succeeded()
    if user.pk != primary_id and mfa.mfa_enabled(user.pk):
        return _challenge_issue(primary_id=primary_id, user=user)
    return Proven(user_id=user.pk, method="password")


def _proof_failed(*, account: User | None, count: int) -> None:
    """A wrong password: what a wrong sign-in password earns (event, history, the hard lock)."""
    with transaction.atomic():
        event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(), result=Result.FAILURE,
                     subject_user_id=account.pk if account else None,
                     tenant_id=account.tenant_id if account else None,
                     metadata={"method": "password", "channel": "merge", "reason": InvalidCredentials.code,
                               "consecutive": count})
        if account is None:
            return
        risk.history_record(user=account, method="password", result="failure")
        if count >= conf().login_hard_lock_after and account.status == S.ACTIVE:
            user_transition(user_id=account.pk, action="lock", actor=Actor.system("bruteforce"),
                            reason="too_many_failures")


def _challenge_issue(*, primary_id: int, user: User) -> Challenge:
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    ttl = conf().mfa_token_ttl
    MfaChallenge.objects.create(token_hash=_merge_challenge_hash(token), user=user, first_factor=_MERGE_FACTOR,
                                risk={"merge_into": primary_id}, created_at=now,
                                expires_at=now + timedelta(seconds=ttl))
    return {"mfa_required": True, "mfa_token": token, "methods": mfa.mfa_methods(user.pk) or ["totp"],
            "expires_in": ttl}


def _password_second_factor(*, primary_id: int, proof: dict[str, Any], dry_run: bool) -> Proven:
    token = require_str(proof, "mfa_token", max_length=256)
    code = require_str(proof, "code", max_length=32)
    method = proof.get("method")
    if method is not None and method not in ("totp", "backup_code"):
        raise ValidationFailed(fields={"secondary.method": ["One of totp, backup_code."]})
    ch = MfaChallenge.objects.filter(token_hash=_merge_challenge_hash(token)).first()
    # bound to the primary that asked: another account's merge cannot spend it
    if (ch is None or ch.used_at is not None or ch.expires_at <= timezone.now() or ch.first_factor != _MERGE_FACTOR
            or ch.risk.get("merge_into") != primary_id):
        raise mfa.MfaTokenInvalid()
    matched = mfa.second_factor_check(user_id=ch.user_id, code=code, method=method, channel="merge")

    def spend() -> None:
        if not MfaChallenge.objects.filter(pk=ch.pk, used_at__isnull=True).update(used_at=timezone.now()):
            raise MergeConflict()  # another merge spent it first

    # A dry run leaves the challenge open: the merge that follows answers it with a fresh code.
    return Proven(user_id=ch.user_id, method=f"password+{matched}", spend=None if dry_run else spend)


# ---- the merge -----------------------------------------------------------------------------------
PROFILE_FIELDS = ("nickname", "avatar", "gender", "birthday", "extra")
CONTACT_FIELDS = ("email", "phone")


@dataclass
class MergeResult:
    primary_user_id: int
    merged_user_id: int
    dry_run: bool
    moved: dict[str, Any] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {"primary_user_id": self.primary_user_id, "merged_user_id": self.merged_user_id,
                "dry_run": self.dry_run, "moved": self.moved, "conflicts": self.conflicts}

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return [c for c in self.conflicts if c.get("blocking")]


def account_merge_request(*, primary_id: int, proof: object, dry_run: bool) -> MergeResult | Challenge:
    """`POST /v1/account/merge`: the primary's owner (re-authenticated by the view) proves the
    secondary; the answer is the merge (or its dry run), or an MFA challenge to answer first."""
    proven = secondary_prove(primary_id=primary_id, proof=proof, dry_run=dry_run)
    if not isinstance(proven, Proven):
        return proven
    return account_merge(primary_id=primary_id, secondary_id=proven.user_id, actor=Actor.user(primary_id),
                         dry_run=dry_run, proof_method=proven.method, spend=proven.spend)


def _refuse_states(primary: User, secondary: User) -> None:
    if primary.status != S.ACTIVE:
        raise MergePrimaryInvalid()
    if secondary.status != S.ACTIVE:
        raise MergeTargetInvalid()


# MariaDB: deadlock found (1213), lock wait timeout (1205). Lock order makes the first unlikely;
# either means another change to these rows won, so the answer is the race's 409.
_LOST_RACE = {1205, 1213}


def account_merge(*, primary_id: int, secondary_id: int, actor: Actor, dry_run: bool = False,
                  cross_tenant: bool = False, reason: str = "", proof_method: str = "staff",
                  spend: Callable[[], None] | None = None) -> MergeResult:
    """Merge `secondary_id` into `primary_id` in one transaction, or (dry_run) answer what
    would move and every conflict without writing anything. `cross_tenant`: staff may merge
    accounts of different tenants (merge_tenant_conflict otherwise)."""
    if primary_id == secondary_id:
        raise MergeSelf()
    # The states as the caller saw them: a refusal now is the request's own; a change between
    # here and the locks below is another request's doing (merge_conflict).
    seen = {u.pk: u.status for u in User.objects.filter(pk__in=(primary_id, secondary_id))}
    if len(seen) != 2:
        raise NotFound("No such user.")
    _refuse_states(User(pk=primary_id, status=seen[primary_id]), User(pk=secondary_id, status=seen[secondary_id]))
    try:
        with transaction.atomic():
            return _merge(primary_id=primary_id, secondary_id=secondary_id, seen=seen, actor=actor, dry_run=dry_run,
                          cross_tenant=cross_tenant, reason=reason, proof_method=proof_method, spend=spend)
    except OperationalError as exc:
        if exc.args and exc.args[0] in _LOST_RACE:
            raise MergeConflict() from exc
        raise


def _lock(user_ids: list[int], dry_run: bool) -> dict[int, User]:
    # Both rows, one at a time in id order: two merges of the same pair (either way round) queue
    # on the lower id and never hold one row each (no deadlock). A dry run reads without locks.
    qs = User.objects.all() if dry_run else User.objects.select_for_update()
    return {uid: qs.get(pk=uid) for uid in sorted(user_ids)}


def _empty(name: str, value: Any) -> bool:
    if name == "gender":
        return value in (None, "", UserProfile.Gender.OTHER)  # "other" is the column's default
    return value in (None, "", {}, [])


def _profile_plan(primary: UserProfile, secondary: UserProfile) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The secondary's profile values the primary lacks; the primary wins where both have one."""
    take: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    for name in PROFILE_FIELDS:
        mine, theirs = getattr(primary, name), getattr(secondary, name)
        if _empty(name, theirs):
            continue
        if _empty(name, mine):
            take[name] = theirs
        elif name == "extra" and isinstance(mine, dict) and isinstance(theirs, dict):
            added = {k: v for k, v in theirs.items() if k not in mine}
            if added:
                take[name] = {**mine, **added}
            conflicts += [{"kind": "profile", "field": f"extra.{k}", "kept": "primary", "blocking": False}
                          for k in sorted(theirs) if k in mine and mine[k] != theirs[k]]
        elif mine != theirs:
            conflicts.append({"kind": "profile", "field": name, "kept": "primary", "blocking": False})
    return take, conflicts


def _contact_plan(primary: User, secondary: User) -> tuple[list[str], list[dict[str, Any]]]:
    """The secondary's identifiers that move: a *verified* email or phone when the primary has
    none, the username when the primary has none. The rest are freed with the tombstone."""
    take: list[str] = []
    conflicts: list[dict[str, Any]] = []
    for name in ("username", *CONTACT_FIELDS):
        if getattr(secondary, name) is None:
            continue
        if name != "username" and getattr(secondary, f"{name}_verified_at") is None:
            conflicts.append({"kind": "contact", "field": name, "kept": "none", "reason": "unverified",
                              "blocking": False})
        elif getattr(primary, name) is None:
            take.append(name)
        else:
            conflicts.append({"kind": "contact", "field": name, "kept": "primary", "blocking": False})
    return take, conflicts


def _merge(*, primary_id: int, secondary_id: int, seen: dict[int, str], actor: Actor, dry_run: bool,
           cross_tenant: bool, reason: str, proof_method: str, spend: Callable[[], None] | None) -> MergeResult:
    users = _lock([primary_id, secondary_id], dry_run)
    primary, secondary = users[primary_id], users[secondary_id]
    if any(users[uid].status != status for uid, status in seen.items()):
        raise MergeConflict()
    _refuse_states(primary, secondary)
    result = MergeResult(primary_user_id=primary_id, merged_user_id=secondary_id, dry_run=dry_run)
    if primary.tenant_id != secondary.tenant_id and not cross_tenant:
        result.conflicts.append({"kind": "tenant", "code": MergeTenantConflict.code, "blocking": True,
                                 "room": "accounts"})
    # A self-service merge is between customers: folding a staff (or partner) account into
    # another would hand its platform roles and console access to whoever holds the primary.
    if not cross_tenant and (primary.user_type != User.UserType.CUSTOMER
                             or secondary.user_type != User.UserType.CUSTOMER):
        result.conflicts.append({"kind": "user_type", "code": MergeTypeConflict.code, "blocking": True,
                                 "room": "accounts"})
    elif primary.user_type != secondary.user_type:  # staff, across kinds: still refused
        result.conflicts.append({"kind": "user_type", "code": MergeTypeConflict.code, "blocking": True,
                                 "room": "accounts"})
    p_profile = UserProfile.objects.filter(user_id=primary_id).first() or UserProfile(user_id=primary_id)
    s_profile = UserProfile.objects.filter(user_id=secondary_id).first() or UserProfile(user_id=secondary_id)
    profile_take, profile_conflicts = _profile_plan(p_profile, s_profile)
    contacts_take, contact_conflicts = _contact_plan(primary, secondary)
    result.conflicts += contact_conflicts + profile_conflicts
    mfa_devices = TotpDevice.objects.filter(user_id=secondary_id).count()
    result.moved.update({"contacts": contacts_take, "profile_fields": sorted(profile_take),
                         "mfa_devices_dropped": mfa_devices,
                         "tombstones_repointed": User.objects.filter(merged_into_id=secondary_id).count()})
    if result.blocking and not dry_run:
        _raise_blocking(result)
    new_version = secondary.token_version + (0 if dry_run else 1)
    former = [(ch, getattr(secondary, f)) for f, ch in (("email", "email"), ("phone", "sms"))
              if getattr(secondary, f) and getattr(secondary, f"{f}_verified_at") and f not in contacts_take]
    if not dry_run:
        if spend is not None:
            spend()
        _apply(primary=primary, secondary=secondary, contacts=contacts_take, profile=profile_take,
               new_version=new_version)
    for _receiver, report in user_merged.send(
            sender=User, primary_id=primary_id, secondary_id=secondary_id, primary_tenant_id=primary.tenant_id,
            secondary_tenant_id=secondary.tenant_id, secondary_token_version=new_version, cross_tenant=cross_tenant,
            dry_run=dry_run, actor=actor):
        if isinstance(report, dict):
            result.moved.update(report.get("moved") or {})
            result.conflicts += report.get("conflicts") or []
    if dry_run:
        return result
    if result.blocking:  # a room above refused: everything above rolls back with this
        _raise_blocking(result)
    event_record(action=Action.USER_MERGED, actor=actor, subject_user_id=primary_id, tenant_id=primary.tenant_id,
                 metadata={"primary_user_id": primary_id, "merged_user_id": secondary_id,
                           "merged_tenant_id": secondary.tenant_id, "moved": result.moved,
                           # field names and codes only: never a value of either account
                           "conflicts": sorted({c.get("field") or c.get("code") or c.get("kind", "")
                                                for c in result.conflicts}),
                           "proof": proof_method, "reason": reason[:200]})
    notices.notify(user_id=primary_id, kind="account_merged")
    notices.notify_former_addresses(user_id=secondary_id, kind="merged_away", addresses=former)
    selectors.me_invalidate(primary_id)
    selectors.me_invalidate(secondary_id)
    return result


def _raise_blocking(result: MergeResult) -> None:
    codes = {c.get("code") for c in result.blocking}
    for error in (MergeTypeConflict, MergeTenantConflict):
        if error.code in codes:
            raise error()
    raise MergeConflict()


def _apply(*, primary: User, secondary: User, contacts: list[str], profile: dict[str, Any],
           new_version: int) -> None:
    now = timezone.now()
    moving = {name: getattr(secondary, name) for name in contacts}
    verified = {f"{name}_verified_at": getattr(secondary, f"{name}_verified_at") for name in contacts
                if name in CONTACT_FIELDS}
    # The tombstone first: its identifiers are freed before the primary takes them (unique keys).
    secondary.status, secondary.status_reason, secondary.status_changed_at = S.MERGED, "merged", now
    secondary.merged_into_id = primary.pk
    secondary.username = secondary.email = secondary.phone = None
    secondary.email_verified_at = secondary.phone_verified_at = None
    secondary.token_version = new_version
    secondary.set_unusable_password()
    secondary.save(update_fields=["status", "status_reason", "status_changed_at", "merged_into", "username", "email",
                                  "phone", "email_verified_at", "phone_verified_at", "token_version", "password",
                                  "updated_at"])
    if moving:
        for name, value in {**moving, **verified}.items():
            setattr(primary, name, value)
        primary.save(update_fields=[*moving, *verified, "updated_at"])
    if profile:
        UserProfile.objects.update_or_create(user_id=primary.pk, defaults=profile)
    # what did not move stays with nobody: the tombstone keeps no personal data
    UserProfile.objects.filter(user_id=secondary.pk).update(nickname=None, avatar=None, birthday=None, extra=None,
                                                            gender=UserProfile.Gender.OTHER)
    # A chain (C merged into B, now B into A) resolves to A: no tombstone points at a tombstone.
    User.objects.filter(merged_into_id=secondary.pk).update(merged_into_id=primary.pk)
    # The secondary's second factors and pending proofs go with it.
    TotpDevice.objects.filter(user_id=secondary.pk).delete()
    BackupCode.objects.filter(user_id=secondary.pk, used_at__isnull=True).update(used_at=now)
    MfaChallenge.objects.filter(user_id=secondary.pk, used_at__isnull=True).update(used_at=now)
    PasswordResetToken.objects.filter(user_id=secondary.pk, used_at__isnull=True, voided_at__isnull=True).update(
        voided_at=now)

