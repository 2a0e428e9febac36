"""Account merge (issue 16, docs/merge.md): POST /v1/account/merge, its proofs, what moves,
what the secondary becomes, and every refusal."""
from __future__ import annotations

import json
from datetime import date

import pyotp
import pytest
from django.utils import timezone

from accounts import services
from accounts.models import BackupCode, LoginEvent, TotpDevice, User, UserProfile
from audit.models import AuditEvent
from audit.services import Actor
from authz.models import CasbinRule
from federation.models import OAuthFlow, UserOAuth
from sessions_app.models import RefreshToken, Revocation, Session
from tests.conftest import bearer, grant, login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECOND_PASSWORD = "another long passphrase 42"


def _reauth(api, token: str) -> dict[str, str]:
    r = api.post("/v1/auth/reauth", {"password": PASSWORD}, format="json", **bearer(token))
    assert r.status_code == 200, r.content
    return {"HTTP_X_REAUTH_TOKEN": r.json()["reauth_token"]}


def _merge(api, token: str, secondary: object, *, dry_run: bool | None = None, reauth: bool = True, **extra):
    body: dict = {"secondary": secondary, **extra}
    if dry_run is not None:
        body["dry_run"] = dry_run
    headers = {**bearer(token), **(_reauth(api, token) if reauth else {})}
    return api.post("/v1/account/merge", body, format="json", **headers)


def _pw(user: User, password: str = SECOND_PASSWORD) -> dict:
    return {"type": "password", "username": user.username, "password": password}


def _code(r) -> str:
    return r.json()["error"]["code"]


def TenantFactory():  # noqa: N802 - reads as the factory it stands in for
    """A tenant made as operators make one: its built-in roles seeded (tenant_created)."""
    return services.tenant_create(name=f"tenant-{User.objects.count()}-{timezone.now().timestamp()}",
                                  actor=Actor.system("test"))


@pytest.fixture
def pair(db):
    """A primary with an email and a nickname; a secondary from a phone sign-up months later
    with a username, a verified phone, a richer profile, an external identity, a role and a
    live session."""
    primary = UserFactory(username="alice")
    UserProfile.objects.filter(user=primary).update(nickname="Alice", extra={"lang": "en", "theme": "dark"})
    secondary = UserFactory(username="alice_phone", email=None, phone="+8613800138000",
                            phone_verified_at=timezone.now(), password=SECOND_PASSWORD)
    UserProfile.objects.filter(user=secondary).update(nickname="小艾", avatar="https://cdn.example/a.png",
                                                      birthday=date(1990, 5, 17),
                                                      extra={"lang": "zh", "city": "Shanghai"})
    UserOAuth.objects.create(user=secondary, provider="wechat", issuer="wechat", provider_uid="o-wx-1")
    grant(secondary, "auditor")
    return primary, secondary


def _state(user_id: int) -> dict:
    u = User.objects.get(pk=user_id)
    return {f: getattr(u, f) for f in ("status", "merged_into_id", "username", "email", "phone", "token_version",
                                        "password", "email_verified_at", "phone_verified_at")}


