"""A role change stops the tokens issued before it (issue 14, "Role removal"): Custos's own
endpoints answer 401 token_invalid, introspection `active: false`, and the revocation feed
carries the cutoff for Clotho; the session lives on and the next refresh has the new roles.
The rule (sessions_app/revstate.py): a change at `at` sets the cutoff `at + ROLES_GAP`; a token
whose `roles_at` (its `iat` without one) is earlier is refused."""
from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests
from django.db import transaction
from django.utils import timezone

from accounts.services import tenant_create
from audit.services import Actor
from tests.conftest import bearer, grant, login
from tests.factories import UserFactory
from tests.server import manage, running_custos

pytestmark = pytest.mark.django_db(transaction=True)  # the change's commit publishes it in this process


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _status(api, token: str) -> tuple[int, str]:
    r = api.get("/v1/users/me", **bearer(token))
    return r.status_code, (r.json().get("error") or {}).get("code", "")


def _refresh(api, refresh_token: str) -> dict:
    r = api.post("/v1/auth/refresh", {"refresh_token": refresh_token}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


@pytest.fixture
def gateway(db):
    from authz.services import platform_roles_seed, service_key_create, subject_role_grant

    platform_roles_seed()
    _, credential = service_key_create(name="clotho", actor=Actor.system("test"))
    subject_role_grant(subject="svc:clotho", role="gateway", domain="platform", actor=Actor.system("test"))
    return {"HTTP_AUTHORIZATION": f"ApiKey {credential}"}


@pytest.fixture
def acme(api, signing_key):
    """A tenant with its admin (signed in) and a member who is a tenant admin too."""
    from authz.services import platform_roles_seed

    platform_roles_seed()
    tenant = tenant_create(name="acme", actor=Actor.system("test"))
    admin, member = UserFactory(tenant=tenant), UserFactory(tenant=tenant)
    grant(admin, "tenant_admin", tenant.pk)
    grant(member, "tenant_admin", tenant.pk)
    return {"tenant": tenant, "admin": admin, "member": member,
            "admin_token": login(api, admin.username)["access_token"]}


def _introspect(api, gateway, token: str) -> dict:
    r = api.post("/internal/introspect", {"token": token}, format="json", **gateway)
    assert r.status_code == 200, r.content
    return r.json()


def _feed(api, gateway) -> dict:
    r = api.get("/internal/revocations", **gateway)
    assert r.status_code == 200, r.content
    return r.json()


# ---- the review's case: DELETE /v1/authz/users/{id}/roles/tenant_admin ----------------------------
def test_a_revoked_role_stops_the_old_token_everywhere_and_the_refresh_drops_it(api, acme, gateway):
    t, member = acme["tenant"], acme["member"]
    pair = login(api, member.username)
    old = pair["access_token"]
    assert _claims(old)["roles"] == ["tenant_admin"] and _status(api, old) == (200, "")
    assert _introspect(api, gateway, old)["active"] is True

    r = api.delete(f"/v1/authz/users/{member.pk}/roles/tenant_admin?tenant={t.pk}", **bearer(acme["admin_token"]))
    assert r.status_code == 204, r.content

    # Custos's own endpoints (the DRF authentication and the lean /v1/authz/check) refuse it
    assert _status(api, old) == (401, "token_invalid")
    r = api.post("/v1/authz/check", {"tenant": t.pk, "object": "/users", "action": "read"}, format="json",
                 **bearer(old))
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    # introspection says inactive, not "active with the revoked role"
    assert _introspect(api, gateway, old) == {"active": False}
    # the feed carries the cutoff Clotho compares with roles_at
    feed = _feed(api, gateway)
    cutoffs = {e["user_id"]: e["cutoff"] for e in feed["roles"]}
    assert _claims(old)["roles_at"] < cutoffs[member.pk]
    assert feed["users"] == [] and feed["sessions"] == []  # nobody was kicked, no session ended
    assert feed["tenant_roles"] == []

    # the user stays signed in: the refresh token works and the new token lacks the role
    fresh = _refresh(api, pair["refresh_token"])
    assert fresh["session_id"] == pair["session_id"]
    claims = _claims(fresh["access_token"])
    assert claims["roles"] == [] and claims["roles_at"] >= cutoffs[member.pk]
    assert _status(api, fresh["access_token"]) == (200, "")
    assert _introspect(api, gateway, fresh["access_token"])["active"] is True
    # the change touched nobody else
    assert _status(api, acme["admin_token"]) == (200, "")


def test_a_granted_role_refuses_the_token_without_it_and_the_refresh_carries_it(api, acme, gateway):
    t = acme["tenant"]
    newcomer = UserFactory(tenant=t)
    pair = login(api, newcomer.username)
    assert _claims(pair["access_token"])["roles"] == []
    r = api.post(f"/v1/authz/users/{newcomer.pk}/roles?tenant={t.pk}", {"role": "auditor"}, format="json",
                 **bearer(acme["admin_token"]))
    assert r.status_code == 201, r.content
    # a claim missing a role is stale too: refused, so the client's refresh picks the role up
    assert _status(api, pair["access_token"]) == (401, "token_invalid")
    assert _introspect(api, gateway, pair["access_token"]) == {"active": False}
    fresh = _refresh(api, pair["refresh_token"])
    assert _claims(fresh["access_token"])["roles"] == ["auditor"]
    assert _status(api, fresh["access_token"]) == (200, "")


def test_deleting_a_role_refuses_its_holders_tokens_only(api, acme, gateway):
    from authz.services import role_create, role_delete, subject_role_grant
    from authz.subjects import tenant_domain, user_subject

    t = acme["tenant"]
    domain = tenant_domain(t.pk)
    role_create(name="clerk", domain=domain, permissions=[("/orders/:id", "read")], actor=Actor.system("test"))
    holders = [UserFactory(tenant=t), UserFactory(tenant=t)]
    for u in holders:
        subject_role_grant(subject=user_subject(u.pk), role="clerk", domain=domain, actor=Actor.system("test"))
    bystander = UserFactory(tenant=t)
    pairs = [login(api, u.username) for u in holders]
    other = login(api, bystander.username)
    assert all(_claims(p["access_token"])["roles"] == ["clerk"] for p in pairs)

    role_delete(name="clerk", domain=domain, actor=Actor.system("test"))

    for p in pairs:
        assert _status(api, p["access_token"]) == (401, "token_invalid")
        assert _introspect(api, gateway, p["access_token"]) == {"active": False}
        assert _claims(_refresh(api, p["refresh_token"])["access_token"])["roles"] == []
    assert _status(api, other["access_token"]) == (200, "")  # not a holder: untouched
    cutoffs = {e["user_id"]: e["cutoff"] for e in _feed(api, gateway)["roles"]}
    assert bystander.pk not in cutoffs
    assert all(cutoffs[u.pk] > _claims(p["access_token"])["roles_at"] for u, p in zip(holders, pairs, strict=True))


def test_a_role_with_many_holders_sets_one_cutoff_for_its_tenant(api, acme, gateway, monkeypatch):
    """Beyond ROLES_PER_USER_MAX holders the change writes one row for the whole tenant, not one
    per holder: every token of the tenant refreshes once; other tenants are untouched."""
    from authz.services import role_create, role_delete, subject_role_grant
    from authz.subjects import tenant_domain, user_subject
    from sessions_app import receivers
    from sessions_app.models import Revocation

    monkeypatch.setattr(receivers, "ROLES_PER_USER_MAX", 2)
    t = acme["tenant"]
    domain = tenant_domain(t.pk)
    role_create(name="clerk", domain=domain, permissions=[("/orders/:id", "read")], actor=Actor.system("test"))
    holders = [UserFactory(tenant=t) for _ in range(3)]
    for u in holders:
        subject_role_grant(subject=user_subject(u.pk), role="clerk", domain=domain, actor=Actor.system("test"))
    bystander = UserFactory(tenant=t)
    elsewhere = UserFactory(tenant=tenant_create(name="globex", actor=Actor.system("test")))
    platform_user = UserFactory()
    pairs = [login(api, u.username) for u in (*holders, bystander)]
    untouched = [login(api, u.username)["access_token"] for u in (elsewhere, platform_user)]
    before = Revocation.objects.count()

    role_delete(name="clerk", domain=domain, actor=Actor.system("test"))

    rows = list(Revocation.objects.order_by("id")[before:].values_list("kind", "user_id", "tenant_id"))
    assert rows == [(Revocation.KIND_TENANT_ROLES, 0, t.pk)]
    for p in pairs:  # every token of the tenant, the bystander's included
        assert _status(api, p["access_token"]) == (401, "token_invalid")
        assert _introspect(api, gateway, p["access_token"]) == {"active": False}
        assert _status(api, _refresh(api, p["refresh_token"])["access_token"]) == (200, "")
    for token in untouched:
        assert _status(api, token) == (200, "")
    assert [e["tenant_id"] for e in _feed(api, gateway)["tenant_roles"]] == [t.pk]


def test_an_import_reaches_every_token_of_its_domain(api, signing_key, gateway):
    """An import (or a purge) names a whole domain, not its holders; the platform domain is
    the tokens whose tid is null."""
    from authz.services import policy_import

    staff, newcomer = UserFactory(user_type="staff"), UserFactory()
    grant(staff, "auditor")
    pair, plain = login(api, staff.username), login(api, newcomer.username)
    tenant_user = UserFactory(tenant=tenant_create(name="initech", actor=Actor.system("test")))
    other = login(api, tenant_user.username)["access_token"]
    policy_import(rows=[["g", f"user:{newcomer.pk}", "auditor", "platform"]], replace=False,
                  actor=Actor.system("test"))
    for p in (pair, plain):
        assert _status(api, p["access_token"]) == (401, "token_invalid")
        assert _introspect(api, gateway, p["access_token"]) == {"active": False}
        assert _claims(_refresh(api, p["refresh_token"])["access_token"])["roles"] == ["auditor"]
    assert _status(api, other) == (200, "")  # another domain's token
    assert [e["tenant_id"] for e in _feed(api, gateway)["tenant_roles"]] == [None]


# ---- the cutoff rule: whole-second iat, sub-second changes ---------------------------------------
def _change_at(user_id: int, at) -> float:
    """A role change of `user_id` recorded at the moment `at`, as the signal's receiver does."""
    from authz.signals import roles_changed
    from sessions_app.revstate import roles_cutoff

    with transaction.atomic():
        roles_changed.send(sender=None, user_ids=[user_id], tenant_id=None, at=at)
    return roles_cutoff(at)


def _sign(claims: dict) -> str:
    from keys.keyring import keyring

    key = keyring().signing_key()
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})