# ---- the happy path, and everything that moves -----------------------------------------------------
def test_merge_by_password_moves_everything_in_one_event(api, signing_key, pair, mailoutbox):
    primary, secondary = pair
    mine = login(api, primary.username)
    theirs = login(api, secondary.username, SECOND_PASSWORD)
    history_before = LoginEvent.objects.filter(user_id=secondary.pk).count()
    assert history_before >= 1

    r = _merge(api, mine["access_token"], _pw(secondary))
    assert r.status_code == 200, r.content
    assert r["Cache-Control"] == "no-store"
    body = r.json()
    assert body["primary_user_id"] == primary.pk and body["merged_user_id"] == secondary.pk
    assert body["dry_run"] is False
    moved = body["moved"]
    assert moved["identities"] == 1 and moved["roles"] == 1 and moved["sessions_revoked"] == 1
    # the primary keeps its username; the phone (verified, the primary had none) moves
    assert "phone" in moved["contacts"] and "username" not in moved["contacts"]
    assert sorted(moved["profile_fields"]) == ["avatar", "birthday", "extra"]
    conflicts = {c["field"] for c in body["conflicts"] if c["kind"] in ("profile", "contact")}
    assert conflicts == {"nickname", "extra.lang", "username"}
    assert all(not c["blocking"] for c in body["conflicts"])

    # the secondary is a tombstone, its identifiers free
    s = User.objects.get(pk=secondary.pk)
    assert s.status == User.Status.MERGED and s.merged_into_id == primary.pk
    assert (s.username, s.email, s.phone) == (None, None, None) and not s.has_usable_password()
    assert s.token_version == secondary.token_version + 1
    # the primary holds what moved; the primary won every conflict
    p = User.objects.get(pk=primary.pk)
    assert p.phone == "+8613800138000" and p.phone_verified_at is not None and p.username == "alice"
    prof = UserProfile.objects.get(user=primary)
    assert prof.nickname == "Alice" and prof.avatar == "https://cdn.example/a.png"
    assert prof.birthday == date(1990, 5, 17)
    assert prof.extra == {"lang": "en", "theme": "dark", "city": "Shanghai"}
    assert UserProfile.objects.get(user=secondary).nickname is None  # the tombstone keeps no personal data
    # identities and roles moved
    assert UserOAuth.objects.get(provider_uid="o-wx-1").user_id == primary.pk
    assert CasbinRule.objects.filter(ptype="g", v0=f"user:{primary.pk}", v1="auditor", v2="platform").exists()
    assert not CasbinRule.objects.filter(ptype="g", v0=f"user:{secondary.pk}").exists()
    assert Revocation.objects.filter(kind=Revocation.KIND_ROLES, user_id=primary.pk).exists()
    # the identifiers are free for the primary: the moved phone now signs in to it
    assert login(api, "+8613800138000", PASSWORD)["user"]["id"] == primary.pk

    # the secondary's sessions, refresh and access tokens are dead, on Custos and on the feed
    assert Session.objects.get(session_id=theirs["session_id"]).revoked
    assert not RefreshToken.objects.filter(user_id=secondary.pk, revoked_at__isnull=True).exists()
    assert api.post("/v1/auth/refresh", {"refresh_token": theirs["refresh_token"]},
                    format="json").status_code == 401
    assert api.get("/v1/users/me", **bearer(theirs["access_token"])).status_code == 401
    kick = Revocation.objects.get(kind=Revocation.KIND_USER, user_id=secondary.pk)
    assert kick.min_token_version == s.token_version
    # the primary's own session lives on
    assert api.get("/v1/users/me", **bearer(login(api, primary.username)["access_token"])).status_code == 200

    # login history and audit rows stay with the account they were
    assert LoginEvent.objects.filter(user_id=secondary.pk).count() == history_before
    assert AuditEvent.objects.filter(subject_user_id=secondary.pk, action="login.succeeded").exists()
    # one user.merged event, with ids, counts and field names only
    event = AuditEvent.objects.get(action="user.merged")
    assert event.subject_user_id == primary.pk and event.actor_id == str(primary.pk)
    meta = event.metadata
    assert meta["primary_user_id"] == primary.pk and meta["merged_user_id"] == secondary.pk
    assert meta["moved"]["identities"] == 1 and meta["proof"] == "password"
    text = json.dumps(meta)
    for value in ("+8613800138000", "Shanghai", "小艾", "cdn.example", SECOND_PASSWORD, "o-wx-1"):
        assert value not in text
    # both accounts' addresses are told: the primary's email, and the phone that moved with it
    subjects = {(tuple(m.to), m.subject) for m in mailoutbox}
    assert ((primary.email,), "Two Fly accounts were merged") in subjects


def test_secondary_verified_address_not_moved_is_told_at_its_old_address(api, signing_key, mailoutbox, settings):
    primary = UserFactory()
    secondary = UserFactory(password=SECOND_PASSWORD)  # both have a verified email: the primary's stays
    old_email = secondary.email
    r = _merge(api, login(api, primary.username)["access_token"], _pw(secondary))
    assert r.status_code == 200, r.content
    assert {"kind": "contact", "field": "email", "kept": "primary", "blocking": False} in r.json()["conflicts"]
    assert User.objects.get(pk=secondary.pk).email is None
    to_old = [m for m in mailoutbox if m.to == [old_email]]
    assert [m.subject for m in to_old] == ["Your Fly account was merged"]
    assert [m.subject for m in mailoutbox if m.to == [primary.email]] == ["Two Fly accounts were merged"]
    # and the freed email can be given to the primary's profile later: it is not taken
    assert not User.objects.filter(email__iexact=old_email).exists()


def test_unverified_contact_of_the_secondary_does_not_move(api, signing_key):
    primary = UserFactory(email=None)
    secondary = UserFactory(email="unproven@example.com", email_verified_at=None, password=SECOND_PASSWORD)
    r = _merge(api, login(api, primary.username)["access_token"], _pw(secondary))
    assert r.status_code == 200, r.content
    assert r.json()["moved"]["contacts"] == []
    assert {"kind": "contact", "field": "email", "kept": "none", "reason": "unverified",
            "blocking": False} in r.json()["conflicts"]
    assert User.objects.get(pk=primary.pk).email is None


def test_username_moves_when_the_primary_has_none(api, signing_key):
    primary = UserFactory(username=None, email="wx@example.com")
    secondary = UserFactory(username="bob", email=None, password=SECOND_PASSWORD)
    token = login(api, "wx@example.com")["access_token"]
    r = _merge(api, token, _pw(secondary))
    assert r.status_code == 200, r.content
    assert r.json()["moved"]["contacts"] == ["username"]
    assert User.objects.get(pk=primary.pk).username == "bob"


# ---- dry run ---------------------------------------------------------------------------------------
def test_dry_run_answers_the_same_plan_and_changes_nothing(api, signing_key, pair, mailoutbox):
    primary, secondary = pair
    theirs = login(api, secondary.username, SECOND_PASSWORD)
    token = login(api, primary.username)["access_token"]
    before = {uid: _state(uid) for uid in (primary.pk, secondary.pk)}
    rules_before = sorted(CasbinRule.objects.values_list("ptype", "v0", "v1", "v2"))
    headers = {**bearer(token), **_reauth(api, token)}
    events_before = AuditEvent.objects.count()
    feed_before = Revocation.objects.count()
    mailoutbox.clear()

    dry = api.post("/v1/account/merge", {"secondary": _pw(secondary), "dry_run": True}, format="json", **headers)
    assert dry.status_code == 200, dry.content
    assert dry.json()["dry_run"] is True
    assert {uid: _state(uid) for uid in (primary.pk, secondary.pk)} == before
    assert sorted(CasbinRule.objects.values_list("ptype", "v0", "v1", "v2")) == rules_before
    assert UserOAuth.objects.get(provider_uid="o-wx-1").user_id == secondary.pk
    assert not Session.objects.get(session_id=theirs["session_id"]).revoked
    assert Revocation.objects.count() == feed_before
    assert UserProfile.objects.get(user=primary).avatar is None
    # no user.merged (nor any other event), nobody told
    assert AuditEvent.objects.count() == events_before
    assert mailoutbox == []
    assert api.get("/v1/users/me", **bearer(theirs["access_token"])).status_code == 200

    real = _merge(api, token, _pw(secondary))
    assert real.status_code == 200
    plan, done = dry.json(), real.json()
    assert plan["moved"] == done["moved"] and plan["conflicts"] == done["conflicts"]


def test_dry_run_lists_a_tenant_conflict_the_merge_refuses(api, signing_key):
    t1, t2 = TenantFactory(), TenantFactory()
    primary = UserFactory(tenant=t1)
    secondary = UserFactory(tenant=t2, password=SECOND_PASSWORD)
    grant(secondary, "auditor", t2.pk)
    token = login(api, primary.username)["access_token"]
    dry = _merge(api, token, _pw(secondary), dry_run=True)
    assert dry.status_code == 200
    blocking = [c for c in dry.json()["conflicts"] if c["blocking"]]
    assert {c["room"] for c in blocking} == {"accounts", "authz"}
    assert all(c["code"] == "merge_tenant_conflict" for c in blocking)
    assert [c["domains"] for c in blocking if c["room"] == "authz"] == [[f"tenant:{t2.pk}"]]
    r = _merge(api, token, _pw(secondary))
    assert r.status_code == 409 and _code(r) == "merge_tenant_conflict"
    assert User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE


def test_a_role_in_another_tenant_refuses_even_when_the_accounts_share_one(api, signing_key):
    t1, t2 = TenantFactory(), TenantFactory()
    primary = UserFactory(tenant=t1)
    secondary = UserFactory(tenant=t1, password=SECOND_PASSWORD)
    grant(secondary, "auditor", t2.pk)  # granted across tenants by an operator
    r = _merge(api, login(api, primary.username)["access_token"], _pw(secondary))
    assert r.status_code == 409 and _code(r) == "merge_tenant_conflict"
    # nothing half-moved
    assert User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE
    assert CasbinRule.objects.filter(ptype="g", v0=f"user:{secondary.pk}").exists()


def test_same_tenant_roles_are_a_union(api, signing_key):
    t = TenantFactory()
    primary = UserFactory(tenant=t)
    secondary = UserFactory(tenant=t, password=SECOND_PASSWORD)
    grant(primary, "auditor", t.pk)
    grant(secondary, "auditor", t.pk)
    grant(secondary, "tenant_admin", t.pk)
    r = _merge(api, login(api, primary.username)["access_token"], _pw(secondary))
    assert r.status_code == 200, r.content
    assert r.json()["moved"]["roles"] == 1 and r.json()["moved"]["roles_held_already"] == 1
    roles = set(CasbinRule.objects.filter(ptype="g", v0=f"user:{primary.pk}").values_list("v1", "v2"))
    assert roles == {("auditor", f"tenant:{t.pk}"), ("tenant_admin", f"tenant:{t.pk}")}
    from authz.selectors import user_roles

    assert sorted(user_roles(user_id=primary.pk, tenant_id=t.pk)) == ["auditor", "tenant_admin"]


def test_staff_may_merge_across_tenants(db, signing_key):
    t1, t2 = TenantFactory(), TenantFactory()
    staff = UserFactory(user_type="staff")
    primary, secondary = UserFactory(tenant=t1), UserFactory(tenant=t2)
    grant(secondary, "auditor", t2.pk)
    result = services.account_merge(primary_id=primary.pk, secondary_id=secondary.pk, actor=Actor.user(staff.pk),
                                    cross_tenant=True, reason="support ticket 42")
    assert not result.blocking and result.moved["roles"] == 1
    assert User.objects.get(pk=secondary.pk).merged_into_id == primary.pk
    event = AuditEvent.objects.get(action="user.merged")
    assert event.actor_id == str(staff.pk) and event.metadata["reason"] == "support ticket 42"
    assert event.metadata["proof"] == "staff" and event.metadata["merged_tenant_id"] == t2.pk


# ---- proofs ----------------------------------------------------------------------------------------
def test_merge_needs_a_fresh_reauth_of_the_primary(api, signing_key, pair):
    primary, secondary = pair
    r = _merge(api, login(api, primary.username)["access_token"], _pw(secondary), reauth=False)
    assert r.status_code == 403 and _code(r) == "reauth_required"
    assert api.post("/v1/account/merge", {"secondary": _pw(secondary)}, format="json").status_code == 401
    assert User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE


def test_wrong_password_is_the_sign_ins_answer_on_the_sign_ins_counter(api, signing_key, pair, settings):
    primary, secondary = pair
    token = login(api, primary.username)["access_token"]
    headers = {**bearer(token), **_reauth(api, token)}
    wrong = {"secondary": _pw(secondary, "not the password")}
    unknown = {"secondary": {"type": "password", "username": "nobody-here", "password": "whatever it is"}}
    r = api.post("/v1/account/merge", unknown, format="json", **headers)
    assert r.status_code == 401 and _code(r) == "invalid_credentials"
    for _ in range(5):  # LOGIN_DELAY_AFTER: the sign-in's allowance for the account
        r = api.post("/v1/account/merge", wrong, format="json", **headers)
        assert r.status_code == 401 and _code(r) == "invalid_credentials"
    r = api.post("/v1/account/merge", wrong, format="json", **headers)
    assert r.status_code == 429 and "Retry-After" in r
    # the same counter as the sign-in's: the owner's right password waits too
    r = api.post("/v1/auth/login", {"username": secondary.username, "password": SECOND_PASSWORD}, format="json")
    assert r.status_code == 429
    failed = AuditEvent.objects.filter(action="login.failed", subject_user_id=secondary.pk, result="failure")
    assert failed.count() == 5 and all(e.metadata["channel"] == "merge" for e in failed)
    assert LoginEvent.objects.filter(user_id=secondary.pk, result="failure").count() == 5
    assert User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE


def _totp(user: User) -> pyotp.TOTP:
    from accounts.security import mfa

    totp = pyotp.TOTP(mfa.totp_setup(user=user)["secret"])
    mfa.totp_confirm(user=user, code=totp.now())
    return totp


def test_a_secondary_with_a_second_factor_answers_the_challenge_on_a_second_call(api, signing_key, pair):
    import time

    primary, secondary = pair
    totp = _totp(secondary)
    token = login(api, primary.username)["access_token"]
    first = _merge(api, token, _pw(secondary))
    assert first.status_code == 200, first.content
    challenge = first.json()
    assert challenge["mfa_required"] is True and challenge["methods"] == ["totp", "backup_code"]
    assert challenge["expires_in"] == 300 and User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE
    # the merge's challenge is no sign-in: the MFA endpoint does not know it
    r = api.post("/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"], "code": totp.at(time.time() + 30)},
                 format="json")
    assert r.status_code == 401 and _code(r) == "mfa_invalid"
    # nor does another account's merge
    other = UserFactory()
    r = _merge(api, login(api, other.username)["access_token"],
               {"type": "password", "mfa_token": challenge["mfa_token"], "code": totp.now()})
    assert r.status_code == 401 and _code(r) == "mfa_invalid"
    # a wrong code
    r = _merge(api, token, {"type": "password", "mfa_token": challenge["mfa_token"], "code": "000000"
                            if totp.now() != "000000" else "111111"})
    assert r.status_code == 401 and _code(r) == "mfa_invalid"
    # a backup code answers it
    from accounts.security import mfa

    codes = mfa.backup_codes_regenerate(user=User.objects.get(pk=secondary.pk))
    r = _merge(api, token, {"type": "password", "mfa_token": challenge["mfa_token"], "code": codes[0],
                            "method": "backup_code"})
    assert r.status_code == 200, r.content
    assert r.json()["moved"]["mfa_devices_dropped"] == 1
    assert not TotpDevice.objects.filter(user_id=secondary.pk).exists()
    assert not BackupCode.objects.filter(user_id=secondary.pk, used_at__isnull=True).exists()
    assert AuditEvent.objects.get(action="user.merged").metadata["proof"] == "password+backup_code"
    # the challenge is spent (a new token: the merge moved roles, so the old one must refresh)
    token = login(api, primary.username)["access_token"]
    r = _merge(api, token, {"type": "password", "mfa_token": challenge["mfa_token"], "code": codes[1],
                            "method": "backup_code"})
    assert r.status_code == 401 and _code(r) == "mfa_invalid"


def test_access_token_of_the_secondary_proves_it_while_fresh(api, signing_key, pair, monkeypatch):
    from sessions_app import receivers

    primary, secondary = pair
    token = login(api, primary.username)["access_token"]
    theirs = login(api, secondary.username, SECOND_PASSWORD)["access_token"]
    monkeypatch.setattr(receivers, "MERGE_TOKEN_MAX_AGE", -5)  # every token is too old now
    r = _merge(api, token, {"type": "token", "access_token": theirs})
    assert r.status_code == 401 and _code(r) == "merge_proof_invalid"
    monkeypatch.setattr(receivers, "MERGE_TOKEN_MAX_AGE", 300)
    for bad in ("not-a-token", theirs[:-3] + "abc"):
        r = _merge(api, token, {"type": "token", "access_token": bad})
        assert r.status_code == 401 and _code(r) == "merge_proof_invalid"
    r = _merge(api, token, {"type": "token", "access_token": theirs})
    assert r.status_code == 200, r.content
    assert AuditEvent.objects.get(action="user.merged").metadata["proof"] == "token"
    # the merge moved a role to the primary: its tokens from before the move must refresh
    r = api.get("/v1/users/me", **bearer(token))
    assert r.status_code == 401 and "roles have changed" in r.json()["error"]["message"]
    token = login(api, primary.username)["access_token"]
    # spent: the merged account's token proves nothing any more
    r = _merge(api, token, {"type": "token", "access_token": theirs})
    assert r.status_code == 401 and _code(r) == "merge_proof_invalid"