def test_same_second_tokens_are_told_apart_by_roles_at(api, user, signing_key):
    """Two tokens with the same iat: the one whose roles were read before the change is refused,
    the one stamped after it is not. A token without roles_at (issued before the claim existed)
    falls back on iat and is refused when its second holds the change."""
    from sessions_app.revstate import ROLES_GAP

    base = _claims(login(api, user.username)["access_token"])
    second = math.floor(time.time())
    at = datetime.fromtimestamp(second + 0.5, tz=UTC)
    cutoff = _change_at(user.pk, at)
    assert cutoff == second + 0.5 + ROLES_GAP
    same_second = {**base, "iat": second, "exp": second + 900}
    assert _status(api, _sign({**same_second, "roles_at": second + 0.25})) == (401, "token_invalid")  # before
    assert _status(api, _sign({**same_second, "roles_at": cutoff - 0.000001})) == (401, "token_invalid")
    assert _status(api, _sign({**same_second, "roles_at": cutoff})) == (200, "")  # stamped by a reader that saw it
    legacy = {k: v for k, v in same_second.items() if k != "roles_at"}
    assert _status(api, _sign(legacy)) == (401, "token_invalid")
    later = math.floor(cutoff) + 1
    assert _status(api, _sign({**legacy, "iat": later, "exp": later + 900})) == (200, "")