def test_own_token_or_password_is_a_merge_into_oneself(api, signing_key, pair):
    primary, _ = pair
    token = login(api, primary.username)["access_token"]
    r = _merge(api, token, {"type": "token", "access_token": token})
    assert r.status_code == 409 and _code(r) == "merge_self"
    r = _merge(api, token, _pw(primary, PASSWORD))
    assert r.status_code == 409 and _code(r) == "merge_self"


def test_external_identity_proves_the_secondary(api, signing_key, pair, monkeypatch):
    from federation import services as federation_services

    primary, secondary = pair
    token = login(api, primary.username)["access_token"]
    asked = []

    def flow_finish(*, provider_name, code, state, iss=None, user_id=None):
        # federation's own flow_finish refuses a state not started by this user (its tests hold
        # that); here it vouches for the subject the test names
        asked.append((provider_name, user_id))
        return {"claims": {"iss": "wechat", "sub": code}, "userinfo": {}, "tokens": {}}

    monkeypatch.setattr(federation_services, "flow_finish", flow_finish)
    oauth = {"type": "oauth", "provider": "wechat", "state": "s" * 20}
    r = _merge(api, token, {**oauth, "code": "o-nobody"})
    assert r.status_code == 401 and _code(r) == "merge_proof_invalid"
    UserOAuth.objects.create(user=primary, provider="wechat", issuer="wechat", provider_uid="o-wx-mine")
    r = _merge(api, token, {**oauth, "code": "o-wx-mine"})
    assert r.status_code == 409 and _code(r) == "merge_self"
    OAuthFlow.objects.create(state_hash="x" * 64, provider="wechat", redirect_uri="https://app.example/cb",
                             user_id=secondary.pk, sealed="-", expires_at=timezone.now())
    r = _merge(api, token, {**oauth, "code": "o-wx-1"})
    assert r.status_code == 200, r.content
    assert asked == [("wechat", primary.pk)] * 3  # always a state bound to the primary
    assert {c["field"] for c in r.json()["conflicts"] if c["kind"] == "identity"} == {"provider:wechat"}
    # both subjects are the primary's now: two identities of one provider
    assert set(UserOAuth.objects.filter(user=primary).values_list("provider_uid", flat=True)) == {
        "o-wx-1", "o-wx-mine"}
    assert not OAuthFlow.objects.filter(user_id=secondary.pk).exists()
    assert AuditEvent.objects.get(action="user.merged").metadata["proof"] == "oauth:wechat"


def test_oauth_proof_errors_are_federations(api, signing_key, pair):
    primary, _ = pair
    token = login(api, primary.username)["access_token"]
    r = _merge(api, token, {"type": "oauth", "provider": "nowhere", "code": "c", "state": "s"})
    assert r.status_code == 404 and _code(r) == "not_found"


@pytest.mark.parametrize("body", [
    {},
    {"secondary": "alice"},
    {"secondary": {"type": "magic"}},
    {"secondary": {"type": 3}},
    {"secondary": {"type": "password", "username": "x"}},
    {"secondary": {"type": "password", "username": 5, "password": "p"}},
    {"secondary": {"type": "password", "mfa_token": "t", "code": "1", "method": "sms"}},
    {"secondary": {"type": "token", "access_token": ["x"]}},
    {"secondary": {"type": "oauth", "provider": "p", "code": "c"}},
    {"secondary": {"type": "token", "access_token": "x"}, "dry_run": "yes"},
])
def test_bad_input_is_a_400_envelope(api, signing_key, user, body):
    token = login(api, user.username)["access_token"]
    r = api.post("/v1/account/merge", body, format="json", **bearer(token), **_reauth(api, token))
    assert r.status_code == 400 and _code(r) == "validation_error", r.content
    assert r.json()["request_id"]


# ---- refusals -------------------------------------------------------------------------------------
def test_a_disabled_secondary_is_refused(api, signing_key, pair):
    primary, secondary = pair
    services.user_transition(user_id=secondary.pk, action="freeze", actor=Actor.system("test"))
    r = _merge(api, login(api, primary.username)["access_token"], _pw(secondary))
    assert r.status_code == 409 and _code(r) == "merge_target_invalid"


@pytest.mark.parametrize("state", ["merged", "deleted", "disabled", "locked"])
def test_the_service_refuses_a_secondary_that_is_not_active(db, state):
    primary, secondary, third = UserFactory(), UserFactory(), UserFactory()
    if state == "merged":
        services.account_merge(primary_id=third.pk, secondary_id=secondary.pk, actor=Actor.system("test"))
    else:
        action = {"deleted": "delete", "disabled": "freeze", "locked": "lock"}[state]
        services.user_transition(user_id=secondary.pk, action=action, actor=Actor.system("test"))
    for dry_run in (True, False):
        with pytest.raises(services.merge.MergeTargetInvalid):
            services.account_merge(primary_id=primary.pk, secondary_id=secondary.pk, actor=Actor.system("test"),
                                   dry_run=dry_run)


@pytest.mark.parametrize("state", ["merged", "deleted", "disabled"])
def test_the_service_refuses_a_primary_that_is_not_active(db, state):
    primary, secondary, third = UserFactory(), UserFactory(), UserFactory()
    if state == "merged":
        services.account_merge(primary_id=third.pk, secondary_id=primary.pk, actor=Actor.system("test"))
    else:
        services.user_transition(user_id=primary.pk, action={"deleted": "delete", "disabled": "freeze"}[state],
                                 actor=Actor.system("test"))
    with pytest.raises(services.merge.MergePrimaryInvalid):
        services.account_merge(primary_id=primary.pk, secondary_id=secondary.pk, actor=Actor.system("test"))
    assert User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE


def test_merging_into_oneself_and_unknown_ids(db):
    from custos.exceptions import NotFound

    user = UserFactory()
    with pytest.raises(services.merge.MergeSelf) as exc:
        services.account_merge(primary_id=user.pk, secondary_id=user.pk, actor=Actor.system("test"))
    assert exc.value.status == 409 and exc.value.code == "merge_self"
    with pytest.raises(NotFound):
        services.account_merge(primary_id=user.pk, secondary_id=user.pk + 1000, actor=Actor.system("test"))


def test_a_chain_resolves_into_the_last_primary(api, signing_key, gateway_headers_admin):
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    system = Actor.system("test")
    UserOAuth.objects.create(user=c, provider="wechat", issuer="wechat", provider_uid="o-c")
    services.account_merge(primary_id=b.pk, secondary_id=c.pk, actor=system)  # B <- C
    services.account_merge(primary_id=a.pk, secondary_id=b.pk, actor=system)  # A <- B
    # C's data is A's, and C's tombstone says A, never B
    assert UserOAuth.objects.get(provider_uid="o-c").user_id == a.pk
    assert User.objects.get(pk=c.pk).merged_into_id == a.pk
    assert User.objects.get(pk=b.pk).merged_into_id == a.pk
    # nothing merges into B any more: it is merged itself
    d = UserFactory()
    with pytest.raises(services.merge.MergePrimaryInvalid):
        services.account_merge(primary_id=b.pk, secondary_id=d.pk, actor=system)
    # the tombstone, as staff read it
    for old in (b.pk, c.pk):
        r = api.get(f"/v1/admin/users/{old}", **gateway_headers_admin)
        assert r.status_code == 200, r.content
        assert r.json()["status"] == "merged" and r.json()["merged_into_user_id"] == a.pk
    assert api.get(f"/v1/admin/users/{a.pk}", **gateway_headers_admin).json()["merged_into_user_id"] is None