def test_a_refresh_right_after_the_change_is_accepted_and_carries_the_cutoff(api, user, signing_key):
    """Within ROLES_GAP of the change, the refresh stamps the cutoff itself (it read the change,
    so its roles are the new ones): never refused, however soon it comes."""
    pair = login(api, user.username)
    cutoff = _change_at(user.pk, timezone.now())
    assert _status(api, pair["access_token"]) == (401, "token_invalid")
    asked = time.time()
    fresh = _refresh(api, pair["refresh_token"])
    claims = _claims(fresh["access_token"])
    assert claims["roles_at"] >= cutoff
    if asked < cutoff:  # (on a machine slow enough to take the gap, the clock has passed it)
        assert claims["roles_at"] == cutoff  # ahead of the clock, by less than the gap
    assert _status(api, fresh["access_token"]) == (200, "")
    # a sign-in in this process (which applied the change at commit) stamps it too
    assert _status(api, login(api, user.username)["access_token"]) == (200, "")
    # the refresh's own successor keeps working: nothing loops
    again = _refresh(api, fresh["refresh_token"])
    assert _status(api, again["access_token"]) == (200, "")


def test_a_token_issued_after_the_change_is_accepted(api, acme, gateway):
    """The cutoff stays in force for the tokens' lifetime; the ones issued after it pass it."""
    t, member = acme["tenant"], acme["member"]
    api.delete(f"/v1/authz/users/{member.pk}/roles/tenant_admin?tenant={t.pk}", **bearer(acme["admin_token"]))
    cutoff = {e["user_id"]: e["cutoff"] for e in _feed(api, gateway)["roles"]}[member.pk]
    token = login(api, member.username)["access_token"]
    assert _claims(token)["roles"] == [] and _claims(token)["roles_at"] >= cutoff
    assert _status(api, token) == (200, "")
    assert _introspect(api, gateway, token)["active"] is True


def test_a_refresh_reads_the_changed_roles_from_the_table_not_a_lagging_index(api, acme, monkeypatch):
    """Another process's policy index may not have caught up when the client, refused, refreshes
    there: within ROLES_SETTLE of a change the refresh reads the user's roles from the table."""
    from sessions_app import services

    t, member = acme["tenant"], acme["member"]
    pair = login(api, member.username)
    api.delete(f"/v1/authz/users/{member.pk}/roles/tenant_admin?tenant={t.pk}", **bearer(acme["admin_token"]))
    monkeypatch.setattr(services, "token_roles", lambda **kw: ["tenant_admin"])  # an index a poll behind
    fresh = _refresh(api, pair["refresh_token"])
    assert _claims(fresh["access_token"])["roles"] == []
    assert _status(api, fresh["access_token"]) == (200, "")


def test_a_sign_in_that_has_not_heard_of_the_change_is_stamped_before_it(api, user, signing_key):
    """A process whose last poll predates a change (made by another process) signs a user in:
    its roles might come from a lagging index, so its stamp is its last poll and the token is
    refused once the change is known; the refresh then reads the change and is accepted."""
    from sessions_app.models import Revocation
    from sessions_app.revstate import roles_cutoff, state

    state().poll(force=True)
    at = timezone.now()
    Revocation.objects.create(kind=Revocation.KIND_ROLES, user_id=user.pk, created_at=at)  # another process
    pair = login(api, user.username)  # this process has not polled since
    assert _claims(pair["access_token"])["roles_at"] < roles_cutoff(at)
    state().poll(force=True)
    assert _status(api, pair["access_token"]) == (401, "token_invalid")
    assert _status(api, _refresh(api, pair["refresh_token"])["access_token"]) == (200, "")