def test_a_chain_written_before_repointing_is_still_followed(db):
    from accounts.selectors import user_merged_into_final

    a, b, c = UserFactory(), UserFactory(), UserFactory()
    User.objects.filter(pk=b.pk).update(status=User.Status.MERGED, merged_into_id=a.pk)
    User.objects.filter(pk=c.pk).update(status=User.Status.MERGED, merged_into_id=b.pk)
    assert user_merged_into_final(user_id=c.pk) == a.pk
    User.objects.filter(pk=a.pk).update(status=User.Status.MERGED, merged_into_id=c.pk)  # a cycle ends the walk
    assert user_merged_into_final(user_id=c.pk) in (a.pk, b.pk, c.pk)


@pytest.fixture
def gateway_headers_admin(db, api, signing_key):
    staff = UserFactory(username="root", user_type="staff")
    grant(staff, "platform_admin")
    return bearer(login(api, "root")["access_token"])


# ---- the tombstone for other services ---------------------------------------------------------------
def test_introspection_and_the_feed_say_the_merged_accounts_tokens_are_dead(api, signing_key, pair):
    from authz.services import platform_roles_seed, service_key_create, subject_role_grant

    primary, secondary = pair
    platform_roles_seed()
    _, credential = service_key_create(name="clotho", actor=Actor.system("test"))
    subject_role_grant(subject="svc:clotho", role="gateway", domain="platform", actor=Actor.system("test"))
    svc = {"HTTP_AUTHORIZATION": f"ApiKey {credential}"}
    theirs = login(api, secondary.username, SECOND_PASSWORD)
    assert api.post("/internal/introspect", {"token": theirs["access_token"]}, format="json",
                    **svc).json()["active"] is True
    cursor = api.get("/internal/revocations", **svc).json()["cursor"]
    assert _merge(api, login(api, primary.username)["access_token"], _pw(secondary)).status_code == 200
    assert api.post("/internal/introspect", {"token": theirs["access_token"]}, format="json",
                    **svc).json() == {"active": False}
    feed = api.get(f"/internal/revocations?since={cursor}", **svc).json()
    assert {"user_id": secondary.pk, "min_token_version": secondary.token_version + 1} in feed["users"]
    assert theirs["session_id"] in feed["sessions"]
    assert any(e["user_id"] == primary.pk for e in feed["roles"])  # the primary's roles changed


def test_the_user_merged_event_goes_to_every_sink(api, signing_key, pair, settings):
    """The outbox: the event is a row the exporters send like any other (their own tests cover
    the sinks); here, it is exported with the ids other domains re-key their rows by."""
    from audit.serialization import event_dict

    primary, secondary = pair
    services.account_merge(primary_id=primary.pk, secondary_id=secondary.pk, actor=Actor.system("test"))
    event = AuditEvent.objects.get(action="user.merged")
    out = event_dict(event)
    assert out["action"] == "user.merged" and out["metadata"]["merged_user_id"] == secondary.pk
    assert out["metadata"]["primary_user_id"] == primary.pk


def test_a_self_service_merge_is_between_customers_only(api, signing_key):
    """A staff account folded into a customer's would hand its console and platform roles to
    whoever holds the primary: refused (merge_type_conflict), in the dry run too; staff may
    merge two staff accounts from the console, but never across kinds."""
    from accounts.services import account_merge
    from custos.exceptions import CustosError

    primary = UserFactory()
    staff = UserFactory(user_type="staff", password=SECOND_PASSWORD)
    token = login(api, primary.username)["access_token"]
    dry = _merge(api, token, _pw(staff), dry_run=True)
    assert dry.status_code == 200
    assert [c["code"] for c in dry.json()["conflicts"] if c["blocking"]] == ["merge_type_conflict"]
    r = _merge(api, token, _pw(staff))
    assert r.status_code == 409 and _code(r) == "merge_type_conflict"
    assert User.objects.get(pk=staff.pk).status == User.Status.ACTIVE
    with pytest.raises(CustosError) as refused:
        account_merge(primary_id=primary.pk, secondary_id=staff.pk, actor=Actor.system("test"), cross_tenant=True)
    assert refused.value.code == "merge_type_conflict"
    other_staff = UserFactory(user_type="staff")
    done = account_merge(primary_id=other_staff.pk, secondary_id=staff.pk, actor=Actor.system("test"),
                         cross_tenant=True)
    assert done.merged_user_id == staff.pk and User.objects.get(pk=staff.pk).status == User.Status.MERGED