def test_another_process_change_is_learnt_from_the_feed(api, user, signing_key):
    """A change recorded by another process (a row, nothing applied here) refuses the token
    once this process polls; the check itself makes no query."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from custos.exceptions import TokenInvalid
    from sessions_app.authentication import principal_from_bearer
    from sessions_app.models import Revocation
    from sessions_app.revstate import state

    token = login(api, user.username)["access_token"]
    assert _status(api, token) == (200, "")
    Revocation.objects.create(kind="roles", user_id=user.pk, created_at=timezone.now())
    state().poll(force=True)
    request = RequestFactory().get("/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as seen, pytest.raises(TokenInvalid):
        principal_from_bearer(request)
    assert seen.captured_queries == []


def test_old_cutoffs_leave_with_the_tokens_they_refused(api, user, signing_key, gateway):
    """A change older than the access-token horizon refuses nothing that still lives and is
    neither held nor published."""
    from sessions_app.models import Revocation
    from sessions_app.revstate import state

    token = login(api, user.username)["access_token"]
    Revocation.objects.create(kind=Revocation.KIND_ROLES, user_id=user.pk,
                              created_at=timezone.now() - timedelta(seconds=900 + 30 + 120))
    state().poll(force=True)
    assert state().roles_users == {} and _feed(api, gateway)["roles"] == []
    assert _status(api, token) == (200, "")


@pytest.mark.parametrize("value", ["1", True, 1e300, float("nan"), -1, "later"])
def test_out_of_range_roles_at_is_refused(api, user, signing_key, gateway, value):
    claims = _claims(login(api, user.username)["access_token"])
    token = _sign({**claims, "roles_at": value})
    assert _status(api, token) == (401, "token_invalid")
    assert _introspect(api, gateway, token) == {"active": False}


def test_roles_at_far_ahead_of_iat_is_refused(api, user, signing_key):
    """No issuer stamps more than a change's gap ahead of its clock: a token claiming roles read
    an hour from now would dodge every cutoff of that hour."""
    claims = _claims(login(api, user.username)["access_token"])
    assert _status(api, _sign({**claims, "roles_at": claims["iat"] + 3600})) == (401, "token_invalid")


# ---- several workers, a change made by another process --------------------------------------------
PW = "a perfectly fine passphrase"


def _hammer(base: str, token: str, n: int = 30) -> list[int]:
    return [requests.get(f"{base}/v1/users/me", headers={"Authorization": f"Bearer {token}",
                                                        "Connection": "close"}, timeout=10).status_code
            for _ in range(n)]


def test_a_role_change_reaches_every_worker_within_a_second(tmp_path):
    grant_or_revoke = ("from accounts.models import User; from authz import services; "
                       "from audit.services import Actor; services.platform_roles_seed(); "
                       "services.subject_role_VERB(subject='user:%d' % User.objects.get(username='dora').pk, "
                       "role='auditor', domain='platform', actor=Actor.system('test'))")
    with running_custos(tmp_path, workers=3) as base:
        assert requests.post(f"{base}/v1/auth/register", json={"username": "dora", "password": PW},
                             timeout=10).status_code == 201
        manage(tmp_path, "shell", "-c", grant_or_revoke.replace("VERB", "grant"))
        r = requests.post(f"{base}/v1/auth/login", json={"username": "dora", "password": PW}, timeout=10)
        assert r.status_code == 200, r.text
        pair = r.json()
        assert _claims(pair["access_token"])["roles"] == ["auditor"]
        assert set(_hammer(base, pair["access_token"])) == {200}

        manage(tmp_path, "shell", "-c", grant_or_revoke.replace("VERB", "revoke"))  # another process
        # a refresh at once, on whichever worker, reads the change: the new token is never refused
        r = requests.post(f"{base}/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}, timeout=10)
        assert r.status_code == 200, r.text
        fresh = r.json()
        assert _claims(fresh["access_token"])["roles"] == []
        time.sleep(1.0)
        assert set(_hammer(base, pair["access_token"])) == {401}
        assert set(_hammer(base, fresh["access_token"])) == {200}
